"""One request budget for the whole process.

aiolimiter's leaky bucket paces requests to ``requests_per_minute``. Two things it cannot do are
added here: adapting to the budget Genesys advertises (``inin-ratelimit-allowed`` per window of
``inin-ratelimit-reset`` seconds; down when it is smaller than ours, back up, never above the
configured rate, when it grows again), and pausing *every* request after a 429 until its
``Retry-After`` has passed, since the limit it hit is shared. No pause is longer than
``max_pause`` (``genesys.max_retry_after``): a header saying "wait a day" must not hang a run
silently. The concurrency cap is a
separate semaphore: the budget says how often, the cap how many at once.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping

from aiolimiter import AsyncLimiter

log = logging.getLogger(__name__)


class RateBudget:
    """Create inside the running loop (aiolimiter binds to it on first use)."""

    def __init__(
        self, requests_per_minute: float, *, headroom: int = 0, max_pause: float = 180.0
    ) -> None:
        self.configured = float(requests_per_minute)
        self._max_pause = max_pause
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
        """Hold every request back for ``seconds`` from now (a 429's Retry-After), at most
        ``max_pause``."""
        resume = asyncio.get_running_loop().time() + min(max(seconds, 0.0), self._max_pause)
        self._resume_at = max(self._resume_at, resume)

    async def observe(self, headers: Mapping[str, str]) -> None:
        """Follow the budget Genesys advertises, between nothing and the configured rate."""
        allowed = _number(headers, "inin-ratelimit-allowed")
        reset = _number(headers, "inin-ratelimit-reset")
        if allowed is None or reset is None:
            return
        # A window longer than the longest pause we accept is not believed either.
        reset = min(reset, self._max_pause)
        count = _number(headers, "inin-ratelimit-count") or 0.0
        if allowed <= 0 or (count and count >= allowed - self._headroom):
            # The window is spent (or nothing is allowed in it): the requests in flight would be
            # answered 429, so wait for the window to reset instead (the leaky bucket alone
            # bursts past it). An allowance of 0 says nothing about the rate of the next window.
            self.pause(reset)
            if allowed <= 0:
                return
        # The window's length is not sent; the largest reset seen is a lower bound on it (the
        # first request of a window sees the whole window), so the rate estimate errs high,
        # never throttling us below what is allowed.
        self._window_estimate = max(self._window_estimate, reset, 1.0)
        # At least one request a minute: aiolimiter cannot grant a whole request from a bucket
        # smaller than one, and the retry bounds, not a header, decide when a run gives up.
        advertised = max(min(allowed * 60.0 / self._window_estimate, self.configured), 1.0)
        if advertised < self.rate_per_minute * 0.99:
            log.info(
                "Genesys allows %.0f requests/minute, fewer than the %.0f configured: adapting",
                advertised,
                self.rate_per_minute,
            )
        elif advertised > self.rate_per_minute * 1.01:
            log.info(
                "Genesys allows %.0f requests/minute again (was %.0f): recovering",
                advertised,
                self.rate_per_minute,
            )
        else:
            return
        self.rate_per_minute = advertised
        limiter = AsyncLimiter(advertised, 60)
        # Start the new bucket full (an empty bucket grants this at once), so the change does
        # not allow a fresh burst.
        await limiter.acquire(advertised)
        self._limiter = limiter


def _number(headers: Mapping[str, str], name: str) -> float | None:
    """A header's finite, non-negative number; None when absent or unreadable."""
    try:
        value = float(headers[name])
    except (KeyError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None
