"""Metric events of a record (report-semantics §1, §2) and the interval grain's edges that the
hand-built report cases (``cases_v2``) do not reach: odd input, ties, and the target look-up."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.pipeline.events import Event, conversation_events
from app.pipeline.facts import MalformedRecord, instant_ms
from app.pipeline.interval import IntervalAggregator, ServiceTargets, event_filter
from app.settings import ReportFilters, ServiceLevelSettings

START = instant_ms("2024-05-01T09:00:00Z")
END = instant_ms("2024-05-01T10:00:00Z")
Q1 = "a1000000-0000-4000-8000-000000000001"
Q2 = "a2000000-0000-4000-8000-000000000002"


def _record(*participants: Any, **fields: Any) -> dict[str, Any]:
    return {
        "conversationId": "c1",
        "conversationStart": "2024-05-01T08:59:00.000Z",
        "originatingDirection": "inbound",
        "divisionIds": ["d1", "d2"],
        "participants": list(participants),
        **fields,
    }


def _session(metrics: list[Any], segments: list[Any] | None = None) -> Any:
    return {"sessionId": "s1", "mediaType": "voice", "metrics": metrics, "segments": segments or []}


def _metric(name: str, value: Any, emitted: Any) -> dict[str, Any]:
    return {"name": name, "value": value, "emitDate": emitted}


def _events(record: Any) -> list[Event]:
    return list(conversation_events(record, START, END))


def test_odd_metric_entries_are_skipped_and_good_ones_kept() -> None:
    at = "2024-05-01T09:10:00.000Z"
    metrics = [
        _metric("tTalk", 1000, at),
        _metric("tTalk", True, at),  # a bool is not a value
        _metric("tTalk", 1.5, at),  # not an integer
        _metric("tTalk", 2**60, at),  # not a duration anyone had
        _metric("tAnswered", -1000, at),  # a negative duration is garbage too
        _metric("tTalk", 1000, None),  # no emit date: cannot be placed in time
        _metric("tTalk", 1000, "yesterday"),
        _metric("tTalk", 1000, "2024-05-01T09:10:00"),  # no offset: ambiguous
        _metric("", 1000, at),
        "not an object",
        _metric("tHeld", 500, at),
    ]
    participant = {"purpose": "agent", "userId": "u1", "sessions": [_session(metrics), None]}
    events = _events(_record(participant, "junk"))
    assert [(e.name, e.value) for e in events] == [("tTalk", 1000), ("tHeld", 500)]
    assert events[0].division_id == "d1" and events[0].direction == "inbound"


@pytest.mark.parametrize("record", [None, [], {"conversationId": ""}, {"participants": []}])
def test_a_record_without_a_conversation_id_is_malformed(record: Any) -> None:
    with pytest.raises(MalformedRecord):
        _events(record)


def test_only_events_emitted_in_the_half_open_period_count() -> None:
    metrics = [
        _metric("nOffered", 1, "2024-05-01T08:59:59.999Z"),
        _metric("nOffered", 1, "2024-05-01T09:00:00.000Z"),
        _metric("nOffered", 1, "2024-05-01T09:59:59.999Z"),
        _metric("nOffered", 1, "2024-05-01T10:00:00.000Z"),
    ]
    participant = {"purpose": "acd", "sessions": [_session(metrics)]}
    emitted = [e.emit_ms - START for e in _events(_record(participant))]
    assert emitted == [0, 3_599_999]


def test_session_queue_and_wrapup_ties_go_to_the_later_segment_in_the_array() -> None:
    at = "2024-05-01T09:05:00.000Z"
    segments = [
        {"segmentStart": at, "segmentType": "interact", "queueId": Q1},
        {"segmentStart": at, "segmentType": "wrapup", "queueId": Q2, "wrapUpCode": "w-first"},
        {"segmentStart": at, "segmentType": "wrapup", "wrapUpCode": "w-second"},
        # No readable start: it cannot be shown to be the latest, so it never wins over a dated one.
        {
            "segmentStart": "soon",
            "segmentType": "wrapup",
            "queueId": "q-undated",
            "wrapUpCode": "x",
        },
    ]
    participant = {
        "purpose": "user",  # a user participant is an agent too (§2)
        "userId": "u1",
        "sessions": [_session([_metric("tAcw", 1, at)], segments)],
    }
    (event,) = _events(_record(participant))
    assert (event.queue_id, event.wrapup_code, event.agent_id) == (Q2, "w-second", "u1")


def test_a_customer_or_acd_event_has_no_agent() -> None:
    at = "2024-05-01T09:05:00.000Z"
    parts = [
        {"purpose": p, "userId": "u9", "sessions": [_session([_metric("nConnected", 1, at)])]}
        for p in ("customer", "acd", "ivr")
    ]
    assert [e.agent_id for e in _events(_record(*parts))] == [None, None, None]


def test_id_filters_match_whatever_the_case_of_the_record() -> None:
    keep = event_filter(ReportFilters(queue_ids=[Q1.upper()]))  # settings lower-case ids
    assert keep is not None
    assert event_filter(ReportFilters()) is None  # no filter: every event counts
    event = Event(
        "c", "s", "acd", START, "nOffered", 1, Q1.upper(), None, "voice", None, None, None
    )
    assert keep(event)
    assert not keep(event._replace(queue_id=Q2))
    assert not keep(event._replace(queue_id=None))  # no queue matches no queue filter


@pytest.mark.parametrize(
    ("level", "target_ms", "percentage"),
    [
        ({"durationMs": 30_000, "percentage": 0.75}, 30_000, 0.75),
        ({"durationMs": 0, "percentage": 1.5}, 20_000, None),  # nonsense: the default, no pct
        ({"durationMs": True, "percentage": True}, 20_000, None),
        ({"durationMs": "30000"}, 20_000, None),
        ("not an object", 20_000, None),
    ],
)
def test_queue_targets_are_read_defensively(
    level: Any, target_ms: int, percentage: float | None
) -> None:
    targets = ServiceTargets(ServiceLevelSettings(), {Q1: {"call": {"serviceLevel": level}}})
    assert targets.target_ms(Q1, "voice") == target_ms
    assert targets.percentage(Q1, "voice") == percentage
    # Another medium, an unknown queue, no queue: the default and no percentage.
    for queue, media in ((Q1, "chat"), (Q2, "voice"), (None, "voice"), (Q1, "cobrowse")):
        assert (targets.target_ms(queue, media), targets.percentage(queue, media)) == (
            20_000,
            None,
        )


def test_no_queue_look_up_when_nothing_shown_needs_the_queue_targets() -> None:
    at = "2024-05-01T09:05:00.000Z"
    agent = {
        "purpose": "agent",
        "userId": "u1",
        "sessions": [_session([_metric("tAnswered", 4000, at)], [{"queueId": Q1}])],
    }
    aggregator = IntervalAggregator(
        ["agent_id"], zone=ZoneInfo("UTC"), start_ms=START, end_ms=END, queue_targets=False
    )
    aggregator.add_record(_record(agent))
    assert aggregator.ids_to_resolve() == {"users": {"u1"}}


def test_the_queues_to_look_up_are_those_service_level_needs() -> None:
    at = "2024-05-01T09:05:00.000Z"
    agent = {
        "purpose": "agent",
        "userId": "u1",
        "sessions": [_session([_metric("tAnswered", 4000, at)], [{"queueId": Q1}])],
    }
    aggregator = IntervalAggregator(["agent_id"], zone=ZoneInfo("UTC"), start_ms=START, end_ms=END)
    assert aggregator.add_record(_record(agent)) == 1
    # Grouped by agent, yet Q1's target decides whether the answer was within it.
    assert aggregator.ids_to_resolve() == {"users": {"u1"}, "queues": {Q1}}
    media = {Q1: {"call": {"serviceLevel": {"durationMs": 3000, "percentage": 0.9}}}}
    (row,) = aggregator.rows(["service_level", "service_level_target_pct"], {}, {}, media)
    assert row == {
        "agent_id": "u1",
        "agent_name": "u1",
        "service_level": 0.0,  # 4 s against Q1's 3 s
        "service_level_target_pct": 0.9,
    }


def test_genesys_stats_are_each_metric_s_count_and_sum_per_group() -> None:
    at = "2024-05-01T09:05:00.000Z"
    acd = {
        "purpose": "acd",
        "sessions": [
            _session([_metric("nOffered", 1, at), _metric("tAbandon", 9000, at)], [{"queueId": Q1}])
        ],
    }
    agent = {
        "purpose": "agent",
        "userId": "u1",
        "sessions": [
            _session(
                [_metric("tAnswered", 4000, at), _metric("tHandle", 300_000, at)],
                [{"queueId": Q1}],
            )
        ],
    }
    aggregator = IntervalAggregator(["queue_id"], zone=ZoneInfo("UTC"), start_ms=START, end_ms=END)
    aggregator.add_record(_record(acd, agent))
    media = {Q1: {"call": {"serviceLevel": {"durationMs": 5000}}}}
    stats = aggregator.genesys_stats(media)[(Q1,)]
    assert stats["nOffered"] == (1, 1)
    assert stats["tHandle"] == (1, 300_000)
    assert stats["tAbandon"] == (1, 9000)
    assert stats["tTalk"] == (0, 0)
    # 4 s within Q1's 5 s target; 1 answered + 1 abandoned.
    assert stats["oServiceLevel"] == (1, 2)
