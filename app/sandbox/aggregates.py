"""The aggregates query (reference §6) in the sandbox: Genesys' own numbers, from the sandbox's
conversations, for a report's reconciliation (report-semantics §7) to agree or disagree with.

It must not import the product's pipeline: two implementations that shared code could share a
mistake, and a reconciliation between them would prove nothing. It reads the sandbox's internal
conversation model as the API shows it now (the visibility rules of ``records.render``: a metric
once emitted, a segment once started, a wrap-up code once its segment has ended).

Stated assumptions of the emulator (Genesys documents the shape, not every rule):

* A metric event ``{name, value, emitDate}`` counts in the bucket holding its ``emitDate``, for
  every conversation however long ago it started (Genesys counts events of any age).
* An event's dimensions are those of its own session: ``queueId`` of the session's latest
  segment (by start, later array entries winning ties) that has one, ``wrapUpCode`` of its
  latest ended ``wrapup`` segment that has one, ``mediaType``, ``direction``, ``sessionId``,
  ``ani`` and ``dnis`` of the session, ``userId`` (agents and users only), ``purpose`` and
  ``participantName`` of the participant, ``conversationId``, ``originatingDirection`` and
  ``divisionId`` of the conversation. Other dimensions of §6.1 are refused as not emulated.
* ``divisionId`` is multi-valued: grouped by it, an event counts once in each of its
  conversation's divisions (joined by commas with ``flattenMultivaluedDimensions``); a filter
  on it holds when any division matches. Dimensions an event lacks are absent from its group.
* Stats: ``t*`` metrics ``count``, ``sum``, ``min``, ``max`` of the values (ms); ``n*`` metrics
  ``count`` = the sum of the values (each emission is normally 1); ``oServiceLevel`` Genesys'
  formula with the organisation options of ``sandbox.service_level``: ``numerator`` = answered
  events whose ``tAnswered`` is within the target of the event's queue for its medium (20 s when
  the queue has none), ``denominator`` = answered + abandoned (minus short abandons, + flow-outs as
  the options say), ``ratio``, and ``target`` (the queues' ``percentage`` when every event of
  the group has the same one). Other ``o*`` metrics are refused as not emulated.
* Buckets: ``granularity`` (ISO-8601 ``PnYnMnWnDTnHnMnS``) steps from the interval's start;
  years, months, weeks and days on the wall clock of ``timeZone`` (a day across a DST change
  is 23 or 25 hours), hours, minutes and seconds as elapsed time (the repeated hour on the night
  the clocks go back is two buckets); the last bucket ends at the interval's end. Without a
  granularity the whole interval is one bucket. Empty buckets, metrics and groups are left out.
* Limits (Genesys publishes none): ``limits.max_aggregate_interval_days`` and
  ``limits.max_aggregate_buckets``; beyond either the answer is a 400 ``bad.request``.
"""

from __future__ import annotations

import calendar
import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app import vocabulary as voc
from app.sandbox.org import ServiceLevel
from app.sandbox.query_body import (
    MS_PER_DAY,
    Filter,
    Predicate,
    bad_request,
    body_with_interval,
    invalid_value,
    parse_aggregate_filter,
    parse_interval,
)
from app.sandbox.records import Conversation, Session, iso_ms

__all__ = [
    "EMULATED_DIMENSIONS",
    "AggregateLimits",
    "AggregateQuery",
    "ServiceLevelRules",
    "aggregate",
    "parse_aggregate_query",
]

# The dimensions an event of the sandbox's records has (module docstring).
EMULATED_DIMENSIONS: Final = frozenset(
    {
        "conversationId",
        "originatingDirection",
        "divisionId",
        "purpose",
        "participantName",
        "userId",
        "sessionId",
        "mediaType",
        "direction",
        "ani",
        "dnis",
        "queueId",
        "wrapUpCode",
    }
)
SERVICE_LEVEL: Final = "oServiceLevel"
# The events the service level is made of.
_ANSWERED, _ABANDONED, _SHORT, _FLOW_OUT = "tAnswered", "tAbandon", "tShortAbandon", "tFlowOut"
_SERVICE_LEVEL_INPUTS: Final = frozenset({_ANSWERED, _ABANDONED, _SHORT, _FLOW_OUT})
DEFAULT_TARGET_MS: Final = 20_000
_AGENTS: Final = frozenset({"agent", "user"})
_QUERY_TYPES: Final = frozenset({"groupBy", "topN", "bottomN"})
_DURATION: Final = re.compile(
    r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?"
)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class AggregateLimits:
    max_interval_days: float = 31.0
    max_buckets: int = 10_000


