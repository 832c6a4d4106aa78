"""Fetch benchmark: one day of detail records from the sandbox over real loopback sockets.

The sandbox answers every request after 200 ms ± 50 ms and enforces a per-token rate limit in
fixed windows of one minute, as Genesys Cloud does; the day is a weekday at about 2,000
conversations an hour. Two ways of fetching it, each against a fresh sandbox with the same seed
(the same conversations), one after the other in this process:

* **ours**: ``run_report`` end to end (hourly windows, ``fetch: query``, pages concurrently under
  the client's rate budget and concurrency cap, spools, merge, exports), with the client's
  ``requests_per_minute`` equal to the sandbox's limit;
* **baseline** (the tutorial's approach): one plain ``aiohttp`` session and a fresh token, the
  same windows and page size, one request at a time, page after page, sleeping ``Retry-After``
  on a 429.

The request rate is measured on the sandbox side: a recording subclass of its rate limiter notes
every decision, so the rate-limit windows are exactly the sandbox's. Run::

    .venv/bin/python -m tests.benchmarks.bench_fetch [--rate 600] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from pydantic import SecretStr

from app.genesys.client import open_client
from app.models import Period, Window
from app.periods import explicit_period, split_windows
from app.pipeline.facts import instant_ms
from app.pipeline.run import Progress, run_report
from app.sandbox.ratelimit import Decision, RateLimiter
from app.sandbox.server import Sandbox, running_sandbox
from app.settings import (
    GenesysSettings,
    ReportSettings,
    SandboxSettings,
    Settings,
    StorageSettings,
)
from tests.benchmarks.common import ratio, say, table

DAY_START = datetime(2024, 5, 1, tzinfo=UTC)  # a Wednesday
SANDBOX_NOW = DAY_START + timedelta(days=3)  # the whole day has ended, so pages are stable
QUERY_PATH = "/api/v2/analytics/conversations/details/query"
PAGE_SIZE = 100  # the detail query's maximum (reference §4.4)


@dataclass(frozen=True, slots=True)
class Taken:
    at: float
    token: str
    allowed: bool
    window_started: float


class RecordingLimiter(RateLimiter):
    """The sandbox's own limiter, noting every decision it makes."""

    def __init__(self, limit: int, window_seconds: float) -> None:
        super().__init__(limit, window_seconds)
        self.taken: list[Taken] = []

    def take(self, key: str) -> Decision:
        decision = super().take(key)
        self.taken.append(Taken(self.clock(), key, decision.allowed, self._windows[key].started))
        return decision


@dataclass(slots=True)
class Outcome:
    name: str
    fetch_seconds: float = 0.0
    total_seconds: float | None = None  # end to end, when more than the fetch ran
    requests: int = 0  # detail-query requests the sandbox saw, 429s included
    throttled: int = 0  # of which answered 429
    records: int = 0  # records received, copies from overlapping windows included
    starts: dict[str, int] = field(default_factory=dict)  # conversationId -> start (ms)
    steady_ratio: float | None = None
    overall_ratio: float = 0.0
    windows_used: int = 0
    burst_seconds: float | None = None  # time to spend the first window's budget, if it was
    note: str = ""


def _settings(args: argparse.Namespace) -> SandboxSettings:
    return SandboxSettings.model_validate(
        {
            "now": SANDBOX_NOW,
            "seed": args.seed,
            "latency_ms": 200,
            "latency_jitter_ms": 50,
            "rate_limit_per_minute": args.rate,
            "rate_limit_window": "PT60S",
            "volume": {"peak_per_hour": args.peak, "timezone": "Europe/Berlin"},
        }
    )


