"""An independent implementation of report-semantics §1-§4, for acceptance tests.

The report pipeline (``app.pipeline``) is written for speed: streaming facts, running sums,
one pass. This module is written for clarity instead: it keeps every conversation in memory,
loops plainly, and computes every average and ratio with exact ``Fraction`` arithmetic, turning
a value into a float only at the end (so the float is the correctly rounded exact value) and
rounding it only for output. Percentiles are the one exception: the contract names numpy's
default method as their reference, so they follow numpy's float arithmetic (see
:func:`percentile_ms`), checked against the exact value.

It deliberately imports nothing from ``app.pipeline``: a test that compares the pipeline's
report with :func:`expected_report` compares two independent readings of the same contract.

The names below follow the contract's vocabulary; the section numbers are those of
``report-semantics.md``.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from app.models import Period
from app.settings import ReportSettings

__all__ = [
    "CUSTOM_FUNCTIONS",
    "NAMED_DIMENSIONS",
    "ConversationFacts",
    "Expected",
    "conversation_facts",
    "evaluate_custom",
    "exact_percentile_ms",
    "expected_columns",
    "expected_report",
    "group_metrics",
    "matches_filters",
    "percentile_ms",
    "select_conversations",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# §4: the dimensions whose values are ids, their look-up kind and their two export columns.
NAMED_DIMENSIONS: dict[str, tuple[str, str, str]] = {
    "queue_id": ("queues", "queue_id", "queue_name"),
    "agent_id": ("users", "agent_id", "agent_name"),
    "wrapup_code": ("wrapupcodes", "wrapup_code_id", "wrapup_code_name"),
    "division_id": ("divisions", "division_id", "division_name"),
}

# §3 output rounding, by metric.
_SECONDS = (
    "avg_speed_of_answer_seconds",
    "avg_wait_seconds",
    "avg_duration_seconds",
    "avg_talk_seconds",
    "avg_hold_seconds",
    "avg_acw_seconds",
    "avg_handle_seconds",
    "p50_handle_seconds",
    "p90_handle_seconds",
)
_RATIOS = ("abandon_rate", "answer_rate", "service_level", "talk_ratio", "hold_ratio")

CUSTOM_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
}


# --- §1 which conversations ------------------------------------------------------------------


def instant_ms(text: str) -> int:
    """Epoch milliseconds of an API timestamp such as ``2024-05-01T09:00:00.000Z``."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment - EPOCH) // timedelta(milliseconds=1)


def _segment_count(record: Mapping[str, Any]) -> int:
    total = 0
    for participant in record.get("participants", []):
        for session in participant.get("sessions", []):
            total += len(session.get("segments", []))
    return total


def _better_copy(new: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    """§1.2: is ``new`` the copy to keep rather than ``old``?"""
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
    records: Iterable[Mapping[str, Any]], period: Period
) -> list[Mapping[str, Any]]:
    """§1: the conversations of ``period``, one copy each, in first-seen order."""
    start_ms = (period.start - EPOCH) // timedelta(milliseconds=1)
    end_ms = (period.end - EPOCH) // timedelta(milliseconds=1)
    kept: dict[str, Mapping[str, Any]] = {}
    for record in records:
        started = instant_ms(record["conversationStart"])
        if not start_ms <= started < end_ms:
            continue
        conversation_id = record["conversationId"]
        if conversation_id not in kept or _better_copy(record, kept[conversation_id]):
            kept[conversation_id] = record
    return list(kept.values())


def matches_filters(record: Mapping[str, Any], report: ReportSettings) -> bool:
    """The report's ``filters``, as the sandbox's segment-filter semantics read them.

    Only ``media_types`` is supported (the tests use nothing else): a conversation matches when
    any session of any participant has one of the media types.
    """
    filters = report.filters
    others = filters.model_dump(exclude={"media_types"})
    if any(value for value in others.values()):
        raise NotImplementedError(f"the oracle only knows media_types filters, not {others}")
    if not filters.media_types:
        return True
    for participant in record.get("participants", []):
        for session in participant.get("sessions", []):
            if session.get("mediaType") in filters.media_types:
                return True
    return False


# --- §2 facts --------------------------------------------------------------------------------


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
    speed_of_answer_ms: int | None
    wait_ms: int
    talk_ms: int
    hold_ms: int
    acw_ms: int
    handle_ms: int
    duration_ms: int | None
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


def _queue_id(record: Mapping[str, Any]) -> str | None:
    participants = record.get("participants", [])
    acd = [p for p in participants if p.get("purpose") == "acd"]
    found = _earliest_queue(acd)
    return found if found is not None else _earliest_queue(participants)


def _agent_id(record: Mapping[str, Any]) -> str | None:
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


def _wrapup_code(record: Mapping[str, Any]) -> str | None:
    latest_start: int | None = None
    latest_code: str | None = None
    for session in _all_sessions(record):
        for segment in session.get("segments", []):
            code = segment.get("wrapUpCode")
            if segment.get("segmentType") != "wrapup" or code is None:
                continue
            start = instant_ms(segment["segmentStart"])
            if latest_start is None or start >= latest_start:
                latest_start, latest_code = start, code
    return latest_code


