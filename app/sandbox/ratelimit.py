"""Per-token request budget with the ``inin-ratelimit-*`` headers (reference §8).

A fixed window per token: ``allowed`` requests per window, ``count`` used so far, ``reset`` the
whole seconds until the window starts again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Window:
    started: float
    count: int = 0


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    count: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        return {
            "inin-ratelimit-allowed": str(self.limit),
            "inin-ratelimit-count": str(self.count),
            "inin-ratelimit-reset": str(self.reset_seconds),
        }


@dataclass(slots=True)
class RateLimiter:
    limit: int
    window_seconds: float
    clock: Callable[[], float] = time.monotonic
    _windows: dict[str, _Window] = field(default_factory=dict)

    def take(self, key: str) -> Decision:
        now = self.clock()
        window = self._windows.get(key)
        if window is None or now - window.started >= self.window_seconds:
            window = self._windows[key] = _Window(started=now)
        elapsed = now - window.started
        # Whole seconds left, never more than the window (float error must not give 61 of 60).
        reset = max(
            1, min(math.ceil(self.window_seconds - elapsed), math.ceil(self.window_seconds))
        )
        if window.count >= self.limit:
            return Decision(False, self.limit, window.count, reset)
        window.count += 1
        return Decision(True, self.limit, window.count, reset)
