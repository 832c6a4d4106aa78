"""Conformance (issue 16): the detail records' shape, read on the wire from the SDK's answers:
the keys Genesys sends on every record, participant, session and segment (reference §7 and its
illustrative record), the details real records carry agreeing with each other, and each field
the sandbox once lacked found over a day by a filter on it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.conformance.model_check import problems
from tests.conformance.queries import Record, detail_filter, predicate, query_all, sessions

DAY = "2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z"


@pytest.fixture(scope="module")
def hour(hour_pages: tuple[list[Any], list[Any]]) -> list[Record]:
    """The hour's records as they crossed the wire."""
    _, bodies = hour_pages
    records = [record for body in bodies for record in body["conversations"]]
    assert len(records) > 200
    return records


def _missing(obj: Record, keys: set[str], where: str) -> list[str]:
    return [f"{where}.{key}" for key in sorted(keys - set(obj))]


def _flow_keys(ended: bool) -> set[str]:
    keys = {"flowId", "flowName", "flowType", "flowVersion", "entryType"}
    return keys | {"exitReason"} if ended else keys


def shape_problems(record: Record) -> Iterator[str]:
    """The keys Genesys always sends that ``record`` lacks, level by level."""
    ended = "conversationEnd" in record
    conversation = {"conversationId", "conversationStart", "originatingDirection"}
    yield from _missing(record, conversation | {"divisionIds", "participants"}, "$")
    for participant, session in sessions(record):
        where = f"$.{participant['purpose']}:{participant['participantId'][:8]}"
        yield from _missing(participant, {"participantId", "purpose", "sessions"}, where)
        purpose = participant["purpose"]
        if purpose in ("agent", "acd"):
            # Agents as users of their team; queues by name.
            people = {"userId", "teamId"} if purpose == "agent" else set()
            yield from _missing(participant, {"participantName"} | people, where)
            yield from _missing(session, {"metrics"}, where)
        if purpose == "acd":
            yield from _missing(session, {"requestedRoutings"}, where)
        session_keys = {"sessionId", "mediaType", "direction", "provider", "segments"}
        yield from _missing(session, session_keys, where)
        if session["mediaType"] == "voice":
            yield from _missing(session, {"edgeId"}, where)
        if purpose in ("ivr", "workflow"):
            yield from _missing(session, {"flow"}, where)
            flow_ended = "segmentEnd" in session["segments"][-1]
            yield from _missing(session.get("flow", {}), _flow_keys(flow_ended), where)
        segments = session["segments"]
        for i, segment in enumerate(segments):
            keys = {"segmentStart", "segmentType"} | ({"segmentEnd"} if ended else set())
            if purpose == "acd":
                keys.add("queueId")
            yield from _missing(segment, keys, f"{where}.segments[{i}]")
        # How a leg ended is on its last segment before any wrap-up.
        talked = [s for s in segments if s["segmentType"] != "wrapup"]
        if ended and talked:
            yield from _missing(talked[-1], {"disconnectType"}, f"{where}.segments[last]")


