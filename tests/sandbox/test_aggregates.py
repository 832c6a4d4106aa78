"""The sandbox's aggregates query (reference §6) against hand-built conversations: buckets on
the wall clock of a time zone across both DST changes, groups, filters, every stat, what the API
does not show yet, and the 400s of a bad body. Each expected number is worked out by hand in
the comments beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pytest

from app.sandbox.aggregates import (
    AggregateLimits,
    ServiceLevelRules,
    aggregate,
    parse_aggregate_query,
)
from app.sandbox.org import ServiceLevel
from app.sandbox.query_body import BodyError
from app.sandbox.records import Conversation, Metric, Participant, Segment, Session

LIMITS = AggregateLimits(max_interval_days=31, max_buckets=100)
Q1, Q2 = "queue-1", "queue-2"
U1, U2 = "user-1", "user-2"
D1, D2 = "division-1", "division-2"
TARGETS = {
    (Q1, "voice"): ServiceLevel(0.8, 20_000),
    (Q2, "voice"): ServiceLevel(0.9, 30_000),
    (Q2, "chat"): ServiceLevel(0.85, 45_000),
}
RULES = ServiceLevelRules(targets=lambda queue, media: TARGETS.get((queue, media)))
DAY = "2024-05-01T00:00:00Z/2024-05-02T00:00:00Z"
WHOLE_DAY = "2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z"
# The API's "now" for the day's data: conversation G is still going on.
NOW = "2024-05-01T15:00:30Z"
ALL = [
    "nOffered",
    "tAcd",
    "tAnswered",
    "tAbandon",
    "tShortAbandon",
    "tFlowOut",
    "nTransferred",
    "tTalk",
    "tHandle",
    "oServiceLevel",
]


def ms(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1000)


def seg(
    start: str, end: str, kind: str = "interact", queue: str | None = None, code: str | None = None
) -> Segment:
    return Segment(ms(start), ms(end), kind, queue_id=queue, wrap_up_code=code)


def sess(
    sid: str,
    segments: Sequence[Segment],
    metrics: Sequence[tuple[str, int, str]],
    media: str = "voice",
    direction: str = "inbound",
) -> Session:
    return Session(
        sid, media, direction, tuple(segments), tuple(Metric(n, v, ms(t)) for n, v, t in metrics)
    )


def part(pid: str, purpose: str, session: Session, user: str | None = None) -> Participant:
    return Participant(pid, purpose, (session,), participant_name=pid, user_id=user)


def conv(
    cid: str,
    start: str,
    end: str,
    *participants: Participant,
    divisions: Sequence[str] = (D1,),
    direction: str = "inbound",
) -> Conversation:
    return Conversation(cid, ms(start), ms(end), direction, tuple(divisions), participants)


def day() -> list[Conversation]:
    """The hand-built day (times UTC, 1 May 2024 unless said)."""
    a = conv(  # queue 1, answered after 15 s, transferred to queue 2, answered after 25 s
        "A",
        "2024-05-01T09:00:00Z",
        "2024-05-01T09:10:30Z",
        part(
            "A-c",
            "customer",
            sess(
                "A-sc",
                [seg("2024-05-01T09:00:00Z", "2024-05-01T09:10:00Z")],
                [("nConnected", 1, "2024-05-01T09:00:00Z")],
            ),
        ),
        part(
            "A-q1",
            "acd",
            sess(
                "A-sq1",
                [seg("2024-05-01T09:00:00Z", "2024-05-01T09:00:15Z", queue=Q1)],
                [("nOffered", 1, "2024-05-01T09:00:00Z"), ("tAcd", 15_000, "2024-05-01T09:00:15Z")],
            ),
        ),
        part(
            "A-a1",
            "agent",
            sess(
                "A-sa1",
                [seg("2024-05-01T09:00:15Z", "2024-05-01T09:05:00Z", queue=Q1)],
                [
                    ("tAnswered", 15_000, "2024-05-01T09:00:15Z"),
                    ("tTalk", 285_000, "2024-05-01T09:05:00Z"),
                    ("nTransferred", 1, "2024-05-01T09:05:00Z"),
                    ("tHandle", 285_000, "2024-05-01T09:05:00Z"),
                ],
            ),
            user=U1,
        ),
        part(
            "A-q2",
            "acd",
            sess(
                "A-sq2",
                [seg("2024-05-01T09:05:00Z", "2024-05-01T09:05:25Z", queue=Q2)],
                [("nOffered", 1, "2024-05-01T09:05:00Z"), ("tAcd", 25_000, "2024-05-01T09:05:25Z")],
            ),
        ),
        # Alerted for queue 1's hand-off; the later segments carry queue 2, the session's queue.
        part(
            "A-a2",
            "agent",
            sess(
                "A-sa2",
                [
                    seg("2024-05-01T09:05:00Z", "2024-05-01T09:05:25Z", "alert", queue=Q1),
                    seg("2024-05-01T09:05:25Z", "2024-05-01T09:10:00Z", queue=Q2),
                    seg(
                        "2024-05-01T09:10:00Z",
                        "2024-05-01T09:10:30Z",
                        "wrapup",
                        queue=Q2,
                        code="code-sale",
                    ),
                ],
                [
                    ("tAnswered", 25_000, "2024-05-01T09:05:25Z"),
                    ("tTalk", 275_000, "2024-05-01T09:10:00Z"),
                    ("tHandle", 305_000, "2024-05-01T09:10:30Z"),
                ],
            ),
            user=U2,
        ),
        divisions=(D1, D2),
    )
    b = conv(  # a chat abandoned after 4 s (a short abandon) in queue 2
        "B",
        "2024-05-01T10:00:00Z",
        "2024-05-01T10:00:04Z",
        part(
            "B-q2",
            "acd",
            sess(
                "B-sq2",
                [seg("2024-05-01T10:00:00Z", "2024-05-01T10:00:04Z", queue=Q2)],
                [
                    ("nOffered", 1, "2024-05-01T10:00:00Z"),
                    ("tAcd", 4_000, "2024-05-01T10:00:04Z"),
                    ("tAbandon", 4_000, "2024-05-01T10:00:04Z"),
                    ("tShortAbandon", 4_000, "2024-05-01T10:00:04Z"),
                ],
                media="chat",
            ),
        ),
        divisions=(D2,),
    )
    c = conv(  # offered the evening before: only its answer and handle are in the day
        "C",
        "2024-04-30T23:59:30Z",
        "2024-05-01T00:01:50Z",
        part(
            "C-q1",
            "acd",
            sess(
                "C-sq1",
                [seg("2024-04-30T23:59:30Z", "2024-05-01T00:00:10Z", queue=Q1)],
                [("nOffered", 1, "2024-04-30T23:59:30Z"), ("tAcd", 40_000, "2024-05-01T00:00:10Z")],
            ),
        ),
        part(
            "C-a",
            "agent",
            sess(
                "C-sa",
                [seg("2024-05-01T00:00:10Z", "2024-05-01T00:01:50Z", queue=Q1)],
                [
                    ("tAnswered", 40_000, "2024-05-01T00:00:10Z"),
                    ("tHandle", 100_000, "2024-05-01T00:01:50Z"),
                ],
            ),
            user=U1,
        ),
    )
    d = conv(  # flowed out of queue 1 after 30 s
        "D",
        "2024-05-01T12:00:00Z",
        "2024-05-01T12:00:30Z",
        part(
            "D-q1",
            "acd",
            sess(
                "D-sq1",
                [seg("2024-05-01T12:00:00Z", "2024-05-01T12:00:30Z", queue=Q1)],
                [
                    ("nOffered", 1, "2024-05-01T12:00:00Z"),
                    ("tAcd", 30_000, "2024-05-01T12:00:30Z"),
                    ("tFlowOut", 30_000, "2024-05-01T12:00:30Z"),
                ],
            ),
        ),
    )
    e = conv(  # an outbound call: no queue
        "E",
        "2024-05-01T13:00:00Z",
        "2024-05-01T13:01:00Z",
        part(
            "E-a",
            "agent",
            sess(
                "E-sa",
                [seg("2024-05-01T13:00:00Z", "2024-05-01T13:01:00Z")],
                [
                    ("tTalk", 50_000, "2024-05-01T13:00:50Z"),
                    ("tHandle", 60_000, "2024-05-01T13:01:00Z"),
                ],
                direction="outbound",
            ),
            user=U1,
        ),
        direction="outbound",
    )
    g = conv(  # going on at NOW: wrap-up not ended (no code yet), handle not yet emitted
        "G",
        "2024-05-01T14:59:00Z",
        "2024-05-01T15:00:50Z",
        part(
            "G-q1",
            "acd",
            sess(
                "G-sq1",
                [seg("2024-05-01T14:59:00Z", "2024-05-01T14:59:20Z", queue=Q1)],
                [("nOffered", 1, "2024-05-01T14:59:00Z"), ("tAcd", 20_000, "2024-05-01T14:59:20Z")],
            ),
        ),
        part(
            "G-a",
            "agent",
            sess(
                "G-sa",
                [
                    seg("2024-05-01T14:59:20Z", "2024-05-01T15:00:20Z", queue=Q1),
                    seg(
                        "2024-05-01T15:00:20Z",
                        "2024-05-01T15:00:50Z",
                        "wrapup",
                        queue=Q1,
                        code="code-x",
                    ),
                ],
                [
                    ("tAnswered", 20_000, "2024-05-01T14:59:20Z"),
                    ("tHandle", 90_000, "2024-05-01T15:00:50Z"),
                ],
            ),
            user=U1,
        ),
    )
    return [a, b, c, d, e, g]


def run(
    conversations: Sequence[Conversation],
    body: dict[str, Any],
    *,
    now: str = NOW,
    rules: ServiceLevelRules = RULES,
) -> dict[str, Any]:
    query = parse_aggregate_query(body, limits=LIMITS)
    return aggregate(conversations, query, now_ms=ms(now), rules=rules)


Flat = dict[tuple[tuple[tuple[str, str], ...], str, str], dict[str, Any]]


def flat(answer: dict[str, Any]) -> Flat:
    """(group items, interval, metric) -> stats."""
    out: Flat = {}
    for result in answer.get("results", []):
        group = tuple(sorted(result["group"].items()))
        for bucket in result["data"]:
            for entry in bucket["metrics"]:
                out[(group, bucket["interval"], entry["metric"])] = entry["stats"]
    return out


def by_group(answer: dict[str, Any], dimension: str) -> dict[str | None, dict[str, Any]]:
    """One bucket: group value -> metric -> stats."""
    out: dict[str | None, dict[str, Any]] = {}
    for (group, _, metric), stats in flat(answer).items():
        out.setdefault(dict(group).get(dimension), {})[metric] = stats
    return out


def one_event(at: str, name: str = "nOffered", value: int = 1) -> Conversation:
    return conv(
        at, at, at, part(f"p-{at}", "acd", sess(f"s-{at}", [seg(at, at)], [(name, value, at)]))
    )


# --- buckets ----------------------------------------------------------------------------------


def test_hourly_buckets_on_the_night_the_clocks_go_back_are_25() -> None:
    # 27 October 2024 in Berlin: 02:00-03:00 happens twice (+02:00, then +01:00).
    body = {
        "interval": "2024-10-27T00:00:00+02:00/2024-10-28T00:00:00+01:00",
        "granularity": "PT1H",
        "timeZone": "Europe/Berlin",
        "metrics": ["nOffered"],
    }
    assert len(parse_aggregate_query(body, limits=LIMITS).edges) == 26
    first, second = "2024-10-27T02:30:00+02:00", "2024-10-27T02:30:00+01:00"
    answer = run(
        [one_event(first), one_event(second), one_event(second)], body, now="2030-01-01T00:00:00Z"
    )
    assert flat(answer) == {
        ((), "2024-10-27T00:00:00.000Z/2024-10-27T01:00:00.000Z", "nOffered"): {"count": 1},
        ((), "2024-10-27T01:00:00.000Z/2024-10-27T02:00:00.000Z", "nOffered"): {"count": 2},
    }


def test_half_hours_on_the_night_the_clocks_go_forward_skip_the_missing_hour() -> None:
    body = {
        "interval": "2024-03-31T00:00:00+01:00/2024-04-01T00:00:00+02:00",
        "granularity": "PT30M",
        "timeZone": "Europe/Berlin",
        "metrics": ["nOffered"],
    }
    edges = parse_aggregate_query(body, limits=LIMITS).edges
    assert len(edges) == 23 * 2 + 1
    # 01:30 +01:00 is followed by 03:00 +02:00: the same instant as 02:00 +01:00.
    assert edges[3:5] == (ms("2024-03-31T01:30:00+01:00"), ms("2024-03-31T03:00:00+02:00"))


def test_daily_buckets_follow_local_midnights_across_the_spring_change() -> None:
    body = {
        "interval": "2024-03-30T00:00:00+01:00/2024-04-02T00:00:00+02:00",
        "granularity": "P1D",
        "timeZone": "Europe/Berlin",
        "metrics": ["nOffered"],
    }
    assert parse_aggregate_query(body, limits=LIMITS).edges == (
        ms("2024-03-30T00:00:00+01:00"),
        ms("2024-03-31T00:00:00+01:00"),
        ms("2024-04-01T00:00:00+02:00"),  # 31 March is 23 hours long
        ms("2024-04-02T00:00:00+02:00"),
    )
    events = [
        one_event("2024-03-31T23:59:59.999+02:00"),  # the last millisecond of the short day
        one_event("2024-04-01T00:00:00+02:00"),
    ]
    assert flat(run(events, body, now="2030-01-01T00:00:00Z")) == {
        ((), "2024-03-30T23:00:00.000Z/2024-03-31T22:00:00.000Z", "nOffered"): {"count": 1},
        ((), "2024-03-31T22:00:00.000Z/2024-04-01T22:00:00.000Z", "nOffered"): {"count": 1},
    }


def test_without_a_time_zone_days_are_utc_days() -> None:
    body = {
        "interval": "2024-03-30T23:00:00Z/2024-04-01T22:00:00Z",
        "granularity": "P1D",
        "metrics": ["nOffered"],
    }
    assert parse_aggregate_query(body, limits=LIMITS).edges == (
        ms("2024-03-30T23:00:00Z"),
        ms("2024-03-31T23:00:00Z"),  # 24 hours: no DST in UTC
        ms("2024-04-01T22:00:00Z"),
    )


def test_months_and_mixed_durations_step_on_the_calendar() -> None:
    body = {
        "interval": "2024-01-31T00:00:00Z/2024-04-15T00:00:00Z",
        "granularity": "P1M",
        "metrics": ["nOffered"],
    }
    limits = AggregateLimits(max_interval_days=100, max_buckets=100)
    assert parse_aggregate_query(body, limits=limits).edges == (
        ms("2024-01-31T00:00:00Z"),
        ms("2024-02-29T00:00:00Z"),  # February has no 31st: its last day
        ms("2024-03-31T00:00:00Z"),
        ms("2024-04-15T00:00:00Z"),  # the last bucket ends with the interval
    )
    body = {
        **body,
        "interval": "2024-01-01T00:00:00Z/2024-01-04T00:00:00Z",
        "granularity": "P1DT12H",
    }
    assert parse_aggregate_query(body, limits=limits).edges == (
        ms("2024-01-01T00:00:00Z"),
        ms("2024-01-02T12:00:00Z"),
        ms("2024-01-04T00:00:00Z"),
    )


def test_without_a_granularity_the_interval_is_one_bucket_and_half_open() -> None:
    body = {"interval": DAY, "metrics": ["nOffered"]}
    events = [
        one_event("2024-05-01T00:00:00Z"),
        one_event("2024-05-01T23:59:59.999Z"),
        one_event("2024-05-02T00:00:00Z"),  # the end is not in the interval
        one_event("2024-04-30T23:59:59.999Z"),
    ]
    assert flat(run(events, body, now="2030-01-01T00:00:00Z")) == {
        ((), WHOLE_DAY, "nOffered"): {"count": 2}
    }


# --- groups, stats, what is not shown yet ---------------------------------------------------


def test_per_queue_every_stat_by_hand() -> None:
    answer = by_group(
        run(day(), {"interval": DAY, "groupBy": ["queueId"], "metrics": ALL}), "queueId"
    )
    assert set(answer) == {Q1, Q2, None}
    q1 = answer[Q1]
    # A's first leg, D, G offered in the day (C the evening before).
    assert q1["nOffered"] == {"count": 3}
    # A 15 s, C 40 s, D 30 s, G 20 s.
    assert q1["tAcd"] == {"count": 4, "sum": 105_000, "min": 15_000, "max": 40_000}
    assert q1["tAnswered"] == {"count": 3, "sum": 75_000, "min": 15_000, "max": 40_000}
    # A's first agent and C; G's handle is not emitted yet at NOW.
    assert q1["tHandle"] == {"count": 2, "sum": 385_000, "min": 100_000, "max": 285_000}
    assert q1["nTransferred"] == {"count": 1}
    assert q1["tFlowOut"] == {"count": 1, "sum": 30_000, "min": 30_000, "max": 30_000}
    assert "tAbandon" not in q1
    # 15 s and 20 s are within queue 1's 20 s voice target, 40 s is not; 3 answered, 0 abandoned.
    assert q1["oServiceLevel"] == {"ratio": 2 / 3, "numerator": 2, "denominator": 3, "target": 0.8}

    q2 = answer[Q2]
    assert q2["nOffered"] == {"count": 2}  # A's second leg, B
    # A's second agent is credited to queue 2: the latest queue of its session.
    assert q2["tAnswered"] == {"count": 1, "sum": 25_000, "min": 25_000, "max": 25_000}
    assert q2["tHandle"] == {"count": 1, "sum": 305_000, "min": 305_000, "max": 305_000}
    assert (
        q2["tAbandon"]
        == q2["tShortAbandon"]
        == {"count": 1, "sum": 4_000, "min": 4_000, "max": 4_000}
    )
    # 25 s within queue 2's 30 s voice target; 1 answered + 1 abandoned.
    assert q2["oServiceLevel"] == {"ratio": 0.5, "numerator": 1, "denominator": 2, "target": 0.9}

    # E, outbound, has no queue: its events are in the group without one.
    assert answer[None] == {
        "tTalk": {"count": 1, "sum": 50_000, "min": 50_000, "max": 50_000},
        "tHandle": {"count": 1, "sum": 60_000, "min": 60_000, "max": 60_000},
    }


@pytest.mark.parametrize(
    ("options", "q1", "q2"),
    [
        ({"exclude_short_abandons": True}, (2, 3), (1, 1)),  # B's short abandon leaves
        ({"include_flowouts": True}, (2, 4), (1, 2)),  # D's flow-out joins queue 1
        ({"exclude_short_abandons": True, "include_flowouts": True}, (2, 4), (1, 1)),
    ],
)
def test_the_organisations_service_level_options(
    options: dict[str, bool], q1: tuple[int, int], q2: tuple[int, int]
) -> None:
    rules = ServiceLevelRules(targets=RULES.targets, **options)
    body = {"interval": DAY, "groupBy": ["queueId"], "metrics": ["oServiceLevel"]}
    answer = by_group(run(day(), body, rules=rules), "queueId")
    for queue, (numerator, denominator) in ((Q1, q1), (Q2, q2)):
        stats = answer[queue]["oServiceLevel"]
        assert (stats["numerator"], stats["denominator"]) == (numerator, denominator)
        assert stats["ratio"] == numerator / denominator


def test_a_queue_without_a_target_for_the_medium_uses_20_seconds() -> None:
    chat = conv(
        "H",
        "2024-05-01T16:00:00Z",
        "2024-05-01T16:10:00Z",
        # Queue 1 has no chat target: 20 s applies, so 19 s is within and 21 s is not.
        part(
            "H-a",
            "agent",
            sess(
                "H-sa",
                [seg("2024-05-01T16:00:19Z", "2024-05-01T16:10:00Z", queue=Q1)],
                [("tAnswered", 19_000, "2024-05-01T16:00:19Z")],
                media="chat",
            ),
            user=U1,
        ),
        part(
            "H-b",
            "agent",
            sess(
                "H-sb",
                [seg("2024-05-01T16:00:21Z", "2024-05-01T16:10:00Z", queue=Q1)],
                [("tAnswered", 21_000, "2024-05-01T16:00:21Z")],
                media="chat",
            ),
            user=U2,
        ),
    )
    body = {"interval": DAY, "metrics": ["oServiceLevel"]}
    stats = flat(run([chat], body, now="2030-01-01T00:00:00Z"))[((), WHOLE_DAY, "oServiceLevel")]
    # No queue target for the medium: no target percentage either.
    assert stats == {"ratio": 0.5, "numerator": 1, "denominator": 2}


def test_agents_wrap_up_codes_media_and_directions() -> None:
    body = {"interval": DAY, "groupBy": ["userId"], "metrics": ["tAnswered", "tHandle"]}
    users = by_group(run(day(), body), "userId")
    assert set(users) == {U1, U2}  # acd and customer sessions have no user, and no such events
    assert users[U1]["tAnswered"]["count"] == 3  # A's first agent, C, G
    assert users[U1]["tHandle"]["sum"] == 285_000 + 100_000 + 60_000

    body = {"interval": DAY, "groupBy": ["wrapUpCode"], "metrics": ["tAnswered", "tHandle"]}
    codes = by_group(run(day(), body), "wrapUpCode")
    # G's wrap-up segment has not ended at NOW: its code is not shown, so not a group.
    assert set(codes) == {"code-sale", None}
    assert codes["code-sale"]["tHandle"]["sum"] == 305_000

    body = {
        "interval": DAY,
        "groupBy": ["mediaType", "direction", "originatingDirection"],
        "metrics": ["tHandle"],
    }
    groups = {g: s["count"] for (g, _, _), s in flat(run(day(), body)).items()}
    voice_in = (
        ("direction", "inbound"),
        ("mediaType", "voice"),
        ("originatingDirection", "inbound"),
    )
    voice_out = (
        ("direction", "outbound"),
        ("mediaType", "voice"),
        ("originatingDirection", "outbound"),
    )
    assert groups == {voice_in: 3, voice_out: 1}


def test_division_is_multi_valued() -> None:
    body: dict[str, Any] = {"interval": DAY, "groupBy": ["divisionId"], "metrics": ["nOffered"]}
    divisions = by_group(run(day(), body), "divisionId")
    # A (two offers) counts in both of its divisions.
    assert divisions == {D1: {"nOffered": {"count": 4}}, D2: {"nOffered": {"count": 3}}}
    body["flattenMultivaluedDimensions"] = True
    flattened = by_group(run(day(), body), "divisionId")
    assert flattened == {
        f"{D1},{D2}": {"nOffered": {"count": 2}},
        D1: {"nOffered": {"count": 2}},
        D2: {"nOffered": {"count": 1}},
    }
    # Without grouping by division, each event counts once.
    total = flat(run(day(), {"interval": DAY, "metrics": ["nOffered"]}))
    assert total == {((), WHOLE_DAY, "nOffered"): {"count": 5}}


@pytest.mark.parametrize(
    ("spec", "offered", "handle_sum"),
    [
        # One queue, or one medium: queue 2's events (B is queue 2's chat).
        (
            {
                "type": "or",
                "predicates": [
                    {"dimension": "queueId", "value": Q2},
                    {"dimension": "mediaType", "value": "chat"},
                ],
            },
            2,
            305_000,
        ),
        # Clauses ANDed with a predicate; a division matches when any of the conversation's does.
        (
            {
                "type": "and",
                "predicates": [{"type": "dimension", "dimension": "divisionId", "value": D2}],
                "clauses": [
                    {
                        "type": "or",
                        "predicates": [
                            {"dimension": "queueId", "value": Q1},
                            {"dimension": "queueId", "value": Q2},
                        ],
                    }
                ],
            },
            3,
            285_000 + 305_000,
        ),
        # Events without a queue: E's.
        (
            {"type": "and", "predicates": [{"dimension": "queueId", "operator": "notExists"}]},
            0,
            60_000,
        ),
        (
            {"type": "and", "predicates": [{"dimension": "wrapUpCode", "operator": "exists"}]},
            0,
            305_000,
        ),
        ({"type": "and", "predicates": [{"dimension": "userId", "value": "nobody"}]}, 0, 0),
    ],
)
def test_filters_select_events_by_their_own_dimensions(
    spec: dict[str, Any], offered: int, handle_sum: int
) -> None:
    body = {"interval": DAY, "metrics": ["nOffered", "tHandle"], "filter": spec}
    answer = flat(run(day(), body))
    assert answer.get(((), WHOLE_DAY, "nOffered"), {"count": 0})["count"] == offered
    assert answer.get(((), WHOLE_DAY, "tHandle"), {"sum": 0})["sum"] == handle_sum


def test_nothing_counted_is_an_empty_answer() -> None:
    body = {"interval": "2024-06-01T00:00:00Z/2024-06-02T00:00:00Z", "metrics": ["nOffered"]}
    assert run(day(), body) == {}


def test_metrics_come_in_the_order_asked_and_only_those_asked() -> None:
    body = {"interval": DAY, "groupBy": ["queueId"], "metrics": ["tAcd", "nOffered", "tAcd"]}
    answer = run(day(), body)
    names = [[m["metric"] for m in d["metrics"]] for r in answer["results"] for d in r["data"]]
    assert names == [["tAcd", "nOffered"], ["tAcd", "nOffered"]]  # queue 1, queue 2


# --- refused bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        (
            {"metrics": ["nOffered", "tHandel"]},
            "invalid.value",
            "[tHandel] is not valid for field type [metric]",
        ),
        ({"metrics": []}, "bad.request", "metrics: must be a non-empty"),
        ({"metrics": None}, "bad.request", "metrics is required"),
        ({"metrics": ["oServiceTarget"]}, "bad.request", "does not emulate [oServiceTarget]"),
        ({"groupBy": ["queueID"]}, "invalid.value", "groupBy[0]"),
        ({"groupBy": ["edgeId"]}, "bad.request", "does not emulate the dimension [edgeId]"),
        (
            {"interval": "2024-05-01T00:00:00Z/2024-06-02T00:00:00Z"},
            "bad.request",
            "longer than the maximum of 31 days",
        ),
        ({"interval": "2024-05-01/2024-05-02"}, "invalid.date", "ISO-8601"),
        ({"granularity": "P1X"}, "bad.request", "granularity: [P1X] is not an ISO-8601 duration"),
        ({"granularity": "PT0M"}, "bad.request", "a duration of zero"),
        ({"granularity": "PT1M"}, "bad.request", "more than 100 buckets"),
        (
            {"timeZone": "Europe/Berlinn"},
            "bad.request",
            "timeZone: [Europe/Berlinn] is not an IANA",
        ),
        ({"paging": {"pageSize": 1}}, "bad.request", "unrecognized field(s) [paging]"),
        ({"queryType": "topN"}, "bad.request", "does not emulate [topN]"),
        (
            {"filter": {"type": "and", "predicates": [{"metric": "tHandle", "range": {"gt": 1}}]}},
            "bad.request",
            "metric predicates are not allowed in filter",
        ),
        (
            {
                "filter": {
                    "type": "and",
                    "predicates": [{"dimension": "mediaType", "value": "phone"}],
                }
            },
            "invalid.value",
            "filter.predicates[0].value",
        ),
        (
            {"filter": {"type": "and", "predicates": [{"dimension": "edgeId", "value": "x"}]}},
            "bad.request",
            "filter.predicates[0].dimension: the sandbox does not emulate",
        ),
    ],
)
def test_refused_bodies_name_the_field(change: dict[str, Any], code: str, words: str) -> None:
    body = {"interval": DAY, "granularity": "PT1H", "metrics": ["nOffered"], **change}
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(BodyError) as caught:
        parse_aggregate_query(body, limits=LIMITS)
    assert caught.value.status == 400
    assert caught.value.code == code
    assert words in caught.value.message