def _media_type(record: Mapping[str, Any]) -> str | None:
    participants = record.get("participants", [])
    if not participants:
        return None
    sessions = participants[0].get("sessions", [])
    return sessions[0].get("mediaType") if sessions else None


def _buckets(start_ms: int, zone: ZoneInfo) -> tuple[str, str, str, str]:
    """(hour, day, week, month) of an instant on the wall clock of ``zone``."""
    local = (EPOCH + timedelta(milliseconds=start_ms)).astimezone(zone)
    hour = f"{local.year:04d}-{local.month:02d}-{local.day:02d}T{local.hour:02d}:00"
    day = f"{local.year:04d}-{local.month:02d}-{local.day:02d}"
    iso_year, iso_week, _ = local.date().isocalendar()
    week = f"{iso_year:04d}-W{iso_week:02d}"
    month = f"{local.year:04d}-{local.month:02d}"
    return hour, day, week, month


def conversation_facts(record: Mapping[str, Any], zone: ZoneInfo) -> ConversationFacts:
    """§2, one conversation."""
    start_ms = instant_ms(record["conversationStart"])
    end = record.get("conversationEnd")
    answered_values = _metric_values(record, "tAnswered")
    divisions = record.get("divisionIds") or []
    hour, day, week, month = _buckets(start_ms, zone)
    return ConversationFacts(
        conversation_id=record["conversationId"],
        ended=end is not None,
        media_type=_media_type(record),
        direction=record.get("originatingDirection"),
        division_id=divisions[0] if divisions else None,
        queue_id=_queue_id(record),
        agent_id=_agent_id(record),
        wrapup_code=_wrapup_code(record),
        offered=_has_metric(record, "nOffered"),
        answered=_has_metric(record, "tAnswered"),
        abandoned=_has_metric(record, "tAbandon"),
        transferred=_has_metric(record, "nTransferred"),
        speed_of_answer_ms=min(answered_values) if answered_values else None,
        wait_ms=sum(_metric_values(record, "tAcd")),
        talk_ms=sum(_metric_values(record, "tTalk")),
        hold_ms=sum(_metric_values(record, "tHeld")),
        acw_ms=sum(_metric_values(record, "tAcw")),
        handle_ms=sum(_metric_values(record, "tHandle")),
        duration_ms=None if end is None else instant_ms(end) - start_ms,
        hour=hour,
        day=day,
        week=week,
        month=month,
    )


# --- §3 metrics ------------------------------------------------------------------------------


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


def _per(numerator: int | Fraction, denominator: int, scale: int = 1) -> float | None:
    """``numerator / denominator / scale`` as the float nearest the exact value; None for a
    zero denominator."""
    if denominator == 0:
        return None
    return float(Fraction(numerator) / denominator / scale)


def group_metrics(
    conversations: Sequence[ConversationFacts],
    *,
    service_level_seconds: float,
    wrapup_names: Mapping[str, str],
) -> dict[str, Any]:
    """Every §3 metric of one group, unrounded (``wrapup_codes`` as display names)."""
    ended = [c for c in conversations if c.ended]
    answered = [c for c in ended if c.answered]
    offered = sum(c.offered for c in ended)
    answered_count = sum(c.answered for c in ended)
    threshold = Fraction(service_level_seconds) * 1000
    within_service_level = 0
    for c in ended:
        if c.offered and c.answered:
            assert c.speed_of_answer_ms is not None
            if c.speed_of_answer_ms <= threshold:
                within_service_level += 1
    speeds = [c.speed_of_answer_ms for c in answered if c.speed_of_answer_ms is not None]
    total_duration = sum(c.duration_ms or 0 for c in ended)
    total_talk = sum(c.talk_ms for c in ended)
    total_hold = sum(c.hold_ms for c in ended)
    handles = [c.handle_ms for c in answered]
    p50 = percentile_ms(handles, 0.5)
    p90 = percentile_ms(handles, 0.9)
    for approximate, exact in (
        (p50, exact_percentile_ms(handles, Fraction(1, 2))),
        (p90, exact_percentile_ms(handles, Fraction(9, 10))),
    ):
        # numpy's arithmetic may differ from the exact value by float noise, never more.
        assert (approximate is None) == (exact is None)
        assert approximate is None or exact is None or abs(Fraction(approximate) - exact) < 1e-6

    hold_ratio = _per(total_hold, total_duration)
    if total_duration == 0:
        efficiency: float | None = None
    else:
        efficiency = float(max(Fraction(0), 100 - Fraction(total_hold, total_duration) * 50))
    codes = {c.wrapup_code for c in ended if c.wrapup_code is not None}
    return {
        "conversations": len(conversations),
        "offered": offered,
        "answered": answered_count,
        "abandoned": sum(c.abandoned for c in ended),
        "transferred": sum(c.transferred for c in ended),
        "abandon_rate": _per(sum(c.abandoned for c in ended), offered),
        "answer_rate": _per(answered_count, offered),
        "service_level": _per(within_service_level, offered),
        "avg_speed_of_answer_seconds": _per(sum(speeds), len(speeds), 1000),
        "avg_wait_seconds": _per(sum(c.wait_ms for c in ended), offered, 1000),
        "avg_duration_seconds": _per(total_duration, len(ended), 1000),
        "avg_talk_seconds": _per(total_talk, answered_count, 1000),
        "avg_hold_seconds": _per(total_hold, answered_count, 1000),
        "avg_acw_seconds": _per(sum(c.acw_ms for c in ended), answered_count, 1000),
        "avg_handle_seconds": _per(sum(c.handle_ms for c in ended), answered_count, 1000),
        "p50_handle_seconds": None if p50 is None else p50 / 1000,
        "p90_handle_seconds": None if p90 is None else p90 / 1000,
        "talk_ratio": _per(total_talk, total_duration),
        "hold_ratio": hold_ratio,
        "efficiency_score": efficiency,
        "wrapup_codes": sorted(wrapup_names.get(code, code) for code in codes),
    }


