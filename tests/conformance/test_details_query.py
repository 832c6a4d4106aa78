"""Conformance (issue 16): the synchronous detail query through the official SDK: every page
fits the SDK's models key by key, paging and ordering hold, and each filter family selects what
the same filter selects when evaluated here on the sandbox's own ground truth."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.conformance.model_check import problems
from tests.conformance.oracle import Sandbox, genesys, ground_truth
from tests.conformance.queries import (
    END,
    START,
    Record,
    detail_filter,
    predicate,
    query_all,
    sessions,
)

INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture(scope="module")
def truth(sandbox_process: Sandbox) -> list[Record]:
    records = ground_truth(sandbox_process, START, END)
    assert len(records) > 200
    return records


def test_pages_cover_the_interval_in_order_and_fit_the_model(
    hour_pages: tuple[list[Any], list[Any]], truth: list[Record]
) -> None:
    conversations, bodies = hour_pages
    assert len(bodies) >= 3
    for body in bodies:
        assert problems(body, "AnalyticsConversationQueryResponse") == []
    starts = [c.conversation_start for c in conversations]
    assert starts == sorted(starts)
    ids = [c.conversation_id for c in conversations]
    assert len(set(ids)) == len(ids), "no conversation on two pages"
    assert set(ids) == {r["conversationId"] for r in truth}
    # The SDK's objects keep every field of the record (the ground truth is rendered by the
    # same code as the API's answer, so this shows the SDK reads all of it, not that it is
    # right: test_record_shape checks the values against each other).
    by_id = {r["conversationId"]: r for r in truth}
    for c in conversations:
        written = genesys().ApiClient().sanitize_for_serialization(c)
        assert written == _comparable(by_id[c.conversation_id])


def test_descending_order(sdk: Any, truth: list[Record]) -> None:
    conversations, bodies = query_all(sdk, page_size=50, order="desc", order_by="conversationStart")
    for body in bodies:
        assert problems(body, "AnalyticsConversationQueryResponse") == []
    starts = [c.conversation_start for c in conversations]
    assert starts == sorted(starts, reverse=True)
    ids = [c.conversation_id for c in conversations]
    assert len(set(ids)) == len(ids) and set(ids) == {r["conversationId"] for r in truth}


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


def segment_views(record: Record) -> Iterator[Record]:
    """What a segment predicate sees: the segment, its session (flow fields flattened) and its
    participant, the most specific level winning."""
    for participant, session in sessions(record):
        outer = {k: v for k, v in participant.items() if k != "sessions"}
        flow = session.get("flow", {})
        for segment in session["segments"]:
            yield {**outer, **session, **flow, **segment}


def _clause(model: str, kind: str, predicates: list[Any]) -> Any:
    clause = getattr(genesys(), model)()
    clause.type, clause.predicates = kind, predicates
    return clause


def _ranged(made: Any, at_least_ms: int) -> Any:
    made.range = genesys().NumericRange()
    made.range.gte = at_least_ms
    return made


def _duration_ms(segment: Record) -> float:
    span = datetime.fromisoformat(segment["segmentEnd"]) - datetime.fromisoformat(
        segment["segmentStart"]
    )
    return span.total_seconds() * 1000


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
                detail_filter(
                    "SegmentDetailQueryFilter",
                    "and",
                    [
                        predicate("Segment", "queueId", queue_answered_by_routing(truth)),
                        predicate("Segment", "usedRouting", "Standard"),
                    ],
                    [
                        _clause(
                            "SegmentDetailQueryClause",
                            "or",
                            [
                                predicate("Segment", "mediaType", "voice"),
                                predicate("Segment", "mediaType", "chat"),
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
                detail_filter(
                    "SegmentDetailQueryFilter",
                    "and",
                    [
                        predicate("Segment", "exitReason", "CUSTOMER_DISCONNECT"),
                        predicate("Segment", "flowOutcomeValue", "SUCCESS"),
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
                detail_filter(
                    "SegmentDetailQueryFilter",
                    "or",
                    [
                        predicate("Segment", "wrapUpNote", operator="exists"),
                        predicate("Segment", "errorCode", operator="exists"),
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
                detail_filter(
                    "ConversationDetailQueryFilter",
                    "or",
                    [predicate("Conversation", "originatingDirection", "outbound")],
                    [
                        _clause(
                            "ConversationDetailQueryClause",
                            "and",
                            [
                                predicate("Conversation", "conversationInitiator", "customer"),
                                predicate("Conversation", "customerParticipation", "true"),
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
                detail_filter(
                    "ConversationDetailQueryFilter",
                    "and",
                    [
                        predicate(
                            "Conversation", "mediaStatsMinConversationMos", operator="notExists"
                        )
                    ],
                )
            ]
        },
        lambda record, truth: "mediaStatsMinConversationMos" not in record,
    ),
    # Metric predicates: a segment's duration in a range, a conversation metric that exists.
    "segment, metric range": (
        lambda truth: {
            "segment_filters": [
                detail_filter(
                    "SegmentDetailQueryFilter",
                    "and",
                    [
                        predicate("Segment", "segmentType", "hold"),
                        _ranged(predicate("Segment", "tSegmentDuration", kind="metric"), 120_000),
                    ],
                )
            ]
        },
        lambda record, truth: any(
            v["segmentType"] == "hold" and "segmentEnd" in v and _duration_ms(v) >= 120_000
            for v in segment_views(record)
        ),
    ),
    "conversation, metric exists": (
        lambda truth: {
            "conversation_filters": [
                detail_filter(
                    "ConversationDetailQueryFilter",
                    "and",
                    [predicate("Conversation", "tAbandon", operator="exists", kind="metric")],
                )
            ]
        },
        lambda record, truth: any(
            m["name"] == "tAbandon" for _, s in sessions(record) for m in s.get("metrics", ())
        ),
    ),
    # evaluationFilters: the sandbox's records carry no evaluations, so notExists holds for
    # every conversation (and anything else for none).
    "evaluation, notExists": (
        lambda truth: {
            "evaluation_filters": [
                detail_filter(
                    "EvaluationDetailQueryFilter",
                    "and",
                    [predicate("Evaluation", "evaluationId", operator="notExists")],
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
                detail_filter(
                    "SurveyDetailQueryFilter",
                    "and",
                    [predicate("Survey", "surveyId", operator="exists")],
                )
            ]
        },
        lambda record, truth: "surveys" in record,
    ),
    "resolution, metric exists": (
        lambda truth: {
            "resolution_filters": [
                detail_filter(
                    "ResolutionDetailQueryFilter",
                    "and",
                    [
                        predicate(
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
