"""Deterministic synthetic conversations, generated one UTC hour at a time.

Each hour has its own ``random.Random`` seeded from the source seed and the hour index, so an
hour's conversations never depend on which hours were generated before: a sandbox restarted
tomorrow serves the same conversations for the same hours. Every conversation is complete (all
segments and metrics with their instants); ``records.render`` decides what is visible when.

The stories follow the shapes described in the reference (genesys-api.md §7): inbound voice goes
customer → IVR → ACD queue → agent, digital media skip the IVR, outbound voice is agent →
external. Queue abandons, transfers between queues (in the same or another division), holds,
missing wrap-up codes, self-service in the IVR and never-ending ("stuck") conversations all
occur, so that every fact a report derives (report-semantics.md §2) has data behind it. So do
the less common shapes those facts must get right:

* an agent alerted who does not answer (RONA), listed before the agent who then answers, and
  sometimes still given a wrap-up (``tAcw`` and ``tHandle``) that timed out;
* a queue left by a system disconnect (an abandon) or by a flow-out (``tFlowOut``) to an
  external number or another flow;
* outbound calls placed on behalf of a queue, whose only queue ids are on the agent's segments;
* agents who have left and a queue since deleted, whose ids no look-up resolves;
* wrap-ups with the system code ``ININ-WRAP-UP-TIMEOUT``, which no look-up resolves either.

Every metric is emitted when Genesys emits it (genesys-api.md §13), since reports count each in
the interval of its ``emitDate``: ``nOffered`` on entering a queue; ``tAcd`` with ``tAbandon``
(and ``tShortAbandon``) or ``tFlowOut`` on leaving it; ``tAnswered`` on answer; ``tHeld`` as each
hold ends; ``tTalk`` and ``tTalkComplete`` as the talk ends; ``tAcw`` and ``tHandle`` as the
wrap-up ends, often in a later half hour than the conversation started. Queue legs start with a
``delay`` segment; IVR legs with a ``system`` segment and carry ``nFlow``, ``tFlow``, ``tIvr`` and
``tFlowExit`` (``tFlowDisconnect`` when the caller ends in the flow); customers carry
``nConnected`` and ``tConnected``; outbound agents ``tDialing`` and ``tContacting``, which their
``tHandle`` includes.
"""

from __future__ import annotations

import bisect
import gc
import math
import random
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import accumulate, pairwise
from typing import Any, Literal
from zoneinfo import ZoneInfo

from app.sandbox.org import WRAP_UP_TIMEOUT, Entity, Organisation, random_uuid
from app.sandbox.records import (
    MS_PER_HOUR,
    Conversation,
    FlowExit,
    Metric,
    Participant,
    Routing,
    Segment,
    Session,
)

# Share of a weekday's peak hour by local hour of day: quiet nights, a ramp from 07:00, a morning
# peak at 10-11, a lunch dip, an afternoon peak at 14-15 and an evening decline.
HOURLY_FACTOR: tuple[float, ...] = (
    0.04, 0.03, 0.03, 0.03, 0.04, 0.06, 0.10, 0.35, 0.70, 0.90, 1.00, 0.98,
    0.80, 0.85, 0.98, 1.00, 0.85, 0.62, 0.42, 0.28, 0.19, 0.13, 0.08, 0.06,
)  # fmt: skip

_FLOW_START_S = (0.2, 1.5)  # a flow's system segment before its menu
_IVR_S = (10.0, 90.0)
_SELF_SERVICE_SHARE = 0.08
_ALERT_S = (2.0, 15.0)
_HOLD_S = (10.0, 180.0)
_MAX_HOLDS = 2
_ACW_S = (10.0, 120.0)
_DIAL_S = (1.0, 5.0)
_CONTACT_S = (4.0, 25.0)
_WRAPUP_CODE_SHARE = 0.95
# Of all wrap-ups, those that timed out and carry the system code (inside the share with a code).
_WRAPUP_TIMEOUT_SHARE = 0.03
# A queue leg's delay segment before routing starts; never more than half of the wait.
_QUEUE_DELAY_S = (0.05, 1.0)
# Abandons quicker than this also emit tShortAbandon (Genesys' default short-abandon threshold).
SHORT_ABANDON_MS = 10_000
_TRANSFER_SHARE = 0.08
_SECOND_QUEUE_ABANDON_SHARE = 0.10
_AGENT_HANGS_UP_SHARE = 0.4
_MOS = (3.0, 4.6)
_TIERS = ("gold", "silver", "silver", "bronze", "bronze", "bronze")
_OUTBOUND_SHARE = 0.65 * 0.12
# Outbound calls placed on behalf of one of the agent's division's queues.
_OUTBOUND_QUEUE_SHARE = 0.30
# Agents who have left since (in Organisation.departed_users), per agent pick.
_DEPARTED_SHARE = 0.015
# Inbound conversations first offered to a queue that has been deleted since.
_DELETED_QUEUE_SHARE = 0.01
# First-queue legs the system disconnects (an abandon, genesys-api.md §13) and legs that flow
# out; of the flow-outs on a phone line this share goes to an external number, the others (and
# every digital one) to a flow, where the caller ends (voice) or the flow ends it (digital).
_SYSTEM_DISCONNECT_SHARE = 0.01
_FLOW_OUT_SHARE = 0.02
_FLOW_OUT_EXTERNAL_SHARE = 0.5
_FLOW_S = (10.0, 120.0)
_DIGITAL_FLOW_S = (0.5, 5.0)
# Media a phone-style flow (purpose ivr, with an ivr segment) handles; others get a workflow.
_PHONE_MEDIA = frozenset({"voice", "callback"})
# Spelt as Genesys spells them (the SDK's AnalyticsFlow.flowType enum).
_FLOW_TYPES = {
    "voice": "INBOUNDCALL",
    "callback": "INBOUNDCALL",
    "chat": "INBOUNDCHAT",
    "message": "INBOUNDSHORTMESSAGE",
    "email": "INBOUNDEMAIL",
}
# The source provider of each medium's sessions (AnalyticsSession.provider).
_PROVIDERS = {
    "voice": "Edge",
    "callback": "PureCloud Callback",
    "chat": "PureCloud Webchat v2",
    "message": "PureCloud Messaging",
    "email": "PureCloud Email",
}
# Every queue routes the standard way; an agent selected by it is the one alerted last.
_STANDARD_ROUTING = "Standard"
_SKILLS_PER_QUEUE = (0, 0, 1, 1, 2)
_SKILL_COUNT = 6
# The error a queue leg the system disconnected carries. [UNVERIFIED] Genesys documents the
# field, not its values; this one is the shape its edge errors take.
_SYSTEM_DISCONNECT_ERROR = "error.ininedgecontrol.session.inactive"
# Notes an agent typed with a wrap-up code, on one wrap-up in _WRAP_UP_NOTE_EVERY.
_WRAP_UP_NOTES = (
    "Customer will call back",
    "Sent a follow-up email",
    "Escalated to the team lead",
    "Resolved on first contact",
)
_WRAP_UP_NOTE_EVERY = 4
# Answered first legs on which another agent was alerted first and did not respond; the call
# goes back to the queue for a moment before the next agent is alerted.
_RONA_SHARE = 0.03
_RONA_S = (8.0, 30.0)
_REQUEUE_S = (0.2, 3.0)
# Agents who did not respond and still got a wrap-up, which then timed out.
_RONA_WRAPUP_SHARE = 0.4
# How a queue leg ends, for the metrics its acd session emits.
_Outcome = Literal["answered", "abandoned", "flowed out"]
_ANSWERED: _Outcome = "answered"
_ABANDONED: _Outcome = "abandoned"
_FLOWED_OUT: _Outcome = "flowed out"


