"""Period arithmetic and window planning across DST, month ends and leap days."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.durations import parse_duration
from app.periods import (
    explicit_period,
    lookback_windows,
    parse_instant,
    previous_period,
    report_period,
    split_windows,
)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "now", "zone", "start", "end", "label"),
    [
        # Berlin spring forward (31 Mar 2024): a 23-hour day.
        (
            "previous_day",
            utc(2024, 4, 1, 8),
            "Europe/Berlin",
            utc(2024, 3, 30, 23),
            utc(2024, 3, 31, 22),
            "2024-03-31",
        ),
        # Berlin fall back (27 Oct 2024): a 25-hour day.
        (
            "previous_day",
            utc(2024, 10, 28, 8),
            "Europe/Berlin",
            utc(2024, 10, 26, 22),
            utc(2024, 10, 27, 23),
            "2024-10-27",
        ),
        # New York spring forward (10 Mar 2024).
        (
            "previous_day",
            utc(2024, 3, 11, 12),
            "America/New_York",
            utc(2024, 3, 10, 5),
            utc(2024, 3, 11, 4),
            "2024-03-10",
        ),
        (
            "previous_hour",
            utc(2024, 5, 1, 9, 30),
            "UTC",
            utc(2024, 5, 1, 8),
            utc(2024, 5, 1, 9),
            "2024-05-01T08+0000",
        ),
        # The repeated hour of the Berlin fall back is its own period, told apart by offset.
        (
            "previous_hour",
            utc(2024, 10, 27, 1, 10),
            "Europe/Berlin",
            utc(2024, 10, 27, 0),
            utc(2024, 10, 27, 1),
            "2024-10-27T02+0200",
        ),
        (
            "previous_hour",
            utc(2024, 10, 27, 2, 10),
            "Europe/Berlin",
            utc(2024, 10, 27, 1),
            utc(2024, 10, 27, 2),
            "2024-10-27T02+0100",
        ),
        (
            "previous_week",
            utc(2024, 5, 1, 12),
            "Europe/Berlin",
            utc(2024, 4, 21, 22),
            utc(2024, 4, 28, 22),
            "2024-W17",
        ),
        ("previous_month", utc(2024, 3, 15), "UTC", utc(2024, 2, 1), utc(2024, 3, 1), "2024-02"),
        (
            "previous_month",
            utc(2024, 1, 1, 0, 30),
            "Europe/Berlin",
            utc(2023, 11, 30, 23),
            utc(2023, 12, 31, 23),
            "2023-12",
        ),
        # 29 February is a day like any other.
        (
            "previous_day",
            utc(2024, 3, 1, 10),
            "UTC",
            utc(2024, 2, 29),
            utc(2024, 3, 1),
            "2024-02-29",
        ),
    ],
)
def test_calendar_periods(
    kind: str, now: datetime, zone: str, start: datetime, end: datetime, label: str
) -> None:
    period = previous_period(kind, now, zone)
    assert (period.start, period.end, period.label) == (start, end, label)


def test_delay_and_lookback() -> None:
    now = utc(2024, 5, 1, 0, 20)
    delayed = report_period("previous_day", now, "UTC", timedelta(hours=1))
    assert delayed.label == "2024-04-29"
    lookback = report_period("PT6H", utc(2024, 5, 1, 9, 30, 45), "UTC", timedelta(0))
    assert (lookback.start, lookback.end) == (utc(2024, 5, 1, 3, 30), utc(2024, 5, 1, 9, 30))


@pytest.mark.parametrize(
    ("now", "hours"),
    [(utc(2024, 4, 1, 8), 23), (utc(2024, 10, 28, 8), 25), (utc(2024, 5, 2, 8), 24)],
)
def test_hourly_windows_tile_a_berlin_day(now: datetime, hours: int) -> None:
    period = previous_period("previous_day", now, "Europe/Berlin")
    windows = split_windows(period, timedelta(hours=1))
    assert len(windows) == hours
    assert windows[0].start == period.start and windows[-1].end == period.end
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))
    assert all(w.end - w.start == timedelta(hours=1) for w in windows)


def test_daily_windows_follow_local_midnights() -> None:
    period = previous_period("previous_week", utc(2024, 4, 1, 12), "Europe/Berlin")
    windows = split_windows(period, timedelta(days=1))
    assert [w.end - w.start for w in windows].count(timedelta(hours=23)) == 1
    assert all(w.start.astimezone(ZoneInfo("Europe/Berlin")).hour == 0 for w in windows)


def test_odd_windows_clip_at_the_end() -> None:
    period = explicit_period(utc(2024, 5, 1, 0), utc(2024, 5, 1, 1), "UTC")
    windows = split_windows(period, timedelta(minutes=25))
    assert [w.end - w.start for w in windows] == [timedelta(minutes=25)] * 2 + [
        timedelta(minutes=10)
    ]


def test_explicit_period_needs_offsets_and_order() -> None:
    with pytest.raises(ValueError, match="offset"):
        explicit_period(datetime(2024, 5, 1), utc(2024, 5, 2), "UTC")
    with pytest.raises(ValueError, match="after start"):
        explicit_period(utc(2024, 5, 2), utc(2024, 5, 1), "UTC")
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_instant("2024-05-01T00:00")
    assert parse_instant("2024-05-01T00:00Z") == utc(2024, 5, 1)


@pytest.mark.parametrize(
    ("start", "lookback", "probes"),
    [
        # No UTC midnight in (start - lookback, start]: the first window finds them all.
        ("2024-05-01T10:00:00Z", "PT6H", []),
        ("2024-04-30T22:00:00Z", "PT6H", []),  # a Berlin day: 16:00-22:00 UTC, one UTC day
        ("2024-05-01T06:00:00Z", "PT6H", []),  # starts exactly at midnight: nothing before it
        ("2024-05-01T00:00:00Z", "PT0S", []),
        # One midnight: one probe just before it.
        ("2024-05-01T00:00:00Z", "PT6H", ["2024-04-30T23:59:59.999Z/2024-05-01T00:00:00.000Z"]),
        ("2024-05-01T02:00:00Z", "PT6H", ["2024-04-30T23:59:59.999Z/2024-05-01T00:00:00.000Z"]),
        # Three days back: one probe per midnight, oldest first.
        (
            "2024-05-01T02:00:00Z",
            "P2DT3H",
            [
                "2024-04-28T23:59:59.999Z/2024-04-29T00:00:00.000Z",
                "2024-04-29T23:59:59.999Z/2024-04-30T00:00:00.000Z",
                "2024-04-30T23:59:59.999Z/2024-05-01T00:00:00.000Z",
            ],
        ),
    ],
)
def test_lookback_probes_one_millisecond_before_each_utc_midnight(
    start: str, lookback: str, probes: list[str]
) -> None:
    begin = datetime.fromisoformat(start)
    period = explicit_period(begin, begin + timedelta(hours=1), "Europe/Berlin")
    windows = lookback_windows(period, parse_duration(lookback))
    assert [w.interval for w in windows] == probes
