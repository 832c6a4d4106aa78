"""Validation of the analytics details-query body and evaluation of its filters.

``parse_query`` turns a JSON body (``ConversationQuery``, reference §4.1, or with ``job=True``
``AsyncConversationQuery``, §5.1) into a ``ParsedQuery`` or raises ``BodyError`` carrying the 400
the real API would give (§9). The filters are compiled once into closures so that ``matches``
can test thousands of rendered detail records (``records.render``, §7) per request cheaply.

Error codes (§9 and its emulator advice): a value outside an enumeration or an unknown
dimension/metric name -> ``invalid.value`` with the §9 wording; an unparseable date ->
``invalid.date``; any other malformed body (wrong JSON type, unknown key, missing field, limits
exceeded) -> ``bad.request``. Every message names the offending field by its path in the body,
e.g. ``segmentFilters[0].predicates[1].dimension``.

Stated assumptions of the emulator (the reference marks these UNVERIFIED or is silent):

* Intervals are half-open ``[start, end)``; instants are truncated to whole milliseconds; an
  instant without ``Z`` or an offset is rejected (``invalid.date``).
* The maximum page size, interval length and reachable results are the configurable
  ``QueryLimits``; ``paging`` is rejected once its first result lies at or beyond
  ``max_results``. A synchronous query without any filter may span at most
  ``max_unfiltered_interval_days`` (7, as Genesys documents, §13), one with a filter of any
  family ``max_interval_days`` (31); job bodies only the latter.
* ``null`` for an optional field means the field is absent (as the Genesys JSON binding does).
* All filters of all families are ANDed, including several entries of one ``…Filters`` array.
  A filter of type and/or combines its predicates and its clauses (each clause being and/or over
  its own predicates) with the filter's type.
* ``conversationFilters`` read conversation-level fields of the record. ``divisionId`` and
  ``accessAttribute`` read the lists ``divisionIds`` / ``accessAttributes`` (any entry may
  match). A metric predicate holds when ANY session metric of that name, on any participant or
  session, satisfies it; ``notExists`` holds when no metric of that name was emitted.
* ``segmentFilters``: the whole filter must be satisfied by at least ONE segment. A segment sees
  its own fields, its session's fields (``flow.*`` as ``flowId``, ``flowName``, ``exitReason``
  …, ``flow.outcomes[]`` as ``flowOutcome``/``flowOutcomeId``/``flowOutcomeValue``) and its
  participant's fields (``purpose``, ``userId``, ``participantName``, ``teamId`` …); on a name
  clash the most specific level wins. Plural record lists answer for their singular dimension
  (``sipResponseCodes`` -> ``sipResponseCode``, ``scoredAgents[].scoredAgentId`` ->
  ``scoredAgentId`` …). The only metric, ``tSegmentDuration``, is ``segmentEnd - segmentStart``
  in ms and does not exist for an open segment. A property predicate reads the segment's
  ``properties[]`` entries of that name whose ``propertyType`` (when stated) is the predicate's.
* evaluation/survey/resolution families: the emulated records carry no evaluations, surveys or
  resolutions, so their predicates see nothing: ``notExists`` is true, everything else false.
* ``mediaEndpointStatFilters`` (§13) are validated like the others, their predicates taking only
  the SDK's dimensions (``MEDIA_ENDPOINT_STAT_DIMENSIONS``), but the sandbox does not filter on
  them: every record passes. Its records carry no ``mediaEndpointStats`` while real voice
  records do, so predicates that saw nothing would select what Genesys would not. They still
  count as a filter for the interval limit.
* Values: strings compare exactly (case-sensitive); booleans as ``"true"``/``"false"``; numbers
  compare numerically with a ``value`` that parses as a number; a list matches when any entry
  does; ``exists`` means present, not null and not an empty list. A ``range`` holds when every
  bound given holds; it applies to numbers, to date fields as epoch milliseconds and to
  integer/real properties whose value is a numeric string.
* Date dimensions (``DATE_DIMENSIONS`` and properties of type ``date``): a ``value`` must be an
  interval ``a/b`` (true when the instant is in ``[a, b)``) or a single instant (true on equality
  to the millisecond); anything else is ``invalid.date`` at parse time.
* ``order``/``orderBy`` are validated here but applied by the server; ``aggregations`` is only
  checked to be a list of objects.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Final

from app import vocabulary as voc

MS_PER_DAY: Final = 86_400_000

# MediaEndpointStatDetailQueryPredicate.dimension in the Python SDK; the family has no metrics
# and no properties. Only the sandbox reads it, so it lives here rather than in app.vocabulary.
MEDIA_ENDPOINT_STAT_DIMENSIONS: Final = frozenset(
    {
        "codec",
        "discardedPackets",
        "duplicatePackets",
        "eventTime",
        "invalidPackets",
        "maxLatencyMs",
        "minMos",
        "minRFactor",
        "overrunPackets",
        "receivedPackets",
        "underrunPackets",
    }
)
_MEDIA_ENDPOINT_STAT_FILTERS: Final = "mediaEndpointStatFilters"
# Every filter family of the body: (dimensions, metrics, properties allowed).
FILTER_FAMILIES: Final[dict[str, tuple[frozenset[str], frozenset[str], bool]]] = {
    **voc.FILTER_FAMILIES,
    _MEDIA_ENDPOINT_STAT_FILTERS: (MEDIA_ENDPOINT_STAT_DIMENSIONS, frozenset(), False),
}

# The aggregates query's one ``filter`` (§6.1): the same grammar, dimension predicates only.
AGGREGATE_FILTER: Final = "filter"
_FAMILY_RULES: Final = {
    **FILTER_FAMILIES,
    AGGREGATE_FILTER: (voc.AGGREGATE_DIMENSIONS, frozenset[str](), False),
}

# Dimensions whose values are instants; "matches" on them takes an instant or an interval.
DATE_DIMENSIONS: Final = frozenset(
    {
        "conversationStart",
        "conversationEnd",
        "segmentStart",
        "segmentEnd",
        "callbackScheduledTime",
        "eventTime",
        "surveyCompletedDate",
    }
)

_FILTER_KEYS: Final = frozenset({"type", "predicates", "clauses"})
_CLAUSE_KEYS: Final = frozenset({"type", "predicates"})
_PREDICATE_KEYS: Final = frozenset(
    {"type", "dimension", "metric", "property", "propertyType", "operator", "value", "range"}
)
_KINDS: Final = ("dimension", "metric", "property")
_MAX_LISTED: Final = 12

_INSTANT_RE: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})"
)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)
_DATE_HINT: Final = (
    "Dates must be specified as ISO-8601 strings with a time zone, "
    "e.g. 2024-05-01T00:00:00.000Z or 2024-05-01T02:00:00+02:00"
)


class BodyError(Exception):
    """A 400 the real API would give. The server turns it into the Genesys error body."""

    code: str
    message: str
    status: int

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def __repr__(self) -> str:
        return f"BodyError({self.code!r}, {self.message!r}, {self.status})"


@dataclass(frozen=True, slots=True)
class QueryLimits:
    max_page_size: int = 100
    default_page_size: int = 25
    max_interval_days: float = 31.0
    # A synchronous query without filters; capped by max_interval_days when that is smaller.
    max_unfiltered_interval_days: float = 7.0
    max_results: int = 100_000  # (pageNumber - 1) * pageSize at or beyond this -> 400


@dataclass(frozen=True, slots=True)
class Range:
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None

    def holds(self, x: float) -> bool:
        return (
            (self.gt is None or x > self.gt)
            and (self.gte is None or x >= self.gte)
            and (self.lt is None or x < self.lt)
            and (self.lte is None or x <= self.lte)
        )


@dataclass(frozen=True, slots=True)
class Predicate:
    kind: str  # "dimension" | "metric" | "property"
    name: str
    operator: str = "matches"
    value: str | None = None
    range: Range | None = None
    property_type: str | None = None


@dataclass(frozen=True, slots=True)
class Clause:
    type: str
    predicates: tuple[Predicate, ...]


@dataclass(frozen=True, slots=True)
class Filter:
    type: str
    predicates: tuple[Predicate, ...] = ()
    clauses: tuple[Clause, ...] = ()


def _always(record: Mapping[str, Any]) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class QueryFilters:
    """The validated filters of every family, plus their compiled conjunction."""

    conversation: tuple[Filter, ...] = ()
    segment: tuple[Filter, ...] = ()
    evaluation: tuple[Filter, ...] = ()
    survey: tuple[Filter, ...] = ()
    resolution: tuple[Filter, ...] = ()
    media_endpoint_stat: tuple[Filter, ...] = ()  # validated, never applied
    check: Callable[[Mapping[str, Any]], bool] = field(default=_always, repr=False, compare=False)

    @property
    def empty(self) -> bool:
        """True when no filter can reject a record, so every record matches."""
        return not (
            self.conversation or self.segment or self.evaluation or self.survey or self.resolution
        )

    @property
    def given(self) -> bool:
        """True when the body has a filter of any family, applied or not."""
        return not self.empty or bool(self.media_endpoint_stat)


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    start_ms: int  # interval, epoch ms, half-open [start, end)
    end_ms: int
    page_size: int  # 0 for job bodies
    page_number: int  # 1-based; 0 for job bodies
    order: str = "asc"
    order_by: str = "conversationStart"
    filters: QueryFilters = QueryFilters()
    limit: int | None = None  # job bodies only
    start_of_day_interval_matching: bool = False  # job bodies only


# ---------------------------------------------------------------------------------------------
# Errors


def bad_request(path: str, text: str) -> BodyError:
    return BodyError("bad.request", f"{path}: {text}" if path else text)


def _allowable(value: object, allowed: frozenset[str]) -> str:
    names = sorted(allowed)
    if len(names) <= _MAX_LISTED:
        return ", ".join(names)
    # Put near-misses (queueID -> queueId) first so the fix is visible in a shortened list.
    by_lower = {n.lower(): n for n in names}
    close = [
        by_lower[m]
        for m in difflib.get_close_matches(str(value).lower(), list(by_lower), n=3, cutoff=0.6)
    ]
    shown = close + [n for n in names if n not in close][: _MAX_LISTED - len(close)]
    return f"{', '.join(shown)} (and {len(names) - len(shown)} more)"


def invalid_value(path: str, value: object, field_type: str, allowed: frozenset[str]) -> BodyError:
    return BodyError(
        "invalid.value",
        f"Value [{value}] is not valid for field type [{field_type}]. "
        f"Allowable values are: {_allowable(value, allowed)}. (at {path})",
    )


# The synthetic data is generated per hour since the Unix epoch; far-off years are refused
# rather than generated (or crashing the generator).
_EARLIEST_MS: Final = 31_536_000_000  # 1971-01-01
_LATEST_MS: Final = 7_258_118_400_000  # 2200-01-01


def invalid_date(path: str, text: object) -> BodyError:
    return BodyError("invalid.date", f"{_DATE_HINT}. Invalid value [{text}] at {path}")


# ---------------------------------------------------------------------------------------------
# Dates


def _parse_instant(text: str) -> int | None:
    """Epoch ms of a strict ISO-8601 instant with a zone, or None."""
    if not _INSTANT_RE.fullmatch(text):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment - _EPOCH) // _ONE_MS


@lru_cache(maxsize=65_536)
def _record_instant_ms(text: str) -> int | None:
    # Record timestamps repeat across requests for the same conversations; caching the parse
    # keeps date predicates at a dictionary lookup.
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _ONE_MS


def _instant_of(x: object) -> int | None:
    return _record_instant_ms(x) if isinstance(x, str) else None


def _interval_at(text: str, path: str) -> tuple[int, int]:
    parts = text.split("/")
    if len(parts) != 2:
        raise invalid_date(path, text)
    start = _parse_instant(parts[0])
    end = _parse_instant(parts[1])
    if start is None or end is None:
        raise invalid_date(path, text)
    if not (start >= _EARLIEST_MS and end <= _LATEST_MS):
        raise BodyError(
            "invalid.date",
            f"The interval [{text}] lies outside the years 1971-2199 the sandbox serves "
            f"(at {path})",
        )
    if end <= start:
        raise bad_request(path, f"the interval [{text}] ends before or when it starts")
    return start, end


def parse_interval(text: str) -> tuple[int, int]:
    """``"<start>/<end>"`` (ISO-8601 with ``Z`` or an offset) -> epoch ms ``(start, end)``."""
    return _interval_at(text, "interval")


# ---------------------------------------------------------------------------------------------
# Record views
#
# A view is the mapping a predicate reads names from: the record itself for conversationFilters,
# one merged participant+session+segment dict per segment for segmentFilters, an empty mapping
# for the families whose entities the emulated records never carry.

_EMPTY_VIEW: Final[Mapping[str, Any]] = {}


class _Context:
    """Per-``matches`` call state: things derived from the record, built at most once."""

    __slots__ = ("_metrics", "_segments", "record")

    def __init__(self, record: Mapping[str, Any]) -> None:
        self.record = record
        self._metrics: dict[str, list[Any]] | None = None
        self._segments: list[dict[str, Any]] | None = None

    def metrics(self) -> dict[str, list[Any]]:
        if self._metrics is None:
            index: dict[str, list[Any]] = {}
            for participant in self.record.get("participants") or ():
                for session in participant.get("sessions") or ():
                    for metric in session.get("metrics") or ():
                        index.setdefault(metric.get("name"), []).append(metric.get("value"))
            self._metrics = index
        return self._metrics

    def segments(self) -> list[dict[str, Any]]:
        if self._segments is None:
            views: list[dict[str, Any]] = []
            for participant in self.record.get("participants") or ():
                for session in participant.get("sessions") or ():
                    # Participant and session keys such as "sessions"/"segments" ride along
                    # unread: no dimension has those names, and skipping them would cost more.
                    base = {**participant, **session}
                    views.extend({**base, **segment} for segment in session.get("segments") or ())
            self._segments = views
        return self._segments


Getter = Callable[[Mapping[str, Any], _Context], Any]
Check = Callable[[Mapping[str, Any], _Context], bool]

_CONVERSATION_LISTS: Final = {"divisionId": "divisionIds", "accessAttribute": "accessAttributes"}
_SEGMENT_LISTS: Final = {
    "callbackNumber": "callbackNumbers",
    "requestedRouting": "requestedRoutings",
    "requestedRoutingSkillId": "requestedRoutingSkillIds",
    "sipResponseCode": "sipResponseCodes",
}
_FLOW_FIELDS: Final = frozenset(
    {
        "flowId",
        "flowName",
        "flowVersion",
        "exitReason",
        "transferType",
        "transferTargetName",
        "transferTargetAddress",
    }
)
_FLOW_OUTCOME_FIELDS: Final = frozenset({"flowOutcome", "flowOutcomeId", "flowOutcomeValue"})


def _field_getter(key: str) -> Getter:
    def get(view: Mapping[str, Any], ctx: _Context) -> Any:
        return view.get(key)

    return get


def _flow_getter(name: str) -> Getter:
    def get(view: Mapping[str, Any], ctx: _Context) -> Any:
        own = view.get(name)
        if own is not None:
            return own
        flow = view.get("flow")
        return flow.get(name) if isinstance(flow, Mapping) else None

    return get


def _flow_outcome_getter(name: str) -> Getter:
    def get(view: Mapping[str, Any], ctx: _Context) -> Any:
        flow = view.get("flow")
        if not isinstance(flow, Mapping):
            return None
        return [o.get(name) for o in flow.get("outcomes") or () if isinstance(o, Mapping)]

    return get


def _scored_agent_getter(view: Mapping[str, Any], ctx: _Context) -> Any:
    return [
        a.get("scoredAgentId") for a in view.get("scoredAgents") or () if isinstance(a, Mapping)
    ]


def _segment_duration_getter(view: Mapping[str, Any], ctx: _Context) -> Any:
    end = _instant_of(view.get("segmentEnd"))
    start = _instant_of(view.get("segmentStart"))
    return None if end is None or start is None else end - start


def _conversation_metric_getter(name: str) -> Getter:
    def get(view: Mapping[str, Any], ctx: _Context) -> Any:
        return ctx.metrics().get(name)

    return get


def _property_getter(name: str, property_type: str) -> Getter:
    def get(view: Mapping[str, Any], ctx: _Context) -> Any:
        return [
            p.get("value")
            for p in view.get("properties") or ()
            if isinstance(p, Mapping)
            and p.get("property") == name
            and p.get("propertyType", property_type) == property_type
        ]

    return get


def _nothing(view: Mapping[str, Any], ctx: _Context) -> Any:
    return None


def _getter(family: str, predicate: Predicate) -> Getter:
    name = predicate.name
    if family == "conversationFilters":
        if predicate.kind == "metric":
            return _conversation_metric_getter(name)
        return _field_getter(_CONVERSATION_LISTS.get(name, name))
    if family == "segmentFilters":
        if predicate.kind == "metric":  # tSegmentDuration is the only segment metric
            return _segment_duration_getter
        if predicate.kind == "property":
            return _property_getter(name, predicate.property_type or "")
        if name in _FLOW_FIELDS:
            return _flow_getter(name)
        if name in _FLOW_OUTCOME_FIELDS:
            return _flow_outcome_getter(name)
        if name == "scoredAgentId":
            return _scored_agent_getter
        return _field_getter(_SEGMENT_LISTS.get(name, name))
    return _nothing


# ---------------------------------------------------------------------------------------------
# Value tests


def _as_number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _is_number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _value_test(
    predicate: Predicate, is_date: bool, numeric_strings: bool
) -> Callable[[Any], bool]:
    """The test one scalar field value must pass for ``matches``."""
    bounds = predicate.range
    if bounds is not None:

        def in_range(x: Any) -> bool:
            if _is_number(x):
                return bounds.holds(x)
            if isinstance(x, str):
                number = _instant_of(x) if is_date else _as_number(x) if numeric_strings else None
                return number is not None and bounds.holds(number)
            return False

        return in_range

    wanted = predicate.value or ""
    if is_date:
        lo, hi = _date_span(wanted, "")

        def in_span(x: Any) -> bool:
            instant = _instant_of(x)
            return instant is not None and lo <= instant < hi

        return in_span

    wanted_number = _as_number(wanted)

    def equal(x: Any) -> bool:
        if isinstance(x, str):
            return x == wanted
        if isinstance(x, bool):
            return ("true" if x else "false") == wanted
        if _is_number(x):
            return wanted_number is not None and x == wanted_number
        return False

    return equal


def _date_span(text: str, path: str) -> tuple[int, int]:
    """An interval ``a/b`` as ``[a, b)``; a single instant as the millisecond it names."""
    if "/" in text:
        return _interval_at(text, path)
    instant = _parse_instant(text)
    if instant is None:
        raise invalid_date(path, text)
    return instant, instant + 1


def _present(x: Any) -> bool:
    if isinstance(x, list):
        return any(item is not None for item in x)
    return x is not None


def _compile_predicate(family: str, predicate: Predicate) -> Check:
    get = _getter(family, predicate)
    if predicate.operator == "exists":
        return lambda view, ctx: _present(get(view, ctx))
    if predicate.operator == "notExists":
        return lambda view, ctx: not _present(get(view, ctx))

    is_date = (predicate.kind == "dimension" and predicate.name in DATE_DIMENSIONS) or (
        predicate.property_type == "date"
    )
    test = _value_test(predicate, is_date, predicate.property_type in ("integer", "real"))

    def check(view: Mapping[str, Any], ctx: _Context) -> bool:
        x = get(view, ctx)
        if isinstance(x, list):
            return any(test(item) for item in x)
        return x is not None and test(x)

    return check


def _combine(kind: str, checks: Sequence[Check]) -> Check:
    parts = tuple(checks)
    if len(parts) == 1:
        return parts[0]
    if kind == "and":

        def all_of(view: Mapping[str, Any], ctx: _Context) -> bool:
            return all(part(view, ctx) for part in parts)

        return all_of

    def any_of(view: Mapping[str, Any], ctx: _Context) -> bool:
        return any(part(view, ctx) for part in parts)

    return any_of


def _compile_filter(family: str, spec: Filter) -> Check:
    parts = [_compile_predicate(family, p) for p in spec.predicates]
    parts.extend(
        _combine(c.type, [_compile_predicate(family, p) for p in c.predicates])
        for c in spec.clauses
    )
    return _combine(spec.type, parts)


RecordCheck = Callable[[Mapping[str, Any], _Context], bool]


def _family_check(family: str, check: Check) -> RecordCheck:
    if family == "conversationFilters":
        return check
    if family == "segmentFilters":
        # One segment must satisfy the whole filter: an "and" of two predicates met by two
        # different segments does not select the conversation.
        return lambda record, ctx: any(check(view, ctx) for view in ctx.segments())
    return lambda record, ctx: check(_EMPTY_VIEW, ctx)


def _compile_all(
    families: Sequence[tuple[str, tuple[Filter, ...]]],
) -> Callable[[Mapping[str, Any]], bool]:
    checks = tuple(
        _family_check(family, _compile_filter(family, spec))
        for family, specs in families
        for spec in specs
    )
    if not checks:
        return _always

    def check_record(record: Mapping[str, Any]) -> bool:
        ctx = _Context(record)
        return all(check(record, ctx) for check in checks)

    return check_record


def matches(record: Mapping[str, Any], query: ParsedQuery) -> bool:
    """Whether a rendered conversation record satisfies every filter of ``query``."""
    return query.filters.check(record)


# ---------------------------------------------------------------------------------------------
# Body validation


def reject_unknown(obj: Mapping[str, Any], allowed: frozenset[str], path: str, what: str) -> None:
    unknown = [k for k in obj if k not in allowed]
    if unknown:
        listed = ", ".join(str(k) for k in unknown)
        raise bad_request(
            path,
            f"unrecognized field(s) [{listed}] in {what}; allowed fields: "
            f"{', '.join(sorted(allowed))}",
        )


def _object(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise bad_request(path, f"must be a JSON object, got {type(value).__name__}")
    return value


def _list(value: object, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise bad_request(path, f"must be a JSON array, got {type(value).__name__}")
    return value


def _int(value: object, path: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad_request(path, f"must be an integer, got {value!r}")
    return value


def _enum(value: object, allowed: frozenset[str], path: str, field_type: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise invalid_value(path, value, field_type, allowed)
    return value


def _parse_range(value: object, path: str) -> Range:
    obj = _object(value, path)
    reject_unknown(obj, voc.RANGE_KEYS, path, "a range")
    if not obj:
        raise bad_request(path, "a range needs at least one of gt, gte, lt, lte")
    bounds: dict[str, float] = {}
    for key, bound in obj.items():
        if not _is_number(bound) or not math.isfinite(bound):
            raise bad_request(f"{path}.{key}", f"must be a number, got {bound!r}")
        bounds[key] = bound
    return Range(**bounds)


def _parse_predicate(raw: object, family: str, path: str) -> Predicate:
    obj = _object(raw, path)
    reject_unknown(obj, _PREDICATE_KEYS, path, "a predicate")
    dimensions, metrics, properties_allowed = _FAMILY_RULES[family]

    kinds = [k for k in _KINDS if obj.get(k) is not None]
    if len(kinds) != 1:
        raise bad_request(path, "a predicate needs exactly one of dimension, metric, property")
    kind = kinds[0]
    name = obj[kind]
    if not isinstance(name, str):
        raise bad_request(f"{path}.{kind}", f"must be a string, got {name!r}")

    declared = obj.get("type")
    if declared is not None:
        _enum(declared, voc.PREDICATE_TYPES, f"{path}.type", "type")
        if declared != kind:
            raise bad_request(
                f"{path}.type", f"type [{declared}] contradicts the {kind} [{name}] given"
            )

    property_type: str | None = None
    if kind == "property":
        if not properties_allowed:
            raise bad_request(
                f"{path}.property", f"property predicates are not allowed in {family}"
            )
        if obj.get("propertyType") is None:
            raise bad_request(path, f"property [{name}] needs a propertyType")
        property_type = _enum(
            obj["propertyType"], voc.PROPERTY_TYPES, f"{path}.propertyType", "propertyType"
        )
    elif obj.get("propertyType") is not None:
        raise bad_request(f"{path}.propertyType", "propertyType is only allowed with property")
    elif kind == "dimension":
        _enum(name, dimensions, f"{path}.dimension", "dimension")
    elif not metrics:
        raise bad_request(f"{path}.metric", f"metric predicates are not allowed in {family}")
    else:
        _enum(name, metrics, f"{path}.metric", "metric")

    operator = obj.get("operator")
    operator = "matches" if operator is None else operator
    operator = _enum(operator, voc.OPERATORS, f"{path}.operator", "operator")

    value = obj.get("value")
    raw_range = obj.get("range")
    if operator != "matches":
        if value is not None or raw_range is not None:
            raise bad_request(path, f"operator [{operator}] takes no value or range")
        return Predicate(kind, name, operator, property_type=property_type)
    if (value is None) == (raw_range is None):
        raise bad_request(path, f"operator [matches] on [{name}] needs exactly one of value, range")
    if raw_range is not None:
        bounds = _parse_range(raw_range, f"{path}.range")
        return Predicate(kind, name, operator, range=bounds, property_type=property_type)
    if not isinstance(value, str):
        raise bad_request(f"{path}.value", f"must be a string, got {value!r}")
    if kind == "dimension" and name in voc.ENUM_DIMENSIONS:
        _enum(value, voc.ENUM_DIMENSIONS[name], f"{path}.value", name)
    if (kind == "dimension" and name in DATE_DIMENSIONS) or property_type == "date":
        _date_span(value, f"{path}.value")  # fail at parse time, not silently per record
    return Predicate(kind, name, operator, value=value, property_type=property_type)


def _predicates(obj: Mapping[str, Any], family: str, path: str) -> tuple[Predicate, ...]:
    raw = obj.get("predicates")
    if raw is None:
        return ()
    items = _list(raw, f"{path}.predicates")
    return tuple(
        _parse_predicate(item, family, f"{path}.predicates[{i}]") for i, item in enumerate(items)
    )


def _filter_type(obj: Mapping[str, Any], path: str) -> str:
    if obj.get("type") is None:
        raise bad_request(path, "type (and|or) is required")
    return _enum(obj["type"], voc.FILTER_TYPES, f"{path}.type", "type")


def _parse_clause(raw: object, family: str, path: str) -> Clause:
    obj = _object(raw, path)
    if "clauses" in obj:
        raise bad_request(
            f"{path}.clauses",
            "clauses nest at most two levels (filter -> clauses -> predicates); "
            "a clause cannot contain clauses",
        )
    reject_unknown(obj, _CLAUSE_KEYS, path, "a clause")
    kind = _filter_type(obj, path)
    predicates = _predicates(obj, family, path)
    if not predicates:
        raise bad_request(path, "a clause needs a non-empty predicates array")
    return Clause(kind, predicates)


def _parse_filter(raw: object, family: str, path: str) -> Filter:
    obj = _object(raw, path)
    reject_unknown(obj, _FILTER_KEYS, path, "a filter")
    kind = _filter_type(obj, path)
    predicates = _predicates(obj, family, path)
    clauses: tuple[Clause, ...] = ()
    if obj.get("clauses") is not None:
        items = _list(obj["clauses"], f"{path}.clauses")
        clauses = tuple(
            _parse_clause(item, family, f"{path}.clauses[{i}]") for i, item in enumerate(items)
        )
    if not predicates and not clauses:
        raise bad_request(path, "a filter needs predicates or clauses")
    return Filter(kind, predicates, clauses)


def parse_aggregate_filter(raw: object) -> Filter:
    """The aggregates query's ``filter`` (§6.1), validated like a detail filter; the caller
    evaluates it on each metric event's dimensions."""
    return _parse_filter(raw, AGGREGATE_FILTER, AGGREGATE_FILTER)


