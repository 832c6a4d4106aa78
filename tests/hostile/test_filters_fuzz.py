"""Hostile report ``filters`` (issue 7, item 2: the filter builder).

For any ``filters`` a report may be given, either ``check-config`` refuses them with problems
under ``reports[0].filters``, or the query bodies built from them (``details_query`` and
``job_query``) are accepted by an independent reading of the API's grammar: the sandbox's own
body validator, ``app.sandbox.query_body.parse_query``. A filter that validates at start-up
and is then refused with a 400 at 2 a.m. is exactly what the typed filters exist to prevent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import vocabulary
from app.errors import ConfigError
from app.genesys.query import details_query, job_query
from app.models import Window
from app.sandbox.query_body import BodyError, QueryLimits, parse_query
from app.settings import ReportFilters, parse_settings
from tests.hostile.fuzz import FUZZ, UUID

WINDOW = Window(datetime(2024, 5, 1, 8, tzinfo=UTC), datetime(2024, 5, 1, 9, tzinfo=UTC))
FAMILIES = {
    "segment_filters": (vocabulary.SEGMENT_DIMENSIONS, vocabulary.SEGMENT_METRICS),
    "conversation_filters": (vocabulary.CONVERSATION_DIMENSIONS, vocabulary.CONVERSATION_METRICS),
}
_JUNK_NAMES = ["mediatype", "queueID", "wrapupCode", "tTalkz", "", "segment.start", "x" * 40]
_INSTANTS = [
    "2024-05-01T00:00:00Z",
    "2024-05-01T00:00:00.000+02:00",
    "2024-05-01T00:00:00Z/2024-05-02T00:00:00Z",
    "2024-05-02T00:00:00Z/2024-05-01T00:00:00Z",
    "2024-05-01",
    "2024-05-01T00:00:00",
    "yesterday",
    "",
]
_TEXTS = [UUID, UUID.upper(), "not-a-uuid", "voice", "Voice", "inbound", "42", "1.5", "true"]
numbers = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["1.5", "1e400", "abc", True, None]),
)
ranges = st.one_of(
    st.fixed_dictionaries({}, optional=dict.fromkeys(("gt", "gte", "lt", "lte"), numbers)),
    st.sampled_from([{}, {"between": 1}, [1, 2], "1-2", None]),
)


sane_ranges = st.fixed_dictionaries(
    {"gte": st.one_of(st.integers(0, 10**6), st.floats(allow_nan=True, allow_infinity=True))},
    optional={"lt": st.one_of(st.integers(0, 10**6), st.sampled_from(["2.5", "1e400"]))},
)


def _values(name: str, sane: bool = False) -> st.SearchStrategy[Any]:
    enum = sorted(vocabulary.ENUM_DIMENSIONS.get(name, ()))
    plausible = st.sampled_from(enum) if enum else st.sampled_from(_INSTANTS + _TEXTS)
    if sane:
        return plausible
    junk = st.one_of(st.sampled_from(_INSTANTS + _TEXTS), st.text(max_size=6), numbers)
    return st.one_of(plausible, plausible, junk)


@st.composite
def predicates(draw: st.DrawFn, family: str, sane: bool = False) -> dict[str, Any]:
    """A predicate of ``family``; ``sane`` ones use only real names, operators and types, and
    plausible values (dates, numbers, enum values), so that most of them validate."""
    dimensions, metrics = FAMILIES[family]
    junk_names = st.sampled_from(_JUNK_NAMES)
    kinds = ["dimension", "metric"] if sane and family == "conversation_filters" else None
    kind = draw(st.sampled_from(kinds or ["dimension", "dimension", "metric", "property"]))
    predicate: dict[str, Any] = {}
    if kind == "dimension":
        real = st.sampled_from(sorted(dimensions))
        name = draw(real if sane else st.one_of(real, junk_names))
    elif kind == "metric":
        real = st.sampled_from(sorted(metrics))
        name = draw(real if sane else st.one_of(real, junk_names))
    else:
        name = draw(st.sampled_from(["custom.score", "flag", "when", ""]))
        types = ["bool", "integer", "real", "date", "string", "uuid"]
        predicate["propertyType"] = draw(st.sampled_from(types if sane else [*types, "float"]))
    predicate[kind] = name
    if draw(st.booleans()):
        predicate["type"] = draw(
            st.just(kind) if sane else st.sampled_from([kind, kind, "dimension", "metric", "no"])
        )
    operators = [None, None, "matches", "exists", "notExists"]
    operator = draw(st.sampled_from(operators if sane else [*operators, "contains"]))
    if operator is not None:
        predicate["operator"] = operator
    if sane:
        shape = (
            "neither"
            if operator in ("exists", "notExists")
            else draw(st.sampled_from(["value", "range"]))
        )
    else:
        shape = draw(st.sampled_from(["value", "value", "range", "both", "neither"]))
    if shape in ("value", "both"):
        predicate["value"] = draw(_values(name, sane))
    if shape in ("range", "both"):
        predicate["range"] = draw(sane_ranges if sane else ranges)
    if not sane and draw(st.integers(0, 9)) == 0:
        predicate[draw(st.sampled_from(["dimensions", "Value", "propertytype", "x"]))] = 1
    return predicate


def filters_of(family: str, sane: bool = False) -> st.SearchStrategy[Any]:
    preds = st.lists(predicates(family, sane), min_size=1 if sane else 0, max_size=3)
    types = ["and", "or"] if sane else ["and", "or", "xor", "AND"]
    clause: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
        {"type": st.sampled_from(types), "predicates": preds},
        optional={} if sane else {"clauses": st.just([])},
    )
    entry = st.fixed_dictionaries(
        {"type": st.sampled_from(types), "predicates": preds},
        optional={"clauses": st.lists(clause, max_size=2)},
    )
    if sane:
        return st.lists(entry, max_size=2)
    return st.one_of(st.lists(entry, max_size=2), st.sampled_from([None, {}, "x", [None]]))


_IDS = st.lists(st.sampled_from([UUID, UUID.upper(), "not-a-uuid", "", 42]), max_size=3)
report_filters = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "media_types": st.lists(
                st.sampled_from([*sorted(vocabulary.MEDIA_TYPES), "hologram", "Voice"]),
                max_size=3,
            ),
            "queue_ids": _IDS,
            "wrapup_codes": _IDS,
            "user_ids": _IDS,
            "directions": st.lists(st.sampled_from(["inbound", "outbound", "in"]), max_size=2),
            "exclude_ongoing": st.sampled_from([True, False, "yes", 1, None]),
            "segment_filters": filters_of("segment_filters"),
            "conversation_filters": filters_of("conversation_filters"),
            "segmentFilters": st.just([]),
        },
    ),
    st.sampled_from([None, [], "voice", 0]),
)


def _problems(filters: Any) -> list[str] | ReportFilters:
    try:
        settings = parse_settings({"reports": [{"name": "r", "filters": filters}]}, environ={})
    except ConfigError as error:
        return error.problems
    return settings.reports[0].filters


def assert_consistent(filters: Any) -> None:
    """Refused with keys under ``reports[0].filters``, or built into bodies the API accepts."""
    outcome = _problems(filters)
    if isinstance(outcome, list):
        assert outcome
        for problem in outcome:
            assert problem.startswith(("reports[0].filters.", "reports[0].filters:")), problem
        return
    limits = QueryLimits()
    bodies = [
        (details_query(outcome, WINDOW).page(1, 100).body(), False),
        (job_query(outcome, WINDOW).body(), True),
    ]
    for body, job in bodies:
        wire = orjson.loads(orjson.dumps(body))  # what the client sends
        try:
            parse_query(wire, limits=limits, job=job)
        except BodyError as error:
            pytest.fail(
                f"check-config accepted filters {filters!r}, but the API refuses the "
                f"{'job' if job else 'query'} body: {error.code}: {error.message}"
            )


sane_filters = st.fixed_dictionaries(
    {},
    optional={
        "media_types": st.lists(st.sampled_from(sorted(vocabulary.MEDIA_TYPES)), max_size=2),
        "queue_ids": st.lists(st.sampled_from([UUID, UUID.upper()]), max_size=2),
        "directions": st.lists(st.sampled_from(["inbound", "outbound"]), max_size=2),
        "exclude_ongoing": st.booleans(),
        "segment_filters": filters_of("segment_filters", sane=True),
        "conversation_filters": filters_of("conversation_filters", sane=True),
    },
)


@FUZZ
@given(report_filters)
def test_any_filters_are_refused_with_keys_or_accepted_by_the_api(filters: Any) -> None:
    assert_consistent(filters)


@FUZZ
@given(sane_filters)
def test_plausible_filters_are_refused_with_keys_or_accepted_by_the_api(filters: Any) -> None:
    """Real names, operators and types with plausible values: most validate, so this reaches
    the body builder and the API's grammar often."""
    assert_consistent(filters)


