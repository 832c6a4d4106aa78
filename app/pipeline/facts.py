"""Facts of one conversation (report-semantics §2), derived from its detail record.

Pure and I/O-free, and on the hot path: it runs once per conversation, millions of times a
report. So it reads the record's plain dicts and lists directly (no model validation), walks
participants and sessions once, and parses only the timestamps it needs.

A detail record is external data: missing optional fields, ``null`` where a list or value is
expected, unknown fields, and metric entries with unexpected names or non-integer values are
all tolerated (the odd entry is skipped). Only a record without a usable ``conversationId`` or
``conversationStart`` cannot become facts; it raises ``MalformedRecord``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any
from zoneinfo import ZoneInfo

from app.pipeline.buckets import OutsideCalendar, local_buckets
from app.pipeline.record import (
    MAX_METRIC,
    NOTHING,
    MalformedRecord,
    first_text,
    instant_ms,
    items,
    not_earlier,
    optional_instant,
    text,
)

__all__ = [
    "Facts",
    "MalformedRecord",
    "conversation_facts",
    "instant_ms",
]  # the last two re-exported

# Session metrics that become presence flags (§2: a flag is the presence of the metric, so
# nOffered emitted twice on a transfer still counts once).
_OFFERED, _ANSWERED, _ABANDON, _TRANSFERRED = "nOffered", "tAnswered", "tAbandon", "nTransferred"
_FLAG_METRICS = frozenset((_OFFERED, _ANSWERED, _ABANDON, _TRANSFERRED))
# Session metrics summed over all sessions, by their slot in ``_Scan.sums``.
_HANDLE_METRIC = "tHandle"
_SUMMED_METRICS = {"tAcd": 0, "tTalk": 1, "tHeld": 2, "tAcw": 3, _HANDLE_METRIC: 4}
_WAIT, _TALK, _HOLD, _ACW, _HANDLE = range(5)
# Below the record itself, objects are tested with ``isinstance(x, dict)``: a detail record is
# decoded JSON, whose objects are dicts, and the ABC check for Mapping costs ~15% of the scan.


@dataclass(frozen=True, slots=True)
class Facts:
    """What the report needs to know about one conversation; durations in ms, flags 0/1."""

    conversation_id: str
    start_ms: int
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

    def as_dict(self) -> dict[str, Any]:
        """Every field by name; all values are str, int, bool or None, so JSON-ready."""
        # Not dataclasses.asdict: it deep-copies every value, which costs for millions of rows.
        return {name: getattr(self, name) for name in _FIELD_NAMES}


_FIELD_NAMES = tuple(field.name for field in fields(Facts))


def conversation_facts(record: Mapping[str, Any], zone: ZoneInfo) -> Facts:
    """The §2 facts of one detail record; time buckets are local to ``zone``."""
    if not isinstance(record, Mapping):
        raise MalformedRecord(f"a detail record must be an object, not {type(record).__name__}")
    conversation_id = record.get("conversationId")
    if not isinstance(conversation_id, str) or not conversation_id:
        raise MalformedRecord("detail record has no conversationId")
    start_ms = _start_ms(record.get("conversationStart"), conversation_id)
    end_ms = optional_instant(record.get("conversationEnd"))
    participants = items(record.get("participants"))
    scan = _Scan()
    for participant in participants:
        scan.participant(participant)
    try:
        half_hour, hour, day, week, month = local_buckets(start_ms, zone)
    except OutsideCalendar:
        raise MalformedRecord(
            f"conversation {conversation_id} has a conversationStart outside the calendar"
        ) from None
    present = scan.present
    sums = scan.sums
    return Facts(
        conversation_id=conversation_id,
        start_ms=start_ms,
        ended=end_ms is not None,
        media_type=_media_type(participants),
        direction=text(record.get("originatingDirection")),
        division_id=first_text(record.get("divisionIds")),
        queue_id=scan.queue_id(),
        agent_id=scan.agent_id,
        wrapup_code=scan.wrapup_code,
        offered=int(_OFFERED in present),
        answered=int(_ANSWERED in present),
        abandoned=int(_ABANDON in present),
        transferred=int(_TRANSFERRED in present),
        handled=int(_HANDLE_METRIC in present),
        speed_of_answer_ms=scan.speed_of_answer_ms,
        wait_ms=sums[_WAIT],
        talk_ms=sums[_TALK],
        hold_ms=sums[_HOLD],
        acw_ms=sums[_ACW],
        handle_ms=sums[_HANDLE],
        duration_ms=None if end_ms is None else end_ms - start_ms,
        half_hour=half_hour,
        hour=hour,
        day=day,
        week=week,
        month=month,
    )


# --- the one pass over participants, sessions, segments and metrics -------------------------


class _Scan:
    """Accumulates the participant-level facts while the record is walked once."""

    __slots__ = (
        "_acd_queue",
        "_fallback_queues",
        "_wrapup_at",
        "agent_id",
        "present",
        "speed_of_answer_ms",
        "sums",
        "wrapup_code",
    )

    def __init__(self) -> None:
        self.present: set[str] = set()
        self.sums = [0, 0, 0, 0, 0]
        self.speed_of_answer_ms: int | None = None
        self.agent_id: str | None = None
        self.wrapup_code: str | None = None
        # Earliest queue segment of an acd participant, as (segmentStart ms or None, queueId).
        self._acd_queue: tuple[int | None, str] | None = None
        # Queue segments of other participants, kept unparsed: they only matter when no acd
        # participant names a queue, which is rare, so their timestamps are parsed lazily.
        self._fallback_queues: list[tuple[Any, str]] = []
        self._wrapup_at: int | None = None

    def participant(self, participant: Any) -> None:
        if not isinstance(participant, dict):
            return
        purpose = participant.get("purpose")
        is_acd = purpose == "acd"
        interacted = False
        for session in items(participant.get("sessions")):
            if not isinstance(session, dict):
                continue
            self._metrics(session.get("metrics"))
            interacted = self._segments(session.get("segments"), is_acd) or interacted
        if purpose == "agent" and interacted:
            # Array order decides: a later interacting agent replaces an earlier one, while an
            # agent who was only alerted (RONA) never interacted and does not count.
            self.agent_id = text(participant.get("userId"))

    def _metrics(self, metrics: Any) -> None:
        for metric in items(metrics):
            if not isinstance(metric, dict):
                continue
            name = metric.get("name")
            value = metric.get("value")
            # bool is an int subclass, but True is not a metric value.
            if not isinstance(name, str) or type(value) is not int or abs(value) > MAX_METRIC:
                continue
            slot = _SUMMED_METRICS.get(name)
            if slot is not None:
                self.sums[slot] += value
                if slot == _HANDLE:
                    self.present.add(name)
            elif name in _FLAG_METRICS:
                self.present.add(name)
                if name == _ANSWERED and (
                    self.speed_of_answer_ms is None or value < self.speed_of_answer_ms
                ):
                    self.speed_of_answer_ms = value

    def _segments(self, segments: Any, is_acd: bool) -> bool:
        """Record the segment facts; True when one of them is an ``interact`` segment."""
        interacted = False
        for segment in items(segments):
            if not isinstance(segment, dict):
                continue
            kind = segment.get("segmentType")
            if kind == "interact":
                interacted = True
            queue = text(segment.get("queueId"))
            if queue is not None:
                if is_acd:
                    self._acd_candidate(segment.get("segmentStart"), queue)
                else:
                    self._fallback_queues.append((segment.get("segmentStart"), queue))
            if kind == "wrapup":
                code = text(segment.get("wrapUpCode"))
                if code is not None:
                    self._wrapup_candidate(segment.get("segmentStart"), code)
        return interacted

    def _acd_candidate(self, start: Any, queue: str) -> None:
        at = optional_instant(start)
        if self._acd_queue is None or _earlier(at, self._acd_queue[0]):
            self._acd_queue = (at, queue)

    def _wrapup_candidate(self, start: Any, code: str) -> None:
        at = optional_instant(start)
        # ">=" so that between equal starts the later one in the record wins; a segment with
        # no readable start ranks before every dated one (it cannot be shown to be latest).
        if self.wrapup_code is None or not_earlier(at, self._wrapup_at):
            self.wrapup_code, self._wrapup_at = code, at

    def queue_id(self) -> str | None:
        if self._acd_queue is not None:
            return self._acd_queue[1]
        best: tuple[int | None, str] | None = None
        for start, queue in self._fallback_queues:
            at = optional_instant(start)
            if best is None or _earlier(at, best[0]):
                best = (at, queue)
        return None if best is None else best[1]


def _media_type(participants: list[Any]) -> str | None:
    # §2 names exactly one place: the first session of the first participant. Falling back to
    # later ones would make the figure depend on how incomplete a record is.
    first = participants[0] if participants else None
    sessions = items(first.get("sessions")) if isinstance(first, dict) else NOTHING
    session = sessions[0] if sessions else None
    return text(session.get("mediaType")) if isinstance(session, dict) else None


def _earlier(at: int | None, best: int | None) -> bool:
    # A segment with no readable start ranks after every dated one; between equal starts the
    # first one in the record stays.
    return at is not None and (best is None or at < best)


def _start_ms(value: Any, conversation_id: str) -> int:
    if not isinstance(value, str):
        raise MalformedRecord(f"conversation {conversation_id} has no conversationStart")
    try:
        return instant_ms(value)
    except ValueError:
        raise MalformedRecord(
            f"conversation {conversation_id} has an invalid conversationStart {value!r}"
        ) from None