def _parse_filters(body: Mapping[str, Any]) -> QueryFilters:
    families: list[tuple[str, tuple[Filter, ...]]] = []
    for family in FILTER_FAMILIES:
        raw = body.get(family)
        items = [] if raw is None else _list(raw, family)
        families.append(
            (family, tuple(_parse_filter(f, family, f"{family}[{i}]") for i, f in enumerate(items)))
        )
    by_family = dict(families)
    return QueryFilters(
        conversation=by_family["conversationFilters"],
        segment=by_family["segmentFilters"],
        evaluation=by_family["evaluationFilters"],
        survey=by_family["surveyFilters"],
        resolution=by_family["resolutionFilters"],
        media_endpoint_stat=by_family[_MEDIA_ENDPOINT_STAT_FILTERS],
        check=_compile_all([f for f in families if f[0] != _MEDIA_ENDPOINT_STAT_FILTERS]),
    )


def _parse_paging(raw: object, limits: QueryLimits) -> tuple[int, int]:
    if raw is None:
        return limits.default_page_size, 1
    obj = _object(raw, "paging")
    reject_unknown(obj, frozenset({"pageSize", "pageNumber"}), "paging", "paging")
    for key in ("pageSize", "pageNumber"):
        if obj.get(key) is None:
            raise bad_request("paging", f"{key} is required when paging is given")
    size = _int(obj["pageSize"], "paging.pageSize")
    number = _int(obj["pageNumber"], "paging.pageNumber")
    if number < 1:
        raise bad_request(
            "paging.pageNumber", f"must be at least 1 (pages are 1-based), got {number}"
        )
    if not 1 <= size <= limits.max_page_size:
        raise bad_request(
            "paging.pageSize", f"must be between 1 and {limits.max_page_size}, got {size}"
        )
    if (number - 1) * size >= limits.max_results:
        raise bad_request(
            "paging",
            f"paging beyond the maximum of {limits.max_results} results "
            f"(pageNumber {number} x pageSize {size})",
        )
    return size, number