@dataclass(frozen=True, slots=True)
class VolumeProfile:
    """How many conversations start when; hours of the daily curve are read in ``timezone``."""

    peak_per_hour: int = 300
    timezone: str = "UTC"
    weekend_factor: float = 0.4
    stuck_fraction: float = 0.003

    def __post_init__(self) -> None:
        if self.peak_per_hour < 0:
            raise ValueError("peak_per_hour must not be negative")
        if self.weekend_factor < 0:
            raise ValueError("weekend_factor must not be negative")
        if not 0.0 <= self.stuck_fraction <= 1.0:
            raise ValueError("stuck_fraction must lie in [0, 1]")
        ZoneInfo(self.timezone)  # an unknown zone fails here, not at the first hour asked for


@dataclass(frozen=True, slots=True)
class _Channel:
    """How one inbound medium behaves; all times in seconds."""

    media_type: str
    share: float
    ivr: bool
    hold: bool
    transfer: bool
    rona: bool  # agents may be alerted and not respond
    external: bool  # a flow-out may go to an external phone number
    # Waits are a mixture: an agent was free (short uniform wait) or the caller queued
    # (exponential tail), which gives a realistic service level with a long tail.
    quick_share: float
    quick_max_s: float
    queued_mean_s: float
    wait_cap_s: float
    abandon_share: float
    abandon_mean_s: float
    talk_median_s: float
    talk_sigma: float
    talk_min_s: float
    talk_cap_s: float


_CHANNELS: tuple[_Channel, ...] = (
    _Channel(
        media_type="voice",
        share=0.65 - _OUTBOUND_SHARE,
        ivr=True,
        hold=True,
        transfer=True,
        rona=True,
        external=True,
        quick_share=0.65,
        quick_max_s=3,
        queued_mean_s=60,
        wait_cap_s=600,
        abandon_share=0.07,
        abandon_mean_s=50,
        talk_median_s=240,
        talk_sigma=0.7,
        talk_min_s=20,
        talk_cap_s=2400,
    ),
    _Channel(
        media_type="chat",
        share=0.15,
        ivr=False,
        hold=False,
        transfer=True,
        rona=True,
        external=False,
        quick_share=0.5,
        quick_max_s=5,
        queued_mean_s=90,
        wait_cap_s=600,
        abandon_share=0.06,
        abandon_mean_s=60,
        talk_median_s=480,
        talk_sigma=0.6,
        talk_min_s=60,
        talk_cap_s=1500,
    ),
    _Channel(
        media_type="message",
        share=0.10,
        ivr=False,
        hold=False,
        transfer=False,
        rona=False,
        external=False,
        quick_share=0.3,
        quick_max_s=10,
        queued_mean_s=600,
        wait_cap_s=3600,
        abandon_share=0.04,
        abandon_mean_s=300,
        talk_median_s=900,
        talk_sigma=0.9,
        talk_min_s=60,
        talk_cap_s=9000,
    ),
    _Channel(
        media_type="email",
        share=0.06,
        ivr=False,
        hold=False,
        transfer=False,
        rona=False,
        external=False,
        quick_share=0.05,
        quick_max_s=60,
        queued_mean_s=2400,
        wait_cap_s=14400,
        abandon_share=0.0,  # nobody hangs up on an email
        abandon_mean_s=1,
        talk_median_s=360,
        talk_sigma=0.8,
        talk_min_s=30,
        talk_cap_s=3600,
    ),
    _Channel(
        media_type="callback",
        share=0.04,
        ivr=False,
        hold=True,
        transfer=False,
        rona=False,
        external=False,
        quick_share=0.3,
        quick_max_s=5,
        queued_mean_s=300,
        wait_cap_s=1800,
        abandon_share=0.03,
        abandon_mean_s=120,
        talk_median_s=240,
        talk_sigma=0.7,
        talk_min_s=20,
        talk_cap_s=2400,
    ),
)
_OUTBOUND_TALK = (180.0, 0.8, 10.0, 2400.0)  # median, sigma, min, cap (s)
# Outbound first, then the inbound channels: cumulative shares for one bisect per conversation.
_STORY_CUM_SHARES = tuple(accumulate((_OUTBOUND_SHARE, *(c.share for c in _CHANNELS))))


