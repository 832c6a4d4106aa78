"""The HTML and Excel formats of a 500-group report: seconds to render, against writing the
same rows as CSV in the same process (the baseline). Two shapes: 500 queues (a bar chart of the
20 highest) and 10 queues x 48 half hours (offered and service level per half hour).

The first HTML render of a process includes matplotlib's start-up (font cache, backends): it
is reported on its own as "cold"; the others are the median of five.

    .venv/bin/python -m tests.benchmarks.bench_html
"""

from __future__ import annotations

import asyncio
import functools
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.pipeline.export import write_csv
from app.present.html import render_html
from app.present.view import ReportView, Series
from app.present.xlsx import render_xlsx
from app.settings import ReportSettings
from tests.benchmarks.common import ratio, say, table

METRICS = [
    "conversations",
    "offered",
    "answered",
    "abandoned",
    "abandon_rate",
    "service_level",
    "avg_speed_of_answer_seconds",
    "avg_wait_seconds",
    "avg_handle_seconds",
    "p90_handle_seconds",
    "transferred",
]
PERIOD = {
    "start": "2024-05-01T00:00:00+02:00",
    "end": "2024-05-02T00:00:00+02:00",
    "timezone": "Europe/Berlin",
    "label": "2024-05-01",
}


def _metrics(rng: random.Random) -> dict[str, Any]:
    offered = rng.randint(0, 400)
    answered = rng.randint(0, offered)
    return {
        "conversations": offered,
        "offered": offered,
        "answered": answered,
        "abandoned": offered - answered,
        "abandon_rate": round((offered - answered) / offered, 4) if offered else None,
        "service_level": round(rng.random(), 4) if offered else None,
        "avg_speed_of_answer_seconds": round(rng.uniform(2, 120), 2),
        "avg_wait_seconds": round(rng.uniform(2, 160), 2),
        "avg_handle_seconds": round(rng.uniform(60, 900), 2),
        "p90_handle_seconds": round(rng.uniform(300, 1500), 2),
        "transferred": rng.randint(0, 20),
    }


def view(shape: str) -> ReportView:
    rng = random.Random(shape)
    by_time = shape == "queues x half hours"
    group_by = ["queue_id", "half_hour"] if by_time else ["queue_id"]
    report = ReportSettings.model_validate(
        {"name": "bench", "group_by": group_by, "metrics": METRICS, "formats": ["html"]}
    )
    rows, buckets = [], [f"2024-05-01T{h // 2:02d}:{h % 2 * 30:02d}" for h in range(48)]
    keys = (
        [(q, b) for q in range(10) for b in buckets] if by_time else [(q, None) for q in range(500)]
    )
    for queue, bucket in keys:
        row: dict[str, Any] = {"queue_id": f"{queue:08x}-0000-4000-8000-000000000000"}
        row["queue_name"] = f"Queue {queue:03d}"
        if by_time:
            row["half_hour"] = bucket
        rows.append(row | _metrics(rng))
    columns = list(rows[0])
    series = Series(("half_hour",), buckets, [_metrics(rng) for _ in buckets]) if by_time else None
    return ReportView(
        report=report,
        period=PERIOD,
        generated_at=datetime(2024, 5, 2, 6, 15, tzinfo=UTC),
        columns=columns,
        rows=rows,
        headline=_metrics(rng) | {"service_level_target_pct": 0.8},
        series=series,
        row_targets=[0.8] * len(rows),
        reconciliation={"status": "equal", "compared": 4000, "equal": 4000, "different": 0},
    )


def seconds(run: Callable[[], object], times: int = 5) -> float:
    taken = []
    for _ in range(times):
        started = time.perf_counter()
        run()
        taken.append(time.perf_counter() - started)
    return statistics.median(taken)


def csv_seconds(subject: ReportView) -> float:
    with tempfile.TemporaryDirectory() as scratch:
        paths = iter(Path(scratch) / f"{i}.csv" for i in range(100))

        def write() -> None:
            asyncio.run(write_csv(next(paths), subject.columns, subject.rows, fmt="csv"))

        return seconds(write)


def main() -> None:
    first = view("queues")
    started = time.perf_counter()
    render_html(first)
    cold = time.perf_counter() - started
    say(f"first HTML render in this process (matplotlib starting): {cold:.3f} s")
    rows = []
    for shape in ("queues", "queues x half hours"):
        subject = view(shape)
        html_s = seconds(functools.partial(render_html, subject))
        xlsx_s = seconds(functools.partial(render_xlsx, subject))
        csv_s = csv_seconds(subject)
        size = len(render_html(subject))
        say(f"{shape}: {len(subject.rows)} rows, HTML {size / 1024:.0f} KiB")
        rows.append(
            [
                f"{shape} ({len(subject.rows)} rows)",
                f"{html_s:.3f}",
                f"{xlsx_s:.3f}",
                f"{csv_s:.4f}",
                ratio(html_s, csv_s),
                ratio(xlsx_s, csv_s),
            ]
        )
    header = ["report", "html s", "xlsx s", "csv s (baseline)", "html/csv", "xlsx/csv"]
    print(table(f"Rendering 500-group reports (cold HTML: {cold:.3f} s)", header, rows))


if __name__ == "__main__":
    main()