def _parse_job_fields(body: Mapping[str, Any]) -> tuple[int | None, bool]:
    limit = body.get("limit")
    if limit is not None:
        limit = _int(limit, "limit")
        if limit < 1:
            raise bad_request("limit", f"must be at least 1, got {limit}")
    start_of_day = body.get("startOfDayIntervalMatching")
    if start_of_day is None:
        start_of_day = False
    elif not isinstance(start_of_day, bool):
        raise bad_request("startOfDayIntervalMatching", f"must be a boolean, got {start_of_day!r}")
    return limit, start_of_day


def _check_interval_length(
    interval: str, length_ms: int, limits: QueryLimits, *, filtered: bool
) -> None:
    longest, unfiltered = limits.max_interval_days, limits.max_unfiltered_interval_days
    if not filtered and unfiltered < longest and length_ms > unfiltered * MS_PER_DAY:
        raise bad_request(
            "interval",
            f"the interval [{interval}] is longer than the maximum of {unfiltered:g} days "
            f"for a query without filters ({longest:g} days with a filter)",
        )
    if length_ms > longest * MS_PER_DAY:
        raise bad_request(
            "interval",
            f"the interval [{interval}] is longer than the maximum of {longest:g} days",
        )


def body_with_interval(
    body: object, fields: frozenset[str], what: str
) -> tuple[Mapping[str, Any], str]:
    """A query body of only ``fields`` with its required ``interval`` text, or ``BodyError``."""
    if not isinstance(body, Mapping):
        raise bad_request("", f"the query body must be a JSON object, got {type(body).__name__}")
    reject_unknown(body, fields, "", what)
    interval = body.get("interval")
    if interval is None:
        raise bad_request("interval", "interval is required")
    if not isinstance(interval, str):
        raise invalid_date("interval", interval)
    return body, interval


