"""Request counters, per process and per report run.

A run opens ``measure()``; every request made by the run's tasks (they inherit the context)
counts in that run's ``RequestStats`` as well as in the process's.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class RequestStats:
    requests: int = 0  # every attempt, retries included
    retries: Counter[str] = field(default_factory=Counter)  # by cause: "429", "503", "timeout"...
    throttled: int = 0  # 429 answers
    bytes_received: int = 0
    token_requests: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "retries": sum(self.retries.values()),
            "retries_by_cause": dict(sorted(self.retries.items())),
            "throttled_429": self.throttled,
            "bytes_received": self.bytes_received,
            "token_requests": self.token_requests,
        }


_current: ContextVar[RequestStats | None] = ContextVar("genesys_request_stats", default=None)


def current() -> RequestStats | None:
    return _current.get()


@contextlib.contextmanager
def measure() -> Iterator[RequestStats]:
    """Count the requests made inside this block (and by tasks it starts)."""
    stats = RequestStats()
    token = _current.set(stats)
    try:
        yield stats
    finally:
        _current.reset(token)
