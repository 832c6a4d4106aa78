"""Crontab weekday numbering, ISO-8601 durations and region names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.cron import parse_cron
from app.durations import format_duration, parse_duration
from app.regions import hosts_for, normalise_environment

THURSDAY = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "weekday"),
    [("0 6 * * 0", 6), ("0 6 * * 7", 6), ("0 6 * * 1", 0), ("0 6 * * sat", 5), ("0 6 * * 5", 4)],
)
def test_weekday_numbers_follow_crontab(expression: str, weekday: int) -> None:
    fire = parse_cron(expression, "UTC").get_next_fire_time(None, THURSDAY)
    assert fire is not None and fire.weekday() == weekday


def test_weekday_ranges_lists_and_steps() -> None:
    def fires(expression: str) -> list[int]:
        trigger = parse_cron(expression, "UTC")
        days, moment = [], THURSDAY
        for _ in range(7):
            fire = trigger.get_next_fire_time(None, moment)
            assert fire is not None
            days.append(fire.isoweekday() % 7)  # crontab numbering, Sunday = 0
            moment = fire + timedelta(minutes=1)
        return sorted(set(days))

    assert fires("0 6 * * 1-5") == [1, 2, 3, 4, 5]
    assert fires("0 6 * * */2") == [0, 2, 4, 6]
    assert fires("0 6 * * 5-7") == [0, 5, 6]
    assert fires("0 6 * * 0,3") == [0, 3]


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("61 * * * *", "minute"),
        ("* 24 * * *", "hour"),
        ("* * 32 * *", "day-of-month"),
        ("* * * 13 *", "month"),
        ("* * * * 8", "day-of-week"),
        ("* * * *", "4 fields"),
    ],
)
def test_cron_errors_name_the_field(expression: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_cron(expression, "UTC")


def test_cron_uses_the_report_time_zone() -> None:
    fire = parse_cron("15 6 * * *", "Europe/Berlin").get_next_fire_time(None, THURSDAY)
    assert fire is not None and fire.astimezone(UTC).hour == 5  # CET = UTC+1 in November


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT1H", 3600), ("PT15M", 900), ("P1D", 86400), ("P1W", 604800), ("PT0.5S", 0.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds
    assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)


@pytest.mark.parametrize("text", ["P1M", "P1Y", "1h", "PT", "P", "-PT1H", ""])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_duration() -> None:
    assert format_duration(timedelta(hours=1)) == "PT1H"
    assert format_duration(timedelta(days=1, minutes=30)) == "P1DT30M"
    assert format_duration(timedelta(0)) == "PT0S"


@pytest.mark.parametrize(
    ("name", "domain"),
    [
        ("mypurecloud.com", "mypurecloud.com"),
        ("us-west-2", "usw2.pure.cloud"),
        ("ap_southeast_2", "mypurecloud.com.au"),
        ("EU-CENTRAL-1", "mypurecloud.de"),
        ("sandbox", "sandbox"),
    ],
)
def test_environment_names(name: str, domain: str) -> None:
    assert normalise_environment(name) == domain


def test_hosts_use_the_login_host_for_tokens() -> None:
    hosts = hosts_for("usw2.pure.cloud")
    assert hosts.api_url == "https://api.usw2.pure.cloud"
    assert hosts.login_url == "https://login.usw2.pure.cloud"
    with pytest.raises(ValueError, match="unknown environment"):
        normalise_environment("mypurecloud.au")


def test_dst_warnings_for_schedules_in_gaps_and_overlaps() -> None:
    from app.cron import dst_warnings

    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert dst_warnings("30 2 * * *", "Europe/Berlin", start) == [
        "2026-03-29 02:30 in Europe/Berlin falls in a DST gap (that wall time does not exist)",
        "2026-10-25 02:30 in Europe/Berlin falls in a DST overlap (that wall time happens twice)",
    ]
    assert dst_warnings("30 1 * * 0", "America/New_York", start) == [
        "2026-11-01 01:30 in America/New_York falls in a DST overlap (that wall time happens twice)"
    ]
    assert dst_warnings("15 6 * * *", "Europe/Berlin", start) == []
    assert dst_warnings("30 2 * * *", "UTC", start) == []