def test_every_record_carries_the_keys_genesys_always_sends(hour: list[Record]) -> None:
    found = [f"{r['conversationId']}: {p}" for r in hour for p in shape_problems(r)]
    assert found == []
    assert sum("conversationEnd" in r for r in hour) > 200


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_the_details_agree_with_each_other(hour: list[Record]) -> None:
    teams: dict[str, str] = {}
    skills: dict[str, list[str]] = {}
    selected = 0
    for record in hour:
        participants = record["participants"]
        for i, participant in enumerate(participants):
            if "userId" in participant:
                user, team = participant["userId"], participant["teamId"]
                assert teams.setdefault(user, team) == team, "one team per user"
            for session in participant["sessions"]:
                assert session.get("addressFrom") == session.get("ani")
                assert session.get("addressTo") == session.get("dnis")
                for segment in session["segments"]:
                    if "requestedRoutingSkillIds" in segment:
                        queue, wanted = segment["queueId"], segment["requestedRoutingSkillIds"]
                        assert skills.setdefault(queue, wanted) == wanted, "one list per queue"
                    if "errorCode" in segment:
                        assert segment["disconnectType"] == "system"
                flow = session.get("flow")
                if flow is not None and "exitReason" in flow:
                    ending = session["segments"][-1]["disconnectType"]
                    handed_on = flow["exitReason"] == "TRANSFER"
                    assert handed_on == (ending == "transfer") == ("transferType" in flow)
                    for outcome in flow.get("outcomes", ()):
                        start = _instant(outcome["flowOutcomeStartTimestamp"])
                        end = _instant(outcome["flowOutcomeEndTimestamp"])
                        first = _instant(session["segments"][0]["segmentStart"])
                        last = _instant(session["segments"][-1]["segmentEnd"])
                        assert first <= start <= end == last
                        # A caller handed to a queue was not served by the IVR.
                        assert (outcome["flowOutcomeValue"] == "FAILURE") == handed_on
            if participant["purpose"] != "acd":
                continue
            (session,) = participant["sessions"]
            queue = session["segments"][0]["queueId"]
            answered = [
                p["userId"]
                for p in participants[i + 1 :]
                if p["purpose"] == "agent"
                and p["sessions"][0]["segments"][0].get("queueId") == queue
                and any(s["segmentType"] == "interact" for s in p["sessions"][0]["segments"])
            ]
            # Routing names the agent who answered this queue leg, and only then a method.
            assert session.get("selectedAgentId") == (answered[0] if answered else None)
            assert ("usedRouting" in session) == bool(answered)
            selected += bool(answered)
        messaging = participants[0]["sessions"][0]["mediaType"] == "message"
        assert ("conversationInitiator" in record) == messaging
        assert record.get("customerParticipation") is (True if messaging else None)
    assert selected > 100 and len(teams) > 10 and skills


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


# Each field real records carry that the sandbox once lacked (issue 16), found over a day by a
# filter on it (family, dimension), together with the fields that come with it.
CARRIED = [
    ("conversation", "conversationInitiator", {"conversationInitiator"}),
    ("conversation", "customerParticipation", {"customerParticipation"}),
    ("segment", "usedRouting", {"requestedRoutings", "usedRouting", "selectedAgentId"}),
    ("segment", "addressFrom", {"addressFrom", "addressTo"}),
    ("segment", "edgeId", {"edgeId", "provider"}),
    ("segment", "teamId", {"teamId"}),
    ("segment", "wrapUpNote", {"wrapUpNote"}),
    ("segment", "conference", {"conference"}),
    ("segment", "requestedRoutingSkillId", {"requestedRoutingSkillIds"}),
    ("segment", "errorCode", {"errorCode"}),
    ("segment", "flowVersion", {"flowVersion", "entryType", "exitReason"}),
    ("segment", "transferType", {"transferType"}),
    # Only a division's IVR reports an outcome; it was entered by its number.
    ("segment", "flowOutcome", {"outcomes", "flowOutcome", "flowOutcomeValue", "entryReason"}),
]


@pytest.mark.parametrize(("family", "dimension", "fields"), CARRIED, ids=[c[1] for c in CARRIED])
def test_a_day_holds_records_with_each_field_and_they_fit(
    sdk: Any, family: str, dimension: str, fields: set[str]
) -> None:
    if family == "conversation":
        spec = detail_filter(
            "ConversationDetailQueryFilter",
            "and",
            [predicate("Conversation", dimension, operator="exists")],
        )
        where = {"conversation_filters": [spec]}
    else:
        where = {
            "segment_filters": [
                detail_filter(
                    "SegmentDetailQueryFilter",
                    "and",
                    [predicate("Segment", dimension, operator="exists")],
                )
            ]
        }
    conversations, (page,) = query_all(sdk, page_size=20, interval=DAY, pages=1, **where)
    assert problems(page, "AnalyticsConversationQueryResponse") == []
    assert conversations and page["conversations"]
    for record in page["conversations"]:
        assert fields <= _keys(record), record["conversationId"]
