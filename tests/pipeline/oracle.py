"""An independent implementation of report-semantics v2 (§1-§5), for acceptance tests.

The report pipeline (``app.pipeline``) is written for speed: streaming facts, running sums,
one pass. This module is written for clarity instead: it keeps every conversation in memory,
loops plainly, and computes every average and ratio with exact ``Fraction`` arithmetic, turning
a value into a float only at the end (so the float is the correctly rounded exact value) and
rounding it only for output. Percentiles are the one exception: the contract names numpy's
default method as their reference, so they follow numpy's float arithmetic (see
:func:`percentile_ms`), checked against the exact value.

It deliberately imports nothing from ``app.pipeline`` (nor ``app.settings``): a test that
compares the pipeline's report with :func:`expected_report` compares two independent readings of
the same contract. A report is described by :class:`OracleReport`, built from a plain dict
(:meth:`OracleReport.from_dict`, the hand-built cases) or from a ``ReportSettings`` by its
attribute names (:meth:`OracleReport.from_settings`).

Both grains are here: the interval grain (§1, §2 and §3: one metric event at a time, counted
where it was emitted and credited to its own session) and the conversation grain (§1, §2 and
§4: one conversation at a time). The section numbers are those of ``report-semantics.md``.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from app.durations import parse_duration
from app.vocabulary import MEDIA_TYPES

__all__ = [
    "CUSTOM_FUNCTIONS",
    "METRICS_V2",
    "NAMED_DIMENSIONS",
    "ConversationFacts",
    "Event",
    "Expected",
    "OracleFilters",
    "OracleReport",
    "ServiceLevel",
    "conversation_facts",
    "conversation_metrics",
    "custom_output",
    "evaluate_custom",
    "event_matches",
    "exact_percentile_ms",
    "expected_columns",
    "expected_report",
    "interval_events",
    "interval_metrics",
    "matches_filters",
    "percentile_ms",
    "select_conversations",
    "service_level_target_ms",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Grain = Literal["interval", "conversation"]

# Every built-in metric, in the order reports show them (the contract's column order).
METRICS_V2: tuple[str, ...] = (
    "conversations",
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "flowouts",
    "transferred",
    "handled",
    "abandon_rate",
    "answer_rate",
    "service_level",
    "service_level_target_pct",
    "avg_speed_of_answer_seconds",
    "avg_wait_seconds",
    "avg_abandon_seconds",
    "avg_duration_seconds",
    "avg_talk_seconds",
    "avg_hold_seconds",
    "avg_acw_seconds",
    "avg_handle_seconds",
    "p50_handle_seconds",
    "p90_handle_seconds",
    "talk_ratio",
    "hold_ratio",
    "efficiency_score",
    "wrapup_codes",
)
# §4 last paragraph: what check-config refuses in the other grain.
INTERVAL_ONLY_METRICS = frozenset(
    {"short_abandoned", "flowouts", "avg_abandon_seconds", "service_level_target_pct"}
)
CONVERSATION_ONLY_METRICS = frozenset({"avg_duration_seconds"})

TIME_DIMENSIONS = ("half_hour", "hour", "day", "week", "month")
FLAG_DIMENSIONS = ("offered", "answered", "abandoned", "transferred")  # conversation grain only
DIMENSIONS = (
    "queue_id",
    "agent_id",
    "wrapup_code",
    "division_id",
    "media_type",
    "direction",
    *FLAG_DIMENSIONS,
    *TIME_DIMENSIONS,
)

# §6: the dimensions whose values are ids, their look-up kind and their two export columns.
NAMED_DIMENSIONS: dict[str, tuple[str, str, str]] = {
    "queue_id": ("queues", "queue_id", "queue_name"),
    "agent_id": ("users", "agent_id", "agent_name"),
    "wrapup_code": ("wrapupcodes", "wrapup_code_id", "wrapup_code_name"),
    "division_id": ("divisions", "division_id", "division_name"),
}

# Output rounding, by metric.
_SECONDS = (
    "avg_speed_of_answer_seconds",
    "avg_wait_seconds",
    "avg_abandon_seconds",
    "avg_duration_seconds",
    "avg_talk_seconds",
    "avg_hold_seconds",
    "avg_acw_seconds",
    "avg_handle_seconds",
    "p50_handle_seconds",
    "p90_handle_seconds",
)
_RATIOS = (
    "abandon_rate",
    "answer_rate",
    "service_level",
    "service_level_target_pct",
    "talk_ratio",
    "hold_ratio",
)

# §3: a session's mediaType -> the key of its queue's mediaSettings; other media have none.
MEDIA_SETTINGS_KEYS: dict[str, str] = {
    "voice": "call",
    "callback": "callback",
    "chat": "chat",
    "email": "email",
    "message": "message",
}

CUSTOM_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
}

_GENESYS_ID = re.compile(r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}")
# ReportSettings keys that decide when and how a report is delivered, not what it counts.
_DELIVERY_KEYS = frozenset(
    {"schedule", "period", "delay", "window", "fetch", "formats", "link_expiry", "notify"}
)


# --- the report's settings, as the oracle reads them -------------------------------------------


@dataclass(frozen=True)
class ServiceLevel:
    """§3 ``service_level:``; ``target_seconds`` replaces every queue's own target."""

    target_seconds: float | None = None
    default_seconds: float = 20
    exclude_short_abandons: bool = False
    include_flowouts: bool = False

    def __post_init__(self) -> None:
        if self.default_seconds <= 0:
            raise ValueError("service_level.default_seconds must be more than 0")
        if self.target_seconds is not None and self.target_seconds <= 0:
            raise ValueError("service_level.target_seconds must be more than 0")


