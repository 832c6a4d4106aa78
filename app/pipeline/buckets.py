"""Local time buckets of an instant (report-semantics §2): half hour, hour, day, ISO week, month.

A bucket is a local wall-clock interval, so on the night the clocks go back the repeated local
hour is one bucket. Both grains bucket through here: the conversation grain by
``conversationStart``, the interval grain by each event's ``emitDate``, which is why it is cached:
a report has a handful of distinct quarter hours and millions of events.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = ["BUCKETS", "Buckets", "OutsideCalendar", "local_buckets"]

# The order of the tuple ``local_buckets`` returns.
BUCKETS = ("half_hour", "hour", "day", "week", "month")
Buckets = tuple[str, str, str, str, str]

# Every UTC offset in use today is a whole number of quarter hours and changes on a quarter
# hour, so all instants of one UTC quarter hour share their local half hour: the unit of the
# cache. (Old local mean times are not: those quarters are computed one instant at a time.)
_QUARTER_MS = 900_000


class OutsideCalendar(ValueError):
    """An instant that no local calendar can show (beyond year 9999 or before year 1)."""


def local_buckets(ms: int, zone: ZoneInfo) -> Buckets:
    """The buckets of epoch milliseconds ``ms`` in ``zone``."""
    quarter = ms // _QUARTER_MS
    cached = _quarter_buckets(quarter, zone)
    return cached if cached is not None else _exact(ms, zone)


@lru_cache(maxsize=8192)
def _quarter_buckets(quarter: int, zone: ZoneInfo) -> Buckets | None:
    local = _local(quarter * _QUARTER_MS, zone)
    if local.minute % 15 or local.second or local.microsecond:
        return None  # an offset that is not whole quarter hours: no sharing
    return _format(local.year, local.month, local.day, local.hour, local.minute >= 30)


def _exact(ms: int, zone: ZoneInfo) -> Buckets:
    local = _local(ms, zone)
    return _format(local.year, local.month, local.day, local.hour, local.minute >= 30)


def _local(ms: int, zone: ZoneInfo) -> datetime:
    try:
        return datetime.fromtimestamp(ms // 1000, zone)
    except (OverflowError, OSError, ValueError):
        raise OutsideCalendar(f"{ms} ms since 1970 is outside the calendar") from None


@lru_cache(maxsize=8192)
def _format(year: int, month: int, day: int, hour: int, second_half: bool) -> Buckets:
    iso_year, iso_week, _ = datetime(year, month, day).isocalendar()
    date = f"{year:04d}-{month:02d}-{day:02d}"
    return (
        f"{date}T{hour:02d}:{30 if second_half else 0:02d}",
        f"{date}T{hour:02d}:00",
        date,
        f"{iso_year:04d}-W{iso_week:02d}",
        f"{year:04d}-{month:02d}",
    )