@dataclass(frozen=True, slots=True)
class ServiceLevelRules:
    """The organisation's service-level options and its queues' targets."""

    targets: Callable[[str, str], ServiceLevel | None]  # (queue id, media type)
    exclude_short_abandons: bool = False
    include_flowouts: bool = False


@dataclass(frozen=True, slots=True)
class AggregateQuery:
    """A validated ``ConversationAggregationQuery``."""

    start_ms: int
    end_ms: int
    metrics: tuple[str, ...]
    edges: tuple[int, ...]  # bucket boundaries: the interval's start, ..., its end
    group_by: tuple[str, ...] = ()
    filter: Filter | None = None
    flatten: bool = False


# --- the body -------------------------------------------------------------------------------


def parse_aggregate_query(body: object, *, limits: AggregateLimits) -> AggregateQuery:
    """Validate an aggregates body; raise ``BodyError`` with the 400 Genesys would give."""
    body, interval = body_with_interval(
        body, voc.AGGREGATE_QUERY_FIELDS, "an aggregates query body"
    )
    start_ms, end_ms = parse_interval(interval)
    if end_ms - start_ms > limits.max_interval_days * MS_PER_DAY:
        raise bad_request(
            "interval",
            f"the interval [{interval}] is longer than the maximum of "
            f"{limits.max_interval_days:g} days for an aggregates query",
        )
    _refuse_unemulated(body)
    zone = _zone(body.get("timeZone"))
    granularity = body.get("granularity")
    if granularity is not None and not isinstance(granularity, str):
        raise bad_request("granularity", f"must be a string, got {granularity!r}")
    edges = _edges(start_ms, end_ms, granularity, zone, limits.max_buckets)
    flatten = body.get("flattenMultivaluedDimensions")
    if flatten is not None and not isinstance(flatten, bool):
        raise bad_request("flattenMultivaluedDimensions", f"must be a boolean, got {flatten!r}")
    raw_filter = body.get("filter")
    parsed_filter = None if raw_filter is None else parse_aggregate_filter(raw_filter)
    if parsed_filter is not None:
        for path, predicate in _predicates(parsed_filter):
            _emulated(predicate.name, f"{path}.dimension")
    return AggregateQuery(
        start_ms=start_ms,
        end_ms=end_ms,
        metrics=_metrics(body.get("metrics")),
        edges=edges,
        group_by=_group_by(body.get("groupBy")),
        filter=parsed_filter,
        flatten=bool(flatten),
    )


def _refuse_unemulated(body: Mapping[str, Any]) -> None:
    query_type = body.get("queryType")
    if query_type is not None:
        if not isinstance(query_type, str) or query_type not in _QUERY_TYPES:
            raise invalid_value("queryType", query_type, "queryType", _QUERY_TYPES)
        if query_type != "groupBy":
            raise bad_request("queryType", f"the sandbox does not emulate [{query_type}] queries")
    for name in ("views", "alternateTimeDimension"):
        if body.get(name) not in (None, []):
            raise bad_request(name, f"the sandbox does not emulate {name}")


def _zone(value: object) -> ZoneInfo:
    if value is None:
        return ZoneInfo("UTC")
    if not isinstance(value, str) or not value:
        raise bad_request("timeZone", f"must be an IANA time zone id, got {value!r}")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise bad_request(
            "timeZone", f"[{value}] is not an IANA time zone id (e.g. Europe/Berlin)"
        ) from None