def _prepare(sandbox: Sandbox, period: Period) -> tuple[RecordingLimiter, dict[str, int]]:
    """Install the recording limiter and generate the day up front (generation is not what is
    measured); returns the limiter and the ground truth ``{conversationId: start}``."""
    settings = sandbox.settings
    limiter = RecordingLimiter(
        settings.rate_limit_per_minute, settings.rate_limit_window.total_seconds()
    )
    sandbox.limiter = limiter
    start_ms, end_ms = _ms(period.start), _ms(period.end)
    truth = {
        c.conversation_id: c.start_ms for c in sandbox.source.started_between(start_ms, end_ms)
    }
    return limiter, truth


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _budget_use(
    taken: list[Taken], limit: int, window_seconds: float, start: float, end: float
) -> tuple[float | None, float, int]:
    """(steady ratio, whole-fetch ratio, rate-limit windows used) of achieved to allowed rate.

    The steady part runs from the first request to the start of the last rate-limit window, so
    it is made of whole windows (and any pause between them); the last window is where the
    fetch ran out of work, not of budget. Only requests the sandbox let through count.
    """
    during = [t for t in taken if start <= t.at <= end]
    allowed_per_second = limit / window_seconds
    windows = sorted({t.window_started for t in during})
    granted = [t for t in during if t.allowed]
    overall = len(granted) / max(end - start, 1e-9) / allowed_per_second
    if len(windows) < 2:
        return None, overall, len(windows)
    first, last = windows[0], windows[-1]
    steady = sum(1 for t in granted if t.at < last)
    return steady / (last - first) / allowed_per_second, overall, len(windows)


def _first_window_spent(limiter: RecordingLimiter, start: float) -> float | None:
    """Seconds from ``start`` until the first rate-limit window's last allowed request."""
    granted = [t for t in limiter.taken if t.allowed and t.at >= start]
    if not granted:
        return None
    first_window = [t for t in granted if t.window_started == granted[0].window_started]
    if len(first_window) < limiter.limit:
        return None
    return first_window[-1].at - start


def _count_requests(sandbox: Sandbox, start: float, end: float) -> tuple[int, int]:
    records = [r for r in sandbox.requests("details_query") if start <= r.at <= end]
    return len(records), sum(1 for r in records if r.status == 429)


# --- ours ---------------------------------------------------------------------------------


async def run_ours(args: argparse.Namespace, period: Period, workdir: Path) -> Outcome:
    sandbox_settings = _settings(args)
    report = ReportSettings(
        name="bench-fetch",
        timezone="UTC",
        window=timedelta(hours=1),
        fetch="query",
        group_by=["queue_id"],
        # Every conversation reaches the facts file (conversation grain), to compare ids.
        grain="conversation",
        include_ongoing=True,
        formats=["csv", "json", "ndjson"],
    )
    genesys = GenesysSettings(
        environment="sandbox",
        requests_per_minute=args.rate,
        max_concurrency=args.concurrency,
        page_size=PAGE_SIZE,
    )
    settings = Settings(
        genesys=genesys,
        sandbox=sandbox_settings,
        storage=StorageSettings(directory=workdir / "reports"),
        reports=[report],
    )
    outcome = Outcome("ours")
    async with running_sandbox(sandbox_settings) as running:
        limiter, _ = _prepare(running.sandbox, period)
        marks: dict[str, float] = {}
        done = [0, 0]

        def window_done(records: int) -> None:
            done[0] += 1
            done[1] += records
            if done[0] % 6 == 0:
                say(f"ours: {done[0]} windows fetched, {done[1]:,} records")

        def stage(name: str) -> None:
            marks.setdefault(name, time.monotonic())

        progress = Progress(window_done=window_done, stage=stage)
        async with open_client(
            genesys,
            api_url=running.base_url,
            login_url=running.base_url,
            client_id=running.client_id,
            client_secret=SecretStr(running.client_secret),
        ) as client:
            started = time.monotonic()
            result = await run_report(settings, report, period, client, progress=progress)
            finished = time.monotonic()
        fetched = marks.get("aggregating", finished)
        outcome.fetch_seconds = fetched - started
        outcome.total_seconds = finished - started
        outcome.requests, outcome.throttled = _count_requests(running.sandbox, started, fetched)
        outcome.steady_ratio, outcome.overall_ratio, outcome.windows_used = _budget_use(
            limiter.taken,
            limiter.limit,
            limiter.window_seconds,
            started,
            fetched,
        )
        outcome.burst_seconds = _first_window_spent(limiter, started)
        counts = result.manifest["counts"]
        outcome.records = int(counts["records_read"])
        outcome.note = (
            f"client: {counts['requests']} requests, {counts['retries']} retries "
            f"{counts['retries_by_cause']}, {counts['throttled_429']} answered 429"
        )
    facts = next(path for exported, path in result.files if exported.format == "ndjson")
    with facts.open("rb") as lines:
        for line in lines:
            row = orjson.loads(line)
            outcome.starts[row["conversation_id"]] = row["start_ms"]
    return outcome


