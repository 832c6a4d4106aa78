"""Which periods a fire covers and which the catch-up walks, across DST and month ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.service.catchup import recent_periods
from app.settings import ReportSettings


def _report(period: str, zone: str = "Europe/Berlin", delay: str = "PT0S") -> ReportSettings:
    return ReportSettings.model_validate(
        {"name": "r", "period": period, "timezone": zone, "delay": delay}
    )


def test_daily_catch_up_over_the_berlin_fall_back() -> None:
    now = datetime(2024, 10, 29, 5, tzinfo=UTC)
    periods = recent_periods(_report("previous_day"), now, timedelta(days=3))
    assert [p.label for p in periods] == ["2024-10-26", "2024-10-27", "2024-10-28"]
    assert [p.end - p.start for p in periods] == [
        timedelta(hours=24),
        timedelta(hours=25),
        timedelta(hours=24),
    ]


def test_hourly_catch_up_in_new_york_spring_forward() -> None:
    now = datetime(2024, 3, 10, 8, 30, tzinfo=UTC)  # 04:30 EDT, just after the jump
    periods = recent_periods(_report("previous_hour", "America/New_York"), now, timedelta(hours=3))
    assert [p.start.isoformat() for p in periods] == [
        "2024-03-10T05:00:00+00:00",
        "2024-03-10T06:00:00+00:00",
        "2024-03-10T07:00:00+00:00",
    ]
    assert all(p.end - p.start == timedelta(hours=1) for p in periods)


def test_monthly_periods_around_29_february() -> None:
    now = datetime(2024, 4, 2, tzinfo=UTC)
    periods = recent_periods(_report("previous_month", "UTC"), now, timedelta(days=40))
    assert [p.label for p in periods] == ["2024-02", "2024-03"]
    assert periods[0].end - periods[0].start == timedelta(days=29)


def test_delay_moves_the_latest_period_back() -> None:
    now = datetime(2024, 5, 2, 0, 30, tzinfo=UTC)
    plain = recent_periods(_report("previous_day", "UTC"), now, timedelta(0))
    delayed = recent_periods(_report("previous_day", "UTC", delay="PT1H"), now, timedelta(0))
    assert [p.label for p in plain] == ["2024-05-01"]
    assert [p.label for p in delayed] == ["2024-04-30"]


def test_lookback_reports_only_run_the_latest() -> None:
    now = datetime(2024, 5, 2, 9, 0, 30, tzinfo=UTC)
    periods = recent_periods(_report("PT6H", "UTC"), now, timedelta(days=7))
    assert len(periods) == 1 and periods[0].end == datetime(2024, 5, 2, 9, tzinfo=UTC)