def test_the_generator_reaches_valid_filters() -> None:
    """Not vacuous: typical valid filters pass both checks and build non-trivial bodies."""
    filters = {
        "media_types": ["voice"],
        "queue_ids": [UUID.upper()],
        "directions": ["inbound"],
        "exclude_ongoing": True,
        "segment_filters": [
            {
                "type": "or",
                "predicates": [{"dimension": "purpose", "value": "agent"}],
                "clauses": [
                    {
                        "type": "and",
                        "predicates": [{"metric": "tSegmentDuration", "range": {"gt": 1}}],
                    }
                ],
            }
        ],
    }
    assert_consistent(filters)
    outcome = _problems(filters)
    assert isinstance(outcome, ReportFilters)
    body = details_query(outcome, WINDOW).body()
    assert len(body["segmentFilters"]) == 3 and len(body["conversationFilters"]) == 2


def _segment(predicate: dict[str, Any]) -> dict[str, Any]:
    return {"segment_filters": [{"type": "and", "predicates": [predicate]}]}


def _conversation(predicate: dict[str, Any]) -> dict[str, Any]:
    return {"conversation_filters": [{"type": "and", "predicates": [predicate]}]}


@pytest.mark.parametrize(
    "filters",
    [
        _segment({"dimension": "segmentEnd", "value": "yesterday"}),
        _segment({"dimension": "segmentStart", "value": "2024-05-01"}),
        _conversation({"dimension": "conversationStart", "value": "2024-05-01T00:00:00"}),
        _conversation({"dimension": "conversationEnd", "value": "soon/later"}),
        _segment({"property": "when", "propertyType": "date", "value": "tomorrow"}),
        _segment({"metric": "tSegmentDuration", "range": {"gt": float("inf")}}),
        _segment({"metric": "tSegmentDuration", "range": {"lt": float("nan")}}),
        _conversation({"metric": "tHandle", "range": {"gte": "1e400"}}),
    ],
    ids=[
        "segmentEnd not a date",
        "segmentStart a date without time",
        "conversationStart without offset",
        "conversationEnd interval of words",
        "date property not a date",
        "range gt inf",
        "range lt nan",
        "range 1e400 as text",
    ],
)
def test_filters_the_api_refuses_are_refused_at_start_up(filters: dict[str, Any]) -> None:
    """Dates and ranges the API refuses (400 ``invalid.date`` / ``bad.request``)."""
    assert_consistent(filters)


def test_window_is_not_part_of_the_filters() -> None:
    """The interval comes from the window, whatever the filters say."""
    outcome = _problems({"exclude_ongoing": True})
    assert isinstance(outcome, ReportFilters)
    window = Window(WINDOW.start, WINDOW.start + timedelta(days=31))
    parsed = parse_query(details_query(outcome, window).body(), limits=QueryLimits())
    assert parsed.end_ms - parsed.start_ms == 31 * 86_400_000
