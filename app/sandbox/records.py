"""The sandbox's internal conversation model and its rendering as a detail record.

A conversation is generated once, complete, as a timeline: every segment has its start and end,
every metric its emit instant. What the API shows is that timeline *as of* an instant: segments
not yet started are absent, the open segment has no ``segmentEnd``, metrics not yet emitted are
absent, and ``conversationEnd`` appears only once the conversation is over. The same
conversation therefore looks different to two requests made at different times, as it does in
Genesys Cloud (reference §10), and a few "stuck" conversations never end at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000


@lru_cache(maxsize=4096)
def _day_prefix(day: int) -> str:
    return datetime.fromtimestamp(day * 86_400, tz=UTC).strftime("%Y-%m-%dT")


def iso_ms(ms: int) -> str:
    """Render epoch milliseconds as the API does: ``yyyy-MM-ddTHH:mm:ss.mmmZ``."""
    # Every rendered record formats some twenty instants: arithmetic on a cached date is about
    # three times faster than a datetime and strftime each.
    day, milliseconds = divmod(ms, MS_PER_DAY)
    seconds, milli = divmod(milliseconds, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{_day_prefix(day)}{hour:02d}:{minute:02d}:{second:02d}.{milli:03d}Z"


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    value: int
    emit_ms: int


@dataclass(frozen=True, slots=True)
class Segment:
    start_ms: int
    end_ms: int
    segment_type: str
    queue_id: str | None = None
    wrap_up_code: str | None = None
    disconnect_type: str | None = None
    # Known, like the wrap-up code and the disconnect type, once the segment has ended.
    wrap_up_note: str | None = None
    error_code: str | None = None
    # The skills the queue asked for: the same list on every segment of a queue leg.
    skill_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Routing:
    """How an acd session was routed (reference §7.3): what was requested from the offer on,
    and, once an agent was selected at ``selected_ms``, the method used and the agent."""

    requested: tuple[str, ...]
    used: str | None = None
    selected_agent_id: str | None = None
    selected_ms: int = 0


@dataclass(frozen=True, slots=True)
class FlowExit:
    """How a flow ended and its outcomes, shown once its last segment has ended."""

    exit_reason: str
    transfer_type: str | None = None
    # (outcome id, SUCCESS or FAILURE, start ms)
    outcomes: tuple[tuple[str, str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Session:
    session_id: str
    media_type: str
    direction: str
    segments: tuple[Segment, ...]
    metrics: tuple[Metric, ...] = ()
    ani: str | None = None
    dnis: str | None = None
    flow: dict[str, str] | None = None
    flow_exit: FlowExit | None = None
    routing: Routing | None = None
    edge_id: str | None = None
    provider: str | None = None


@dataclass(frozen=True, slots=True)
class Participant:
    participant_id: str
    purpose: str
    sessions: tuple[Session, ...]
    participant_name: str | None = None
    user_id: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    team_id: str | None = None


@dataclass(frozen=True, slots=True)
class Conversation:
    conversation_id: str
    start_ms: int
    end_ms: int
    originating_direction: str
    division_ids: tuple[str, ...]
    participants: tuple[Participant, ...]
    min_mos: float | None = None
    initiator: str | None = None
    customer_participation: bool | None = None
    # A conversation that never ends (a stuck chat, an abandoned email draft): the API shows it
    # as of this instant for ever, without conversationEnd.
    stuck_at_ms: int | None = None

    def cut_ms(self, now_ms: int) -> int:
        """The instant the record is shown as of."""
        return now_ms if self.stuck_at_ms is None else min(now_ms, self.stuck_at_ms)

    def is_ended(self, now_ms: int) -> bool:
        return self.stuck_at_ms is None and self.end_ms <= now_ms

    def activity_end_ms(self, now_ms: int) -> int:
        """End of the activity span ``[start, end or now]`` used by interval selection."""
        return self.end_ms if self.is_ended(now_ms) else max(now_ms, self.start_ms)


# Segments of a call leg on which parties speak: Genesys says of each whether it was a
# conference; the sandbox has no conferences, so the answer is always false.
_CONFERENCE_SEGMENTS = frozenset({"interact", "hold"})


def _render_segment(segment: Segment, cut: int, media_type: str) -> dict[str, Any]:
    out: dict[str, Any] = {"segmentStart": iso_ms(segment.start_ms)}
    ended = segment.end_ms <= cut
    if ended:
        out["segmentEnd"] = iso_ms(segment.end_ms)
    out["segmentType"] = segment.segment_type
    if segment.queue_id is not None:
        out["queueId"] = segment.queue_id
    if segment.skill_ids:
        out["requestedRoutingSkillIds"] = list(segment.skill_ids)
    if media_type == "voice" and segment.segment_type in _CONFERENCE_SEGMENTS:
        out["conference"] = False
    # Wrap-up code and note, disconnect type and error are known only once the segment ended.
    if ended:
        if segment.wrap_up_code is not None:
            out["wrapUpCode"] = segment.wrap_up_code
        if segment.wrap_up_note is not None:
            out["wrapUpNote"] = segment.wrap_up_note
        if segment.disconnect_type is not None:
            out["disconnectType"] = segment.disconnect_type
        if segment.error_code is not None:
            out["errorCode"] = segment.error_code
    return out


def _render_flow(
    flow: dict[str, str], ending: FlowExit | None, end_ms: int, cut: int
) -> dict[str, Any]:
    """A flow as of ``cut``: how it ended is known once its last segment ends at ``end_ms``."""
    out: dict[str, Any] = dict(flow)
    if ending is None or end_ms > cut:
        return out
    out["exitReason"] = ending.exit_reason
    if ending.transfer_type is not None:
        out["transferType"] = ending.transfer_type
    if ending.outcomes:
        out["outcomes"] = [
            {
                "flowOutcome": f"{outcome_id}:{value}",
                "flowOutcomeId": outcome_id,
                "flowOutcomeValue": value,
                "flowOutcomeStartTimestamp": iso_ms(start_ms),
                "flowOutcomeEndTimestamp": iso_ms(end_ms),
            }
            for outcome_id, value, start_ms in ending.outcomes
        ]
    return out


def _render_routing(routing: Routing, cut: int) -> dict[str, Any]:
    out: dict[str, Any] = {"requestedRoutings": list(routing.requested)}
    if routing.used is not None and routing.selected_ms <= cut:
        out["usedRouting"] = routing.used
        if routing.selected_agent_id is not None:
            out["selectedAgentId"] = routing.selected_agent_id
    return out


def _render_session(session: Session, cut: int) -> dict[str, Any] | None:
    media = session.media_type
    segments = [_render_segment(s, cut, media) for s in session.segments if s.start_ms < cut]
    if not segments:
        return None
    out: dict[str, Any] = {
        "sessionId": session.session_id,
        "mediaType": session.media_type,
        "direction": session.direction,
    }
    if session.ani is not None:
        out["ani"] = out["addressFrom"] = session.ani
    if session.dnis is not None:
        out["dnis"] = out["addressTo"] = session.dnis
    if session.edge_id is not None:
        out["edgeId"] = session.edge_id
    if session.provider is not None:
        out["provider"] = session.provider
    if session.routing is not None:
        out.update(_render_routing(session.routing, cut))
    if session.flow is not None:
        end_ms = session.segments[-1].end_ms
        out["flow"] = _render_flow(session.flow, session.flow_exit, end_ms, cut)
    metrics = [
        {"name": m.name, "value": m.value, "emitDate": iso_ms(m.emit_ms)}
        for m in session.metrics
        if m.emit_ms <= cut
    ]
    if metrics:
        out["metrics"] = metrics
    out["segments"] = segments
    return out


def render(conversation: Conversation, now_ms: int, *, with_attributes: bool) -> dict[str, Any]:
    """The detail record (reference §7) as the API would return it at ``now_ms``.

    ``with_attributes`` selects the async-job shape (participants carry ``attributes``); the
    synchronous query returns the *WithoutAttributes* variant.
    """
    cut = conversation.cut_ms(now_ms)
    ended = conversation.is_ended(now_ms)
    record: dict[str, Any] = {
        "conversationId": conversation.conversation_id,
        "conversationStart": iso_ms(conversation.start_ms),
    }
    if ended:
        record["conversationEnd"] = iso_ms(conversation.end_ms)
    record["originatingDirection"] = conversation.originating_direction
    if conversation.initiator is not None:
        record["conversationInitiator"] = conversation.initiator
    if conversation.customer_participation is not None:
        record["customerParticipation"] = conversation.customer_participation
    record["divisionIds"] = list(conversation.division_ids)
    if conversation.min_mos is not None and ended:
        record["mediaStatsMinConversationMos"] = conversation.min_mos
    participants = []
    for participant in conversation.participants:
        sessions = [s for s in (_render_session(x, cut) for x in participant.sessions) if s]
        if not sessions:
            continue
        rendered: dict[str, Any] = {
            "participantId": participant.participant_id,
            "purpose": participant.purpose,
        }
        if participant.participant_name is not None:
            rendered["participantName"] = participant.participant_name
        if participant.user_id is not None:
            rendered["userId"] = participant.user_id
        if participant.team_id is not None:
            rendered["teamId"] = participant.team_id
        if with_attributes:
            rendered["attributes"] = dict(participant.attributes)
        rendered["sessions"] = sessions
        participants.append(rendered)
    record["participants"] = participants
    return record
