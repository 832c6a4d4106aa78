"""Windows in flight: a P90D period with 1-minute windows (129,600 of them), started the way
WindowFetcher starts them now (app.concurrency.each_bounded: a few workers) against the way it
did before (a task per window up front, in one TaskGroup). Each window's work is one await, so
the figures are the cost of the scheduling alone. Prints the traced peak of each and the ratio.

    .venv/bin/python -m tests.benchmarks.bench_windows
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from app.concurrency import each_bounded
from app.models import Period, Window
from app.periods import split_windows
from tests.benchmarks.common import say, table

WORKERS = 8


async def _one(window: Window) -> None:
    await asyncio.sleep(0)


async def task_per_window(windows: list[Window]) -> None:
    async with asyncio.TaskGroup() as group:
        for window in windows:
            group.create_task(_one(window))


async def bounded(windows: list[Window]) -> None:
    await each_bounded(windows, _one, WORKERS)


def measure(
    name: str, run: Callable[[list[Window]], Awaitable[None]], windows: list[Window]
) -> tuple[float, float]:
    tracemalloc.start()
    started = time.perf_counter()
    asyncio.run(run(windows))  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    say(f"{name}: peak {peak / 2**10:.0f} KiB traced, {seconds:.2f} s")
    return peak / 2**10, seconds


def main() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    period = Period(start, start + timedelta(days=90), "UTC", "p90d")
    windows = split_windows(period, timedelta(minutes=1))
    say(f"{len(windows)} windows of one minute")
    before = measure("a task per window (before)", task_per_window, windows)
    after = measure(f"{WORKERS} workers (now)", bounded, windows)
    rows = [
        ["a task per window", f"{before[0]:.0f}", f"{before[1]:.2f}"],
        [f"each_bounded, {WORKERS} workers", f"{after[0]:.0f}", f"{after[1]:.2f}"],
        ["ratio before/now", f"{before[0] / after[0]:.0f}x", f"{before[1] / after[1]:.1f}x"],
    ]
    print(table("Windows in flight, P90D at PT1M", ["scheduling", "peak KiB", "seconds"], rows))


if __name__ == "__main__":
    main()