def rounded(metric: str, value: Any) -> Any:
    """§3 output rounding: seconds to 2 decimals, ratios and rates to 4, the score to 2."""
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
    """A custom metric with Python's own arithmetic over the unrounded metric values.

    Division by zero or a null operand gives None; a float result is rounded to 4 decimals, a
    comparison's bool counts as 1/0.
    """
    tree = ast.parse(expression, mode="eval")
    for node in ast.walk(tree):
        assert isinstance(node, _ALLOWED_EXPRESSION_NODES), ast.dump(node)
    namespace = {**values, **CUSTOM_FUNCTIONS}
    try:
        result = eval(  # noqa: S307  # the test's own expressions, checked just above
            compile(tree, "<custom metric>", "eval"), {"__builtins__": {}}, namespace
        )
    except (ZeroDivisionError, TypeError):
        return None
    if isinstance(result, bool):
        return int(result)
    if isinstance(result, int):
        return result
    if isinstance(result, float):
        return round(result, 4) if math.isfinite(result) else None
    return None


# --- the report --------------------------------------------------------------------------------


def expected_columns(report: ReportSettings, metric_order: Sequence[str]) -> list[str]:
    """Group columns (id and name for the named dimensions), then the metrics, then the custom
    metrics. ``metric_order`` is the order of all built-in metrics."""
    columns: list[str] = []
    for dimension in report.group_by:
        if dimension in NAMED_DIMENSIONS:
            _, id_column, name_column = NAMED_DIMENSIONS[dimension]
            columns += [id_column, name_column]
        else:
            columns.append(dimension)
    columns += [metric for metric in metric_order if metric in report.metrics]
    columns += list(report.custom_metrics)
    return columns


@dataclass
class Expected:
    """What a report over ``period`` must contain."""

    rows: list[dict[str, Any]]
    conversations: int
    ongoing_skipped: int
    facts: list[ConversationFacts] = field(default_factory=list)


def _sort_key(key: tuple[Any, ...]) -> tuple[tuple[bool, Any], ...]:
    # None sorts before every value of its dimension.
    return tuple((value is not None, "" if value is None else value) for value in key)


def expected_report(
    records: Iterable[Mapping[str, Any]],
    report: ReportSettings,
    period: Period,
    names: Mapping[str, Mapping[str, str]],
) -> Expected:
    """The rows a report must show, from the ground-truth records of its period.

    ``names`` maps a look-up kind (``queues``, ``users``, ``wrapupcodes``, ``divisions``) to
    ``{id: display name}``; an id missing there keeps its id as the name.
    """
    zone = ZoneInfo(report.timezone)
    selected = [r for r in select_conversations(records, period) if matches_filters(r, report)]
    all_facts = [conversation_facts(r, zone) for r in selected]
    counted = [f for f in all_facts if f.ended or report.include_ongoing]
    ongoing_skipped = len(all_facts) - len(counted)

    groups: dict[tuple[Any, ...], list[ConversationFacts]] = {}
    for facts in counted:
        key = tuple(facts.dimension(d) for d in report.group_by)
        groups.setdefault(key, []).append(facts)
    if not report.group_by and not groups:
        groups[()] = []  # an ungrouped report has its one row even over nothing

    wrapup_names = names.get("wrapupcodes", {})
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
        values = group_metrics(
            groups[key],
            service_level_seconds=report.service_level_seconds,
            wrapup_names=wrapup_names,
        )
        for metric in report.metrics:
            row[metric] = rounded(metric, values[metric])
        for name, expression in report.custom_metrics.items():
            row[name] = evaluate_custom(expression, values)
        rows.append(row)
    return Expected(
        rows=rows, conversations=len(counted), ongoing_skipped=ongoing_skipped, facts=all_facts
    )
