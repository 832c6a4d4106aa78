"""Conformance (issue 16): the synchronous detail query through the official SDK: every page
fits the SDK's models key by key, paging and ordering hold, and each filter family selects what
the same filter selects when evaluated here on the sandbox's own ground truth."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.conformance.model_check import outdated, problems
from tests.conformance.oracle import Sandbox, genesys, ground_truth, wire

START, END = "2024-05-01T09:00:00.000Z", "2024-05-01T10:00:00.000Z"
INTERVAL = f"{START}/{END}"
Record = dict[str, Any]
INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture(scope="module")
def truth(sandbox_process: Sandbox) -> list[Record]:
    records = ground_truth(sandbox_process, START, END)
    assert len(records) > 200
    return records


def query_all(sdk: Any, page_size: int = 100, **fields: Any) -> tuple[list[Any], list[Any]]:
    """Every page of one query: the SDK's conversations and each page's wire body."""
    api = genesys().AnalyticsApi(sdk)
    conversations: list[Any] = []
    bodies: list[Any] = []
    page = 1
    while True:
        body = genesys().ConversationQuery()
        body.interval = INTERVAL
        body.paging = genesys().PagingSpec()
        body.paging.page_size, body.paging.page_number = page_size, page
        for name, value in fields.items():
            setattr(body, name, value)
        answer = api.post_analytics_conversations_details_query(body)
        bodies.append(wire(sdk))
        assert outdated(answer) == []
        got = answer.conversations or []
        conversations.extend(got)
        if len(got) < page_size:
            total = answer.total_hits
            assert total == len(conversations), "totalHits is the number the pages add up to"
            return conversations, bodies
        page += 1


def test_pages_cover_the_interval_in_order_and_fit_the_model(sdk: Any, truth: list[Record]) -> None:
    conversations, bodies = query_all(sdk, order="asc", order_by="conversationStart")
    assert len(bodies) >= 3
    for body in bodies:
        assert problems(body, "AnalyticsConversationQueryResponse") == []
    starts = [c.conversation_start for c in conversations]
    assert starts == sorted(starts)
    ids = [c.conversation_id for c in conversations]
    assert len(set(ids)) == len(ids), "no conversation on two pages"
    assert set(ids) == {r["conversationId"] for r in truth}
    # The SDK's objects carry what the ground truth holds, field by field.
    by_id = {r["conversationId"]: r for r in truth}
    for c in conversations:
        written = genesys().ApiClient().sanitize_for_serialization(c)
        assert written == _comparable(by_id[c.conversation_id])


def test_descending_order(sdk: Any, truth: list[Record]) -> None:
    conversations, _ = query_all(sdk, page_size=50, order="desc", order_by="conversationStart")
    starts = [c.conversation_start for c in conversations]
    assert starts == sorted(starts, reverse=True) and len(starts) == len(truth)


def _comparable(value: Any) -> Any:
    """The ground truth as the SDK writes a model back (``sanitize_for_serialization``): an
    instant as ``datetime.isoformat()``."""
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    if isinstance(value, str) and INSTANT.fullmatch(value):
        return datetime.fromisoformat(value).isoformat()
    return value


# --- filters: each family, compared with the filter evaluated on the ground truth ----------


def sessions(record: Record) -> Iterator[tuple[Record, Record]]:
    for participant in record["participants"]:
        for session in participant["sessions"]:
            yield participant, session


def segment_views(record: Record) -> Iterator[Record]:
    """What a segment predicate sees: the segment, its session (flow fields flattened) and its
    participant, the most specific level winning."""
    for participant, session in sessions(record):
        outer = {k: v for k, v in participant.items() if k != "sessions"}
        flow = session.get("flow", {})
        for segment in session["segments"]:
            yield {**outer, **session, **flow, **segment}


def _predicate(
    family: str,
    name: str,
    value: str | None = None,
    operator: str = "matches",
    kind: str = "dimension",
) -> Any:
    """A ``{family}DetailQueryPredicate`` of the SDK on the dimension or metric ``name``."""
    predicate = getattr(genesys(), f"{family}DetailQueryPredicate")()
    predicate.type, predicate.operator = kind, operator
    setattr(predicate, kind, name)
    if value is not None:
        predicate.value = value
    return predicate


def _filter(model: str, kind: str, predicates: list[Any], clauses: list[Any] | None = None) -> Any:
    spec = getattr(genesys(), model)()
    spec.type, spec.predicates = kind, predicates
    if clauses:
        spec.clauses = clauses
    return spec


def _clause(model: str, kind: str, predicates: list[Any]) -> Any:
    clause = getattr(genesys(), model)()
    clause.type, clause.predicates = kind, predicates
    return clause


def queue_answered_by_routing(truth: list[Record]) -> str:
    """A queue some of whose conversations in the hour were routed to an agent."""
    for record in truth:
        for view in segment_views(record):
            if view.get("usedRouting") == "Standard" and view.get("queueId"):
                return str(view["queueId"])
    raise AssertionError("no routed conversation in the hour")


CASES: dict[str, tuple[Callable[[list[Record]], dict[str, Any]], Callable[..., bool]]] = {
    # segmentFilters: voice or chat segments of one queue whose routing selected an agent.
    "segment, and with an or clause": (
        lambda truth: {
            "segment_filters": [
                _filter(
                    "SegmentDetailQueryFilter",
                    "and",
                    [
                        _predicate("Segment", "queueId", queue_answered_by_routing(truth)),
                        _predicate("Segment", "usedRouting", "Standard"),
                    ],
                    [
                        _clause(
                            "SegmentDetailQueryClause",
                            "or",
                            [
                                _predicate("Segment", "mediaType", "voice"),
                                _predicate("Segment", "mediaType", "chat"),
                            ],
                        )
                    ],
                )
            ]
        },
        lambda record, truth: any(
            v.get("queueId") == queue_answered_by_routing(truth)
            and v.get("usedRouting") == "Standard"
            and v.get("mediaType") in ("voice", "chat")
            for v in segment_views(record)
        ),
    ),
    # Fields the SDK names that real records carry: how a flow ended and its outcome, and
    # (below) a wrap-up's note and a segment's error.
    "segment, flow exit and outcome": (
        lambda truth: {
            "segment_filters": [
                _filter(
                    "SegmentDetailQueryFilter",
                    "and",
                    [
                        _predicate("Segment", "exitReason", "CUSTOMER_DISCONNECT"),
                        _predicate("Segment", "flowOutcomeValue", "SUCCESS"),
                    ],
                )
            ]
        },
        lambda record, truth: any(
            v.get("exitReason") == "CUSTOMER_DISCONNECT"
            and any(o["flowOutcomeValue"] == "SUCCESS" for o in v.get("outcomes", ()))
            for v in segment_views(record)
        ),
    ),
    "segment, exists": (
        lambda truth: {
            "segment_filters": [
                _filter(
                    "SegmentDetailQueryFilter",
                    "or",
                    [
                        _predicate("Segment", "wrapUpNote", operator="exists"),
                        _predicate("Segment", "errorCode", operator="exists"),
                    ],
                )
            ]
        },
        lambda record, truth: any(
            "wrapUpNote" in v or "errorCode" in v for v in segment_views(record)
        ),
    ),
    # conversationFilters: outbound, or initiated by a customer who took part in messaging.
    "conversation, or with an and clause": (
        lambda truth: {
            "conversation_filters": [
                _filter(
                    "ConversationDetailQueryFilter",
                    "or",
                    [_predicate("Conversation", "originatingDirection", "outbound")],
                    [
                        _clause(
                            "ConversationDetailQueryClause",
                            "and",
                            [
                                _predicate("Conversation", "conversationInitiator", "customer"),
                                _predicate("Conversation", "customerParticipation", "true"),
                            ],
                        )
                    ],
                )
            ]
        },
        lambda record, truth: (
            record["originatingDirection"] == "outbound"
            or (
                record.get("conversationInitiator") == "customer"
                and record.get("customerParticipation") is True
            )
        ),
    ),
    "conversation, notExists": (
        lambda truth: {
            "conversation_filters": [
                _filter(
                    "ConversationDetailQueryFilter",
                    "and",
                    [
                        _predicate(
                            "Conversation", "mediaStatsMinConversationMos", operator="notExists"
                        )
                    ],
                )
            ]
        },
        lambda record, truth: "mediaStatsMinConversationMos" not in record,
    ),
    # evaluationFilters: the sandbox's records carry no evaluations, so notExists holds for
    # every conversation (and anything else for none).
    "evaluation, notExists": (
        lambda truth: {
            "evaluation_filters": [
                _filter(
                    "EvaluationDetailQueryFilter",
                    "and",
                    [_predicate("Evaluation", "evaluationId", operator="notExists")],
                )
            ]
        },
        lambda record, truth: "evaluations" not in record,
    ),
    # surveyFilters and resolutionFilters: nor surveys or resolutions, so a predicate that
    # needs one holds for no conversation.
    "survey, exists": (
        lambda truth: {
            "survey_filters": [
                _filter(
                    "SurveyDetailQueryFilter",
                    "and",
                    [_predicate("Survey", "surveyId", operator="exists")],
                )
            ]
        },
        lambda record, truth: "surveys" in record,
    ),
    "resolution, metric exists": (
        lambda truth: {
            "resolution_filters": [
                _filter(
                    "ResolutionDetailQueryFilter",
                    "and",
                    [
                        _predicate(
                            "Resolution", "nNextContactAvoided", operator="exists", kind="metric"
                        )
                    ],
                )
            ]
        },
        lambda record, truth: "resolutions" in record,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_filter_selects_what_it_selects_on_the_ground_truth(
    sdk: Any, truth: list[Record], case: str
) -> None:
    build, holds = CASES[case]
    conversations, bodies = query_all(sdk, **build(truth))
    for body in bodies:
        assert problems(body, "AnalyticsConversationQueryResponse") == []
    expected = {r["conversationId"] for r in truth if holds(r, truth)}
    # Each case selects some but not all, except those on what the records never carry.
    nothing_to_see = case.split(",")[0] in ("evaluation", "survey", "resolution")
    assert nothing_to_see or 0 < len(expected) < len(truth)
    assert {c.conversation_id for c in conversations} == expected


# --- the fields real records carry ------------------------------------------------------------

# Keys every record, participant, session and segment of the sandbox carries (Genesys sends
# these on every one), and those an agent participant and a queue's session always carry.
ALWAYS = {
    "conversation": {"conversationId", "conversationStart", "originatingDirection"}
    | {"conversationInitiator", "divisionIds", "participants"},
    "participant": {"participantId", "purpose", "sessions"},
    "agent": {"userId", "teamId"},
    "session": {"sessionId", "mediaType", "direction", "provider", "segments"},
    "acd session": {"requestedRoutings"},
    "segment": {"segmentStart", "segmentType"},
}


def test_every_record_carries_the_keys_genesys_always_sends(sdk: Any, truth: list[Record]) -> None:
    _, bodies = query_all(sdk)
    missing: list[str] = []

    def need(level: str, obj: Record, where: str) -> None:
        missing.extend(f"{where}.{key}" for key in sorted(ALWAYS[level] - set(obj)))

    for body in bodies:
        for record in body["conversations"]:
            need("conversation", record, record["conversationId"])
            for participant in record["participants"]:
                need("participant", participant, participant["participantId"])
                if participant["purpose"] == "agent":
                    need("agent", participant, participant["participantId"])
                for session in participant["sessions"]:
                    need("session", session, session["sessionId"])
                    if participant["purpose"] == "acd":
                        need("acd session", session, session["sessionId"])
                    for i, segment in enumerate(session["segments"]):
                        need("segment", segment, f"{session['sessionId']}[{i}]")
    assert missing == []


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
        spec = _filter(
            "ConversationDetailQueryFilter",
            "and",
            [_predicate("Conversation", dimension, operator="exists")],
        )
        where = {"conversation_filters": [spec]}
    else:
        where = {
            "segment_filters": [
                _filter(
                    "SegmentDetailQueryFilter",
                    "and",
                    [_predicate("Segment", dimension, operator="exists")],
                )
            ]
        }
    body = genesys().ConversationQuery()
    body.interval = "2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z"
    body.paging = genesys().PagingSpec()
    body.paging.page_size, body.paging.page_number = 20, 1
    for name, value in where.items():
        setattr(body, name, value)
    answer = genesys().AnalyticsApi(sdk).post_analytics_conversations_details_query(body)
    page = wire(sdk)
    assert problems(page, "AnalyticsConversationQueryResponse") == []
    assert outdated(answer) == []
    assert answer.total_hits > 0 and page["conversations"]
    for record in page["conversations"]:
        assert fields <= _keys(record), record["conversationId"]