@dataclass(frozen=True)
class OracleFilters:
    """The report's ``filters``; ids are Genesys ids (lower-case UUIDs) as ReportSettings keeps
    them. Raw ``segment_filters`` / ``conversation_filters`` are carried but not evaluated."""

    media_types: tuple[str, ...] = ()
    queue_ids: tuple[str, ...] = ()
    user_ids: tuple[str, ...] = ()
    wrapup_codes: tuple[str, ...] = ()
    directions: tuple[str, ...] = ()
    exclude_ongoing: bool = False
    segment_filters: tuple[Any, ...] = ()
    conversation_filters: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        unknown = [m for m in self.media_types if m not in MEDIA_TYPES]
        if unknown:
            raise ValueError(f"filters.media_types: unknown {unknown}")
        for name in ("queue_ids", "user_ids", "wrapup_codes"):
            bad = [v for v in getattr(self, name) if not _GENESYS_ID.fullmatch(v)]
            if bad:
                raise ValueError(f"filters.{name}: not lower-case Genesys ids: {bad}")
        bad_directions = [d for d in self.directions if d not in ("inbound", "outbound")]
        if bad_directions:
            raise ValueError(f"filters.directions: {bad_directions}")


@dataclass(frozen=True)
class OracleReport:
    """What the oracle needs of a report: the ``ReportSettings`` fields of the same names."""

    name: str
    metrics: tuple[str, ...]
    timezone: str = "UTC"
    grain: Grain = "interval"
    group_by: tuple[str, ...] = ()
    custom_metrics: Mapping[str, str] = field(default_factory=dict)
    lookback: timedelta = timedelta(hours=6)
    service_level: ServiceLevel = ServiceLevel()
    include_ongoing: bool = False
    filters: OracleFilters = OracleFilters()

    def __post_init__(self) -> None:
        """The refusals of check-config that decide what a report means (§1, §2, §4)."""
        if self.grain not in ("interval", "conversation"):
            raise ValueError(f"grain: {self.grain!r}")
        ZoneInfo(self.timezone)
        if not timedelta(0) <= self.lookback <= timedelta(days=31):
            raise ValueError("lookback: from PT0S to P31D")
        unknown = [d for d in self.group_by if d not in DIMENSIONS]
        unknown += [m for m in self.metrics if m not in METRICS_V2]
        if unknown:
            raise ValueError(f"unknown dimensions or metrics: {unknown}")
        if len(set(self.group_by)) != len(self.group_by) or len(set(self.metrics)) != len(
            self.metrics
        ):
            raise ValueError("group_by and metrics list each name once")
        if not self.metrics:
            raise ValueError("a report needs at least one metric")
        if self.grain == "interval":
            refused = [d for d in self.group_by if d in FLAG_DIMENSIONS]
            refused += [m for m in self.metrics if m in CONVERSATION_ONLY_METRICS]
        else:
            refused = [m for m in self.metrics if m in INTERVAL_ONLY_METRICS]
        if refused:
            raise ValueError(f"not available in the {self.grain} grain: {refused}")
        bad_names = [n for n in self.custom_metrics if not n.isidentifier() or n in METRICS_V2]
        if bad_names:
            raise ValueError(f"custom metric names must be new identifiers: {bad_names}")
        group_columns = {c for d in self.group_by for c in _group_columns(d)}
        clashes = group_columns & (set(self.metrics) | set(self.custom_metrics))
        if clashes:
            raise ValueError(f"both a group column and a metric column: {sorted(clashes)}")

    @classmethod
    def from_dict(cls, report: Mapping[str, Any]) -> OracleReport:
        """From ReportSettings keyword arguments (``lookback`` an ISO duration such as
        ``PT6H``); delivery keys are accepted and ignored, anything else unknown is refused."""
        data = dict(report)
        for key in _DELIVERY_KEYS:
            data.pop(key, None)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown report keys: {unknown}")
        if isinstance(data.get("lookback"), str):
            data["lookback"] = parse_duration(data["lookback"])
        if "service_level" in data:
            data["service_level"] = ServiceLevel(**data["service_level"])
        if "filters" in data:
            filters: dict[str, Any] = {
                key: value if isinstance(value, bool) else tuple(value)
                for key, value in data["filters"].items()
            }
            data["filters"] = OracleFilters(**filters)
        for key in ("group_by", "metrics"):
            if key in data:
                data[key] = tuple(data[key])
        if "custom_metrics" in data:
            data["custom_metrics"] = dict(data["custom_metrics"])
        return cls(**data)

    @classmethod
    def from_settings(cls, report: Any) -> OracleReport:
        """From a ``ReportSettings`` (or anything with its attribute names): ``name``,
        ``timezone``, ``grain``, ``group_by``, ``metrics``, ``custom_metrics``, ``lookback``
        (a timedelta), ``include_ongoing``, ``service_level.{target_seconds, default_seconds,
        exclude_short_abandons, include_flowouts}`` and ``filters.{media_types, queue_ids,
        user_ids, wrapup_codes, directions, exclude_ongoing, segment_filters,
        conversation_filters}``. A missing attribute is an AttributeError, never a default."""
        service_level = report.service_level
        filters = report.filters
        return cls(
            name=report.name,
            timezone=report.timezone,
            grain=report.grain,
            group_by=tuple(report.group_by),
            metrics=tuple(report.metrics),
            custom_metrics=dict(report.custom_metrics),
            lookback=report.lookback,
            include_ongoing=report.include_ongoing,
            service_level=ServiceLevel(
                target_seconds=service_level.target_seconds,
                default_seconds=service_level.default_seconds,
                exclude_short_abandons=service_level.exclude_short_abandons,
                include_flowouts=service_level.include_flowouts,
            ),
            filters=OracleFilters(
                media_types=tuple(filters.media_types),
                queue_ids=tuple(filters.queue_ids),
                user_ids=tuple(filters.user_ids),
                wrapup_codes=tuple(filters.wrapup_codes),
                directions=tuple(filters.directions),
                exclude_ongoing=filters.exclude_ongoing,
                segment_filters=tuple(filters.segment_filters),
                conversation_filters=tuple(filters.conversation_filters),
            ),
        )


