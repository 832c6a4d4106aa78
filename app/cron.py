"""Five-field crontab expressions, read the way crontab reads them.

APScheduler 3.x numbers weekdays from Monday = 0, while crontab uses Sunday = 0 (and 7); its own
``CronTrigger.from_crontab`` keeps that historical mismatch, so ``0 6 * * 0`` would fire on
Mondays. We translate the weekday field to names and validate each field separately, so an error
names the field it is in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

FIELDS = ("minute", "hour", "day", "month", "day_of_week")
_FIELD_LABELS = {
    "minute": "minute",
    "hour": "hour",
    "day": "day-of-month",
    "month": "month",
    "day_of_week": "day-of-week",
}
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _weekday_number(token: str) -> int:
    lowered = token.lower()
    if lowered in _WEEKDAYS:
        return _WEEKDAYS.index(lowered)
    if not lowered.isdigit() or int(lowered) > 7:
        raise ValueError(f"'{token}' is not a weekday (0-7 or sun-sat)")
    return int(lowered) % 7


def _weekday_field(text: str) -> str:
    """Translate crontab's weekday field into APScheduler weekday names."""
    if text in {"*", "?"}:
        return "*"
    days: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ValueError(f"'{part}' has a bad step")
        if base == "*":
            first, last = 0, 6
        elif "-" in base:
            low, high = base.split("-", 1)
            first, last = _weekday_number(low), _weekday_number(high)
            if high.strip() == "7":
                last = 7
            if last < first:
                raise ValueError(f"'{part}' is a descending range")
        else:
            first = last = _weekday_number(base)
            if step is not None:
                last = 6
        days.update(day % 7 for day in range(first, last + 1, step or 1))
    return ",".join(_WEEKDAYS[day] for day in sorted(days))


def parse_cron(expression: str, timezone: tzinfo | str) -> CronTrigger:
    """Build a trigger from a 5-field crontab expression; ValueError names the bad field.

    A sixth, leading field of seconds is accepted too (``*/10 * * * * *``), for schedules
    tighter than a minute (tests, demonstrations).
    """
    values = expression.split()
    seconds = None
    if len(values) == 6:
        seconds, values = values[0], values[1:]
    if len(values) != 5:
        raise ValueError(
            f"'{expression}' has {len(expression.split())} fields; expected 5 "
            "(minute hour day-of-month month day-of-week), or 6 with seconds first"
        )
    fields = dict(zip(FIELDS, values, strict=True))
    problems = []
    try:
        fields["day_of_week"] = _weekday_field(fields["day_of_week"])
    except ValueError as exc:
        problems.append(f"invalid day-of-week field: {exc}")
    for name in FIELDS:
        if name == "day_of_week" and problems:
            continue
        try:
            CronTrigger(**{name: fields[name]}, timezone="UTC")
        except ValueError as exc:
            problems.append(f"invalid {_FIELD_LABELS[name]} field: {exc}")
    if seconds is not None:
        try:
            CronTrigger(second=seconds, timezone="UTC")
        except ValueError as exc:
            problems.append(f"invalid second field: {exc}")
    if problems:
        raise ValueError("; ".join(problems))
    return CronTrigger(**fields, second=seconds or "0", timezone=timezone)


def dst_warnings(expression: str, timezone: str, start: datetime, days: int = 366) -> list[str]:
    """Fire times of the coming year that fall in a DST gap (they are skipped) or overlap (the
    wall time happens twice) of ``timezone``."""
    zone = ZoneInfo(timezone)
    wall_clock = parse_cron(expression, "UTC")  # the fields, read against naive wall times
    warnings: list[str] = []
    moment = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    end = moment + timedelta(days=days)
    previous = moment.astimezone(zone).utcoffset()
    while moment < end:
        moment += timedelta(hours=1)
        offset = moment.astimezone(zone).utcoffset()
        if offset == previous or offset is None or previous is None:
            continue
        shift = offset - previous
        local = moment.astimezone(zone).replace(tzinfo=None)
        # Spring forward: wall times [local - shift, local) never happen. Fall back: wall
        # times [local, local - shift) happen twice.
        first, last = (local - shift, local) if shift > timedelta(0) else (local, local - shift)
        kind = (
            "falls in a DST gap (that wall time does not exist)"
            if shift > timedelta(0)
            else "falls in a DST overlap (that wall time happens twice)"
        )
        probe = first.replace(tzinfo=UTC) - timedelta(microseconds=1)
        fire = wall_clock.get_next_fire_time(None, probe)
        if fire is not None and fire.replace(tzinfo=None) < last:
            warnings.append(f"{fire.replace(tzinfo=None):%Y-%m-%d %H:%M} in {timezone} {kind}")
        previous = offset
    return warnings
