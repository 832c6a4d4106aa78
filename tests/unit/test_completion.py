"""Work in a thread is finished before a cancellation reaches the awaiting code, so that code's
clean-up (closing a file, removing a directory) never races a thread still writing there."""

from __future__ import annotations

import asyncio
import threading

import pytest

from app.completion import in_thread, to_completion

WAIT = 10.0  # upper bound for threading waits; they return as soon as the event is set


def _blocked_work(started: threading.Event, release: threading.Event, log: list[str]) -> str:
    started.set()
    assert release.wait(WAIT)
    log.append("thread finished")
    return "result"


@pytest.mark.parametrize("cancellations", [1, 3])
async def test_a_cancellation_waits_for_the_thread(cancellations: int) -> None:
    started, release = threading.Event(), threading.Event()
    log: list[str] = []

    async def caller() -> None:
        try:
            await in_thread(_blocked_work, started, release, log)
        finally:
            log.append("caller cleans up")

    task = asyncio.create_task(caller())
    assert await asyncio.to_thread(started.wait, WAIT)
    for _ in range(cancellations):
        task.cancel()
        await asyncio.sleep(0)  # let the cancellation be delivered (not a wait for the thread)
    assert not task.done()  # still waiting for the thread, which cannot finish yet
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["thread finished", "caller cleans up"]


async def test_without_cancellation_the_result_comes_back() -> None:
    started, release = threading.Event(), threading.Event()
    log: list[str] = []
    release.set()
    assert await in_thread(_blocked_work, started, release, log) == "result"


async def test_an_error_after_cancellation_is_retrieved_and_the_cancellation_wins() -> None:
    started, release = threading.Event(), threading.Event()

    def failing() -> None:
        started.set()
        assert release.wait(WAIT)
        raise OSError(28, "No space left on device")

    task = asyncio.create_task(to_completion(asyncio.to_thread(failing)))
    assert await asyncio.to_thread(started.wait, WAIT)
    task.cancel()
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_errors_come_back_as_they_are() -> None:
    def failing() -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        await in_thread(failing)
