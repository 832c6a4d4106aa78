"""Reading a detail record: external data (genesys-api.md §7), read defensively.

Missing optional fields, ``null`` where a list or value is expected and values of the wrong type
read as nothing; only what no report can do without (``conversationId``, ``conversationStart``)
raises ``MalformedRecord``. Both grains read records through these.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

__all__ = [
    "MAX_METRIC",
    "NOTHING",
    "MalformedRecord",
    "first_text",
    "instant_ms",
    "items",
    "not_earlier",
    "optional_instant",
    "text",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS_PER_DAY = 86_400_000
# Beyond about 285,000 years in milliseconds a metric value is garbage, not a duration.
MAX_METRIC = 2**53
NOTHING: list[Any] = []  # shared and never mutated: the value of a missing array


class MalformedRecord(ValueError):
    """A detail record without a usable ``conversationId`` or ``conversationStart``."""


def instant_ms(text: str) -> int:
    """Epoch milliseconds of an ISO-8601 instant with ``Z`` or a UTC offset.

    Sub-millisecond digits are truncated towards the past. A text without an offset is
    ambiguous, so it is refused like any unparsable one (ValueError).
    """
    # datetime.fromisoformat is C code and accepts "Z" since 3.11; the timedelta fields avoid
    # the float rounding of timestamp() and are the fastest exact conversion measured.
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"'{text}' has no UTC offset")
    since = moment - _EPOCH
    return since.days * _MS_PER_DAY + since.seconds * 1000 + since.microseconds // 1000


def items(value: Any) -> list[Any]:
    """A JSON array, or nothing when the field is missing, null or not an array."""
    return value if isinstance(value, list) else NOTHING


def text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def first_text(value: Any) -> str | None:
    array = items(value)
    return text(array[0]) if array else None


def optional_instant(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        return instant_ms(value)
    except ValueError:
        return None


def not_earlier(at: int | None, best: int | None) -> bool:
    """Whether a segment starting ``at`` is at least as late as the best so far: between equal
    starts the later one in the record wins, and one without a readable start ranks before
    every dated one (it cannot be shown to be the latest)."""
    return best is None or (at is not None and at >= best)
