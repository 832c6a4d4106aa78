"""Awaiting work that must finish even when the awaiting task is cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def to_completion(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable``; when cancelled meanwhile, wait for it to finish, then let the
    cancellation through.

    For work done in a thread (``asyncio.to_thread``, aiofiles): cancelling the await does not
    stop the thread, and the caller's clean-up (closing the file the thread writes to, removing
    the directory it writes in) must not race it. Only for bounded work: a write, an fsync, a
    merge of spool files.
    """
    task = asyncio.ensure_future(awaitable)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():
            try:
                await asyncio.wait({task})
            except asyncio.CancelledError:
                continue  # cancelled again: still wait, the thread is still running
        if not task.cancelled():
            task.exception()  # retrieved; the caller gets the cancellation
        raise


async def in_thread(func: Callable[..., T], /, *args: Any) -> T:
    """``asyncio.to_thread`` whose thread is always finished when this returns or raises."""
    return await to_completion(asyncio.to_thread(func, *args))