def _worst_case_s(channel: _Channel) -> float:
    leg = channel.wait_cap_s + _ALERT_S[1] + channel.talk_cap_s
    if channel.hold:
        leg += _MAX_HOLDS * _HOLD_S[1]
    legs = 2 if channel.transfer else 1
    # Only a first leg has an agent who did not respond.
    rona = _RONA_S[1] + _REQUEUE_S[1] if channel.rona else 0.0
    # A transferred first agent's wrap-up overlaps the second leg, so one wrap-up bounds both.
    routed = legs * leg + rona + _ACW_S[1]
    # A flow-out: the wait, then the external party's talk or the time in the flow.
    flow_out = channel.wait_cap_s + max(channel.talk_cap_s, _FLOW_START_S[1] + _FLOW_S[1])
    ivr = _FLOW_START_S[1] + _IVR_S[1] if channel.ivr else 0.0
    return ivr + max(routed, flow_out)


def _max_duration_ms() -> int:
    """Upper bound of ``end_ms - start_ms`` over every conversation any source generates."""
    talk = _OUTBOUND_TALK[3] + _MAX_HOLDS * _HOLD_S[1]
    outbound = _DIAL_S[1] + _CONTACT_S[1] + talk + _ACW_S[1]
    return math.ceil(1000 * max(outbound, *(_worst_case_s(c) for c in _CHANNELS)))


@dataclass(frozen=True, slots=True)
class _Flow:
    flow: dict[str, str]
    dnis: str


@dataclass(frozen=True, slots=True)
class _Tables:
    """What the generator needs from the organisation, indexed once per source."""

    queues: tuple[Entity, ...]
    queue_cum_weights: tuple[float, ...]
    deleted_queues: tuple[Entity, ...]
    agents: dict[str, tuple[Entity, ...]]  # by queue id, deleted queues included
    departed: dict[str, tuple[Entity, ...]]  # departed agents who answered it, by queue id
    users: tuple[Entity, ...]
    departed_users: tuple[Entity, ...]
    division_queues: dict[str, tuple[Entity, ...]]  # served queues by division id
    flows: dict[str, _Flow]  # by division id
    # The flows a queue's interactions flow out to, by (division id, media type).
    overflows: dict[tuple[str, str], dict[str, str]]
    wrapup_code_ids: tuple[str, ...]
    home_division_id: str
    teams: dict[str, str]  # team id by user id, departed users included
    skills: dict[str, tuple[str, ...]]  # skill ids each queue requests, by queue id
    edge_id: str
    ivr_outcomes: dict[str, str]  # the outcome id each division IVR reports, by flow id


def _build_tables(seed: int, org: Organisation) -> _Tables:
    rng = random.Random(f"{seed}:tables")
    home = org.division_named("Home").id
    # Home queues take any agent; a queue whose division has no agents (only possible in a
    # hand-built organisation) falls back to everyone rather than failing mid-hour.
    queues = (*org.queues, *org.deleted_queues)
    agents = {
        q.id: tuple(u for u in org.users if q.division_id in (home, u.division_id)) or org.users
        for q in queues
    }
    departed = {
        q.id: tuple(u for u in org.departed_users if q.division_id in (home, u.division_id))
        for q in queues
    }
    division_queues = {
        d.id: tuple(q for q in org.queues if q.division_id == d.id) for d in org.divisions
    }
    flows = {
        d.id: _Flow(
            {
                "flowId": random_uuid(rng),
                "flowName": f"{d.name} IVR",
                "flowType": _FLOW_TYPES["voice"],
            },
            f"tel:+1800555{i:02d}00",
        )
        for i, d in enumerate(org.divisions, start=1)
    }
    weights = [rng.uniform(0.5, 2.0) for _ in org.queues]
    overflows = {
        (d.id, media): {
            "flowId": random_uuid(rng),
            "flowName": f"{d.name} {media} overflow",
            "flowType": flow_type,
        }
        for d in org.divisions
        for media, flow_type in _FLOW_TYPES.items()
    }
    details = _details(seed, org, queues, flows, overflows)
    return _Tables(
        queues=org.queues,
        queue_cum_weights=tuple(accumulate(weights)),
        deleted_queues=org.deleted_queues,
        agents=agents,
        departed=departed,
        users=org.users,
        departed_users=org.departed_users,
        division_queues=division_queues,
        flows=flows,
        overflows=overflows,
        wrapup_code_ids=tuple(w.id for w in org.wrapup_codes),
        home_division_id=home,
        **details,
    )


def _details(
    seed: int,
    org: Organisation,
    queues: tuple[Entity, ...],
    flows: dict[str, _Flow],
    overflows: dict[tuple[str, str], dict[str, str]],
) -> dict[str, Any]:
    """Teams, skills, the edge and the IVRs' outcome ids; each flow's version and entry are
    added to its dict in ``flows`` and ``overflows``. Drawn from a stream of their own, so that
    adding them left every conversation the sandbox generated before unchanged."""
    rng = random.Random(f"{seed}:details")
    home = org.division_named("Home").id
    team_of_division = {d.id: random_uuid(rng) for d in org.divisions}
    teams = {
        u.id: team_of_division[u.division_id or home] for u in (*org.users, *org.departed_users)
    }
    skill_pool = [random_uuid(rng) for _ in range(_SKILL_COUNT)]
    skills = {
        q.id: tuple(sorted(rng.sample(skill_pool, rng.choice(_SKILLS_PER_QUEUE)))) for q in queues
    }
    ivr_outcomes: dict[str, str] = {}
    for flow in flows.values():
        flow.flow.update(
            flowVersion=f"{rng.randint(2, 40)}.0", entryType="dnis", entryReason=flow.dnis
        )
        ivr_outcomes[flow.flow["flowId"]] = random_uuid(rng)
    for overflow in overflows.values():
        # A queue hands its waiting interactions to the flow directly.
        overflow.update(flowVersion=f"{rng.randint(2, 40)}.0", entryType="direct")
    return {
        "teams": teams,
        "skills": skills,
        "edge_id": random_uuid(rng),
        "ivr_outcomes": ivr_outcomes,
    }


