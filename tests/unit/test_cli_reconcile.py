"""``genesys-reports reconcile`` as a user runs it: a real process against the embedded sandbox,
a table on the terminal, ``--json`` for machines, exit 0 when everything matches and 1 when
something differs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PERIOD = ("--start", "2024-05-01T00:00:00+02:00", "--end", "2024-05-02T00:00:00+02:00")


def _config(tmp_path: Path, *, include_flowouts: bool = False, grain: str = "interval") -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(
        "genesys:\n"
        "  environment: sandbox\n"
        "  requests_per_minute: 100000\n"
        "sandbox:\n"
        "  seed: 7\n"
        "  now: 2024-05-03T06:00:00Z\n"
        "  volume: {peak_per_hour: 40}\n"
        "  jobs: {delay: PT0.1S}\n"
        f"  service_level: {{include_flowouts: {str(include_flowouts).lower()}}}\n"
        "storage:\n"
        f"  directory: {tmp_path / 'reports'}\n"
        "reports:\n"
        "  - name: queues\n"
        "    timezone: Europe/Berlin\n"
        f"    grain: {grain}\n"
        "    group_by: [queue_id]\n"
        "    metrics: [offered, answered, service_level, avg_handle_seconds]\n",
        encoding="utf-8",
    )
    return path


def _queue_names() -> list[str]:
    from app.sandbox.org import build_organisation

    return [q.name for q in build_organisation(7).queues]


def _reconcile(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "reconcile",
            "--config",
            str(config),
            "--report",
            "queues",
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "GENESYS_REPORTS_CONFIG": ""},
        timeout=120,
        check=False,
    )


def test_everything_equal_is_one_summary_line_and_exit_0(tmp_path: Path) -> None:
    result = _reconcile(_config(tmp_path), *PERIOD)
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    prefix = "queues 20240501T0000+0200_20240502T0000+0200: "
    assert line.startswith(prefix)
    equal, _, total = line.removeprefix(prefix).split(" values equal")[0].partition(" of ")
    assert int(equal) == int(total) > 50
    assert line.endswith("values equal Genesys' (0 different, 1 request(s))")
    # Nothing is kept: the report was computed in a scratch directory.
    assert not (tmp_path / "reports").exists()


def test_differences_are_a_table_with_the_summary_last_and_exit_1(tmp_path: Path) -> None:
    config = _config(tmp_path, include_flowouts=True)
    result = _reconcile(config, *PERIOD)
    assert result.returncode == 1, result.stderr
    header, *rows, summary = result.stdout.splitlines()
    assert header.split() == ["GROUP", "BUCKET", "METRIC", "STAT", "OURS", "GENESYS"]
    assert rows
    names = ["GROUP", "BUCKET", "METRIC", "STAT", "OURS", "GENESYS"]
    starts = [header.index(n) for n in names]
    for row in rows:
        # Columns line up under the header (a queue's name may hold spaces).
        cells = [row[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        group, bucket, metric, stat, ours, genesys = cells
        # Queues by name, from the run's look-ups.
        assert group.startswith("queue_id=")
        assert (bucket, metric, stat) == ("-", "oServiceLevel", "ratio")
        # Flow-outs join Genesys' denominator only: its service level is lower.
        assert float(genesys) < float(ours)
    queue_names = {row[: starts[1]].strip().removeprefix("queue_id=") for row in rows}
    assert queue_names <= set(_queue_names())
    assert f"({len(rows)} different, 1 request(s))" in summary

    as_json = _reconcile(config, *PERIOD, "--json")
    assert as_json.returncode == 1
    document = json.loads(as_json.stdout)
    assert document["status"] == "different"
    assert document["different"] == len(rows) == len(document["differences"])
    assert {d["metric"] for d in document["differences"]} == {"oServiceLevel"}
    # The JSON keeps the ids and adds the names.
    for difference in document["differences"]:
        assert set(difference["group"]) == set(difference["names"]) == {"queue_id"}
        assert difference["names"]["queue_id"] in queue_names


def test_a_conversation_grain_report_has_nothing_to_reconcile(tmp_path: Path) -> None:
    result = _reconcile(_config(tmp_path, grain="conversation"), *PERIOD)
    assert result.returncode == 2
    assert "queues has grain: conversation, which has nothing to reconcile" in result.stderr
