"""Reconciliation's comparison (report-semantics §7) on hand-built stats and answers: what is
compared, how Genesys' buckets and divisions are folded onto the report's, what a difference
names."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from app.genesys.aggregates import AggregateValue
from app.pipeline.reconcile import Difference, aligned, plan, reconcile, with_names

BERLIN = ZoneInfo("Europe/Berlin")
DAY = "2024-10-27T00:00:00.000Z/2024-10-28T00:00:00.000Z"


def _value(group: dict[str, str], interval: str, metric: str, **stats: int) -> AggregateValue:
    return AggregateValue(tuple(sorted(group.items())), interval, metric, dict(stats))


def test_the_plan_asks_for_the_report_s_groups_and_its_finest_time_bucket() -> None:
    shape = plan(["agent_id", "division_id", "half_hour", "media_type"])
    assert (shape.group_by, shape.granularity) == (["userId", "mediaType"], "PT30M")
    assert (shape.positions, shape.time) == ([0, 3], (2, 0))
    assert plan(["queue_id", "week"]).granularity == "P1D"  # weeks are added up from days
    assert plan(["queue_id"]).granularity is None  # the whole period, one bucket
    with pytest.raises(ValueError, match="one time dimension"):
        plan(["day", "hour"])


@pytest.mark.parametrize(
    ("group_by", "start", "end", "granularity"),
    [
        # A whole Berlin day (25 hours): Genesys' day buckets are the report's.
        (["day"], "2024-10-27T00:00+02:00", "2024-10-28T00:00+01:00", "P1D"),
        # 20:00 to 04:00: a Genesys day from 20:00 would hold two report days; hours do not.
        (["day"], "2024-05-01T20:00+02:00", "2024-05-02T04:00+02:00", "PT1H"),
        # A week or a month from its first local midnight: days, added up.
        (["week"], "2024-04-29T00:00+02:00", "2024-05-06T00:00+02:00", "P1D"),
        (["month"], "2024-03-01T00:00+01:00", "2024-04-01T00:00+02:00", "P1D"),
        # Half hours from a quarter past: quarter hours.
        (["half_hour"], "2024-05-01T10:15+02:00", "2024-05-01T12:15+02:00", "PT15M"),
        # No time dimension: the whole period, one bucket, however it starts.
        (["queue_id"], "2024-05-01T10:00:30+02:00", "2024-05-01T12:00+02:00", None),
    ],
)
def test_genesys_buckets_are_chosen_to_lie_inside_the_report_s(
    group_by: list[str], start: str, end: str, granularity: str | None
) -> None:
    shape = aligned(
        plan(group_by), datetime.fromisoformat(start), datetime.fromisoformat(end), BERLIN
    )
    assert shape.granularity == granularity


def test_a_period_off_the_minute_cannot_be_matched_bucket_by_bucket() -> None:
    start = datetime.fromisoformat("2024-05-01T10:00:30+02:00")
    end = datetime.fromisoformat("2024-05-01T11:00:30+02:00")
    with pytest.raises(ValueError, match="does not start on a whole minute"):
        aligned(plan(["half_hour"]), start, end, BERLIN)


def test_the_repeated_hour_and_the_divisions_are_added_up_before_comparing() -> None:
    # The report (queue, division, local hour) counted the night the clocks went back: its
    # 02:00 bucket holds both real hours, in two divisions.
    ours = {
        ("q1", "d1", "2024-10-27T02:00"): {"tHandle": (2, 700), "nOffered": (3, 3)},
        ("q1", "d2", "2024-10-27T02:00"): {"tHandle": (1, 50), "nOffered": (1, 1)},
    }
    # Genesys: one group per queue (division summed out by the plan), two PT1H intervals
    # (00:00Z and 01:00Z are both 02:00 local).
    theirs = [
        _value({"queueId": "q1"}, "2024-10-27T00:00:00.000Z/2024-10-27T01:00:00.000Z",
               "tHandle", count=1, sum=400),
        _value({"queueId": "q1"}, "2024-10-27T01:00:00.000Z/2024-10-27T02:00:00.000Z",
               "tHandle", count=2, sum=350),
        _value({"queueId": "q1"}, "2024-10-27T00:00:00.000Z/2024-10-27T01:00:00.000Z",
               "nOffered", count=4),
    ]  # fmt: skip
    result = reconcile(ours, theirs, plan(["queue_id", "division_id", "hour"]), BERLIN)
    # tHandle count 3 = 3, sum 750 = 750; nOffered count 4 = 4 (n*: the count only).
    assert (result.compared, result.equal, result.different) == (3, 3, 0)


def test_each_difference_names_its_group_bucket_metric_and_values() -> None:
    ours = {
        ("q1",): {"tHandle": (2, 700), "tAbandon": (1, 9000), "oServiceLevel": (3, 4)},
        (None,): {"tAnswered": (1, 5000)},
    }
    theirs = [
        _value({"queueId": "q1"}, DAY, "tHandle", count=2, sum=701),
        _value({"queueId": "q1"}, DAY, "oServiceLevel", numerator=2, denominator=4, ratio=0),
        _value({}, DAY, "tAnswered", count=1, sum=5000),  # no queue: the group without one
        _value({"queueId": "q2"}, DAY, "nOffered", count=1),  # a group the report lacks
    ]
    result = reconcile(ours, theirs, plan(["queue_id"]), BERLIN)
    assert result.as_dict() == {
        # no queue: tAnswered count and sum (2, equal); q1: tHandle count (equal) and sum,
        # tAbandon count and sum, service level ratio (1 + 4 different); q2: nOffered count.
        "compared": 8,
        "equal": 3,
        "different": 5,
        "differences": [
            _as_dict(Difference({"queue_id": "q1"}, None, "tAbandon", "count", 1, 0)),
            _as_dict(Difference({"queue_id": "q1"}, None, "tAbandon", "sum", 9000, 0)),
            _as_dict(Difference({"queue_id": "q1"}, None, "tHandle", "sum", 700, 701)),
            _as_dict(Difference({"queue_id": "q1"}, None, "oServiceLevel", "ratio", 0.75, 0.5)),
            _as_dict(Difference({"queue_id": "q2"}, None, "nOffered", "count", 0, 1)),
        ],
    }


def _as_dict(d: Difference) -> dict[str, object]:
    return {
        "group": d.group,
        "bucket": d.bucket,
        "metric": d.metric,
        "stat": d.stat,
        "ours": d.ours,
        "genesys": d.genesys,
    }


def test_no_service_level_on_either_side_is_not_compared() -> None:
    ours = {("q1",): {"oServiceLevel": (0, 0), "tTalk": (1, 10)}}
    theirs = [_value({"queueId": "q1"}, DAY, "tTalk", count=1, sum=10)]
    result = reconcile(ours, theirs, plan(["queue_id"]), BERLIN)
    assert (result.compared, result.equal) == (2, 2)


def test_differences_name_their_groups_from_the_run_s_look_ups() -> None:
    shape = plan(["queue_id", "media_type"])
    ours = {("q1", "voice"): {"nOffered": (3, 3)}, ("q9", "voice"): {"nOffered": (1, 1)}}
    result = with_names(
        reconcile(ours, [], shape, BERLIN), {"queues": {"q1": "Sales"}, "users": {"q9": "x"}}
    )
    texts = [d.group_text() for d in result.differences]
    # A queue the look-ups did not name (deleted) keeps its id; media types have no names.
    assert texts == ["queue_id=Sales, media_type=voice", "queue_id=q9, media_type=voice"]
    first = result.as_dict()["differences"][0]
    assert first["group"] == {"queue_id": "q1", "media_type": "voice"}
    assert first["names"] == {"queue_id": "Sales"}
    assert "names" not in result.as_dict()["differences"][1]
