"""Look-back and window benchmark: what the interval grain's look-back costs in requests, and what
the fetch ``window`` trades (requests, copies, wall time), measured on one sandbox day.

The sandbox answers after 200 ms ± 50 ms and enforces its per-token rate limit, as in
``bench_fetch``; one sandbox (one seed, the same conversations) serves every run, each run has a
client (a token, so a whole rate budget) of its own, and each run's detail-query requests are
counted on the sandbox's side. The first run also pays for generating the day. Every run is
``run_report`` end to end with ``fetch: query`` (async jobs return every conversation active in
their interval, so the look-back costs them nothing; one pair of job runs shows it).

* **Look-back**: a daily report (a UTC day, whose start is a UTC midnight, and a Berlin day,
  whose start is 22:00 UTC) and an hourly report (00:00-01:00 UTC and 10:00-11:00 UTC), each with
  ``lookback: PT0S`` and ``PT6H``. The query already returns conversations that started earlier on
  the first window's UTC day; only a UTC midnight inside the look-back costs a probe window.
* **Window**: the UTC day with ``lookback: PT6H`` fetched in ``PT1H``, ``PT6H`` and ``P1D``
  windows. A conversation active across a window boundary comes back from every window it is
  active in (the merge drops the copies), and each window ends in a part-filled page, so longer
  windows need fewer requests; shorter ones give more windows to fetch side by side.

Run::

    .venv/bin/python -m tests.benchmarks.bench_lookback [--peak 1000] [--rate 600]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

from app.durations import format_duration
from app.genesys.client import GenesysClient, open_client
from app.models import Period
from app.periods import explicit_period
from app.pipeline.run import run_report
from app.sandbox.server import Sandbox, running_sandbox
from app.settings import GenesysSettings, ReportSettings, Settings, StorageSettings
from tests.benchmarks.bench_fetch import DAY_START, PAGE_SIZE, _settings
from tests.benchmarks.common import ratio, say, table

LOOKBACK = timedelta(hours=6)
WINDOWS = (timedelta(hours=1), timedelta(hours=6), timedelta(days=1))
REPEATS = 3  # of each window variant: wall time on a shared 2-core machine is noisy
NO_LOOKBACK = timedelta(0)


@dataclass(frozen=True, slots=True)
class Run:
    label: str
    period: Period
    lookback: timedelta
    window: timedelta = timedelta(hours=1)
    fetch: Literal["query", "jobs"] = "query"


@dataclass(frozen=True, slots=True)
class Measured:
    run: Run
    detail_requests: int  # detail-query requests (jobs: submit, poll, results, delete)
    requests: int  # every request of the run (token, look-ups, availability included)
    probes: int
    records_read: int
    copies: int
    conversations: int
    events: int
    seconds: float


def _periods() -> dict[str, Period]:
    berlin_start = datetime(2024, 5, 1, tzinfo=UTC) - timedelta(hours=2)  # 00:00 CEST
    return {
        "day, UTC": explicit_period(DAY_START, DAY_START + timedelta(days=1), "UTC"),
        "day, Europe/Berlin": explicit_period(
            berlin_start, berlin_start + timedelta(days=1), "Europe/Berlin"
        ),
        "hour 00-01 UTC": explicit_period(DAY_START, DAY_START + timedelta(hours=1), "UTC"),
        "hour 10-11 UTC": explicit_period(
            DAY_START + timedelta(hours=10), DAY_START + timedelta(hours=11), "UTC"
        ),
    }


def _runs() -> list[Run]:
    periods = _periods()
    runs = [
        Run(label, period, lookback)
        for label, period in periods.items()
        for lookback in (NO_LOOKBACK, LOOKBACK)
    ]
    # The first PT1H run with the look-back is above; the window table takes the median of
    # REPEATS runs of each window, interleaved so that a busy moment does not favour one.
    runs += [
        Run("day, UTC", periods["day, UTC"], LOOKBACK, window)
        for repeat in range(REPEATS)
        for window in WINDOWS
        if repeat or window != timedelta(hours=1)
    ]
    runs += [
        Run("day, UTC", periods["day, UTC"], lookback, fetch="jobs")
        for lookback in (NO_LOOKBACK, LOOKBACK)
    ]
    return runs


async def _measure(
    run: Run, sandbox: Sandbox, client: GenesysClient, genesys: GenesysSettings, workdir: Path
) -> Measured:
    report = ReportSettings(
        name="bench-lookback",
        timezone=run.period.timezone,
        window=run.window,
        fetch=run.fetch,
        lookback=run.lookback,
        group_by=["queue_id"],
        metrics=["conversations", "offered", "answered", "avg_handle_seconds"],
        formats=["csv"],
    )
    settings = Settings(
        genesys=genesys, storage=StorageSettings(directory=workdir), reports=[report]
    )
    endpoints = (
        {"details_query"}
        if run.fetch == "query"
        else {"jobs_submit", "jobs_status", "jobs_results", "jobs_delete"}
    )
    started = time.monotonic()
    outcome = await run_report(settings, report, run.period, client)
    finished = time.monotonic()
    seconds = finished - started
    new = [r for r in sandbox.log if started <= r.at <= finished]
    detail = sum(1 for r in new if r.endpoint in endpoints)
    counts: dict[str, Any] = outcome.manifest["counts"]
    return Measured(
        run=run,
        detail_requests=detail,
        requests=len(new),
        probes=int(counts["lookback_windows"]),
        records_read=int(counts["records_read"]),
        copies=int(counts["duplicates_dropped"]),
        conversations=int(counts["conversations"]),
        events=int(counts["events_counted"]),
        seconds=seconds,
    )


async def main_async(args: argparse.Namespace) -> None:
    sandbox_settings = _settings(args)
    genesys = GenesysSettings(
        environment="sandbox",
        requests_per_minute=args.rate,
        max_concurrency=args.concurrency,
        page_size=PAGE_SIZE,
        job_poll_interval=timedelta(seconds=0.2),
    )
    say(
        f"sandbox: latency 200 ms ± 50 ms, {args.rate} requests/minute, peak {args.peak}/hour, "
        f"seed {args.seed}; client max_concurrency {args.concurrency}, page size {PAGE_SIZE}"
    )
    measured: list[Measured] = []
    with tempfile.TemporaryDirectory(prefix="bench-lookback-") as scratch:
        async with running_sandbox(sandbox_settings) as running:
            for index, run in enumerate(_runs()):
                # A client (a token) per run: the rate limit is per token, so every run starts
                # with a whole budget and its wall time is its own.
                async with open_client(
                    genesys,
                    api_url=running.base_url,
                    login_url=running.base_url,
                    client_id=running.client_id,
                    client_secret=SecretStr(running.client_secret),
                ) as client:
                    result = await _measure(
                        run, running.sandbox, client, genesys, Path(scratch) / str(index)
                    )
                measured.append(result)
                say(
                    f"{run.label}, lookback {format_duration(run.lookback)}, window "
                    f"{format_duration(run.window)}, {run.fetch}: {result.detail_requests} "
                    f"requests in {result.seconds:.1f} s"
                )
    _print(measured)


def _print(measured: list[Measured]) -> None:
    print()
    lookback_rows = []
    by_key: dict[tuple[str, timedelta, timedelta, str], Measured] = {}
    repeats: dict[tuple[str, timedelta, timedelta, str], list[float]] = {}
    for m in measured:
        key = (m.run.label, m.run.lookback, m.run.window, m.run.fetch)
        by_key.setdefault(key, m)
        repeats.setdefault(key, []).append(m.seconds)
    for (label, lookback, window, fetch), m in by_key.items():
        if window != timedelta(hours=1) or lookback != LOOKBACK:
            continue
        without = by_key[(label, NO_LOOKBACK, window, fetch)]
        lookback_rows.append(
            [
                f"{label} ({fetch})",
                str(without.detail_requests),
                str(m.detail_requests),
                f"+{m.detail_requests - without.detail_requests}",
                str(m.probes),
                f"{without.events:,}",
                f"{m.events:,}",
                f"{m.conversations - without.conversations:+,}",
            ]
        )
    print(
        table(
            "bench_lookback: detail requests without and with lookback PT6H (window PT1H)",
            [
                "report",
                "PT0S",
                "PT6H",
                "extra",
                "probe windows",
                "events PT0S",
                "events PT6H",
                "conversations added",
            ],
            lookback_rows,
        )
    )
    print()
    window_rows = []
    hourly = statistics.median(repeats[("day, UTC", LOOKBACK, timedelta(hours=1), "query")])
    for window in WINDOWS:
        key = ("day, UTC", LOOKBACK, window, "query")
        m, seconds = by_key[key], statistics.median(repeats[key])
        window_rows.append(
            [
                format_duration(window),
                str(m.detail_requests),
                f"{m.records_read:,}",
                f"{m.copies:,}",
                f"{seconds:.1f}",
                ratio(seconds, hourly),
            ]
        )
    print(
        table(
            "bench_lookback: the UTC day, lookback PT6H, by fetch window",
            [
                "window",
                "detail requests",
                "records read",
                "copies dropped",
                f"wall s (median of {REPEATS})",
                "vs PT1H",
            ],
            window_rows,
        )
    )
    answers = {m.events for m in measured if m.run.label == "day, UTC" and m.run.lookback}
    print(
        "every UTC-day run with the look-back counted the same events: "
        + ("yes" if len(answers) == 1 else f"NO ({sorted(answers)})")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=600, help="requests/minute")
    parser.add_argument("--concurrency", type=int, default=16, help="client max_concurrency")
    parser.add_argument("--peak", type=int, default=1000, help="sandbox peak_per_hour")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
