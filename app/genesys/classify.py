"""Sort a Genesys response into success, retry or failure: one pure function, tested as a table.

429 is retried after its ``Retry-After`` (or a backoff when absent) unless that is longer than we
accept; 500/502/503/504 are retried with backoff; 401 means the token must be renewed (once);
every other 4xx is final.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})
Verdict = Literal["ok", "retry", "renew_token", "fail", "too_long"]


@dataclass(frozen=True, slots=True)
class Classification:
    verdict: Verdict
    cause: str  # "429", "503", ... for counters and messages
    retry_after: float | None = None


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` in seconds (Genesys sends seconds); None when absent or unreadable."""
    value = headers.get("Retry-After") or headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(seconds, 0.0)


def classify(status: int, headers: Mapping[str, str], max_retry_after: float) -> Classification:
    if 200 <= status < 300:
        return Classification("ok", str(status))
    if status == 429:
        wait = retry_after_seconds(headers)
        if wait is not None and wait > max_retry_after:
            return Classification("too_long", "429", wait)
        return Classification("retry", "429", wait)
    if status in RETRYABLE_STATUSES:
        return Classification("retry", str(status), retry_after_seconds(headers))
    if status == 401:
        return Classification("renew_token", "401")
    return Classification("fail", str(status))