class _Story:
    """Builds the conversations of one hour from that hour's random stream."""

    def __init__(self, rng: random.Random, tables: _Tables, stuck_fraction: float) -> None:
        self.rng = rng
        self.tables = tables
        self.stuck_fraction = stuck_fraction

    def ms(self, bounds: tuple[float, float]) -> int:
        return int(1000 * self.rng.uniform(*bounds))

    def phone(self) -> str:
        return f"tel:+1555{self.rng.randrange(10_000_000):07d}"

    def pick_queue(self, exclude: Entity | None = None) -> Entity:
        t = self.tables
        while True:
            x = self.rng.random() * t.queue_cum_weights[-1]
            queue = t.queues[bisect.bisect_right(t.queue_cum_weights, x)]
            if queue is not exclude:
                return queue

    def first_queue(self) -> Entity:
        """The queue an inbound conversation is first offered to, now and then a deleted one."""
        deleted = self.tables.deleted_queues
        if deleted and self.rng.random() < _DELETED_QUEUE_SHARE:
            return self.rng.choice(deleted)
        return self.pick_queue()

    def pick_agent(self, queue: Entity, exclude: Entity | None) -> Entity:
        """An agent who answered ``queue``, now and then one who has left since."""
        departed = self.tables.departed[queue.id]
        if departed and self.rng.random() < _DEPARTED_SHARE:
            agent = self.rng.choice(departed)
            if agent is not exclude:
                return agent
        candidates = self.tables.agents[queue.id]
        agent = self.rng.choice(candidates)
        if agent is exclude and len(candidates) > 1:
            agent = self.rng.choice([a for a in candidates if a is not exclude])
        return agent

    def talk_ms(self, median_s: float, sigma: float, min_s: float, cap_s: float) -> int:
        seconds = self.rng.lognormvariate(math.log(median_s), sigma)
        return int(1000 * min(cap_s, max(min_s, seconds)))

    def answer_wait_ms(self, channel: _Channel) -> int:
        rng = self.rng
        if rng.random() < channel.quick_share:
            # Not zero: routing always takes a moment, and empty segments would be odd.
            return int(1000 * rng.uniform(0.2, channel.quick_max_s))
        return self.queued_wait_ms(channel)

    def queued_wait_ms(self, channel: _Channel) -> int:
        """A wait with no agent free: also how long a leg waits before it flows out or the
        system disconnects it."""
        tail = self.rng.expovariate(1 / channel.queued_mean_s)
        return int(1000 * min(channel.wait_cap_s, channel.quick_max_s + tail))

    def abandon_wait_ms(self, channel: _Channel) -> int:
        tail = self.rng.expovariate(1 / channel.abandon_mean_s)
        return int(1000 * min(channel.wait_cap_s, 2.0 + tail))

    def participant(
        self,
        purpose: str,
        session: Session,
        *,
        name: str | None = None,
        user_id: str | None = None,
        attributes: dict[str, str] | None = None,
    ) -> Participant:
        return Participant(
            participant_id=random_uuid(self.rng),
            purpose=purpose,
            sessions=(session,),
            participant_name=name,
            user_id=user_id,
            attributes={} if attributes is None else attributes,
            team_id=None if user_id is None else self.tables.teams.get(user_id),
        )

    def session(
        self,
        media: str,
        direction: str,
        segments: list[Segment],
        metrics: list[Metric] | None = None,
        *,
        ani: str | None = None,
        dnis: str | None = None,
        flow: dict[str, str] | None = None,
        flow_exit: FlowExit | None = None,
        routing: Routing | None = None,
    ) -> Session:
        return Session(
            session_id=random_uuid(self.rng),
            media_type=media,
            direction=direction,
            segments=tuple(segments),
            metrics=tuple(metrics or ()),
            ani=ani,
            dnis=dnis,
            # A copy per session: the records are frozen, but a dict inside them is not.
            flow=None if flow is None else dict(flow),
            flow_exit=flow_exit,
            routing=routing,
            edge_id=self.tables.edge_id if media == "voice" else None,
            provider=_PROVIDERS.get(media),
        )

    # --- stories -------------------------------------------------------------------------

    def conversation(self, start_ms: int) -> Conversation:
        rng = self.rng
        conversation_id = random_uuid(rng)
        story = bisect.bisect_right(_STORY_CUM_SHARES, rng.random() * _STORY_CUM_SHARES[-1])
        if story == 0:
            media, direction = "voice", "outbound"
            divisions, parts = self.outbound(start_ms)
        else:
            channel = _CHANNELS[min(story - 1, len(_CHANNELS) - 1)]
            media, direction = channel.media_type, "inbound"
            divisions, parts = self.inbound(channel, start_ms)
        end_ms = max(seg.end_ms for p in parts for s in p.sessions for seg in s.segments)
        mos = round(rng.uniform(*_MOS), 2) if media == "voice" else None
        stuck = (
            self.stuck_at(parts, start_ms, end_ms) if rng.random() < self.stuck_fraction else None
        )
        return Conversation(
            conversation_id=conversation_id,
            start_ms=start_ms,
            end_ms=end_ms,
            originating_direction=direction,
            division_ids=divisions,
            participants=tuple(parts),
            min_mos=mos,
            # Both describe a messaging conversation (the SDK's AnalyticsConversation): the
            # customer starts it with their message.
            initiator="customer" if media == "message" else None,
            customer_participation=True if media == "message" else None,
            stuck_at_ms=stuck,
        )

    def stuck_at(self, parts: list[Participant], start_ms: int, end_ms: int) -> int:
        """An instant strictly inside the conversation, during an agent's talk when there is one."""
        low, high = start_ms, end_ms
        for p in reversed(parts):
            if p.purpose == "agent":
                talk = [s for s in p.sessions[0].segments if s.segment_type == "interact"]
                if talk:  # not an agent who was alerted and did not respond
                    low, high = talk[0].start_ms, talk[0].end_ms
                    break
        return low + 1 + self.rng.randrange(high - low - 1)

    def inbound(
        self, channel: _Channel, start_ms: int
    ) -> tuple[tuple[str, ...], list[Participant]]:
        queue = self.first_queue()
        division = queue.division_id or self.tables.home_division_id
        parts: list[Participant] = []
        offer_ms = start_ms
        flow = self.tables.flows[division]
        if channel.ivr:
            menu_ms = start_ms + self.ms(_FLOW_START_S)
            offer_ms = menu_ms + self.ms(_IVR_S)
            self_service = self.rng.random() < _SELF_SERVICE_SHARE
            ivr_end = "peer" if self_service else "transfer"
            parts.append(
                self.flow_leg(
                    "voice", flow.flow, start_ms, menu_ms, offer_ms, ivr_end, exits=not self_service
                )
            )
            if self_service:
                # No queue was involved: the call keeps the division of the IVR it entered.
                customer = self.customer(channel, flow, start_ms, offer_ms, hung_up=True)
                return (division,), [customer, *parts]
        media_end, customer_hung_up, queues = self.route(channel, queue, offer_ms, parts, flow)
        customer = self.customer(channel, flow, start_ms, media_end, hung_up=customer_hung_up)
        # Every queue's division, in the order the queues were visited, each once.
        home = self.tables.home_division_id
        divisions = tuple(dict.fromkeys(q.division_id or home for q in queues))
        return divisions, [customer, *parts]

    def customer(
        self, channel: _Channel, flow: _Flow, start_ms: int, end_ms: int, *, hung_up: bool
    ) -> Participant:
        segment = Segment(start_ms, end_ms, "interact", disconnect_type=_customer_ending(hung_up))
        metrics = [
            Metric("nConnected", 1, start_ms),
            Metric("tConnected", end_ms - start_ms, end_ms),
        ]
        tier = {"customerTier": self.rng.choice(_TIERS)}
        if channel.media_type in _PHONE_MEDIA:
            ani = self.phone()
            session = self.session(
                channel.media_type, "inbound", [segment], metrics, ani=ani, dnis=flow.dnis
            )
            return self.participant("customer", session, name=ani[4:], attributes=tier)
        session = self.session(channel.media_type, "inbound", [segment], metrics)
        return self.participant("customer", session, attributes=tier)

    def flow_leg(
        self,
        media: str,
        flow: dict[str, str],
        start_ms: int,
        menu_ms: int,
        end_ms: int,
        ending: str,
        *,
        exits: bool,
    ) -> Participant:
        """A flow from ``start_ms``: its system segment, then (on a phone line) its menu from
        ``menu_ms``; ``exits`` when it hands the interaction on rather than ending it."""
        time_in_flow = end_ms - start_ms
        metrics = [Metric("nFlow", 1, start_ms), Metric("tFlow", time_in_flow, end_ms)]
        if media in _PHONE_MEDIA:
            segments = [
                Segment(start_ms, menu_ms, "system"),
                Segment(menu_ms, end_ms, "ivr", disconnect_type=ending),
            ]
            metrics.append(Metric("tIvr", end_ms - menu_ms, end_ms))
            purpose = "ivr"
        else:
            segments = [Segment(start_ms, end_ms, "system", disconnect_type=ending)]
            purpose = "workflow"
        metrics.append(Metric("tFlowExit" if exits else "tFlowDisconnect", time_in_flow, end_ms))
        session = self.session(
            media,
            "inbound",
            segments,
            metrics,
            flow=flow,
            flow_exit=self.flow_exit(flow, menu_ms, ending, exits),
        )
        return self.participant(purpose, session, name=flow["flowName"])

    def flow_exit(self, flow: dict[str, str], menu_ms: int, ending: str, exits: bool) -> FlowExit:
        """How a flow ended: handed to a queue, or disconnected by the caller or by itself. A
        division's IVR reports whether the caller served themselves."""
        outcome_id = self.tables.ivr_outcomes.get(flow["flowId"])
        outcomes = (
            ()
            if outcome_id is None
            else ((outcome_id, "FAILURE" if exits else "SUCCESS", menu_ms),)
        )
        if exits:
            return FlowExit("TRANSFER", "ACD", outcomes)
        reason = "FLOW_DISCONNECT" if ending == "client" else "CUSTOMER_DISCONNECT"
        return FlowExit(reason, None, outcomes)

    def route(
        self,
        channel: _Channel,
        queue: Entity,
        offer_ms: int,
        parts: list[Participant],
        flow: _Flow,
    ) -> tuple[int, bool, list[Entity]]:
        """Queue and agent legs from ``offer_ms``, at most one transfer.

        Returns when the customer's media ended, whether the customer hung up and the queues
        the conversation was offered to.
        """
        rng = self.rng
        abandon_share = channel.abandon_share
        disconnect_share, flow_out_share = _SYSTEM_DISCONNECT_SHARE, _FLOW_OUT_SHARE
        previous: Entity | None = None
        queues = [queue]
        while True:
            fate = rng.random()
            if fate < abandon_share:
                wait = self.abandon_wait_ms(channel)
                parts.append(self.acd(channel, queue, offer_ms, wait, "peer", _ABANDONED))
                return offer_ms + wait, True, queues
            fate -= abandon_share
            if fate < disconnect_share:
                wait = self.queued_wait_ms(channel)
                parts.append(self.acd(channel, queue, offer_ms, wait, "system", _ABANDONED))
                return offer_ms + wait, False, queues
            fate -= disconnect_share
            if fate < flow_out_share:
                media_end, hung_up = self.flow_out(channel, queue, offer_ms, parts, flow)
                return media_end, hung_up, queues
            routed_ms = offer_ms + self.answer_wait_ms(channel)
            unanswered: Participant | None = None
            exclude = previous
            if previous is None and channel.rona and rng.random() < _RONA_SHARE:
                exclude = rng.choice(self.tables.agents[queue.id])
                unanswered, routed_ms = self.no_answer(channel, queue, exclude, routed_ms)
            wait = routed_ms - offer_ms
            queue_leg = len(parts)
            parts.append(self.acd(channel, queue, offer_ms, wait, "transfer", _ANSWERED))
            if unanswered is not None:
                # Array order is chronological: the agent who did not respond comes first.
                parts.append(unanswered)
            agent = self.pick_agent(queue, exclude)
            parts[queue_leg] = _selected(parts[queue_leg], agent.id, routed_ms)
            transfer = previous is None and channel.transfer and rng.random() < _TRANSFER_SHARE
            hangs_up = rng.random() < _AGENT_HANGS_UP_SHARE
            ending = "transfer" if transfer else _agent_ending(hangs_up)
            part, talk_end = self.agent(channel, queue, agent, offer_ms, routed_ms, ending)
            parts.append(part)
            if not transfer:
                return talk_end, ending == "peer", queues
            queue, offer_ms, previous = self.pick_queue(queue), talk_end, agent
            queues.append(queue)
            abandon_share = _SECOND_QUEUE_ABANDON_SHARE
            disconnect_share = flow_out_share = 0.0

    def acd(
        self,
        channel: _Channel,
        queue: Entity,
        offer_ms: int,
        wait_ms: int,
        ending: str,
        outcome: _Outcome,
    ) -> Participant:
        """A queue leg: offered at ``offer_ms``, left ``wait_ms`` later as ``outcome`` says."""
        leave_ms = offer_ms + wait_ms
        q = queue.id
        routing_ms = offer_ms + min(self.ms(_QUEUE_DELAY_S), wait_ms // 2)
        skills = self.tables.skills[q]
        error = _SYSTEM_DISCONNECT_ERROR if ending == "system" else None
        segments = [
            Segment(offer_ms, routing_ms, "delay", queue_id=q, skill_ids=skills),
            Segment(
                routing_ms,
                leave_ms,
                "interact",
                queue_id=q,
                disconnect_type=ending,
                error_code=error,
                skill_ids=skills,
            ),
        ]
        metrics = [Metric("nOffered", 1, offer_ms), Metric("tAcd", wait_ms, leave_ms)]
        if outcome == _ABANDONED:
            metrics.append(Metric("tAbandon", wait_ms, leave_ms))
            if wait_ms < SHORT_ABANDON_MS:
                metrics.append(Metric("tShortAbandon", wait_ms, leave_ms))
        elif outcome == _FLOWED_OUT:
            metrics.append(Metric("tFlowOut", wait_ms, leave_ms))
        routing = Routing((_STANDARD_ROUTING,))
        session = self.session(channel.media_type, "inbound", segments, metrics, routing=routing)
        return self.participant("acd", session, name=queue.name)

    def flow_out(
        self,
        channel: _Channel,
        queue: Entity,
        offer_ms: int,
        parts: list[Participant],
        flow: _Flow,
    ) -> tuple[int, bool]:
        """The conversation leaves the queue unanswered to a flow or an external number.

        A phone call may overflow to an external number (an ``external`` participant takes the
        call); otherwise a flow of the queue's division takes it. Returns when the customer's
        media ended and whether the customer hung up.
        """
        rng = self.rng
        wait = self.queued_wait_ms(channel)
        leave_ms = offer_ms + wait
        parts.append(self.acd(channel, queue, offer_ms, wait, "transfer", _FLOWED_OUT))
        media = channel.media_type
        if not (channel.external and rng.random() < _FLOW_OUT_EXTERNAL_SHARE):
            division = queue.division_id or self.tables.home_division_id
            overflow = self.tables.overflows[(division, media)]
            if media in _PHONE_MEDIA:
                # The caller listens to the flow (a message, a voicemail) and hangs up.
                menu_ms = leave_ms + self.ms(_FLOW_START_S)
                end_ms = menu_ms + self.ms(_FLOW_S)
                parts.append(
                    self.flow_leg(media, overflow, leave_ms, menu_ms, end_ms, "peer", exits=False)
                )
                return end_ms, True
            # A digital flow answers automatically and closes the interaction itself.
            end_ms = leave_ms + self.ms(_DIGITAL_FLOW_S)
            parts.append(
                self.flow_leg(media, overflow, leave_ms, end_ms, end_ms, "client", exits=False)
            )
            return end_ms, False
        talk = self.talk_ms(
            channel.talk_median_s, channel.talk_sigma, channel.talk_min_s, channel.talk_cap_s
        )
        customer_hung_up = rng.random() < 0.5
        number = self.phone()
        segment = Segment(
            leave_ms,
            leave_ms + talk,
            "interact",
            disconnect_type=_customer_ending(not customer_hung_up),
        )
        session = self.session(media, "outbound", [segment], ani=flow.dnis, dnis=number)
        parts.append(self.participant("external", session, name=number[4:]))
        return leave_ms + talk, customer_hung_up

    def no_answer(
        self, channel: _Channel, queue: Entity, agent: Entity, routed_ms: int
    ) -> tuple[Participant, int]:
        """An agent alerted who does not respond (RONA); returns when the next agent is alerted.

        Some still get a wrap-up, which nobody submits: it times out with the system code.
        """
        q = queue.id
        alert = self.ms(_RONA_S)
        end = routed_ms + alert
        segments = [
            Segment(routed_ms, end, "alert", queue_id=q, disconnect_type="noAnswerTransfer")
        ]
        metrics = [Metric("tAlert", alert, end), Metric("tNotResponding", alert, end)]
        if self.rng.random() < _RONA_WRAPUP_SHARE:
            acw = self.ms(_ACW_S)
            segments.append(
                Segment(end, end + acw, "wrapup", queue_id=q, wrap_up_code=WRAP_UP_TIMEOUT)
            )
            metrics.append(Metric("tAcw", acw, end + acw))
            metrics.append(Metric("tHandle", acw, end + acw))
        session = self.session(channel.media_type, "inbound", segments, metrics)
        participant = self.participant("agent", session, name=agent.name, user_id=agent.id)
        return participant, end + self.ms(_REQUEUE_S)

    def split_talk(self, talk_ms: int, pieces: int) -> list[int]:
        # Cut i lies in its own window around i/pieces, so no piece is ever empty.
        cuts = [
            int(talk_ms * self.rng.uniform((i - 0.4) / pieces, (i + 0.4) / pieces))
            for i in range(1, pieces)
        ]
        bounds = [0, *cuts, talk_ms]
        return [b - a for a, b in pairwise(bounds)]

    def hold_count(self, hold: bool) -> int:
        if not hold:
            return 0
        x = self.rng.random()
        return 0 if x < 0.75 else 1 if x < 0.95 else 2

    def talk(
        self, queue_id: str | None, start_ms: int, talk_ms: int, hold: bool, ending: str
    ) -> tuple[list[Segment], list[Metric], int]:
        """Talk from ``start_ms``, perhaps split by holds: its segments, one ``tHeld`` per hold
        (emitted as the hold ends) and the total time on hold."""
        pieces = self.split_talk(talk_ms, self.hold_count(hold) + 1)
        segments: list[Segment] = []
        held_metrics: list[Metric] = []
        t, held = start_ms, 0
        for i, piece in enumerate(pieces):
            if i:
                hold_ms = self.ms(_HOLD_S)
                segments.append(Segment(t, t + hold_ms, "hold", queue_id=queue_id))
                t += hold_ms
                held += hold_ms
                held_metrics.append(Metric("tHeld", hold_ms, t))
            last = i == len(pieces) - 1
            segments.append(
                Segment(
                    t,
                    t + piece,
                    "interact",
                    queue_id=queue_id,
                    disconnect_type=ending if last else None,
                )
            )
            t += piece
        return segments, held_metrics, held

    def agent(
        self,
        channel: _Channel,
        queue: Entity,
        agent: Entity,
        offer_ms: int,
        routed_ms: int,
        ending: str,
    ) -> tuple[Participant, int]:
        """An agent leg: alert, talk (perhaps split by holds), wrap-up. Returns its talk end."""
        q = queue.id
        answer_ms = routed_ms + self.ms(_ALERT_S)
        talk = self.talk_ms(
            channel.talk_median_s, channel.talk_sigma, channel.talk_min_s, channel.talk_cap_s
        )
        talked, held_metrics, held = self.talk(q, answer_ms, talk, channel.hold, ending)
        talk_end, acw = talked[-1].end_ms, self.ms(_ACW_S)
        segments = [
            Segment(routed_ms, answer_ms, "alert", queue_id=q),
            *talked,
            _wrapup(talk_end, acw, q, self.wrapup_code()),
        ]
        metrics = [
            Metric("tAlert", answer_ms - routed_ms, answer_ms),
            Metric("tAnswered", answer_ms - offer_ms, answer_ms),
            *held_metrics,
            Metric("tTalk", talk, talk_end),
            Metric("tTalkComplete", talk, talk_end),
        ]
        if ending == "transfer":
            metrics.append(Metric("nTransferred", 1, talk_end))
        metrics.append(Metric("tAcw", acw, talk_end + acw))
        metrics.append(Metric("tHandle", talk + held + acw, talk_end + acw))
        session = self.session(channel.media_type, "inbound", segments, metrics)
        participant = self.participant("agent", session, name=agent.name, user_id=agent.id)
        return participant, talk_end

    def wrapup_code(self) -> str | None:
        x = self.rng.random()
        if x >= _WRAPUP_CODE_SHARE:
            return None
        if x < _WRAPUP_TIMEOUT_SHARE:
            return WRAP_UP_TIMEOUT
        return self.rng.choice(self.tables.wrapup_code_ids)

    def outbound(self, start_ms: int) -> tuple[tuple[str, ...], list[Participant]]:
        rng, t = self.rng, self.tables
        departed = bool(t.departed_users) and rng.random() < _DEPARTED_SHARE
        agent = rng.choice(t.departed_users if departed else t.users)
        division = agent.division_id or t.home_division_id
        # On behalf of a queue of the agent's division: there is no acd participant, so the
        # agent's segments are the only ones with a queue id.
        queues = t.division_queues.get(division, ())
        q = rng.choice(queues).id if queues and rng.random() < _OUTBOUND_QUEUE_SHARE else None
        dialed_ms = start_ms + self.ms(_DIAL_S)
        connect_ms = dialed_ms + self.ms(_CONTACT_S)
        talk = self.talk_ms(*_OUTBOUND_TALK)
        agent_hung_up = rng.random() < _AGENT_HANGS_UP_SHARE
        talked, held_metrics, held = self.talk(
            q, connect_ms, talk, True, _agent_ending(agent_hung_up)
        )
        talk_end, acw = talked[-1].end_ms, self.ms(_ACW_S)
        number = self.phone()
        segments = [
            Segment(start_ms, dialed_ms, "dialing", queue_id=q),
            Segment(dialed_ms, connect_ms, "contacting", queue_id=q),
            *talked,
            _wrapup(talk_end, acw, q, self.wrapup_code()),
        ]
        dialing, contacting = dialed_ms - start_ms, connect_ms - dialed_ms
        metrics = [
            Metric("nOutbound", 1, start_ms),
            Metric("tDialing", dialing, dialed_ms),
            Metric("tContacting", contacting, connect_ms),
            *held_metrics,
            Metric("tTalk", talk, talk_end),
            Metric("tTalkComplete", talk, talk_end),
            Metric("tAcw", acw, talk_end + acw),
            # On outbound, handle time includes placing the call (genesys-api.md §13).
            Metric("tHandle", dialing + contacting + talk + held + acw, talk_end + acw),
        ]
        ani = self.tables.flows[division].dnis
        session = self.session("voice", "outbound", segments, metrics, ani=ani, dnis=number)
        agent_part = self.participant("agent", session, name=agent.name, user_id=agent.id)
        far_end = Segment(
            connect_ms, talk_end, "interact", disconnect_type=_customer_ending(not agent_hung_up)
        )
        session = self.session("voice", "outbound", [far_end], ani=ani, dnis=number)
        tier = {"customerTier": self.rng.choice(_TIERS)}
        external = self.participant("external", session, name=number[4:], attributes=tier)
        return (division,), [agent_part, external]


def _selected(queue_leg: Participant, agent_id: str, selected_ms: int) -> Participant:
    """The queue leg once routing selected ``agent_id`` at ``selected_ms``."""
    session = queue_leg.sessions[0]
    assert session.routing is not None
    routing = replace(
        session.routing,
        used=_STANDARD_ROUTING,
        selected_agent_id=agent_id,
        selected_ms=selected_ms,
    )
    return replace(queue_leg, sessions=(replace(session, routing=routing),))


def _wrapup(talk_end: int, acw_ms: int, queue_id: str | None, code: str | None) -> Segment:
    """An agent's wrap-up; some carry a note. Which ones follows from the talk's end, not from
    the random stream, so the conversations around them are the ones generated before notes."""
    note = None
    if code is not None and code != WRAP_UP_TIMEOUT and talk_end % _WRAP_UP_NOTE_EVERY == 0:
        note = _WRAP_UP_NOTES[talk_end // _WRAP_UP_NOTE_EVERY % len(_WRAP_UP_NOTES)]
    return Segment(
        talk_end,
        talk_end + acw_ms,
        "wrapup",
        queue_id=queue_id,
        wrap_up_code=code,
        wrap_up_note=note,
    )


def _agent_ending(agent_hung_up: bool) -> str:
    return "client" if agent_hung_up else "peer"


def _customer_ending(customer_hung_up: bool) -> str:
    return "endpoint" if customer_hung_up else "peer"


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Suspend the cyclic garbage collector while building records that contain no cycles.

    An hour allocates some 50 objects per conversation; left running, the collector re-scans
    every cached hour again and again and more than doubles the generation time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class ConversationSource:
    """The conversations of one seeded organisation, by UTC hour, with a bounded LRU cache."""

    def __init__(
        self, seed: int, org: Organisation, volume: VolumeProfile, *, cache_hours: int = 4096
    ) -> None:
        if cache_hours < 0:
            raise ValueError("cache_hours must not be negative")
        self.seed = seed
        self.org = org
        self.volume = volume
        self.max_duration_ms: int = _max_duration_ms()
        self._zone = ZoneInfo(volume.timezone)
        self._tables = _build_tables(seed, org)
        self._cache_hours = cache_hours
        self._cache: OrderedDict[int, tuple[Conversation, ...]] = OrderedDict()

    def expected_count(self, hour_index: int) -> float:
        """Conversations expected to start in the hour, before the per-hour noise."""
        # The middle of the UTC hour picks the local hour, so half-hour zones round sensibly.
        local = datetime.fromtimestamp(hour_index * 3600 + 1800, tz=self._zone)
        factor = HOURLY_FACTOR[local.hour]
        if local.weekday() >= 5:
            factor *= self.volume.weekend_factor
        return self.volume.peak_per_hour * factor

    def hour(self, hour_index: int) -> tuple[Conversation, ...]:
        """Conversations starting in UTC hour ``hour_index``, sorted by (start, id)."""
        cached = self._cache.get(hour_index)
        if cached is not None:
            self._cache.move_to_end(hour_index)
            return cached
        conversations = self._generate(hour_index)
        self._cache[hour_index] = conversations
        while len(self._cache) > self._cache_hours:
            self._cache.popitem(last=False)
        return conversations

    def started_between(self, start_ms: int, end_ms: int) -> list[Conversation]:
        """Conversations with ``start_ms <= conversation start < end_ms``, sorted by (start, id)."""
        found: list[Conversation] = []
        if end_ms <= start_ms:
            return found
        for index in range(start_ms // MS_PER_HOUR, (end_ms - 1) // MS_PER_HOUR + 1):
            conversations = self.hour(index)
            if start_ms <= index * MS_PER_HOUR and (index + 1) * MS_PER_HOUR <= end_ms:
                found.extend(conversations)
            else:
                found.extend(c for c in conversations if start_ms <= c.start_ms < end_ms)
        return found

    def _generate(self, hour_index: int) -> tuple[Conversation, ...]:
        rng = random.Random(f"{self.seed}:{hour_index}")
        count = round(self.expected_count(hour_index) * rng.uniform(0.9, 1.1))
        story = _Story(rng, self._tables, self.volume.stuck_fraction)
        base = hour_index * MS_PER_HOUR
        with _gc_paused():
            conversations = [
                story.conversation(base + rng.randrange(MS_PER_HOUR)) for _ in range(count)
            ]
        conversations.sort(key=lambda c: (c.start_ms, c.conversation_id))
        return tuple(conversations)