def _metrics(value: object) -> tuple[str, ...]:
    if value is None:
        raise bad_request("metrics", "metrics is required")
    if not isinstance(value, list) or not value:
        raise bad_request("metrics", "must be a non-empty JSON array of metric names")
    names: list[str] = []
    for i, name in enumerate(value):
        if not isinstance(name, str) or name not in voc.AGGREGATE_METRICS:
            raise invalid_value(f"metrics[{i}]", name, "metric", voc.AGGREGATE_METRICS)
        if name.startswith("o") and name != SERVICE_LEVEL:
            raise bad_request(
                f"metrics[{i}]",
                f"the sandbox does not emulate [{name}]; it computes every n* and t* metric "
                f"and {SERVICE_LEVEL}",
            )
        if name not in names:
            names.append(name)
    return tuple(names)


def _group_by(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise bad_request("groupBy", f"must be a JSON array, got {type(value).__name__}")
    names: list[str] = []
    for i, name in enumerate(value):
        if not isinstance(name, str) or name not in voc.AGGREGATE_DIMENSIONS:
            raise invalid_value(f"groupBy[{i}]", name, "groupBy", voc.AGGREGATE_DIMENSIONS)
        _emulated(name, f"groupBy[{i}]")
        if name not in names:
            names.append(name)
    return tuple(names)


def _emulated(dimension: str, path: str) -> None:
    if dimension not in EMULATED_DIMENSIONS:
        raise bad_request(
            path,
            f"the sandbox does not emulate the dimension [{dimension}]; it has "
            f"{', '.join(sorted(EMULATED_DIMENSIONS))}",
        )


def _predicates(spec: Filter) -> Iterable[tuple[str, Predicate]]:
    for i, predicate in enumerate(spec.predicates):
        yield f"filter.predicates[{i}]", predicate
    for i, clause in enumerate(spec.clauses):
        for j, predicate in enumerate(clause.predicates):
            yield f"filter.clauses[{i}].predicates[{j}]", predicate


# --- buckets --------------------------------------------------------------------------------


def _edges(
    start_ms: int, end_ms: int, granularity: str | None, zone: ZoneInfo, max_buckets: int
) -> tuple[int, ...]:
    if granularity is None:
        return (start_ms, end_ms)
    match = _DURATION.fullmatch(granularity)
    if match is None or granularity.endswith("T") or not any(match.groups()):
        raise bad_request(
            "granularity", f"[{granularity}] is not an ISO-8601 duration such as PT30M or P1D"
        )
    years, months, weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    if years + months + weeks + days + hours + minutes + seconds == 0:
        raise bad_request("granularity", f"[{granularity}] is a duration of zero")
    elapsed_ms = ((hours * 60 + minutes) * 60 + seconds) * 1000
    local = (_EPOCH + start_ms * _ONE_MS).astimezone(zone)
    wall = local.replace(tzinfo=None)
    edges = [start_ms]
    for k in itertools.count(1):
        if len(edges) > max_buckets:
            raise bad_request(
                "granularity",
                f"[{granularity}] over the interval gives more than {max_buckets} buckets",
            )
        moved = _add_calendar(wall, (years * 12 + months) * k, (weeks * 7 + days) * k)
        edge = (moved.replace(tzinfo=zone, fold=local.fold) - _EPOCH) // _ONE_MS
        edge += elapsed_ms * k
        if edge >= end_ms:
            edges.append(end_ms)
            return tuple(edges)
        edges.append(edge)
    raise AssertionError("unreachable")  # pragma: no cover


def _add_calendar(wall: datetime, months: int, days: int) -> datetime:
    if months:
        year, month = divmod(wall.year * 12 + wall.month - 1 + months, 12)
        day = min(wall.day, calendar.monthrange(year, month + 1)[1])
        wall = wall.replace(year=year, month=month + 1, day=day)
    return wall + timedelta(days=days)


# --- the events -----------------------------------------------------------------------------

Dimensions = dict[str, Any]  # name -> a string, or a list of strings for divisionId


def _session_dimensions(session: Session, cut: int) -> Dimensions | None:
    """What the session's events are credited to, or None when the API does not show it yet."""
    dims: Dimensions = {
        "sessionId": session.session_id,
        "mediaType": session.media_type,
        "direction": session.direction,
        "ani": session.ani,
        "dnis": session.dnis,
    }
    queue_at: int | None = None
    code_at: int | None = None
    shown = False
    for segment in session.segments:
        if segment.start_ms >= cut:
            continue
        shown = True
        if segment.queue_id is not None and (queue_at is None or segment.start_ms >= queue_at):
            dims["queueId"], queue_at = segment.queue_id, segment.start_ms
        ended = segment.end_ms <= cut
        if (
            segment.segment_type == "wrapup"
            and segment.wrap_up_code is not None
            and ended
            and (code_at is None or segment.start_ms >= code_at)
        ):
            dims["wrapUpCode"], code_at = segment.wrap_up_code, segment.start_ms
    return dims if shown else None


def _events(
    conversations: Iterable[Conversation], now_ms: int, start_ms: int, end_ms: int
) -> Iterable[tuple[str, int, int, Dimensions]]:
    """(metric, value, emit instant, dimensions) of every event emitted in the interval."""
    for conversation in conversations:
        cut = conversation.cut_ms(now_ms)
        base = {
            "conversationId": conversation.conversation_id,
            "originatingDirection": conversation.originating_direction,
            "divisionId": list(conversation.division_ids),
        }
        for participant in conversation.participants:
            person = {
                "purpose": participant.purpose,
                "participantName": participant.participant_name,
                "userId": participant.user_id if participant.purpose in _AGENTS else None,
            }
            for session in participant.sessions:
                dims = _session_dimensions(session, cut)
                if dims is None:
                    continue
                merged = {**base, **person, **dims}
                for metric in session.metrics:
                    if metric.emit_ms <= cut and start_ms <= metric.emit_ms < end_ms:
                        yield metric.name, metric.value, metric.emit_ms, merged


def _holds(predicate: Predicate, dims: Dimensions) -> bool:
    value = dims.get(predicate.name)
    values = [v for v in (value if isinstance(value, list) else [value]) if v is not None]
    if predicate.operator == "exists":
        return bool(values)
    if predicate.operator == "notExists":
        return not values
    if predicate.range is not None:
        bounds = predicate.range
        numbers = [_number(v) for v in values]
        return any(n is not None and bounds.holds(n) for n in numbers)
    return predicate.value in values


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _passes(spec: Filter, dims: Dimensions) -> bool:
    outcomes = [_holds(p, dims) for p in spec.predicates]
    for clause in spec.clauses:
        inner = [_holds(p, dims) for p in clause.predicates]
        outcomes.append(all(inner) if clause.type == "and" else any(inner))
    return all(outcomes) if spec.type == "and" else any(outcomes)


def _group_keys(
    group_by: Sequence[str], dims: Dimensions, flatten: bool
) -> Iterable[tuple[str | None, ...]]:
    choices: list[list[str | None]] = []
    for name in group_by:
        value = dims.get(name)
        if isinstance(value, list):
            if flatten:
                value = ",".join(value) if value else None
            else:
                choices.append(list(dict.fromkeys(value)) or [None])
                continue
        choices.append([value])
    return itertools.product(*choices)


# --- the answer -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Timing:
    count: int = 0
    total: int = 0
    low: int = 0
    high: int = 0

    def add(self, value: int) -> None:
        self.low = value if self.count == 0 else min(self.low, value)
        self.high = value if self.count == 0 else max(self.high, value)
        self.count += 1
        self.total += value


@dataclass(slots=True)
class _ServiceLevel:
    numerator: int = 0
    denominator: int = 0
    percentages: set[float | None] = field(default_factory=set)


@dataclass(slots=True)
class _Cell:
    timings: dict[str, _Timing] = field(default_factory=dict)
    service_level: _ServiceLevel = field(default_factory=_ServiceLevel)


def aggregate(
    conversations: Iterable[Conversation],
    query: AggregateQuery,
    *,
    now_ms: int,
    rules: ServiceLevelRules,
) -> dict[str, Any]:
    """The ``ConversationAggregateQueryResponse`` for ``query`` over ``conversations`` as the
    API shows them at ``now_ms``. The caller passes every conversation that could have emitted
    an event in the interval."""
    wanted = frozenset(query.metrics)
    with_service_level = SERVICE_LEVEL in wanted
    cells: dict[tuple[tuple[str | None, ...], int], _Cell] = {}
    edges = query.edges
    for name, value, emitted, dims in _events(conversations, now_ms, query.start_ms, query.end_ms):
        counted = name in wanted
        feeds_service_level = with_service_level and name in _SERVICE_LEVEL_INPUTS
        if not (counted or feeds_service_level):
            continue
        if query.filter is not None and not _passes(query.filter, dims):
            continue
        bucket = _bucket(edges, emitted)
        for key in _group_keys(query.group_by, dims, query.flatten):
            cell = cells.setdefault((key, bucket), _Cell())
            if counted:
                cell.timings.setdefault(name, _Timing()).add(value)
            if feeds_service_level:
                _add_to_service_level(cell.service_level, name, value, dims, rules)
    return _answer(cells, query)


def _bucket(edges: Sequence[int], instant: int) -> int:
    low, high = 0, len(edges) - 1
    while high - low > 1:  # edges[low] <= instant < edges[high]
        middle = (low + high) // 2
        if edges[middle] <= instant:
            low = middle
        else:
            high = middle
    return low


def _add_to_service_level(
    into: _ServiceLevel, name: str, value: int, dims: Dimensions, rules: ServiceLevelRules
) -> None:
    if name == _ANSWERED:
        queue = dims.get("queueId")
        target = None if queue is None else rules.targets(queue, dims["mediaType"])
        into.percentages.add(None if target is None else target.percentage)
        into.denominator += 1
        if value <= (DEFAULT_TARGET_MS if target is None else target.duration_ms):
            into.numerator += 1
    elif name == _ABANDONED:
        into.denominator += 1
    elif name == _SHORT and rules.exclude_short_abandons:
        into.denominator -= 1
    elif name == _FLOW_OUT and rules.include_flowouts:
        into.denominator += 1


def _stats(name: str, cell: _Cell) -> dict[str, Any] | None:
    if name == SERVICE_LEVEL:
        level = cell.service_level
        if level.denominator <= 0:
            return None
        stats: dict[str, Any] = {
            "ratio": level.numerator / level.denominator,
            "numerator": level.numerator,
            "denominator": level.denominator,
        }
        if len(level.percentages) == 1 and None not in level.percentages:
            stats["target"] = next(iter(level.percentages))
        return stats
    timing = cell.timings.get(name)
    if timing is None:
        return None
    if name.startswith("n"):
        return {"count": timing.total}
    return {"max": timing.high, "min": timing.low, "count": timing.count, "sum": timing.total}


def _answer(
    cells: Mapping[tuple[tuple[str | None, ...], int], _Cell], query: AggregateQuery
) -> dict[str, Any]:
    by_group: dict[tuple[str | None, ...], list[tuple[int, _Cell]]] = {}
    for (key, bucket), cell in cells.items():
        by_group.setdefault(key, []).append((bucket, cell))
    results = []
    for key in sorted(by_group, key=lambda k: tuple((v is not None, v or "") for v in k)):
        data = []
        for bucket, cell in sorted(by_group[key], key=lambda item: item[0]):
            metrics = [
                {"metric": name, "stats": stats}
                for name in query.metrics
                if (stats := _stats(name, cell)) is not None
            ]
            if metrics:
                start, end = query.edges[bucket], query.edges[bucket + 1]
                data.append({"interval": f"{iso_ms(start)}/{iso_ms(end)}", "metrics": metrics})
        if data:
            group = {n: v for n, v in zip(query.group_by, key, strict=True) if v is not None}
            results.append({"group": group, "data": data})
    # Genesys leaves an empty list out of its answers.
    return {"results": results} if results else {}
