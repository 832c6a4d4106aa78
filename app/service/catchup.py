"""Which periods a service should (re)run: pure functions of the settings and the clock."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.models import Period
from app.periods import CALENDAR_UNITS, previous_period, report_period
from app.settings import ReportSettings

_MAX_PERIODS = 10_000  # a bound on the walk back, whatever the settings say


def recent_periods(report: ReportSettings, now: datetime, catch_up: timedelta) -> list[Period]:
    """The report's periods that ended within ``catch_up`` before ``now`` (after its delay),
    oldest first. Look-back reports roll with the clock: only the latest counts."""
    latest = report_period(report.period, now, report.timezone, report.delay)
    if report.period not in CALENDAR_UNITS:
        return [latest]
    oldest_end = now - report.delay - catch_up
    periods = [latest]
    while len(periods) < _MAX_PERIODS:
        earlier = previous_period(report.period, periods[-1].start, report.timezone)
        if earlier.end <= oldest_end:
            break
        periods.append(earlier)
    return list(reversed(periods))
