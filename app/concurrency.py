"""Running many awaitables with a bound, and failing as one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


async def first_failure(start: Callable[[asyncio.TaskGroup], object]) -> None:
    """Run tasks in a TaskGroup (a failure cancels the others) and raise the first failure
    itself, not the ExceptionGroup around it, so callers see an ordinary error."""
    try:
        async with asyncio.TaskGroup() as group:
            start(group)
    except BaseExceptionGroup as failures:
        first: BaseException = failures
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None


async def each_bounded(
    items: Iterable[T], work: Callable[[T], Awaitable[object]], limit: int
) -> None:
    """``work(item)`` for every item, at most ``limit`` at once; the first failure cancels the
    rest and is raised. ``limit`` workers take items in turn from one iterator, so a million
    items cost a million awaits, never a million tasks held at once."""
    iterator = iter(items)

    async def worker() -> None:
        for item in iterator:  # shared: each item is taken by exactly one worker
            await work(item)

    await first_failure(lambda group: [group.create_task(worker()) for _ in range(max(1, limit))])