class PeriodLike(Protocol):
    """``[start, end)``, aware datetimes (``app.models.Period`` is one)."""

    @property
    def start(self) -> datetime: ...

    @property
    def end(self) -> datetime: ...


def _group_columns(dimension: str) -> tuple[str, ...]:
    if dimension in NAMED_DIMENSIONS:
        _, id_column, name_column = NAMED_DIMENSIONS[dimension]
        return id_column, name_column
    return (dimension,)


# --- §1 which conversations ------------------------------------------------------------------


def instant_ms(text: str) -> int:
    """Epoch milliseconds of an API timestamp such as ``2024-05-01T09:00:00.000Z``."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment - EPOCH) // timedelta(milliseconds=1)


def _ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


def _segment_count(record: Mapping[str, Any]) -> int:
    total = 0
    for participant in record.get("participants", []):
        for session in participant.get("sessions", []):
            total += len(session.get("segments", []))
    return total


def _better_copy(new: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    """§1: is ``new`` the copy to keep rather than ``old``?"""
    new_end = new.get("conversationEnd")
    old_end = old.get("conversationEnd")
    if new_end is not None and old_end is None:
        return True
    if new_end is None and old_end is not None:
        return False
    if new_end is not None and old_end is not None and instant_ms(new_end) != instant_ms(old_end):
        return instant_ms(new_end) > instant_ms(old_end)
    return _segment_count(new) > _segment_count(old)


def select_conversations(
    records: Iterable[Mapping[str, Any]], start: datetime, end: datetime
) -> list[Mapping[str, Any]]:
    """§1: the conversations that started in ``[start, end)``, one copy each, in first-seen
    order."""
    start_ms, end_ms = _ms(start), _ms(end)
    kept: dict[str, Mapping[str, Any]] = {}
    for record in records:
        started = instant_ms(record["conversationStart"])
        if not start_ms <= started < end_ms:
            continue
        conversation_id = record["conversationId"]
        if conversation_id not in kept or _better_copy(record, kept[conversation_id]):
            kept[conversation_id] = record
    return list(kept.values())


def _segment_views(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each segment with its session's and participant's fields, the most specific winning."""
    views = []
    for participant in record.get("participants", []):
        for session in participant.get("sessions", []):
            for segment in session.get("segments", []):
                views.append({**participant, **session, **segment})
    return views


def matches_filters(record: Mapping[str, Any], filters: OracleFilters) -> bool:
    """§1: does the API return this conversation for the report's filters?

    Each simple form is one clause any segment may satisfy (forms ANDed, values of one form
    ORed); ``directions`` reads ``originatingDirection``; ``exclude_ongoing`` wants a
    ``conversationEnd``. Raw segment and conversation filters are not evaluated here.
    """
    if filters.segment_filters or filters.conversation_filters:
        raise NotImplementedError("the oracle does not evaluate raw Genesys filters")
    if filters.exclude_ongoing and record.get("conversationEnd") is None:
        return False
    if filters.directions and record.get("originatingDirection") not in filters.directions:
        return False
    views = _segment_views(record)
    for key, values in (
        ("mediaType", filters.media_types),
        ("queueId", filters.queue_ids),
        ("wrapUpCode", filters.wrapup_codes),
        ("userId", filters.user_ids),
    ):
        if values and not any(view.get(key) in values for view in views):
            return False
    return True