# --- the baseline -------------------------------------------------------------------------


async def run_baseline(args: argparse.Namespace, period: Period) -> tuple[Outcome, dict[str, int]]:
    """The tutorial's loop; returns the outcome and the sandbox's ground truth
    ``{conversationId: start}`` for the day."""
    sandbox_settings = _settings(args)
    outcome = Outcome("baseline")
    hours = min(args.baseline_hours, 24)
    windows = split_windows(period, timedelta(hours=1))[:hours]
    async with running_sandbox(sandbox_settings) as running:
        limiter, truth = _prepare(running.sandbox, period)
        started = time.monotonic()
        await _tutorial_fetch(
            running.base_url, running.client_id, running.client_secret, windows, outcome
        )
        finished = time.monotonic()
        outcome.fetch_seconds = finished - started
        outcome.requests, outcome.throttled = _count_requests(running.sandbox, started, finished)
        outcome.steady_ratio, outcome.overall_ratio, outcome.windows_used = _budget_use(
            limiter.taken, limiter.limit, limiter.window_seconds, started, finished
        )
    return outcome, truth


async def _tutorial_fetch(
    base_url: str, client_id: str, client_secret: str, windows: list[Window], outcome: Outcome
) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{base_url}/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": aiohttp.encode_basic_auth(client_id, client_secret)},
        ) as response:
            response.raise_for_status()
            token = (await response.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        for number, window in enumerate(windows, start=1):
            page = 1
            while True:
                body = {
                    "interval": window.interval,
                    "order": "asc",
                    "orderBy": "conversationStart",
                    "paging": {"pageSize": PAGE_SIZE, "pageNumber": page},
                }
                async with session.post(
                    f"{base_url}{QUERY_PATH}", json=body, headers=headers
                ) as response:
                    if response.status == 429:
                        await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                        continue
                    response.raise_for_status()
                    data: dict[str, Any] = await response.json()
                conversations = data.get("conversations") or []
                outcome.records += len(conversations)
                for record in conversations:
                    outcome.starts[record["conversationId"]] = instant_ms(
                        record["conversationStart"]
                    )
                if len(conversations) < PAGE_SIZE:
                    break
                page += 1
            if number % 6 == 0:
                say(f"baseline: {number} windows fetched, {outcome.records:,} records")


# --- the report ---------------------------------------------------------------------------


def _fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _compare(ours: Outcome, baseline: Outcome, truth: dict[str, int], end_ms: int) -> list[str]:
    """Whether both fetched the same conversations over the hours both covered."""
    ours_ids = {cid for cid, start in ours.starts.items() if start < end_ms}
    base_ids = {cid for cid, start in baseline.starts.items() if start < end_ms}
    return [
        f"conversation ids, ours vs baseline over the hours both covered: "
        f"{'MATCH' if ours_ids == base_ids else 'DIFFER'} "
        f"({len(ours_ids):,} vs {len(base_ids):,})",
        f"conversation ids, ours vs the sandbox's ground truth for the day: "
        f"{'MATCH' if set(ours.starts) == set(truth) else 'DIFFER'} "
        f"({len(ours.starts):,} vs {len(truth):,})",
    ]


async def main_async(args: argparse.Namespace) -> None:
    period = explicit_period(DAY_START, DAY_START + timedelta(days=1), "UTC")
    say(
        f"sandbox: latency 200 ms ± 50 ms, {args.rate} requests/minute per token (fixed "
        f"60 s windows), peak {args.peak}/hour, seed {args.seed}, day {period.label}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-fetch-") as scratch:
        say(
            f"ours: run_report, hourly windows, fetch=query, requests_per_minute={args.rate}, "
            f"max_concurrency={args.concurrency}, page size {PAGE_SIZE}"
        )
        ours = await run_ours(args, period, Path(scratch))
        say(f"ours: done in {ours.total_seconds:.1f} s (fetch {ours.fetch_seconds:.1f} s)")
    say("baseline: one aiohttp session, one request at a time")
    baseline, truth = await run_baseline(args, period)
    say(f"baseline: done in {baseline.fetch_seconds:.1f} s")
    hours = min(args.baseline_hours, 24)
    covered_end = _ms(period.start + timedelta(hours=hours))
    share = sum(1 for start in truth.values() if start < covered_end) / max(len(truth), 1)
    baseline_day = baseline.fetch_seconds / share if share else 0.0
    unique_ours, unique_base = len(ours.starts), len(baseline.starts)
    rows = [
        ["concurrency (requests in flight)", str(args.concurrency), "1"],
        ["allowed rate (requests/minute)", str(args.rate), str(args.rate)],
        ["fetch wall time (s)", f"{ours.fetch_seconds:.1f}", f"{baseline.fetch_seconds:.1f}"],
        [
            "run_report end to end (s)",
            f"{ours.total_seconds or 0:.1f}",
            "-",
        ],
        ["detail-query requests", f"{ours.requests:,}", f"{baseline.requests:,}"],
        ["  of which answered 429", str(ours.throttled), str(baseline.throttled)],
        ["rate-limit windows used", str(ours.windows_used), str(baseline.windows_used)],
        [
            "achieved / allowed rate, steady part",
            _fmt_ratio(ours.steady_ratio),
            _fmt_ratio(baseline.steady_ratio),
        ],
        [
            "achieved / allowed rate, whole fetch",
            _fmt_ratio(ours.overall_ratio),
            _fmt_ratio(baseline.overall_ratio),
        ],
        ["records received (with copies)", f"{ours.records:,}", f"{baseline.records:,}"],
        ["conversations fetched (unique)", f"{unique_ours:,}", f"{unique_base:,}"],
        [
            "records per request",
            f"{ours.records / max(ours.requests, 1):.1f}",
            f"{baseline.records / max(baseline.requests, 1):.1f}",
        ],
        [
            "conversations per request",
            f"{unique_ours / max(ours.requests, 1):.1f}",
            f"{unique_base / max(baseline.requests, 1):.1f}",
        ],
    ]
    print()
    print(
        table(
            f"bench_fetch: {period.label}, {len(truth):,} conversations "
            f"({len(truth) / 24:,.0f}/hour on average), page size {PAGE_SIZE}",
            ["", "ours", "baseline"],
            rows,
        )
    )
    if hours < 24:
        print(
            f"baseline capped to the first {hours} hours ({share:.1%} of the day's "
            f"conversations): {baseline_day:.1f} s for the whole day, extrapolated by that share"
        )
    print(
        f"fetch wall time, baseline / ours: {ratio(baseline_day, ours.fetch_seconds)} "
        f"(target: ours faster; at the allowed rate, {baseline.requests} requests need "
        f"at least {(baseline.requests - 1) // args.rate} whole rate-limit window(s) plus "
        "the last requests)"
    )
    if ours.burst_seconds is not None:
        print(
            f"ours spent its first rate-limit window's budget ({args.rate} requests) in "
            f"{ours.burst_seconds:.1f} s, then waited for the next window"
        )
    print(
        f"achieved / allowed request rate, ours, steady part: {_fmt_ratio(ours.steady_ratio)} "
        "(target >= 0.90)"
    )
    for line in _compare(ours, baseline, truth, covered_end):
        print(line)
    print(ours.note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=600, help="requests/minute (both sides)")
    parser.add_argument("--concurrency", type=int, default=16, help="client max_concurrency")
    parser.add_argument("--peak", type=int, default=4600, help="sandbox peak_per_hour")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--baseline-hours", type=int, default=24, help="cap the baseline to the first N hours"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
