"""Report periods: calendar units in the report's time zone, look-backs, explicit ranges, and
their split into fetch windows. Pure functions of their arguments (no clock), so DST edges are
tested directly.

A calendar day in ``Europe/Berlin`` is 23, 24 or 25 hours: periods are computed on the local
calendar and converted to instants, never as ``now - 24h``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.durations import format_duration, parse_duration
from app.models import Period, Window

CALENDAR_UNITS = ("previous_hour", "previous_day", "previous_week", "previous_month")


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    # A wall time that does not exist (a DST jump at midnight) is normalised through UTC.
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC).astimezone(zone)


def _offset(moment: datetime) -> str:
    return moment.strftime("%z")


def previous_period(kind: str, now: datetime, timezone: str) -> Period:
    """The last complete hour/day/week/month before ``now`` in ``timezone``."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    if kind == "previous_hour":
        end = local.replace(minute=0, second=0, microsecond=0)
        start = (end.astimezone(UTC) - timedelta(hours=1)).astimezone(zone)
        label = start.strftime("%Y-%m-%dT%H") + _offset(start)
    elif kind == "previous_day":
        end = _local_midnight(local.date(), zone)
        start = _local_midnight(local.date() - timedelta(days=1), zone)
        label = start.strftime("%Y-%m-%d")
    elif kind == "previous_week":
        monday = local.date() - timedelta(days=local.weekday())
        end = _local_midnight(monday, zone)
        start = _local_midnight(monday - timedelta(days=7), zone)
        year, week, _ = start.date().isocalendar()
        label = f"{year}-W{week:02d}"
    elif kind == "previous_month":
        first = local.date().replace(day=1)
        end = _local_midnight(first, zone)
        start = _local_midnight((first - timedelta(days=1)).replace(day=1), zone)
        label = start.strftime("%Y-%m")
    else:
        raise ValueError(f"unknown calendar period '{kind}'")
    return Period(start.astimezone(UTC), end.astimezone(UTC), timezone, label)


def lookback_period(duration: timedelta, now: datetime, timezone: str) -> Period:
    """``[now - duration, now)``, ``now`` cut to the whole minute so re-runs are stable."""
    end = now.astimezone(UTC).replace(second=0, microsecond=0)
    start = end - duration
    label = f"{end:%Y%m%dT%H%MZ}-{format_duration(duration)}"
    return Period(start, end, timezone, label)


def report_period(period: str, now: datetime, timezone: str, delay: timedelta) -> Period:
    """The period a report setting (``previous_day``, ``PT6H``...) means at ``now``."""
    moment = now - delay
    if period in CALENDAR_UNITS:
        return previous_period(period, moment, timezone)
    try:
        duration = parse_duration(period)
    except ValueError:
        raise ValueError(
            f"'{period}' is neither one of {', '.join(CALENDAR_UNITS)} nor a look-back "
            "duration such as PT6H"
        ) from None
    return lookback_period(duration, moment, timezone)


def explicit_period(start: datetime, end: datetime, timezone: str) -> Period:
    """A user-given ``[start, end)``; both need an offset."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end need a UTC offset, e.g. 2024-05-01T00:00:00+02:00")
    if end <= start:
        raise ValueError("end must be after start")
    zone = ZoneInfo(timezone)
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    label = f"{local_start:%Y%m%dT%H%M%z}_{local_end:%Y%m%dT%H%M%z}"
    return Period(start.astimezone(UTC), end.astimezone(UTC), timezone, label)


def split_windows(period: Period, step: timedelta) -> list[Window]:
    """Cover ``period`` with consecutive windows of ``step``; the last one may be shorter.

    Whole-day steps follow the local calendar (a window is one local day, 23 to 25 hours);
    shorter steps are fixed lengths of real time, so a 23-hour day has 23 hourly windows.
    """
    if step <= timedelta(0):
        raise ValueError("the window must be longer than zero")
    windows: list[Window] = []
    whole_days = step % timedelta(days=1) == timedelta(0)
    zone = ZoneInfo(period.timezone)
    cursor = period.start
    while cursor < period.end:
        if whole_days:
            local = cursor.astimezone(zone)
            following = _local_midnight(local.date() + timedelta(days=step.days), zone)
            nxt = following.astimezone(UTC)
            if nxt <= cursor:  # a period not starting at local midnight
                nxt = cursor + step
        else:
            nxt = cursor + step
        end = min(nxt, period.end)
        windows.append(Window(cursor, end))
        cursor = end
    return windows


def lookback_windows(period: Period, lookback: timedelta) -> list[Window]:
    """Query windows that find the conversations a look-back adds, at the lowest cost.

    The interval grain counts events emitted in the period by conversations that started up to
    ``lookback`` before it. The detail query returns conversations that started on a UTC day
    the interval touches and were active in it (reference §4.3), so the period's first window
    already finds those that started earlier on its own UTC day. One started on an earlier UTC
    day and still active in the period was active at every UTC midnight since: a one-millisecond
    window just before each such midnight finds exactly those, for about one request each.
    """
    earliest = period.start - lookback
    start = period.start.astimezone(UTC)
    midnight = datetime.combine(start.date(), time(0), tzinfo=UTC)
    windows = []
    while midnight > earliest:
        windows.append(Window(midnight - _PROBE, midnight))
        midnight -= timedelta(days=1)
    return windows[::-1]


_PROBE = timedelta(milliseconds=1)


def parse_instant(text: str) -> datetime:
    """An ISO-8601 instant with an offset (``Z`` accepted); ValueError otherwise."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"'{text}' has no UTC offset (add Z or +02:00)")
    return moment


__all__ = [
    "CALENDAR_UNITS",
    "explicit_period",
    "lookback_period",
    "lookback_windows",
    "parse_instant",
    "previous_period",
    "report_period",
    "split_windows",
]