# --- §2 dimensions ---------------------------------------------------------------------------


def _buckets(moment_ms: int, zone: ZoneInfo) -> dict[str, str]:
    """The time dimensions of an instant, on the wall clock of ``zone``."""
    local = (EPOCH + timedelta(milliseconds=moment_ms)).astimezone(zone)
    day = f"{local.year:04d}-{local.month:02d}-{local.day:02d}"
    iso_year, iso_week, _ = local.date().isocalendar()
    return {
        "half_hour": f"{day}T{local.hour:02d}:{local.minute // 30 * 30:02d}",
        "hour": f"{day}T{local.hour:02d}:00",
        "day": day,
        "week": f"{iso_year:04d}-W{iso_week:02d}",
        "month": f"{local.year:04d}-{local.month:02d}",
    }


def _latest_segment_value(segments: Iterable[Mapping[str, Any]], key: str) -> str | None:
    """``key`` of the latest segment (by segmentStart) that carries one; of two with the same
    start, the later in array order."""
    latest_start: int | None = None
    latest: str | None = None
    for segment in segments:
        value = segment.get(key)
        if value is None:
            continue
        start = instant_ms(segment["segmentStart"])
        if latest_start is None or start >= latest_start:
            latest_start, latest = start, value
    return latest


def _session_queue(session: Mapping[str, Any]) -> str | None:
    return _latest_segment_value(session.get("segments", []), "queueId")


