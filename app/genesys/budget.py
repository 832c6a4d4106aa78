"""One request budget for the whole process.

aiolimiter's leaky bucket paces requests to ``requests_per_minute``. Two things it cannot do are
added here: adapting down when Genesys advertises a smaller budget (``inin-ratelimit-allowed``
per window of ``inin-ratelimit-reset`` seconds), and pausing *every* request after a 429 until
its ``Retry-After`` has passed, since the limit it hit is shared. The concurrency cap is a
separate semaphore: the budget says how often, the cap how many at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from aiolimiter import AsyncLimiter

log = logging.getLogger(__name__)


class RateBudget:
    """Create inside the running loop (aiolimiter binds to it on first use)."""

    def __init__(self, requests_per_minute: float, *, headroom: int = 0) -> None:
        self.configured = float(requests_per_minute)
        # Requests that may be in flight when the window's last allowed one is sent.
        self._headroom = headroom
        self.rate_per_minute = self.configured
        self._limiter = AsyncLimiter(self.rate_per_minute, 60)
        self._resume_at = 0.0
        self._window_estimate = 0.0

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        # A loop, not an Event: a 429 arriving meanwhile can push the resume time further.
        while (wait := self._resume_at - loop.time()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)
        await self._limiter.acquire()

    def pause(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` from now (a 429's Retry-After)."""
        resume = asyncio.get_running_loop().time() + seconds
        self._resume_at = max(self._resume_at, resume)

    async def observe(self, headers: Mapping[str, str]) -> None:
        """Adapt down to the budget Genesys advertises, if it is smaller than ours."""
        try:
            allowed = float(headers["inin-ratelimit-allowed"])
            reset = float(headers["inin-ratelimit-reset"])
        except (KeyError, ValueError):
            return
        try:
            count = float(headers["inin-ratelimit-count"])
        except (KeyError, ValueError):
            count = 0.0
        if count and count >= allowed - self._headroom:
            # The window is nearly spent: the requests in flight would be answered 429, so
            # wait for the window to reset instead (the leaky bucket alone bursts past it).
            self.pause(reset)
        # The window's length is not sent; the largest reset seen is a lower bound on it (the
        # first request of a window sees the whole window), so the rate estimate errs high,
        # never throttling us below what is allowed.
        self._window_estimate = max(self._window_estimate, reset, 1.0)
        advertised = allowed * 60.0 / self._window_estimate
        if advertised < self.rate_per_minute * 0.99:
            log.info(
                "Genesys allows %.0f requests/minute, fewer than the %.0f configured: adapting",
                advertised,
                self.rate_per_minute,
            )
            self.rate_per_minute = advertised
            limiter = AsyncLimiter(advertised, 60)
            # Start the new bucket full (an empty bucket grants this at once), so the change
            # does not allow a fresh burst.
            await limiter.acquire(advertised)
            self._limiter = limiter
