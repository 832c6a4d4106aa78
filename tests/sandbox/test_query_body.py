"""The emulator's details-query body validation and filter evaluation (reference §4, §5.1, §9)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from app.sandbox.query_body import (
    BodyError,
    ParsedQuery,
    QueryLimits,
    matches,
    parse_interval,
    parse_query,
)
from app.sandbox.records import Conversation, Participant, Segment, Session, render
from app.vocabulary import JOB_QUERY_FIELDS, QUERY_FIELDS
from tests.examples import official_clause_example, official_queue_example

LIMITS = QueryLimits()
DAY = "2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z"

# §4.2, verbatim apart from the placeholders.
OFFICIAL_QUEUE_EXAMPLE = official_queue_example(
    "2018-01-07T19:42:31.141Z/2018-02-06T19:42:31.141Z", "q1"
)
OFFICIAL_CLAUSE_EXAMPLE = official_clause_example(DAY)
TUTORIAL_FAKE_BODY: dict[str, Any] = {
    "query": "*",
    "timeRange": {"from": "2024-05-01", "to": "2024-05-02"},
    "groupBy": ["queueId"],
    "metrics": ["tHandle"],
    "filter": [{"type": "dimension", "path": "queueId", "value": "q1", "operator": "matches"}],
}


def body(**fields: Any) -> dict[str, Any]:
    return {"interval": DAY, **fields}


def seg(*predicates: dict[str, Any], kind: str = "and") -> dict[str, Any]:
    return body(segmentFilters=[{"type": kind, "predicates": list(predicates)}])


def conv(*predicates: dict[str, Any], kind: str = "and") -> dict[str, Any]:
    return body(conversationFilters=[{"type": kind, "predicates": list(predicates)}])


def dim(name: str, value: str | None = None, operator: str | None = None) -> dict[str, Any]:
    predicate: dict[str, Any] = {"dimension": name}
    if value is not None:
        predicate["value"] = value
    if operator is not None:
        predicate["operator"] = operator
    return predicate


def metric(name: str, **range_: float) -> dict[str, Any]:
    return {"type": "metric", "metric": name, "range": range_}


def rejection(raw: object, *, job: bool = False, limits: QueryLimits = LIMITS) -> BodyError:
    with pytest.raises(BodyError) as caught:
        parse_query(raw, limits=limits, job=job)
    return caught.value


# ---------------------------------------------------------------------------------------------
# Validation: every rule, its code and what the message must name.

BAD_BODIES: list[tuple[str, object, bool, str, tuple[str, ...]]] = [
    # (case id, body, job, code, fragments the message must contain)
    ("not an object", [DAY], False, "bad.request", ("JSON object", "list")),
    ("string body", "interval", False, "bad.request", ("JSON object",)),
    ("tutorial fake body", TUTORIAL_FAKE_BODY, False, "bad.request", ("query", "timeRange")),
    ("unknown field", body(size=10), False, "bad.request", ("[size]",)),
    ("interval missing", {"order": "asc"}, False, "bad.request", ("interval",)),
    ("interval null", {"interval": None}, False, "bad.request", ("interval",)),
    ("interval not a string", {"interval": 20240501}, False, "invalid.date", ("20240501",)),
    ("interval one instant", {"interval": "2024-05-01T00:00:00Z"}, False, "invalid.date", ()),
    ("interval dates only", {"interval": "2024-05-01/2024-05-02"}, False, "invalid.date", ()),
    (
        "interval without zone",
        {"interval": "2024-05-01T00:00:00/2024-05-02T00:00:00"},
        False,
        "invalid.date",
        ("2024-05-01T00:00:00/2024-05-02T00:00:00",),
    ),
    (
        "interval impossible day",
        {"interval": "2024-02-30T00:00:00Z/2024-03-02T00:00:00Z"},
        False,
        "invalid.date",
        ("2024-02-30",),
    ),
    (
        "interval three parts",
        {"interval": "2024-05-01T00:00:00Z/2024-05-02T00:00:00Z/2024-05-03T00:00:00Z"},
        False,
        "invalid.date",
        (),
    ),
    (
        "interval reversed",
        {"interval": "2024-05-02T00:00:00Z/2024-05-01T00:00:00Z"},
        False,
        "bad.request",
        ("interval", "ends before"),
    ),
    (
        "interval empty",
        {"interval": "2024-05-01T00:00:00Z/2024-05-01T02:00:00+02:00"},
        False,
        "bad.request",
        ("ends before",),
    ),
    (
        "interval too long with a filter",
        {
            "interval": "2024-05-01T00:00:00Z/2024-06-01T00:00:01Z",
            "conversationFilters": [
                {"type": "and", "predicates": [dim("conversationEnd", operator="exists")]}
            ],
        },
        False,
        "bad.request",
        ("interval", "maximum of 31 days"),
    ),
    (
        "interval too long without a filter",
        {"interval": "2024-05-01T00:00:00Z/2024-05-08T00:00:00.001Z"},
        False,
        "bad.request",
        ("interval", "2024-05-08T00:00:00.001Z", "maximum of 7 days", "31 days with a filter"),
    ),
    (
        "interval too long with empty filter lists",
        {
            "interval": "2024-05-01T00:00:00Z/2024-05-08T00:00:00.001Z",
            "segmentFilters": [],
            "conversationFilters": [],
        },
        False,
        "bad.request",
        ("maximum of 7 days",),
    ),
    (
        "job interval too long",
        {"interval": "2024-05-01T00:00:00Z/2024-06-01T00:00:01Z"},
        True,
        "bad.request",
        ("interval", "maximum of 31 days"),
    ),
    (
        "mediaEndpointStatFilters not an array",
        body(mediaEndpointStatFilters={"type": "and"}),
        False,
        "bad.request",
        ("mediaEndpointStatFilters", "JSON array"),
    ),
    (
        "mediaEndpointStatFilters without predicates",
        body(mediaEndpointStatFilters=[{"type": "and"}]),
        False,
        "bad.request",
        ("mediaEndpointStatFilters[0]", "predicates or clauses"),
    ),
    (
        "mediaEndpointStatFilters without type",
        body(mediaEndpointStatFilters=[{"predicates": [dim("minMos", operator="exists")]}]),
        False,
        "bad.request",
        ("mediaEndpointStatFilters[0]", "type"),
    ),
    (
        "unknown mediaEndpointStatFilters dimension",
        body(mediaEndpointStatFilters=[{"type": "and", "predicates": [dim("minMOS", "3")]}]),
        False,
        "invalid.value",
        ("[minMOS]", "mediaEndpointStatFilters[0].predicates[0].dimension", "minMos"),
    ),
    (
        "metric in mediaEndpointStatFilters",
        body(mediaEndpointStatFilters=[{"type": "and", "predicates": [metric("tTalk", gte=1)]}]),
        False,
        "bad.request",
        ("mediaEndpointStatFilters[0].predicates[0].metric", "not allowed"),
    ),
    (
        "property in mediaEndpointStatFilters",
        body(
            mediaEndpointStatFilters=[
                {
                    "type": "or",
                    "clauses": [
                        {
                            "type": "and",
                            "predicates": [
                                {"property": "p", "propertyType": "string", "value": "x"}
                            ],
                        }
                    ],
                }
            ]
        ),
        True,
        "bad.request",
        ("mediaEndpointStatFilters[0].clauses[0].predicates[0].property", "not allowed"),
    ),
    ("paging not object", body(paging=[25, 1]), False, "bad.request", ("paging",)),
    (
        "paging lacks pageNumber",
        body(paging={"pageSize": 25}),
        False,
        "bad.request",
        ("pageNumber",),
    ),
    ("paging lacks pageSize", body(paging={"pageNumber": 1}), False, "bad.request", ("pageSize",)),
    (
        "pageSize a string",
        body(paging={"pageSize": "25", "pageNumber": 1}),
        False,
        "bad.request",
        ("paging.pageSize", "integer"),
    ),
    (
        "pageNumber a bool",
        body(paging={"pageSize": 25, "pageNumber": True}),
        False,
        "bad.request",
        ("paging.pageNumber", "integer"),
    ),
    (
        "pageSize a float",
        body(paging={"pageSize": 25.0, "pageNumber": 1}),
        False,
        "bad.request",
        ("paging.pageSize",),
    ),
    (
        "pageNumber zero",
        body(paging={"pageSize": 25, "pageNumber": 0}),
        False,
        "bad.request",
        ("paging.pageNumber", "1-based"),
    ),
    (
        "pageSize zero",
        body(paging={"pageSize": 0, "pageNumber": 1}),
        False,
        "bad.request",
        ("paging.pageSize",),
    ),
    (
        "pageSize over the cap",
        body(paging={"pageSize": 101, "pageNumber": 1}),
        False,
        "bad.request",
        ("paging.pageSize", "100", "101"),
    ),
    (
        "paging past max results",
        body(paging={"pageSize": 100, "pageNumber": 1001}),
        False,
        "bad.request",
        ("maximum of 100000 results",),
    ),
    (
        "paging unknown key",
        body(paging={"pageSize": 25, "pageNumber": 1, "cursor": "x"}),
        False,
        "bad.request",
        ("cursor",),
    ),
    (
        "job with paging",
        body(paging={"pageSize": 25, "pageNumber": 1}),
        True,
        "bad.request",
        ("paging",),
    ),
    ("job with aggregations", body(aggregations=[]), True, "bad.request", ("aggregations",)),
    ("sync with limit", body(limit=10), False, "bad.request", ("limit",)),
    ("job limit a string", body(limit="10"), True, "bad.request", ("limit",)),
    ("job limit zero", body(limit=0), True, "bad.request", ("limit",)),
    (
        "job startOfDay not bool",
        body(startOfDayIntervalMatching="yes"),
        True,
        "bad.request",
        ("startOfDayIntervalMatching",),
    ),
    ("aggregations not a list", body(aggregations={}), False, "bad.request", ("aggregations",)),
    ("order misspelt", body(order="descending"), False, "invalid.value", ("[descending]", "desc")),
    ("order not a string", body(order=1), False, "invalid.value", ("[1]", "[order]")),
    ("orderBy unknown", body(orderBy="startTime"), False, "invalid.value", ("[startTime]",)),
    (
        "family not a list",
        body(segmentFilters={"type": "and"}),
        False,
        "bad.request",
        ("segmentFilters",),
    ),
    (
        "filter not an object",
        body(conversationFilters=["x"]),
        False,
        "bad.request",
        ("conversationFilters[0]",),
    ),
    (
        "filter without type",
        body(segmentFilters=[{"predicates": [dim("queueId", "q1")]}]),
        False,
        "bad.request",
        ("segmentFilters[0]", "type"),
    ),
    (
        "filter type xor",
        body(segmentFilters=[{"type": "xor", "predicates": [dim("queueId", "q1")]}]),
        False,
        "invalid.value",
        ("[xor]", "segmentFilters[0].type"),
    ),
    (
        "filter with nothing",
        body(segmentFilters=[{"type": "and"}]),
        False,
        "bad.request",
        ("segmentFilters[0]", "predicates or clauses"),
    ),
    (
        "filter with empty arrays",
        body(segmentFilters=[{"type": "and", "predicates": [], "clauses": []}]),
        False,
        "bad.request",
        ("predicates or clauses",),
    ),
    (
        "filter unknown key",
        body(segmentFilters=[{"type": "and", "predicates": [dim("queueId", "q1")], "path": "x"}]),
        False,
        "bad.request",
        ("[path]",),
    ),
    (
        "predicates not a list",
        body(segmentFilters=[{"type": "and", "predicates": dim("queueId", "q1")}]),
        False,
        "bad.request",
        ("segmentFilters[0].predicates",),
    ),
    (
        "clause nested too deep",
        body(
            segmentFilters=[
                {
                    "type": "or",
                    "clauses": [
                        {
                            "type": "and",
                            "predicates": [dim("queueId", "q1")],
                            "clauses": [{"type": "and", "predicates": [dim("queueId", "q2")]}],
                        }
                    ],
                }
            ]
        ),
        False,
        "bad.request",
        ("segmentFilters[0].clauses[0].clauses", "nest"),
    ),
    (
        "clause without predicates",
        body(segmentFilters=[{"type": "or", "clauses": [{"type": "and"}]}]),
        False,
        "bad.request",
        ("segmentFilters[0].clauses[0]", "predicates"),
    ),
    (
        "clause without type",
        body(segmentFilters=[{"type": "or", "clauses": [{"predicates": [dim("queueId", "q")]}]}]),
        False,
        "bad.request",
        ("segmentFilters[0].clauses[0]", "type"),
    ),
    (
        "predicate not an object",
        body(segmentFilters=[{"type": "and", "predicates": ["queueId"]}]),
        False,
        "bad.request",
        ("predicates[0]",),
    ),
    (
        "predicate unknown key",
        seg({**dim("queueId", "q1"), "path": "queueId"}),
        False,
        "bad.request",
        ("[path]",),
    ),
    (
        "predicate with no field",
        seg({"operator": "exists"}),
        False,
        "bad.request",
        ("exactly one of",),
    ),
    (
        "predicate with two fields",
        seg({"dimension": "queueId", "metric": "tSegmentDuration", "operator": "exists"}),
        False,
        "bad.request",
        ("exactly one of",),
    ),
    (
        "field name not a string",
        seg({"dimension": 7, "value": "x"}),
        False,
        "bad.request",
        ("dimension",),
    ),
    (
        "unknown dimension queueID",
        seg(dim("queueID", "q1")),
        False,
        "invalid.value",
        ("Value [queueID]", "[dimension]", "queueId", "segmentFilters[0].predicates[0].dimension"),
    ),
    (
        "segment dimension in conversationFilters",
        conv(dim("queueId", "q1")),
        False,
        "invalid.value",
        ("Value [queueId]", "conversationFilters[0].predicates[0]"),
    ),
    (
        "tWait is not a detail metric",
        conv(metric("tWait", gt=0)),
        False,
        "invalid.value",
        ("[tWait]", "[metric]"),
    ),
    (
        "dimension in resolutionFilters",
        body(resolutionFilters=[{"type": "and", "predicates": [dim("userId", "u")]}]),
        False,
        "invalid.value",
        ("[userId]",),
    ),
    (
        "bad operator",
        seg(dim("queueId", "q1", operator="equals")),
        False,
        "invalid.value",
        ("[equals]", "[operator]", "notExists"),
    ),
    (
        "bad predicate type",
        seg({"type": "attribute", **dim("queueId", "q1")}),
        False,
        "invalid.value",
        ("[attribute]",),
    ),
    (
        "type contradicts field",
        seg({"type": "metric", **dim("queueId", "q1")}),
        False,
        "bad.request",
        ("metric", "queueId"),
    ),
    ("matches without value", seg(dim("queueId")), False, "bad.request", ("value, range",)),
    (
        "matches with value and range",
        seg({**dim("mediaCount", "1"), "range": {"gt": 0}}),
        False,
        "bad.request",
        ("exactly one of value, range",),
    ),
    (
        "exists with value",
        seg(dim("queueId", "q1", operator="exists")),
        False,
        "bad.request",
        ("[exists]",),
    ),
    (
        "notExists with range",
        conv({"metric": "tTalk", "operator": "notExists", "range": {"gt": 1}}),
        False,
        "bad.request",
        ("[notExists]",),
    ),
    (
        "value not a string",
        seg({"dimension": "queueId", "value": 5}),
        False,
        "bad.request",
        ("value", "string"),
    ),
    (
        "range empty",
        conv({"metric": "tTalk", "range": {}}),
        False,
        "bad.request",
        ("at least one",),
    ),
    ("range unknown key", conv(metric("tTalk", eq=5)), False, "bad.request", ("[eq]",)),
    (
        "range bool bound",
        conv({"metric": "tTalk", "range": {"gt": True}}),
        False,
        "bad.request",
        ("range.gt",),
    ),
    (
        "range string bound",
        conv({"metric": "tTalk", "range": {"lt": "9"}}),
        False,
        "bad.request",
        ("range.lt",),
    ),
    (
        "range not an object",
        conv({"metric": "tTalk", "range": [1, 2]}),
        False,
        "bad.request",
        ("range",),
    ),
    (
        "enum value misspelt",
        seg(dim("mediaType", "Voice")),
        False,
        "invalid.value",
        ("[Voice]", "[mediaType]", "voice"),
    ),
    (
        "enum value in conversation",
        conv(dim("originatingDirection", "in")),
        False,
        "invalid.value",
        ("[in]", "inbound"),
    ),
    (
        "property outside segmentFilters",
        conv({"property": "vip", "propertyType": "bool", "value": "true"}),
        False,
        "bad.request",
        ("property", "conversationFilters"),
    ),
    (
        "property without propertyType",
        seg({"property": "vip", "value": "true"}),
        False,
        "bad.request",
        ("propertyType",),
    ),
    (
        "propertyType unknown",
        seg({"property": "vip", "propertyType": "boolean", "value": "true"}),
        False,
        "invalid.value",
        ("[boolean]", "bool"),
    ),
    (
        "propertyType on a dimension",
        seg({**dim("queueId", "q1"), "propertyType": "uuid"}),
        False,
        "bad.request",
        ("propertyType",),
    ),
    (
        "date dimension not a date",
        conv(dim("conversationStart", "yesterday")),
        False,
        "invalid.date",
        ("[yesterday]",),
    ),
    (
        "date dimension reversed interval",
        conv(dim("conversationStart", "2024-05-02T00:00:00Z/2024-05-01T00:00:00Z")),
        False,
        "bad.request",
        ("conversationFilters[0].predicates[0].value",),
    ),
    (
        "date property not a date",
        seg({"property": "due", "propertyType": "date", "value": "soon"}),
        False,
        "invalid.date",
        ("[soon]",),
    ),
]


@pytest.mark.parametrize(
    ("raw", "job", "code", "fragments"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_BODIES],
)
def test_invalid_body_is_rejected_naming_the_problem(
    raw: object, job: bool, code: str, fragments: tuple[str, ...]
) -> None:
    error = rejection(raw, job=job)
    assert (error.code, error.status) == (code, 400)
    for fragment in fragments:
        assert fragment in error.message


def test_tutorial_body_names_every_unknown_field() -> None:
    message = rejection(TUTORIAL_FAKE_BODY).message
    for name in ("query", "timeRange", "groupBy", "metrics", "filter"):
        assert f"{name}," in message or f"{name}]" in message


def test_invalid_value_shortens_a_long_list_but_keeps_the_near_miss() -> None:
    message = rejection(seg(dim("queueID", "q1"))).message
    assert "Allowable values are: queueId" in message
    assert "more)" in message
    assert "wrapUpNote" not in message  # the 80-odd names are not all listed


def test_the_limits_are_configurable() -> None:
    wide = QueryLimits(
        max_page_size=200, max_interval_days=62, max_unfiltered_interval_days=10, max_results=1000
    )
    query = parse_query(
        {
            "interval": "2024-05-01T00:00:00Z/2024-06-30T00:00:00Z",
            "paging": {"pageSize": 200, "pageNumber": 5},
            "segmentFilters": [{"type": "and", "predicates": [dim("purpose", "acd")]}],
        },
        limits=wide,
    )
    assert (query.page_size, query.page_number) == (200, 5)
    error = rejection(body(paging={"pageSize": 200, "pageNumber": 6}), limits=wide)
    assert "maximum of 1000 results" in error.message
    parse_query({"interval": "2024-05-01T00:00:00Z/2024-05-11T00:00:00Z"}, limits=wide)
    error = rejection({"interval": "2024-05-01T00:00:00Z/2024-05-11T00:00:01Z"}, limits=wide)
    assert "maximum of 10 days for a query without filters (62 days with a filter)" in error.message
    # A smaller overall maximum applies to unfiltered queries too, and is the one named.
    narrow = QueryLimits(max_interval_days=2)
    error = rejection({"interval": "2024-05-01T00:00:00Z/2024-05-03T00:00:01Z"}, limits=narrow)
    assert "maximum of 2 days" in error.message and "7 days" not in error.message


# ---------------------------------------------------------------------------------------------
# Valid bodies


def test_official_queue_example_parses() -> None:
    query = parse_query(OFFICIAL_QUEUE_EXAMPLE, limits=LIMITS)
    assert (query.order, query.order_by) == ("desc", "conversationStart")
    assert (query.page_size, query.page_number) == (100, 1)
    assert query.end_ms - query.start_ms == 30 * 86_400_000
    [segment_filter] = query.filters.segment
    assert [p.name for p in segment_filter.predicates] == ["segmentType", "queueId", "segmentEnd"]
    assert segment_filter.predicates[2].operator == "notExists"
    assert [p.name for p in query.filters.conversation[0].predicates] == ["conversationEnd"]


def test_official_clause_example_parses() -> None:
    query = parse_query(OFFICIAL_CLAUSE_EXAMPLE, limits=LIMITS)
    [segment_filter] = query.filters.segment
    assert segment_filter.type == "or"
    assert segment_filter.predicates == ()
    [clause] = segment_filter.clauses
    assert [(p.kind, p.name, p.value) for p in clause.predicates] == [
        ("dimension", "purpose", "acd"),
        ("dimension", "mediaType", "voice"),
    ]


def test_defaults_of_a_minimal_body() -> None:
    query = parse_query({"interval": DAY}, limits=QueryLimits(default_page_size=25))
    assert query == ParsedQuery(
        start_ms=1_714_521_600_000,
        end_ms=1_714_608_000_000,
        page_size=25,
        page_number=1,
        order="asc",
        order_by="conversationStart",
        filters=query.filters,
        limit=None,
        start_of_day_interval_matching=False,
    )
    assert query.filters.segment == query.filters.conversation == ()


def test_null_optional_fields_count_as_absent() -> None:
    query = parse_query(
        body(paging=None, order=None, orderBy=None, segmentFilters=None),
        limits=LIMITS,
    )
    assert (query.page_size, query.order, query.order_by) == (25, "asc", "conversationStart")


def test_job_body_parses_its_own_fields() -> None:
    query = parse_query(
        body(limit=500, startOfDayIntervalMatching=True, orderBy="segmentEnd"),
        limits=LIMITS,
        job=True,
    )
    assert (query.limit, query.start_of_day_interval_matching) == (500, True)
    assert (query.page_size, query.page_number, query.order_by) == (0, 0, "segmentEnd")


def test_predicate_type_is_inferred_and_range_kept() -> None:
    query = parse_query(conv({"metric": "tTalk", "range": {"gte": 1, "lt": 2.5}}), limits=LIMITS)
    [predicate] = query.filters.conversation[0].predicates
    assert (predicate.kind, predicate.operator) == ("metric", "matches")
    assert predicate.range is not None
    assert (predicate.range.gte, predicate.range.lt, predicate.range.gt) == (1, 2.5, None)


def test_exact_interval_and_page_limits_are_allowed() -> None:
    query = parse_query(
        {
            "interval": "2024-05-01T00:00:00Z/2024-06-01T00:00:00Z",
            "paging": {"pageSize": 100, "pageNumber": 1000},
            "conversationFilters": [{"type": "and", "predicates": [dim("divisionId", "d1")]}],
        },
        limits=LIMITS,
    )
    assert query.page_number == 1000
    week = parse_query({"interval": "2024-05-01T00:00:00Z/2024-05-08T00:00:00Z"}, limits=LIMITS)
    assert week.end_ms - week.start_ms == 7 * 86_400_000


LONGER_THAN_A_WEEK = "2024-05-01T00:00:00Z/2024-05-08T00:00:00.001Z"


@pytest.mark.parametrize(
    "family",
    [
        "conversationFilters",
        "segmentFilters",
        "evaluationFilters",
        "surveyFilters",
        "resolutionFilters",
        "mediaEndpointStatFilters",
    ],
)
def test_any_filter_allows_more_than_seven_days(family: str) -> None:
    predicate = {
        "conversationFilters": dim("conversationEnd", operator="exists"),
        "segmentFilters": dim("purpose", "acd"),
        "evaluationFilters": dim("evaluationId", operator="notExists"),
        "surveyFilters": dim("surveyId", operator="notExists"),
        "resolutionFilters": {"metric": "nNextContactAvoided", "operator": "notExists"},
        "mediaEndpointStatFilters": dim("minMos", operator="exists"),
    }[family]
    raw = {"interval": LONGER_THAN_A_WEEK, family: [{"type": "and", "predicates": [predicate]}]}
    query = parse_query(raw, limits=LIMITS)
    assert query.filters.given
    assert rejection({"interval": LONGER_THAN_A_WEEK}).code == "bad.request"


def test_job_bodies_may_span_more_than_seven_days_without_a_filter() -> None:
    query = parse_query({"interval": LONGER_THAN_A_WEEK}, limits=LIMITS, job=True)
    assert not query.filters.given


def test_media_endpoint_stat_filters_are_accepted_but_do_not_filter() -> None:
    assert "mediaEndpointStatFilters" in QUERY_FIELDS
    assert "mediaEndpointStatFilters" in JOB_QUERY_FIELDS
    nothing_could_match = [
        {
            "type": "or",
            "predicates": [dim("codec", "no-such-codec")],
            "clauses": [
                {"type": "and", "predicates": [{"dimension": "minMos", "range": {"lt": 0}}]},
                {"type": "and", "predicates": [dim("eventTime", "2001-01-01T00:00:00Z")]},
            ],
        },
        {"type": "and", "predicates": [dim("maxLatencyMs", operator="notExists")]},
    ]
    for job in (False, True):
        query = parse_query(
            body(mediaEndpointStatFilters=nothing_could_match), limits=LIMITS, job=job
        )
        assert len(query.filters.media_endpoint_stat) == 2
        assert query.filters.media_endpoint_stat[0].clauses[0].predicates[0].name == "minMos"
        # Not applied: a record without mediaEndpointStats is selected all the same.
        assert query.filters.empty and query.filters.given
        assert matches(record(), query) and matches(record(ended=False), query)
    # With another filter it is that filter that decides.
    both = body(
        mediaEndpointStatFilters=nothing_could_match,
        conversationFilters=[{"type": "and", "predicates": [dim("divisionId", "d9")]}],
    )
    assert not hit(both)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (DAY, (1_714_521_600_000, 1_714_608_000_000)),
        (
            "2024-05-01T10:00:00+02:00/2024-05-01T10:30:00.5+02:00",
            (1_714_550_400_000, 1_714_552_200_500),
        ),
        ("2024-05-01T08:00:00Z/2024-05-01T08:00:00.001Z", (1_714_550_400_000, 1_714_550_400_001)),
        # Sub-millisecond digits are truncated, not rounded.
        (
            "2024-05-01T08:00:00.000999999Z/2024-05-01T09:00:00-0100",
            (1_714_550_400_000, 1_714_557_600_000),
        ),
    ],
)
def test_parse_interval(text: str, expected: tuple[int, int]) -> None:
    assert parse_interval(text) == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("2024-05-01T00:00:00Z", "invalid.date"),
        ("2024-05-01T00:00Z/2024-05-02T00:00Z", "invalid.date"),
        ("2024-05-01 00:00:00Z/2024-05-02 00:00:00Z", "invalid.date"),
        ("2024-05-01T00:00:00Z/P1D", "invalid.date"),
        ("2024-05-01T00:00:00Z/2024-05-01T00:00:00Z", "bad.request"),
    ],
)
def test_parse_interval_rejects(text: str, code: str) -> None:
    with pytest.raises(BodyError) as caught:
        parse_interval(text)
    assert caught.value.code == code
    assert text in caught.value.message


# ---------------------------------------------------------------------------------------------
# Evaluation on hand-built records (§7 shape)


def ts(clock: str) -> str:
    return f"2024-05-01T{clock}Z"


def record(*, ended: bool = True) -> dict[str, Any]:
    """An inbound call: customer, queue (q1, open at first), agent u1 with wrap-up w1."""
    conversation: dict[str, Any] = {
        "conversationId": "c1",
        "conversationStart": ts("09:00:00.000"),
        "conversationEnd": ts("09:07:30.500"),
        "originatingDirection": "inbound",
        "divisionIds": ["d1", "d2"],
        "mediaStatsMinConversationMos": 4.38,
        "customerParticipation": True,
        "participants": [
            {
                "participantId": "p1",
                "participantName": "+15551230000",
                "purpose": "customer",
                "sessions": [
                    {
                        "sessionId": "s1",
                        "mediaType": "voice",
                        "direction": "inbound",
                        "ani": "tel:+15551230000",
                        "segments": [
                            {
                                "segmentStart": ts("09:00:00.000"),
                                "segmentEnd": ts("09:07:30.500"),
                                "segmentType": "interact",
                                "disconnectType": "endpoint",
                            }
                        ],
                    }
                ],
            },
            {
                "participantId": "p2",
                "participantName": "Sales",
                "purpose": "acd",
                "sessions": [
                    {
                        "sessionId": "s2",
                        "mediaType": "voice",
                        "direction": "inbound",
                        "flow": {"flowId": "f1", "flowName": "Main IVR"},
                        "metrics": [
                            {"name": "nOffered", "value": 1, "emitDate": ts("09:00:05.000")},
                            {"name": "tAcd", "value": 20000, "emitDate": ts("09:00:25.000")},
                        ],
                        "segments": [
                            {
                                "segmentStart": ts("09:00:05.000"),
                                "segmentEnd": ts("09:00:25.000"),
                                "segmentType": "interact",
                                "queueId": "q1",
                                "disconnectType": "transfer",
                                "properties": [
                                    {"property": "vip", "propertyType": "bool", "value": "true"},
                                    {"property": "tier", "propertyType": "integer", "value": "3"},
                                ],
                            }
                        ],
                    }
                ],
            },
            {
                "participantId": "p3",
                "participantName": "Jane Agent",
                "purpose": "agent",
                "userId": "u1",
                "sessions": [
                    {
                        "sessionId": "s3",
                        "mediaType": "voice",
                        "direction": "inbound",
                        "metrics": [
                            {"name": "tAlert", "value": 5000, "emitDate": ts("09:00:30.000")},
                            {"name": "tTalk", "value": 360000, "emitDate": ts("09:06:30.000")},
                            {"name": "tTalk", "value": 1000, "emitDate": ts("09:06:31.000")},
                        ],
                        "segments": [
                            {
                                "segmentStart": ts("09:00:25.000"),
                                "segmentEnd": ts("09:00:30.000"),
                                "segmentType": "alert",
                                "queueId": "q2",
                            },
                            {
                                "segmentStart": ts("09:00:30.000"),
                                "segmentEnd": ts("09:06:30.000"),
                                "segmentType": "interact",
                                "queueId": "q1",
                            },
                            {
                                "segmentStart": ts("09:06:30.000"),
                                "segmentEnd": ts("09:07:00.000"),
                                "segmentType": "wrapup",
                                "queueId": "q1",
                                "wrapUpCode": "w1",
                            },
                        ],
                    }
                ],
            },
        ],
    }
    if not ended:
        # As the API shows it mid-call: no conversationEnd, the agent's interact still open.
        del conversation["conversationEnd"]
        del conversation["mediaStatsMinConversationMos"]
        agent_segments = conversation["participants"][2]["sessions"][0]["segments"]
        del agent_segments[2]
        del agent_segments[1]["segmentEnd"]
        del conversation["participants"][0]["sessions"][0]["segments"][0]["segmentEnd"]
    return conversation


def hit(raw: dict[str, Any], rec: dict[str, Any] | None = None, *, job: bool = False) -> bool:
    return matches(record() if rec is None else rec, parse_query(raw, limits=LIMITS, job=job))


def test_no_filters_match_everything() -> None:
    assert hit(body())
    assert hit(body(), {"conversationId": "bare"})


def test_an_and_segment_filter_needs_one_segment_to_satisfy_both_predicates() -> None:
    # q2 appears only on the alert segment; interact segments carry q1.
    assert hit(seg(dim("segmentType", "alert"), dim("queueId", "q2")))
    assert hit(seg(dim("segmentType", "interact"), dim("queueId", "q1")))
    assert not hit(seg(dim("segmentType", "interact"), dim("queueId", "q2")))
    # The same two predicates in two filters are ANDed across segments, so they do match.
    split = body(
        segmentFilters=[
            {"type": "and", "predicates": [dim("segmentType", "interact")]},
            {"type": "and", "predicates": [dim("queueId", "q2")]},
        ]
    )
    assert hit(split)


def test_a_segment_sees_its_session_and_participant() -> None:
    assert hit(seg(dim("purpose", "agent"), dim("userId", "u1"), dim("wrapUpCode", "w1")))
    assert not hit(seg(dim("purpose", "customer"), dim("wrapUpCode", "w1")))
    assert hit(seg(dim("ani", "tel:+15551230000"), dim("disconnectType", "endpoint")))
    assert hit(seg(dim("flowName", "Main IVR"), dim("queueId", "q1")))
    assert not hit(seg(dim("flowId", "f1"), dim("purpose", "agent")))
    assert hit(seg(dim("participantName", "Sales"), dim("direction", "inbound")))


def test_or_clauses() -> None:
    def clauses(*groups: list[dict[str, Any]], kind: str = "or") -> dict[str, Any]:
        return body(
            segmentFilters=[
                {"type": kind, "clauses": [{"type": "and", "predicates": g} for g in groups]}
            ]
        )

    agent_u9 = [dim("purpose", "agent"), dim("userId", "u9")]
    acd_q1 = [dim("purpose", "acd"), dim("queueId", "q1")]
    acd_q7 = [dim("purpose", "acd"), dim("queueId", "q7")]
    assert hit(clauses(agent_u9, acd_q1))
    assert not hit(clauses(agent_u9, acd_q7))
    assert not hit(clauses(agent_u9, acd_q1, kind="and"))
    # The official clause example: an acd voice segment exists.
    assert hit(OFFICIAL_CLAUSE_EXAMPLE)


def test_a_filter_combines_its_predicates_and_clauses_with_its_type() -> None:
    def mixed(kind: str, predicate: dict[str, Any], clause: list[dict[str, Any]]) -> bool:
        return hit(
            body(
                segmentFilters=[
                    {
                        "type": kind,
                        "predicates": [predicate],
                        "clauses": [{"type": "or", "predicates": clause}],
                    }
                ]
            )
        )

    wrapup = dim("segmentType", "wrapup")
    assert mixed("and", wrapup, [dim("wrapUpCode", "w9"), dim("wrapUpCode", "w1")])
    assert not mixed("and", wrapup, [dim("wrapUpCode", "w9"), dim("queueId", "q2")])
    assert mixed("or", dim("segmentType", "hold"), [dim("queueId", "q2")])
    assert not mixed("or", dim("segmentType", "hold"), [dim("queueId", "q9")])


def test_or_filter_of_predicates() -> None:
    assert hit(seg(dim("queueId", "q9"), dim("wrapUpCode", "w1"), kind="or"))
    assert not hit(seg(dim("queueId", "q9"), dim("wrapUpCode", "w9"), kind="or"))


@pytest.mark.parametrize(
    ("predicate", "expected"),
    [
        (metric("tTalk", gte=360000), True),
        (metric("tTalk", gt=360000), False),
        # Two tTalk emissions: 1000 alone satisfies this window.
        (metric("tTalk", gt=500, lt=2000), True),
        (metric("tTalk", gt=2000, lt=300000), False),
        (metric("tAcd", gte=20000, lte=20000), True),
        (metric("tAlert", lt=5000), False),
        (metric("tAbandon", gte=0), False),
        ({"metric": "nOffered", "value": "1"}, True),
        ({"metric": "nOffered", "value": "2"}, False),
        ({"metric": "tAcd", "operator": "exists"}, True),
        ({"metric": "tAbandon", "operator": "exists"}, False),
        ({"metric": "tAbandon", "operator": "notExists"}, True),
        ({"metric": "tTalk", "operator": "notExists"}, False),
    ],
)
def test_conversation_metric_predicates(predicate: dict[str, Any], expected: bool) -> None:
    assert hit(conv(predicate)) is expected


@pytest.mark.parametrize(
    ("predicate", "expected"),
    [
        (dim("divisionId", "d2"), True),
        (dim("divisionId", "d3"), False),
        (dim("divisionId", operator="exists"), True),
        (dim("conversationId", "c1"), True),
        (dim("originatingDirection", "outbound"), False),
        (dim("customerParticipation", "true"), True),
        (dim("customerParticipation", "True"), False),
        (dim("mediaStatsMinConversationMos", "4.38"), True),
        ({"dimension": "mediaStatsMinConversationMos", "range": {"lt": 4}}, False),
        ({"dimension": "mediaStatsMinConversationMos", "range": {"gt": 4, "lte": 4.38}}, True),
        (dim("externalTag", operator="notExists"), True),
        (dim("externalTag", "x"), False),
    ],
)
def test_conversation_dimension_predicates(predicate: dict[str, Any], expected: bool) -> None:
    assert hit(conv(predicate)) is expected


def test_divisionId_on_a_record_without_divisions() -> None:
    rec = record()
    rec["divisionIds"] = []
    assert not hit(conv(dim("divisionId", "d1")), rec)
    assert hit(conv(dim("divisionId", operator="notExists")), rec)


def test_notExists_on_conversationEnd_selects_ongoing_conversations() -> None:
    ongoing = conv(dim("conversationEnd", operator="notExists"))
    assert hit(ongoing, record(ended=False))
    assert not hit(ongoing, record(ended=True))
    assert hit(conv(dim("conversationEnd", operator="exists")), record(ended=True))


def test_official_queue_example_selects_a_conversation_waiting_in_queue() -> None:
    waiting = record(ended=False)
    acd_segment = waiting["participants"][1]["sessions"][0]["segments"][0]
    del acd_segment["segmentEnd"]
    query = parse_query(OFFICIAL_QUEUE_EXAMPLE, limits=LIMITS)
    assert matches(waiting, query)
    # Ongoing, but the only open segment on q1 is the agent's: still an open interact on q1.
    assert matches(record(ended=False), query)
    assert not matches(record(ended=True), query)
    connected = record(ended=False)
    connected["participants"][2]["sessions"][0]["segments"][1]["queueId"] = "q2"
    assert not matches(connected, query)


@pytest.mark.parametrize(
    ("predicate", "ended", "expected"),
    [
        # The acd interact segment lasted exactly 20 s.
        ([metric("tSegmentDuration", gte=20000, lte=20000)], True, True),
        # Durations are 450.5 s, 20 s, 5 s, 360 s and 30 s: none strictly between 20 and 30 s.
        ([metric("tSegmentDuration", gt=20000, lt=30000)], True, False),
        ([metric("tSegmentDuration", gt=400000)], True, True),  # the customer's 450.5 s
        ([metric("tSegmentDuration", gt=500000)], True, False),
        ([dim("segmentType", "alert"), metric("tSegmentDuration", lte=5000)], True, True),
        ([dim("segmentType", "alert"), metric("tSegmentDuration", lt=5000)], True, False),
        # Open segments have no duration.
        (
            [dim("purpose", "customer"), {"metric": "tSegmentDuration", "operator": "exists"}],
            False,
            False,
        ),
        (
            [dim("purpose", "customer"), {"metric": "tSegmentDuration", "operator": "notExists"}],
            False,
            True,
        ),
        (
            [dim("purpose", "customer"), {"metric": "tSegmentDuration", "operator": "exists"}],
            True,
            True,
        ),
    ],
)
def test_tSegmentDuration(predicate: list[dict[str, Any]], ended: bool, expected: bool) -> None:
    assert hit(seg(*predicate), record(ended=ended)) is expected


def test_tSegmentDuration_bound_is_exclusive_where_asked() -> None:
    rec = record()
    # Leave only the agent's segments: alert 5 s, interact 360 s, wrap-up 30 s.
    rec["participants"] = rec["participants"][2:]
    assert not hit(seg(metric("tSegmentDuration", gt=5000, lt=30000)), rec)
    assert hit(seg(metric("tSegmentDuration", gt=5000, lte=30000)), rec)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T09:00:00Z/2024-05-01T10:00:00Z", True),
        ("2024-05-01T08:00:00Z/2024-05-01T09:00:00Z", False),  # end is exclusive
        ("2024-05-01T08:00:00Z/2024-05-01T09:00:00.001Z", True),
        ("2024-05-01T10:00:00+02:00/2024-05-01T11:00:00+02:00", False),
        ("2024-05-01T11:00:00+02:00/2024-05-01T12:00:00+02:00", True),
        ("2024-05-01T09:00:00.000Z", True),
        ("2024-05-01T11:00:00+02:00", True),
        ("2024-05-01T09:00:00.001Z", False),
    ],
)
def test_date_interval_matching_on_conversationStart(value: str, expected: bool) -> None:
    assert hit(conv(dim("conversationStart", value))) is expected


def test_date_range_compares_epoch_ms() -> None:
    start_ms = parse_interval("2024-05-01T09:00:00Z/2024-05-01T09:00:01Z")[0]
    assert hit(conv({"dimension": "conversationStart", "range": {"gte": start_ms}}))
    assert not hit(conv({"dimension": "conversationStart", "range": {"gt": start_ms}}))


def test_segmentEnd_interval_needs_one_segment_ending_in_it() -> None:
    assert hit(seg(dim("segmentEnd", "2024-05-01T09:06:00Z/2024-05-01T09:06:31Z")))
    assert not hit(seg(dim("segmentEnd", "2024-05-01T09:01:00Z/2024-05-01T09:06:00Z")))


def test_property_predicates() -> None:
    def prop(name: str, kind: str, **rest: Any) -> dict[str, Any]:
        return seg({"property": name, "propertyType": kind, **rest}, dim("queueId", "q1"))

    assert hit(prop("vip", "bool", value="true"))
    assert not hit(prop("vip", "bool", value="false"))
    assert hit(prop("tier", "integer", range={"gte": 3}))
    assert not hit(prop("tier", "integer", range={"gt": 3}))
    assert hit(prop("tier", "integer", value="3"))
    # A property of the same name but another type is a different property.
    assert not hit(prop("tier", "string", value="3"))
    assert hit(prop("vip", "bool", operator="exists"))
    assert hit(prop("absent", "string", operator="notExists"))


def test_families_without_data_see_nothing() -> None:
    def family(name: str, predicate: dict[str, Any]) -> dict[str, Any]:
        return body(**{name: [{"type": "and", "predicates": [predicate]}]})

    assert hit(family("evaluationFilters", dim("evaluationId", operator="notExists")))
    assert not hit(family("evaluationFilters", dim("evaluationId", operator="exists")))
    assert not hit(family("evaluationFilters", metric("oTotalScore", gte=0)))
    assert not hit(family("surveyFilters", dim("surveyStatus", "Finished")))
    assert hit(family("surveyFilters", {"metric": "oSurveyTotalScore", "operator": "notExists"}))
    assert not hit(family("resolutionFilters", {"metric": "nNextContactAvoided", "value": "1"}))


def test_all_families_and_filters_are_anded() -> None:
    both = body(
        conversationFilters=[{"type": "and", "predicates": [dim("divisionId", "d1")]}],
        segmentFilters=[{"type": "and", "predicates": [dim("wrapUpCode", "w1")]}],
    )
    assert hit(both)
    rec = record()
    rec["divisionIds"] = ["d9"]
    assert not hit(both, rec)
    assert not hit(
        body(
            segmentFilters=[{"type": "and", "predicates": [dim("wrapUpCode", "w1")]}],
            evaluationFilters=[{"type": "and", "predicates": [dim("formId", "f")]}],
        )
    )


def test_list_valued_segment_fields_match_any_entry() -> None:
    rec = record()
    acd_segment = rec["participants"][1]["sessions"][0]["segments"][0]
    acd_segment["sipResponseCodes"] = [180, 200]
    acd_segment["scoredAgents"] = [{"scoredAgentId": "u7", "agentScore": 80}]
    rec["participants"][1]["sessions"][0]["flow"]["outcomes"] = [
        {"flowOutcomeId": "o1", "flowOutcomeValue": "SUCCESS"}
    ]
    assert hit(seg(dim("sipResponseCode", "200"), dim("queueId", "q1")), rec)
    assert not hit(seg(dim("sipResponseCode", "486")), rec)
    assert hit(seg(dim("scoredAgentId", "u7")), rec)
    assert hit(seg(dim("flowOutcomeId", "o1"), dim("flowOutcomeValue", "SUCCESS")), rec)
    assert not hit(seg(dim("flowOutcomeId", "o2")), rec)


def test_matches_does_not_mutate_the_record_nor_the_query() -> None:
    rec = record()
    before = copy.deepcopy(rec)
    query = parse_query(seg(dim("queueId", "q1"), metric("tSegmentDuration", gt=0)), limits=LIMITS)
    assert matches(rec, query)
    assert matches(rec, query)
    assert rec == before


class _Untouchable(list[Any]):
    def __iter__(self) -> Iterator[Any]:
        raise AssertionError("participants were read although no filter needs them")


def test_segments_are_not_built_for_conversation_dimension_filters() -> None:
    rec = record(ended=False)
    rec["participants"] = _Untouchable()
    assert hit(conv(dim("conversationEnd", operator="notExists")), rec)


def test_records_rendered_by_the_sandbox_are_evaluated() -> None:
    # Hand-built timeline through records.render, so the filters read the shape the server feeds.
    t0 = 1_714_554_000_000  # 2024-05-01T09:00:00Z
    acd = Participant(
        "p2",
        "acd",
        (Session("s2", "voice", "inbound", (Segment(t0 + 5_000, t0 + 60_000, "interact", "q1"),)),),
    )
    call = Conversation("c1", t0, t0 + 120_000, "inbound", ("d1",), (acd,))
    query = parse_query(OFFICIAL_QUEUE_EXAMPLE, limits=LIMITS)
    assert matches(render(call, t0 + 30_000, with_attributes=False), query)
    assert not matches(render(call, t0 + 90_000, with_attributes=False), query)