def _wrapup_segments(sessions: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [
        segment
        for session in sessions
        for segment in session.get("segments", [])
        if segment.get("segmentType") == "wrapup"
    ]


def _session_wrapup_code(session: Mapping[str, Any]) -> str | None:
    return _latest_segment_value(_wrapup_segments([session]), "wrapUpCode")


def _first_division(record: Mapping[str, Any]) -> str | None:
    divisions = record.get("divisionIds") or []
    return divisions[0] if divisions else None


# --- interval grain: events (§1, §2) -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a session's ``metrics`` list, with its §2 dimensions."""

    conversation_id: str
    session: tuple[str, int, int]  # (conversationId, participant index, session index)
    name: str
    value: int
    emit_ms: int
    queue_id: str | None
    agent_id: str | None
    media_type: str | None
    direction: str | None
    division_id: str | None
    wrapup_code: str | None
    half_hour: str
    hour: str
    day: str
    week: str
    month: str

    def dimension(self, name: str) -> Any:
        value = getattr(self, name)
        assert value is None or isinstance(value, str)
        return value


def interval_events(record: Mapping[str, Any], zone: ZoneInfo) -> list[Event]:
    """Every metric event of one conversation, whenever emitted."""
    conversation_id = record["conversationId"]
    events = []
    for p_index, participant in enumerate(record.get("participants", [])):
        is_agent = participant.get("purpose") in ("agent", "user")
        agent = participant.get("userId") if is_agent else None
        for s_index, session in enumerate(participant.get("sessions", [])):
            queue = _session_queue(session)
            code = _session_wrapup_code(session)
            for metric in session.get("metrics", []):
                emitted = instant_ms(metric["emitDate"])
                events.append(
                    Event(
                        conversation_id=conversation_id,
                        session=(conversation_id, p_index, s_index),
                        name=metric["name"],
                        value=int(metric["value"]),
                        emit_ms=emitted,
                        queue_id=queue,
                        agent_id=agent,
                        media_type=session.get("mediaType"),
                        direction=record.get("originatingDirection"),
                        division_id=_first_division(record),
                        wrapup_code=code,
                        **_buckets(emitted, zone),
                    )
                )
    return events


def event_matches(event: Event, filters: OracleFilters) -> bool:
    """§1: an event counts only when its own dimensions match the simple filters (an event
    without the dimension matches no value of it)."""
    for dimension, values in (
        ("media_type", filters.media_types),
        ("queue_id", filters.queue_ids),
        ("agent_id", filters.user_ids),
        ("wrapup_code", filters.wrapup_codes),
        ("direction", filters.directions),
    ):
        if values and getattr(event, dimension) not in values:
            return False
    return True


# --- conversation grain: facts (§2, §4) --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConversationFacts:
    conversation_id: str
    ended: bool
    media_type: str | None
    direction: str | None
    division_id: str | None
    queue_id: str | None
    agent_id: str | None
    wrapup_code: str | None
    offered: int
    answered: int
    abandoned: int
    transferred: int
    handled: int
    speed_of_answer_ms: int | None
    wait_ms: int
    talk_ms: int
    hold_ms: int
    acw_ms: int
    handle_ms: int
    duration_ms: int | None
    half_hour: str
    hour: str
    day: str
    week: str
    month: str

    def dimension(self, name: str) -> Any:
        value = getattr(self, name)
        assert value is None or isinstance(value, str | int)
        return value


def _all_sessions(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    sessions = []
    for participant in record.get("participants", []):
        sessions.extend(participant.get("sessions", []))
    return sessions


def _metric_values(record: Mapping[str, Any], name: str) -> list[int]:
    values = []
    for session in _all_sessions(record):
        for metric in session.get("metrics", []):
            if metric["name"] == name:
                values.append(int(metric["value"]))
    return values


def _has_metric(record: Mapping[str, Any], name: str) -> int:
    return 1 if _metric_values(record, name) else 0


def _earliest_queue(participants: Sequence[Mapping[str, Any]]) -> str | None:
    best_start: int | None = None
    best_queue: str | None = None
    for participant in participants:
        for session in participant.get("sessions", []):
            for segment in session.get("segments", []):
                queue = segment.get("queueId")
                if queue is None:
                    continue
                start = instant_ms(segment["segmentStart"])
                if best_start is None or start < best_start:
                    best_start, best_queue = start, queue
    return best_queue


def _first_queue(record: Mapping[str, Any]) -> str | None:
    participants = record.get("participants", [])
    acd = [p for p in participants if p.get("purpose") == "acd"]
    found = _earliest_queue(acd)
    return found if found is not None else _earliest_queue(participants)


def _last_agent(record: Mapping[str, Any]) -> str | None:
    agent: str | None = None
    for participant in record.get("participants", []):
        if participant.get("purpose") != "agent":
            continue
        interacted = any(
            segment.get("segmentType") == "interact"
            for session in participant.get("sessions", [])
            for segment in session.get("segments", [])
        )
        if interacted:
            agent = participant.get("userId")  # the last such participant wins
    return agent


def _first_media_type(record: Mapping[str, Any]) -> str | None:
    participants = record.get("participants", [])
    if not participants:
        return None
    sessions = participants[0].get("sessions", [])
    return sessions[0].get("mediaType") if sessions else None


def conversation_facts(record: Mapping[str, Any], zone: ZoneInfo) -> ConversationFacts:
    """§2 and §4, one conversation."""
    start_ms = instant_ms(record["conversationStart"])
    end = record.get("conversationEnd")
    answered_values = _metric_values(record, "tAnswered")
    return ConversationFacts(
        conversation_id=record["conversationId"],
        ended=end is not None,
        media_type=_first_media_type(record),
        direction=record.get("originatingDirection"),
        division_id=_first_division(record),
        queue_id=_first_queue(record),
        agent_id=_last_agent(record),
        wrapup_code=_latest_segment_value(_wrapup_segments(_all_sessions(record)), "wrapUpCode"),
        offered=_has_metric(record, "nOffered"),
        answered=_has_metric(record, "tAnswered"),
        abandoned=_has_metric(record, "tAbandon"),
        transferred=_has_metric(record, "nTransferred"),
        handled=_has_metric(record, "tHandle"),
        speed_of_answer_ms=min(answered_values) if answered_values else None,
        wait_ms=sum(_metric_values(record, "tAcd")),
        talk_ms=sum(_metric_values(record, "tTalk")),
        hold_ms=sum(_metric_values(record, "tHeld")),
        acw_ms=sum(_metric_values(record, "tAcw")),
        handle_ms=sum(_metric_values(record, "tHandle")),
        duration_ms=None if end is None else instant_ms(end) - start_ms,
        **_buckets(start_ms, zone),
    )


# --- metrics, both grains --------------------------------------------------------------------


def percentile_ms(values: Sequence[int], fraction: float) -> float | None:
    """numpy's default ("linear") percentile, in numpy's own float arithmetic.

    The rank is ``h = (n - 1) * fraction`` in the ascending values; the result interpolates
    between ``v[floor h]`` and the next value by the fractional part ``t`` of ``h``, counting
    from the nearer end as numpy's ``_lerp`` does (``b - (b - a) * (1 - t)`` when ``t >= 0.5``).

    The contract names numpy's default as the reference, and numpy's float arithmetic is what
    decides a value that lies exactly half-way at the rounding digit: the exact 90th
    percentile of 397409, 1002789 and two smaller values is 821175 ms, but numpy's weight is
    0.7000000000000002 (not 0.7), giving 821175.0000000001 ms, so 821.18 s after rounding where
    the exact value's nearest float would round to 821.17. ``exact_percentile_ms`` gives the
    exact value, which tests use to check that this one is within float noise of it.
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * fraction
    below = math.floor(rank)
    above = min(below + 1, len(ordered) - 1)
    t = rank - below
    a, b = ordered[below], ordered[above]
    step = b - a
    result = b - step * (1 - t) if t >= 0.5 else a + step * t
    return float(result)


def exact_percentile_ms(values: Sequence[int], fraction: Fraction) -> Fraction | None:
    """The same percentile in exact rational arithmetic (no float anywhere)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * fraction
    below = math.floor(rank)
    if below == len(ordered) - 1:
        return Fraction(ordered[below])
    part = rank - below
    return ordered[below] + part * (ordered[below + 1] - ordered[below])


def _handle_percentiles(handles: Sequence[int]) -> tuple[float | None, float | None]:
    """(p50, p90) of handle times, in seconds."""
    p50 = percentile_ms(handles, 0.5)
    p90 = percentile_ms(handles, 0.9)
    for approximate, exact in (
        (p50, exact_percentile_ms(handles, Fraction(1, 2))),
        (p90, exact_percentile_ms(handles, Fraction(9, 10))),
    ):
        # numpy's arithmetic may differ from the exact value by float noise, never more.
        assert (approximate is None) == (exact is None)
        assert approximate is None or exact is None or abs(Fraction(approximate) - exact) < 1e-6
    return (None if p50 is None else p50 / 1000, None if p90 is None else p90 / 1000)


def _per(numerator: int | Fraction, denominator: int, scale: int = 1) -> float | None:
    """``numerator / denominator / scale`` as the float nearest the exact value; None for a
    zero denominator."""
    if denominator == 0:
        return None
    return float(Fraction(numerator) / denominator / scale)


def _efficiency(hold: int, base: int) -> float | None:
    """max(0, 100 - hold/base x 50); None where the hold ratio is."""
    if base == 0:
        return None
    return float(max(Fraction(0), 100 - Fraction(hold, base) * 50))


def _queue_service_level(
    queue_id: str | None, media_type: str | None, media_settings: Mapping[str, Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    """``mediaSettings.<medium>.serviceLevel`` of a queue, or None where there is none."""
    if queue_id is None or media_type not in MEDIA_SETTINGS_KEYS:
        return None
    medium = media_settings.get(queue_id, {}).get(MEDIA_SETTINGS_KEYS[media_type])
    if not isinstance(medium, Mapping):
        return None
    level = medium.get("serviceLevel")
    return level if isinstance(level, Mapping) else None


def service_level_target_ms(
    event: Event, service_level: ServiceLevel, media_settings: Mapping[str, Mapping[str, Any]]
) -> Fraction:
    """§3: the service-level duration that applies to one event, in ms."""
    if service_level.target_seconds is not None:
        return Fraction(service_level.target_seconds) * 1000
    level = _queue_service_level(event.queue_id, event.media_type, media_settings)
    if level is not None and level.get("durationMs") is not None:
        return Fraction(level["durationMs"])
    return Fraction(service_level.default_seconds) * 1000


def _target_percentage(
    events: Sequence[Event], media_settings: Mapping[str, Mapping[str, Any]]
) -> float | None:
    """§3 service_level_target_pct: the queue's own percentage when every event of the group
    has one queue and one medium and the queue has a setting for it."""
    pairs = {(e.queue_id, e.media_type) for e in events}
    if len(pairs) != 1:
        return None
    ((queue_id, media_type),) = pairs
    level = _queue_service_level(queue_id, media_type, media_settings)
    if level is None or level.get("percentage") is None:
        return None
    return float(level["percentage"])


def interval_metrics(
    events: Sequence[Event],
    *,
    service_level: ServiceLevel,
    media_settings: Mapping[str, Mapping[str, Any]],
    wrapup_names: Mapping[str, str],
) -> dict[str, Any]:
    """Every §3 metric of one group of events, unrounded (``wrapup_codes`` as names)."""

    def named(name: str) -> list[Event]:
        return [e for e in events if e.name == name]

    def count(name: str) -> int:
        return len(named(name))

    def total(name: str) -> int:
        return sum(e.value for e in named(name))

    offered = total("nOffered")
    answered = count("tAnswered")
    abandoned = count("tAbandon")
    within = sum(
        1
        for e in named("tAnswered")
        if e.value <= service_level_target_ms(e, service_level, media_settings)
    )
    attempts = answered + abandoned
    if service_level.exclude_short_abandons:
        attempts -= count("tShortAbandon")
    if service_level.include_flowouts:
        attempts += count("tFlowOut")
    handled = count("tHandle")
    handle_total = total("tHandle")
    p50, p90 = _handle_percentiles([e.value for e in named("tHandle")])
    # Each session's code once: several events of one session share it.
    codes = {e.session: e.wrapup_code for e in events if e.wrapup_code is not None}
    return {
        "conversations": len({e.conversation_id for e in events}),
        "offered": offered,
        "answered": answered,
        "abandoned": abandoned,
        "short_abandoned": count("tShortAbandon"),
        "flowouts": count("tFlowOut"),
        "transferred": total("nTransferred"),
        "handled": handled,
        "abandon_rate": _per(abandoned, offered),
        "answer_rate": _per(answered, offered),
        "service_level": _per(within, attempts),
        "service_level_target_pct": _target_percentage(events, media_settings),
        "avg_speed_of_answer_seconds": _per(total("tAnswered"), answered, 1000),
        "avg_wait_seconds": _per(total("tAcd"), count("tAcd"), 1000),
        "avg_abandon_seconds": _per(total("tAbandon"), abandoned, 1000),
        "avg_talk_seconds": _per(total("tTalk"), count("tTalk"), 1000),
        "avg_hold_seconds": _per(total("tHeld"), count("tHeld"), 1000),
        "avg_acw_seconds": _per(total("tAcw"), count("tAcw"), 1000),
        "avg_handle_seconds": _per(handle_total, handled, 1000),
        "p50_handle_seconds": p50,
        "p90_handle_seconds": p90,
        "talk_ratio": _per(total("tTalk"), handle_total),
        "hold_ratio": _per(total("tHeld"), handle_total),
        "efficiency_score": _efficiency(total("tHeld"), handle_total),
        "wrapup_codes": sorted({wrapup_names.get(c, c) for c in codes.values()}),
    }


def conversation_metrics(
    conversations: Sequence[ConversationFacts],
    *,
    service_level: ServiceLevel,
    wrapup_names: Mapping[str, str],
) -> dict[str, Any]:
    """Every §4 metric of one group of conversations, unrounded (``wrapup_codes`` as names).

    Ongoing conversations (present only with ``include_ongoing``) count in ``conversations``
    and nowhere else.
    """
    ended = [c for c in conversations if c.ended]
    handled = [c for c in ended if c.handled]
    offered = sum(c.offered for c in ended)
    answered = sum(c.answered for c in ended)
    abandoned = sum(c.abandoned for c in ended)
    seconds = service_level.target_seconds
    threshold = Fraction(service_level.default_seconds if seconds is None else seconds) * 1000
    within = 0
    for c in ended:
        if c.offered and c.answered:
            assert c.speed_of_answer_ms is not None
            if c.speed_of_answer_ms <= threshold:
                within += 1
    speeds = [c.speed_of_answer_ms for c in ended if c.speed_of_answer_ms is not None]
    total_duration = sum(c.duration_ms or 0 for c in ended)
    total_hold = sum(c.hold_ms for c in ended)
    p50, p90 = _handle_percentiles([c.handle_ms for c in handled])
    codes = {c.wrapup_code for c in ended if c.wrapup_code is not None}
    return {
        "conversations": len(conversations),
        "offered": offered,
        "answered": answered,
        "abandoned": abandoned,
        "transferred": sum(c.transferred for c in ended),
        "handled": len(handled),
        "abandon_rate": _per(abandoned, offered),
        "answer_rate": _per(answered, offered),
        "service_level": _per(within, offered),
        "avg_speed_of_answer_seconds": _per(sum(speeds), len(speeds), 1000),
        "avg_wait_seconds": _per(sum(c.wait_ms for c in ended), offered, 1000),
        "avg_duration_seconds": _per(total_duration, len(ended), 1000),
        "avg_talk_seconds": _per(sum(c.talk_ms for c in handled), len(handled), 1000),
        "avg_hold_seconds": _per(sum(c.hold_ms for c in handled), len(handled), 1000),
        "avg_acw_seconds": _per(sum(c.acw_ms for c in handled), len(handled), 1000),
        "avg_handle_seconds": _per(sum(c.handle_ms for c in handled), len(handled), 1000),
        "p50_handle_seconds": p50,
        "p90_handle_seconds": p90,
        "talk_ratio": _per(sum(c.talk_ms for c in ended), total_duration),
        "hold_ratio": _per(total_hold, total_duration),
        "efficiency_score": _efficiency(total_hold, total_duration),
        "wrapup_codes": sorted(wrapup_names.get(code, code) for code in codes),
    }


def rounded(metric: str, value: Any) -> Any:
    """Output rounding: seconds to 2 decimals, ratios and rates to 4, the score to 2."""
    if value is None:
        return None
    if metric in _SECONDS or metric == "efficiency_score":
        return round(value, 2)
    if metric in _RATIOS:
        return round(value, 4)
    return value


_ALLOWED_EXPRESSION_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Call,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.operator,
    ast.unaryop,
    ast.boolop,
    ast.cmpop,
)


def evaluate_custom(expression: str, values: Mapping[str, Any]) -> int | float | None:
    """§5: a custom metric with Python's own arithmetic over the unrounded metric values.

    A null operand (any name the expression reads is None) or a division by zero gives None; a
    comparison's bool counts as 1/0. The value is unrounded: ``custom_output`` rounds it.
    """
    tree = ast.parse(expression, mode="eval")
    functions = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    for node in ast.walk(tree):
        assert isinstance(node, _ALLOWED_EXPRESSION_NODES), ast.dump(node)
        if isinstance(node, ast.Name) and id(node) not in functions and values[node.id] is None:
            return None
    namespace = {**values, **CUSTOM_FUNCTIONS}
    try:
        result = eval(  # noqa: S307  # the test's own expressions, checked just above
            compile(tree, "<custom metric>", "eval"), {"__builtins__": {}}, namespace
        )
    except ZeroDivisionError:
        return None
    if isinstance(result, bool):
        return int(result)
    if isinstance(result, int):
        return result
    if isinstance(result, float):
        return result if math.isfinite(result) else None
    return None


def custom_output(expression: str, value: int | float | None) -> int | float | None:
    """§5: rounded to 4 decimals at output, unless the expression rounds it itself."""
    body = ast.parse(expression, mode="eval").body
    rounds_itself = (
        isinstance(body, ast.Call) and isinstance(body.func, ast.Name) and body.func.id == "round"
    )
    return round(value, 4) if isinstance(value, float) and not rounds_itself else value


# --- the report --------------------------------------------------------------------------------


class _Columns(Protocol):
    @property
    def group_by(self) -> Sequence[str]: ...

    @property
    def metrics(self) -> Sequence[str]: ...

    @property
    def custom_metrics(self) -> Mapping[str, str]: ...


def expected_columns(report: _Columns, metric_order: Sequence[str] = METRICS_V2) -> list[str]:
    """Group columns (id and name for the named dimensions), then the metrics in
    ``metric_order`` (the order of all built-in metrics), then the custom metrics."""
    columns = [column for dimension in report.group_by for column in _group_columns(dimension)]
    columns += [metric for metric in metric_order if metric in report.metrics]
    columns += list(report.custom_metrics)
    return columns


@dataclass
class Expected:
    """What a report over a period must contain.

    ``conversations`` is the manifest's count: conversations in the report (conversation grain)
    or with at least one counted event (interval grain). ``ongoing_skipped`` is always 0 in the
    interval grain, where ongoing conversations count with their events; ``events_counted`` is
    None in the conversation grain. ``facts`` are the facts of every conversation the grain
    considered (for the interval grain: every one started in ``[start - lookback, end)`` that
    passed the filters); ``events`` are the counted events (interval grain).
    """

    rows: list[dict[str, Any]]
    conversations: int
    ongoing_skipped: int
    events_counted: int | None = None
    facts: list[ConversationFacts] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


def _sort_key(key: tuple[Any, ...]) -> tuple[tuple[bool, Any], ...]:
    # None sorts before every value of its dimension.
    return tuple((value is not None, "" if value is None else value) for value in key)


def expected_report(
    records: Iterable[Mapping[str, Any]],
    report: OracleReport,
    period: PeriodLike,
    names: Mapping[str, Mapping[str, str]],
    *,
    media_settings: Mapping[str, Mapping[str, Any]],
) -> Expected:
    """The rows a report must show, from the ground-truth records around its period.

    ``records`` may hold several copies of a conversation and conversations outside the
    period (they are left out here, as §1 says). ``names`` maps a look-up kind (``queues``,
    ``users``, ``wrapupcodes``, ``divisions``) to ``{id: display name}``; an id missing there
    keeps its id as the name. ``media_settings`` maps a queue id to that queue's
    ``mediaSettings`` object (interval grain service level).
    """
    zone = ZoneInfo(report.timezone)
    records = list(records)
    wrapup_names = names.get("wrapupcodes", {})
    groups: dict[tuple[Any, ...], list[Any]] = {}
    compute: Callable[[list[Any]], dict[str, Any]]
    if report.grain == "interval":
        selected = select_conversations(records, period.start - report.lookback, period.end)
        selected = [r for r in selected if matches_filters(r, report.filters)]
        facts = [conversation_facts(r, zone) for r in selected]
        start_ms, end_ms = _ms(period.start), _ms(period.end)
        events = [
            event
            for record in selected
            for event in interval_events(record, zone)
            if start_ms <= event.emit_ms < end_ms and event_matches(event, report.filters)
        ]
        for event in events:
            groups.setdefault(tuple(event.dimension(d) for d in report.group_by), []).append(event)

        def compute(members: list[Any]) -> dict[str, Any]:
            return interval_metrics(
                members,
                service_level=report.service_level,
                media_settings=media_settings,
                wrapup_names=wrapup_names,
            )

        conversations = len({e.conversation_id for e in events})
        ongoing_skipped = 0
        events_counted: int | None = len(events)
    else:
        selected = select_conversations(records, period.start, period.end)
        selected = [r for r in selected if matches_filters(r, report.filters)]
        facts = [conversation_facts(r, zone) for r in selected]
        counted = [f for f in facts if f.ended or report.include_ongoing]
        for fact in counted:
            groups.setdefault(tuple(fact.dimension(d) for d in report.group_by), []).append(fact)

        def compute(members: list[Any]) -> dict[str, Any]:
            return conversation_metrics(
                members, service_level=report.service_level, wrapup_names=wrapup_names
            )

        events = []
        conversations = len(counted)
        ongoing_skipped = len(facts) - len(counted)
        events_counted = None

    if not report.group_by and not groups:
        groups[()] = []  # an ungrouped report has its one row even over nothing
    rows = []
    for key in sorted(groups, key=_sort_key):
        row: dict[str, Any] = {}
        for dimension, value in zip(report.group_by, key, strict=True):
            if dimension in NAMED_DIMENSIONS:
                kind, id_column, name_column = NAMED_DIMENSIONS[dimension]
                row[id_column] = value
                row[name_column] = None if value is None else names.get(kind, {}).get(value, value)
            else:
                row[dimension] = value
        values = compute(groups[key])
        for metric in report.metrics:
            row[metric] = rounded(metric, values[metric])
        for name, expression in report.custom_metrics.items():
            # §5: a custom metric may use one defined before it.
            values[name] = evaluate_custom(expression, values)
            row[name] = custom_output(expression, values[name])
        rows.append(row)
    return Expected(
        rows=rows,
        conversations=conversations,
        ongoing_skipped=ongoing_skipped,
        events_counted=events_counted,
        facts=facts,
        events=events,
    )