def parse_query(body: object, *, limits: QueryLimits, job: bool = False) -> ParsedQuery:
    """Validate a details-query (or, with ``job``, async-job) body; raise ``BodyError``."""
    what = "an async details job body" if job else "a details query body"
    body, interval = body_with_interval(
        body, voc.JOB_QUERY_FIELDS if job else voc.QUERY_FIELDS, what
    )
    start_ms, end_ms = parse_interval(interval)
    filters = _parse_filters(body)
    _check_interval_length(interval, end_ms - start_ms, limits, filtered=job or filters.given)

    if job:
        page_size, page_number = 0, 0
        limit, start_of_day = _parse_job_fields(body)
    else:
        page_size, page_number = _parse_paging(body.get("paging"), limits)
        limit, start_of_day = None, False
        if body.get("aggregations") is not None:
            for i, item in enumerate(_list(body["aggregations"], "aggregations")):
                _object(item, f"aggregations[{i}]")

    order = body.get("order")
    order_by = body.get("orderBy")
    return ParsedQuery(
        start_ms=start_ms,
        end_ms=end_ms,
        page_size=page_size,
        page_number=page_number,
        order="asc" if order is None else _enum(order, voc.ORDERS, "order", "order"),
        order_by=(
            "conversationStart"
            if order_by is None
            else _enum(order_by, voc.ORDER_BY, "orderBy", "orderBy")
        ),
        filters=filters,
        limit=limit,
        start_of_day_interval_matching=start_of_day,
    )
