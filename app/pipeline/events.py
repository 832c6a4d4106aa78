"""Metric events of one conversation (report-semantics §1, §2, interval grain).

The interval grain's unit is the metric event: one ``{name, value, emitDate}`` entry in a
session's ``metrics``. Each event is credited to the queue, agent, media type and wrap-up code of
**its own session**, and to the conversation's direction and first division, as Genesys' views
do. Pure and I/O-free, and on the hot path: sessions are walked once and only the timestamps
that matter are parsed.

A detail record is external data: entries with an unexpected name, a non-integer value or an
unreadable ``emitDate`` are skipped (they cannot be counted anywhere); a record without a
usable ``conversationId`` raises ``MalformedRecord`` like the conversation grain.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from app.pipeline.record import (
    MAX_METRIC,
    MalformedRecord,
    instant_ms,
    items,
    not_earlier,
    optional_instant,
    text,
)

__all__ = ["AGENT_PURPOSES", "Event", "conversation_events"]

# Participants whose userId is the event's agent (§2).
AGENT_PURPOSES = frozenset({"agent", "user"})


class Event(NamedTuple):
    """One session metric with the dimensions it is credited to; times in epoch ms."""

    conversation_id: str
    session_id: str | None
    purpose: str | None
    emit_ms: int
    name: str
    value: int
    queue_id: str | None
    agent_id: str | None
    media_type: str | None
    direction: str | None
    division_id: str | None
    wrapup_code: str | None


def conversation_events(record: Mapping[str, Any], start_ms: int, end_ms: int) -> Iterator[Event]:
    """The events of ``record`` emitted in ``[start_ms, end_ms)``, in record order."""
    if not isinstance(record, Mapping):
        raise MalformedRecord(f"a detail record must be an object, not {type(record).__name__}")
    conversation_id = record.get("conversationId")
    if not isinstance(conversation_id, str) or not conversation_id:
        raise MalformedRecord("detail record has no conversationId")
    direction = text(record.get("originatingDirection"))
    divisions = items(record.get("divisionIds"))
    division = text(divisions[0]) if divisions else None
    for participant in items(record.get("participants")):
        if not isinstance(participant, dict):
            continue
        purpose = text(participant.get("purpose"))
        agent = text(participant.get("userId")) if purpose in AGENT_PURPOSES else None
        for session in items(participant.get("sessions")):
            if not isinstance(session, dict):
                continue
            metrics = _in_period(session.get("metrics"), start_ms, end_ms)
            if not metrics:
                continue
            queue, wrapup = _session_queue_and_wrapup(session.get("segments"))
            session_id = text(session.get("sessionId"))
            media = text(session.get("mediaType"))
            for name, value, emit_ms in metrics:
                yield Event(
                    conversation_id,
                    session_id,
                    purpose,
                    emit_ms,
                    name,
                    value,
                    queue,
                    agent,
                    media,
                    direction,
                    division,
                    wrapup,
                )


def _in_period(metrics: Any, start_ms: int, end_ms: int) -> list[tuple[str, int, int]]:
    found = []
    for metric in items(metrics):
        if not isinstance(metric, dict):
            continue
        name = metric.get("name")
        value = metric.get("value")
        emitted = metric.get("emitDate")
        # bool is an int subclass, but True is not a metric value.
        if (
            not isinstance(name, str)
            or not name
            or type(value) is not int
            # Durations and counts are never negative; such a value is garbage, as is one of
            # more than about 285,000 years.
            or not 0 <= value <= MAX_METRIC
            or not isinstance(emitted, str)
        ):
            continue
        try:
            emit_ms = instant_ms(emitted)
        except ValueError:
            continue
        if start_ms <= emit_ms < end_ms:
            found.append((name, value, emit_ms))
    return found


def _session_queue_and_wrapup(segments: Any) -> tuple[str | None, str | None]:
    """§2: the ``queueId`` of the session's latest segment that carries one, and the
    ``wrapUpCode`` of its latest ``wrapup`` segment that carries one. "Latest" is by
    ``segmentStart``, array order breaking ties; a segment without a readable start ranks
    before every dated one (it cannot be shown to be the latest)."""
    queue: str | None = None
    queue_at: int | None = None
    wrapup: str | None = None
    wrapup_at: int | None = None
    for segment in items(segments):
        if not isinstance(segment, dict):
            continue
        queue_here = text(segment.get("queueId"))
        code = text(segment.get("wrapUpCode")) if segment.get("segmentType") == "wrapup" else None
        if queue_here is None and code is None:
            continue
        at = optional_instant(segment.get("segmentStart"))
        if queue_here is not None and (queue is None or not_earlier(at, queue_at)):
            queue, queue_at = queue_here, at
        if code is not None and (wrapup is None or not_earlier(at, wrapup_at)):
            wrapup, wrapup_at = code, at
    return queue, wrapup
