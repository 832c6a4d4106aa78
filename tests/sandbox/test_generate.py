"""The sandbox's synthetic organisation and conversations: shape, statistics and determinism."""

from __future__ import annotations

import gc
import hashlib
import os
import random
import re
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

import pytest

from app.sandbox.generate import (
    HOURLY_FACTOR,
    SHORT_ABANDON_MS,
    ConversationSource,
    VolumeProfile,
)
from app.sandbox.org import (
    MEDIA_SETTINGS_MEDIA,
    WRAP_UP_TIMEOUT,
    Entity,
    Organisation,
    ServiceLevel,
    build_organisation,
    random_uuid,
)
from app.sandbox.records import (
    MS_PER_DAY,
    MS_PER_HOUR,
    Conversation,
    Participant,
    Segment,
    Session,
    iso_ms,
    render,
)
from app.vocabulary import (
    CONVERSATION_METRICS,
    DIRECTIONS,
    DISCONNECT_TYPES,
    MEDIA_TYPES,
    PURPOSES,
    SEGMENT_TYPES,
)

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
WEDNESDAY = 19_844 * 24  # hour index of 2024-05-01T00:00Z, a Wednesday
SATURDAY = WEDNESDAY + 3 * 24
SEEDS = (1, 2, 3)
PEAK = VolumeProfile().peak_per_hour


@dataclass(frozen=True)
class Day:
    org: Organisation
    source: ConversationSource
    conversations: tuple[Conversation, ...]


@pytest.fixture(scope="module")
def days() -> list[Day]:
    """One generated Wednesday per seed, default profile."""
    out = []
    for seed in SEEDS:
        org = build_organisation(seed)
        source = ConversationSource(seed, org, VolumeProfile())
        hours = range(WEDNESDAY, WEDNESDAY + 24)
        out.append(Day(org, source, tuple(c for h in hours for c in source.hour(h))))
    return out


@pytest.fixture(scope="module")
def everything(days: list[Day]) -> list[tuple[Organisation, Conversation]]:
    return [(day.org, c) for day in days for c in day.conversations]


@pytest.fixture(scope="module")
def conversations(everything: list[tuple[Organisation, Conversation]]) -> list[Conversation]:
    return [c for _, c in everything]


# --- helpers -------------------------------------------------------------------------------


def sessions(c: Conversation) -> Iterator[Session]:
    return (s for p in c.participants for s in p.sessions)


def metric_values(c: Conversation, name: str) -> list[int]:
    return [m.value for s in sessions(c) for m in s.metrics if m.name == name]


def having(c: Conversation, purpose: str) -> list[Participant]:
    return [p for p in c.participants if p.purpose == purpose]


def segments(p: Participant) -> tuple[Segment, ...]:
    return p.sessions[0].segments


def kind(c: Conversation) -> str:
    if c.originating_direction == "outbound":
        return "outbound"
    return c.participants[0].sessions[0].media_type


def of_kind(conversations: list[Conversation], *kinds: str) -> list[Conversation]:
    return [c for c in conversations if kind(c) in kinds]


def metric(session: Session, name: str) -> tuple[int, int]:
    """(value, emit instant) of the session's only metric ``name``."""
    found = [(m.value, m.emit_ms) for m in session.metrics if m.name == name]
    assert len(found) == 1, (name, session.metrics)
    return found[0]


def share(part: int, whole: int) -> float:
    assert whole > 0
    return part / whole


def answering(c: Conversation) -> list[Participant]:
    """Agent participants who talked (have an interact segment), in array order."""
    return [p for p in having(c, "agent") if any(s.segment_type == "interact" for s in segments(p))]


def agent_id_fact(c: Conversation) -> str | None:
    """report-semantics §2 ``agent_id``: the last agent (array order) with an interact."""
    talked = answering(c)
    return talked[-1].user_id if talked else None


def queue_id_fact(c: Conversation) -> str | None:
    """report-semantics §2 ``queue_id``: earliest queued segment, acd participants first."""
    for group in (having(c, "acd"), list(c.participants)):
        queued = [seg for p in group for s in p.sessions for seg in s.segments if seg.queue_id]
        if queued:
            return min(queued, key=lambda seg: seg.start_ms).queue_id
    return None


def any_user(org: Organisation, user_id: str) -> Entity:
    """A current or departed agent (the users look-up knows only the current ones)."""
    for user in org.departed_users:
        if user.id == user_id:
            return user
    return org.user(user_id)


def any_queue(org: Organisation, queue_id: str) -> Entity:
    """A served or deleted queue (the queues look-up knows only the served ones)."""
    for queue in org.deleted_queues:
        if queue.id == queue_id:
            return queue
    return org.queue(queue_id)


# --- organisation --------------------------------------------------------------------------


def test_organisation_is_deterministic_per_seed() -> None:
    assert build_organisation(5) == build_organisation(5)
    other = build_organisation(6)
    assert {q.id for q in build_organisation(5).queues}.isdisjoint(q.id for q in other.queues)


def test_organisation_shape() -> None:
    org = build_organisation(5)
    assert [d.name for d in org.divisions] == ["Home", "Sales", "Service"]
    division_ids = {d.id for d in org.divisions}
    assert len(org.queues) == 8
    assert len(org.users) == 40
    assert len(org.wrapup_codes) == 10
    assert {"Resolved", "Follow-up required"} <= {w.name for w in org.wrapup_codes}
    assert len({u.name for u in org.users}) == 40
    assert all(re.fullmatch(r"[A-Z][a-z]+ [A-Z][A-Za-z']+", u.name) for u in org.users)
    for entity in (*org.queues, *org.users):
        assert entity.division_id in division_ids
    # Every division has agents, so every queue can be answered.
    assert {u.division_id for u in org.users} == division_ids
    ids = [e.id for e in (*org.divisions, *org.queues, *org.users, *org.wrapup_codes)]
    assert len(set(ids)) == len(ids)
    assert all(UUID4.match(i) for i in ids)


def test_organisation_lookups() -> None:
    org = build_organisation(5)
    assert org.queue(org.queues[3].id) == org.queues[3]
    assert org.user(org.users[7].id) == org.users[7]
    assert org.wrapup_code(org.wrapup_codes[2].id) == org.wrapup_codes[2]
    assert org.division(org.divisions[1].id).name == "Sales"
    assert org.division_named("Service") == org.divisions[2]
    with pytest.raises(KeyError):
        org.queue(org.users[0].id)
    with pytest.raises(KeyError):
        org.user("00000000-0000-4000-8000-000000000000")
    # What the look-ups serve is what they resolve: departed agents and deleted queues are gone.
    with pytest.raises(KeyError):
        org.user(org.departed_users[0].id)
    with pytest.raises(KeyError):
        org.queue(org.deleted_queues[0].id)


# Digest of every served entity (id, name, division) as built before departed agents and
# deleted queues existed: adding them must not change a single served id or name.
SERVED_DIGESTS = {
    5: "d851b6946b85209e3900f3c87b89723c9e83a1607ec97f9f6970dfe219d881cc",
    7: "f001996a2abd3c3815d64b242685f563cb3524ad7b7940e1008f6ca564ed8b5d",
}


@pytest.mark.parametrize("seed", sorted(SERVED_DIGESTS))
def test_served_entities_are_unchanged(seed: int) -> None:
    org = build_organisation(seed)
    served = (*org.divisions, *org.queues, *org.users, *org.wrapup_codes)
    text = "|".join(f"{e.id},{e.name},{e.division_id}" for e in served)
    assert hashlib.sha256(text.encode()).hexdigest() == SERVED_DIGESTS[seed]


@pytest.mark.parametrize("seed", [1, 2, 3, 5, 7, 11, 12])
def test_departed_agents_and_deleted_queues(seed: int) -> None:
    org = build_organisation(seed)
    assert org == build_organisation(seed)
    division_ids = {d.id for d in org.divisions}
    assert 2 <= len(org.departed_users) <= 3
    assert len(org.deleted_queues) == 1
    # Sales and Service each lost an agent, so every queue had a departed agent answering it.
    names = {d.id: d.name for d in org.divisions}
    assert {"Sales", "Service"} <= {names[u.division_id or ""] for u in org.departed_users}
    for entity in (*org.departed_users, *org.deleted_queues):
        assert entity.division_id in division_ids
        assert UUID4.match(entity.id)
    assert all(re.fullmatch(r"[A-Z][a-z]+ [A-Z][A-Za-z']+", u.name) for u in org.departed_users)
    # Not served, and not to be confused with anything served.
    all_ids = [
        e.id
        for e in (
            *org.divisions,
            *org.queues,
            *org.users,
            *org.wrapup_codes,
            *org.departed_users,
            *org.deleted_queues,
        )
    ]
    assert len(set(all_ids)) == len(all_ids)
    user_names = [u.name for u in (*org.users, *org.departed_users)]
    assert len(set(user_names)) == len(user_names)
    queue_names = [q.name for q in (*org.queues, *org.deleted_queues)]
    assert len(set(queue_names)) == len(queue_names)


def test_departed_agents_and_deleted_queues_differ_between_seeds() -> None:
    a, b = build_organisation(5), build_organisation(6)
    assert {u.id for u in a.departed_users}.isdisjoint(u.id for u in b.departed_users)
    assert a.deleted_queues[0].id != b.deleted_queues[0].id


@pytest.mark.parametrize("seed", [1, 2, 3, 5, 7, 11, 12])
def test_queue_media_settings(seed: int) -> None:
    org = build_organisation(seed)
    assert org == build_organisation(seed)
    assert set(org.media_settings) == {q.id for q in org.queues}
    missing = 0
    for queue in org.queues:
        settings = org.media_settings[queue.id]
        assert set(settings) <= set(MEDIA_SETTINGS_MEDIA)
        missing += len(MEDIA_SETTINGS_MEDIA) - len(settings)
        for medium, setting in settings.items():
            level = setting.service_level
            assert 0 < level.percentage <= 1 and level.duration_ms > 0
            assert setting.alerting_timeout_seconds > 0
            assert org.service_level(queue.id, "voice" if medium == "call" else medium) == level
        for medium in set(MEDIA_SETTINGS_MEDIA) - set(settings):
            assert org.service_level(queue.id, "voice" if medium == "call" else medium) is None
        # An email may wait hours where a call waits seconds: one threshold cannot fit both.
        if "email" in settings:
            assert settings["email"].service_level.duration_ms >= 3_600_000
        if "call" in settings:
            assert settings["call"].service_level.duration_ms <= 60_000
    assert missing >= 1  # reports must meet a queue without a target for a medium
    # Targets differ between queues, and the common default is among them.
    for medium in MEDIA_SETTINGS_MEDIA:
        levels = {s[medium].service_level for s in org.media_settings.values() if medium in s}
        assert len(levels) >= 2, medium
    calls = {s["call"].service_level for s in org.media_settings.values() if "call" in s}
    assert ServiceLevel(0.8, 20_000) in calls
    # The look-ups know no deleted queue, and neither do the targets.
    assert org.service_level(org.deleted_queues[0].id, "voice") is None
    assert org.service_level(org.queues[0].id, "cobrowse") is None


def test_queue_media_settings_differ_between_seeds() -> None:
    def shape(seed: int) -> list[tuple[str, tuple[str, ...]]]:
        org = build_organisation(seed)
        return [(q.name, tuple(sorted(org.media_settings[q.id]))) for q in org.queues]

    def targets(seed: int) -> list[ServiceLevel]:
        org = build_organisation(seed)
        settings = [org.media_settings[q.id] for q in org.queues]
        return [s["call"].service_level for s in settings if "call" in s]

    assert len({tuple(shape(seed)) for seed in range(1, 7)}) > 1
    assert len({tuple(targets(seed)) for seed in range(1, 7)}) > 1


def test_a_hand_built_organisation_without_gone_entities_still_generates() -> None:
    full = build_organisation(3)
    org = Organisation(full.divisions, full.queues, full.users, full.wrapup_codes)
    assert org.departed_users == () and org.deleted_queues == ()
    hour = ConversationSource(3, org, VolumeProfile()).hour(WEDNESDAY + 10)
    assert len(hour) > 200
    for c in hour:
        for p in c.participants:
            if p.user_id is not None:
                org.user(p.user_id)
            for s in p.sessions:
                for seg in s.segments:
                    if seg.queue_id is not None:
                        org.queue(seg.queue_id)


def test_random_uuid_is_a_version_4_uuid_and_reproducible() -> None:
    a, b = random.Random("x"), random.Random("x")
    drawn = [random_uuid(a) for _ in range(200)]
    assert drawn == [random_uuid(b) for _ in range(200)]
    assert len(set(drawn)) == 200
    for text in drawn:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


# --- volume --------------------------------------------------------------------------------


def test_volume_profile_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="peak_per_hour"):
        VolumeProfile(peak_per_hour=-1)
    with pytest.raises(ValueError, match="stuck_fraction"):
        VolumeProfile(stuck_fraction=1.5)
    with pytest.raises(ValueError, match="weekend_factor"):
        VolumeProfile(weekend_factor=-0.1)
    with pytest.raises(ZoneInfoNotFoundError):
        VolumeProfile(timezone="Mars/Olympus_Mons")


def test_expected_count_is_a_two_hump_curve() -> None:
    source = ConversationSource(1, build_organisation(1), VolumeProfile())
    curve = [source.expected_count(WEDNESDAY + h) for h in range(24)]
    assert all(0.03 * PEAK <= curve[h] <= 0.08 * PEAK for h in (0, 1, 2, 3, 4, 5, 23))
    assert all(curve[h] < curve[h + 1] for h in range(6, 10))  # the morning ramp
    assert curve[7] >= 3 * curve[6]
    for peak_hours in ((10, 11), (14, 15)):
        assert max(curve[h] for h in peak_hours) == PEAK
        assert min(curve[h] for h in peak_hours) >= 0.95 * PEAK
    assert curve[12] < 0.85 * PEAK  # lunch dip between the humps
    assert all(curve[h] > curve[h + 1] for h in range(15, 23))  # evening decline


def test_weekend_hours_are_scaled() -> None:
    source = ConversationSource(1, build_organisation(1), VolumeProfile(weekend_factor=0.25))
    for h in range(24):
        weekday = source.expected_count(WEDNESDAY + h)
        assert source.expected_count(SATURDAY + h) == pytest.approx(weekday * 0.25)
    monday = SATURDAY + 48
    assert source.expected_count(monday + 10) == PEAK


def test_curve_is_read_in_the_profile_timezone() -> None:
    org = build_organisation(1)
    new_york = ConversationSource(1, org, VolumeProfile(timezone="America/New_York"))
    # May is daylight-saving time: 10:00 EDT is 14:00 UTC.
    assert new_york.expected_count(WEDNESDAY + 14) == PEAK * HOURLY_FACTOR[10]
    assert new_york.expected_count(WEDNESDAY + 4) == PEAK * HOURLY_FACTOR[0]
    # 02:00 UTC Saturday is still Friday evening in New York: no weekend discount yet.
    assert new_york.expected_count(SATURDAY + 2) == PEAK * HOURLY_FACTOR[22]
    assert new_york.expected_count(SATURDAY + 6) == PEAK * HOURLY_FACTOR[2] * 0.4


def test_hour_counts_are_the_curve_with_bounded_noise(days: list[Day]) -> None:
    ratios = []
    for day in days:
        for h in range(24):
            expected = day.source.expected_count(WEDNESDAY + h)
            count = len(day.source.hour(WEDNESDAY + h))
            assert round(expected * 0.9) <= count <= round(expected * 1.1)
            ratios.append(count / expected)
    assert max(ratios) - min(ratios) > 0.1  # the noise is really there


def test_busiest_weekday_hour_is_near_peak_and_nights_are_quiet(days: list[Day]) -> None:
    for day in days:
        counts = [len(day.source.hour(WEDNESDAY + h)) for h in range(24)]
        assert 0.85 * PEAK <= max(counts) <= 1.15 * PEAK
        assert counts.index(max(counts)) in (10, 11, 14, 15)
        assert max(counts[:6]) < 0.15 * PEAK


def test_weekend_day_total_follows_weekend_factor(days: list[Day]) -> None:
    source = days[0].source
    wednesday = len(days[0].conversations)
    saturday = sum(len(source.hour(SATURDAY + h)) for h in range(24))
    assert saturday == pytest.approx(0.4 * wednesday, rel=0.05)


# --- hours, ranges, cache, determinism -----------------------------------------------------


def test_hour_is_sorted_and_inside_its_hour(days: list[Day]) -> None:
    for day in days:
        for h in range(WEDNESDAY, WEDNESDAY + 24):
            hour = day.source.hour(h)
            keys = [(c.start_ms, c.conversation_id) for c in hour]
            assert keys == sorted(keys)
            assert all(h * MS_PER_HOUR <= c.start_ms < (h + 1) * MS_PER_HOUR for c in hour)
    starts = [c.start_ms for c in days[0].conversations]
    # Millisecond precision, spread over the hour rather than on whole seconds or minutes.
    assert sum(s % 1000 != 0 for s in starts) > 0.9 * len(starts)
    assert len({s % MS_PER_HOUR // 60_000 for s in starts}) == 60


def test_started_between_selects_half_open_ranges(days: list[Day]) -> None:
    source = days[0].source
    h = WEDNESDAY + 10
    start, end = h * MS_PER_HOUR + 1_234_567, (h + 2) * MS_PER_HOUR + 42
    expected = [c for x in range(h, h + 3) for c in source.hour(x) if start <= c.start_ms < end]
    got = source.started_between(start, end)
    assert got == expected
    assert len(got) > 400
    whole = source.started_between(h * MS_PER_HOUR, (h + 1) * MS_PER_HOUR)
    assert whole == list(source.hour(h))
    first = source.hour(h)[0]
    assert first in source.started_between(first.start_ms, first.start_ms + 1)
    assert first not in source.started_between(first.start_ms + 1, (h + 1) * MS_PER_HOUR)
    assert first not in source.started_between(h * MS_PER_HOUR - 5, first.start_ms)
    assert source.started_between(end, start) == []
    assert source.started_between(start, start) == []


def test_hours_do_not_depend_on_what_was_asked_before() -> None:
    org = build_organisation(9)
    forward = ConversationSource(9, org, VolumeProfile())
    backward = ConversationSource(9, org, VolumeProfile(), cache_hours=1)
    hours = range(WEDNESDAY + 8, WEDNESDAY + 13)
    first = [forward.hour(h) for h in hours]
    second = [backward.hour(h) for h in reversed(hours)]
    assert first == second[::-1]
    assert backward.started_between(hours[0] * MS_PER_HOUR, (hours[-1] + 1) * MS_PER_HOUR) == [
        c for hour in first for c in hour
    ]


def test_a_different_seed_gives_different_conversations() -> None:
    org = build_organisation(9)
    a = ConversationSource(9, org, VolumeProfile()).hour(WEDNESDAY + 10)
    b = ConversationSource(10, org, VolumeProfile()).hour(WEDNESDAY + 10)
    assert {c.conversation_id for c in a}.isdisjoint(c.conversation_id for c in b)
    assert [c.start_ms for c in a] != [c.start_ms for c in b]


def test_hours_are_reproducible_in_another_process() -> None:
    code = (
        "from app.sandbox.generate import ConversationSource, VolumeProfile;"
        "from app.sandbox.org import build_organisation;"
        f"h = ConversationSource(4, build_organisation(4), VolumeProfile()).hour({WEDNESDAY + 9});"
        "print(len(h), h[0].conversation_id, h[-1].participants[-1].participant_id, h[7].end_ms)"
    )
    here = ConversationSource(4, build_organisation(4), VolumeProfile()).hour(WEDNESDAY + 9)
    expected = f"{len(here)} {here[0].conversation_id} "
    expected += f"{here[-1].participants[-1].participant_id} {here[7].end_ms}"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, cwd=root
    )
    assert result.stdout.strip() == expected


def test_hour_cache_is_a_bounded_lru() -> None:
    source = ConversationSource(9, build_organisation(9), VolumeProfile(), cache_hours=2)
    h = WEDNESDAY + 12
    a = source.hour(h)
    b = source.hour(h + 1)
    assert source.hour(h) is a  # a hit, which makes h + 1 the least recently used
    source.hour(h + 2)  # the cache is full: h + 1 goes
    assert source.hour(h) is a
    again = source.hour(h + 1)
    assert again == b and again is not b
    # h + 2 was least recently used when h + 1 came back, so h is still cached.
    assert source.hour(h) is a


def test_generation_leaves_the_garbage_collector_as_it_found_it() -> None:
    source = ConversationSource(9, build_organisation(9), VolumeProfile())
    assert gc.isenabled()
    source.hour(WEDNESDAY)
    assert gc.isenabled()
    gc.disable()
    try:
        source.hour(WEDNESDAY + 1)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_negative_cache_size_is_rejected() -> None:
    with pytest.raises(ValueError, match="cache_hours"):
        ConversationSource(1, build_organisation(1), VolumeProfile(), cache_hours=-1)


# --- media mix and stories -----------------------------------------------------------------


def test_media_mix(conversations: list[Conversation]) -> None:
    kinds = Counter(kind(c) for c in conversations)
    total = len(conversations)
    targets = {
        "voice": 0.65 * 0.88,
        "outbound": 0.65 * 0.12,
        "chat": 0.15,
        "message": 0.10,
        "email": 0.06,
        "callback": 0.04,
    }
    assert set(kinds) == set(targets)
    for name, target in targets.items():
        assert share(kinds[name], total) == pytest.approx(target, abs=0.02), name
    voice = kinds["voice"] + kinds["outbound"]
    assert share(kinds["outbound"], voice) == pytest.approx(0.12, abs=0.02)


def test_inbound_voice_goes_through_the_ivr(conversations: list[Conversation]) -> None:
    voice = of_kind(conversations, "voice")
    self_served = 0
    for c in voice:
        customer, ivr = c.participants[:2]
        assert customer.purpose == "customer" and ivr.purpose == "ivr"
        (session,) = customer.sessions
        assert (session.media_type, session.direction) == ("voice", "inbound")
        assert session.ani and re.fullmatch(r"tel:\+1555\d{7}", session.ani)
        assert session.dnis and session.dnis.startswith("tel:+1")
        (talk,) = session.segments
        assert talk.segment_type == "interact" and talk.start_ms == c.start_ms
        flow = ivr.sessions[0].flow
        assert flow is not None and flow["flowType"] == "INBOUNDCALL"  # as the SDK spells it
        assert set(flow) == {"flowId", "flowName", "flowType", "flowVersion", "entryType"} | {
            "entryReason"
        }
        assert UUID4.match(flow["flowId"]) and re.fullmatch(r"\d+\.0", flow["flowVersion"])
        # The caller entered the flow by dialling its number.
        assert (flow["entryType"], flow["entryReason"]) == ("dnis", session.dnis)
        ending = ivr.sessions[0].flow_exit
        assert ending is not None and len(ending.outcomes) == 1
        (outcome_id, outcome, outcome_start) = ending.outcomes[0]
        assert UUID4.match(outcome_id)
        # The flow starts (system), then plays its menu (ivr); neither belongs to a queue.
        start, menu = segments(ivr)
        assert (start.segment_type, menu.segment_type) == ("system", "ivr")
        assert start.start_ms == c.start_ms and start.end_ms == menu.start_ms
        assert start.queue_id is None and menu.queue_id is None
        assert 200 <= start.end_ms - start.start_ms <= 1_500
        assert 10_000 <= menu.end_ms - menu.start_ms <= 90_000
        flow_session = ivr.sessions[0]
        in_flow = menu.end_ms - start.start_ms
        assert metric(flow_session, "nFlow") == (1, c.start_ms)
        assert metric(flow_session, "tFlow") == (in_flow, menu.end_ms)
        assert metric(flow_session, "tIvr") == (menu.end_ms - menu.start_ms, menu.end_ms)
        if len(c.participants) == 2:
            self_served += 1
            assert c.end_ms == menu.end_ms == talk.end_ms
            assert not metric_values(c, "nOffered")
            assert menu.disconnect_type == "peer" and talk.disconnect_type == "endpoint"
            assert metric(flow_session, "tFlowDisconnect") == (in_flow, menu.end_ms)
            assert not metric_values(c, "tFlowExit")
            # The caller hung up, served: the IVR's outcome succeeded.
            assert (ending.exit_reason, ending.transfer_type) == ("CUSTOMER_DISCONNECT", None)
            assert (outcome, outcome_start) == ("SUCCESS", menu.start_ms)
        else:
            assert (ending.exit_reason, ending.transfer_type) == ("TRANSFER", "ACD")
            assert (outcome, outcome_start) == ("FAILURE", menu.start_ms)
            acd = c.participants[2]
            assert acd.purpose == "acd"
            assert segments(acd)[0].start_ms == menu.end_ms  # straight from the IVR to the queue
            assert menu.disconnect_type == "transfer"
            assert metric(flow_session, "tFlowExit") == (in_flow, menu.end_ms)
            assert not any(m.name == "tFlowDisconnect" for m in flow_session.metrics)
    assert share(self_served, len(voice)) == pytest.approx(0.08, abs=0.025)


def test_queue_legs_carry_offer_and_wait(
    everything: list[tuple[Organisation, Conversation]],
) -> None:
    legs = 0
    outcomes: Counter[str] = Counter()
    for org, c in everything:
        for acd in having(c, "acd"):
            legs += 1
            (session,) = acd.sessions
            # A moment's delay before routing starts, then the wait proper; both in the queue.
            delay, wait = session.segments
            assert (delay.segment_type, wait.segment_type) == ("delay", "interact")
            assert delay.queue_id == wait.queue_id and wait.queue_id is not None
            assert delay.end_ms == wait.start_ms
            assert 0 < delay.end_ms - delay.start_ms <= min(1_000, wait.end_ms - wait.start_ms)
            assert delay.disconnect_type is None and wait.disconnect_type is not None
            assert acd.participant_name == any_queue(org, wait.queue_id).name
            # Offered on entering the queue, the wait emitted on leaving it.
            waited = wait.end_ms - delay.start_ms
            assert metric(session, "nOffered") == (1, delay.start_ms)
            assert metric(session, "tAcd") == (waited, wait.end_ms)
            names = {m.name for m in session.metrics} - {"nOffered", "tAcd"}
            if "tAbandon" in names:
                assert metric(session, "tAbandon") == (waited, wait.end_ms)
                assert wait.disconnect_type in ("peer", "system")
                outcomes["abandoned"] += 1
            elif "tFlowOut" in names:
                assert names == {"tFlowOut"}
                assert metric(session, "tFlowOut") == (waited, wait.end_ms)
                assert wait.disconnect_type == "transfer"
                outcomes["flowed out"] += 1
            else:
                assert not names and wait.disconnect_type == "transfer"
                outcomes["left for an agent"] += 1
    assert legs > 5000
    assert set(outcomes) == {"abandoned", "flowed out", "left for an agent"}


def test_quick_abandons_are_short_abandons(conversations: list[Conversation]) -> None:
    short = long = 0
    for c in conversations:
        for acd in having(c, "acd"):
            session = acd.sessions[0]
            abandon = [(m.value, m.emit_ms) for m in session.metrics if m.name == "tAbandon"]
            quick = [(m.value, m.emit_ms) for m in session.metrics if m.name == "tShortAbandon"]
            if not abandon:
                assert not quick
                continue
            # Below the threshold, the same value at the same instant as tAbandon.
            if abandon[0][0] < SHORT_ABANDON_MS:
                short += 1
                assert quick == abandon
            else:
                long += 1
                assert not quick
    assert SHORT_ABANDON_MS == 10_000
    assert short > 50 and long > short


def test_abandoned_conversations_have_no_agent(conversations: list[Conversation]) -> None:
    offered = [c for c in of_kind(conversations, "voice") if metric_values(c, "nOffered")]
    abandoned = [c for c in offered if metric_values(c, "tAbandon")]
    # First-queue abandons are 7% and system disconnects 1%; a few more happen in the second
    # queue after a transfer.
    assert share(len(abandoned), len(offered)) == pytest.approx(0.085, abs=0.02)
    first_queue_abandons = 0
    endings: Counter[str] = Counter()
    for c in abandoned:
        last_acd = having(c, "acd")[-1]
        start, seg = segments(last_acd)[0], segments(last_acd)[-1]
        wait, emitted = metric(last_acd.sessions[0], "tAbandon")
        assert (wait, emitted) == (seg.end_ms - start.start_ms, seg.end_ms)
        assert metric(last_acd.sessions[0], "tAcd")[0] == wait
        assert not metric_values(c, "tFlowOut")
        customer = segments(c.participants[0])[0]
        endings[seg.disconnect_type or ""] += 1
        # The customer hung up, or the system disconnected the waiting customer.
        expected = {"peer": "endpoint", "system": "peer"}[seg.disconnect_type or ""]
        assert customer.disconnect_type == expected
        if len(having(c, "acd")) == 1:
            first_queue_abandons += 1
            assert not having(c, "agent")
            assert c.end_ms == seg.end_ms == customer.end_ms
        assert c.participants[-1].purpose == "acd"  # nobody answered after the abandon
    assert first_queue_abandons > 0.8 * len(abandoned)
    assert 0.05 * len(abandoned) < endings["system"] < 0.25 * len(abandoned)


AGENT_PATTERN = re.compile(r"alert( interact hold){0,2} interact wrapup")


def check_agent_leg(org: Organisation, acd: Participant, agent: Participant) -> None:
    (session,) = agent.sessions
    segs = session.segments
    types = " ".join(s.segment_type for s in segs)
    assert AGENT_PATTERN.fullmatch(types), types
    assert all(a.end_ms == b.start_ms for a, b in pairwise(segs))
    queued, left = segments(acd)[0], segments(acd)[-1]
    # Every segment of the agent carries the queue the call was routed from.
    assert {s.queue_id for s in segs} == {left.queue_id} != {None}
    assert segs[0].start_ms == left.end_ms
    assert agent.user_id is not None
    assert agent.participant_name == any_user(org, agent.user_id).name
    alert, wrapup = segs[0], segs[-1]
    assert 2_000 <= alert.end_ms - alert.start_ms <= 15_000
    assert 10_000 <= wrapup.end_ms - wrapup.start_ms <= 120_000
    talk = [s for s in segs if s.segment_type == "interact"]
    holds = [s for s in segs if s.segment_type == "hold"]
    assert metric(session, "tAlert") == (alert.end_ms - alert.start_ms, alert.end_ms)
    assert metric(session, "tAnswered") == (alert.end_ms - queued.start_ms, alert.end_ms)
    talk_ms = sum(s.end_ms - s.start_ms for s in talk)
    assert metric(session, "tTalk") == (talk_ms, talk[-1].end_ms)
    assert metric(session, "tTalkComplete") == (talk_ms, talk[-1].end_ms)
    held_ms = sum(s.end_ms - s.start_ms for s in holds)
    # One tHeld per hold, emitted as that hold ends (none without a hold).
    held = [(m.value, m.emit_ms) for m in session.metrics if m.name == "tHeld"]
    assert held == [(s.end_ms - s.start_ms, s.end_ms) for s in holds]
    acw_ms = wrapup.end_ms - wrapup.start_ms
    assert metric(session, "tAcw") == (acw_ms, wrapup.end_ms)
    assert metric(session, "tHandle") == (talk_ms + held_ms + acw_ms, wrapup.end_ms)
    emits = [m.emit_ms for m in session.metrics]
    assert emits == sorted(emits)


def test_answered_agent_legs(everything: list[tuple[Organisation, Conversation]]) -> None:
    legs = holds = double_holds = with_code = timed_out = 0
    for org, c in everything:
        if c.originating_direction == "outbound":
            continue
        acds, agents = having(c, "acd"), answering(c)
        assert len(agents) in (len(acds), len(acds) - 1)
        for acd, agent in zip(acds, agents, strict=False):
            check_agent_leg(org, acd, agent)
            legs += 1
            types = [s.segment_type for s in segments(agent)]
            holds += "hold" in types
            if types.count("hold") == 2:
                double_holds += 1
                assert len([m for m in agent.sessions[0].metrics if m.name == "tHeld"]) == 2
            code = segments(agent)[-1].wrap_up_code
            if code is not None:
                with_code += 1
                if code == WRAP_UP_TIMEOUT:
                    timed_out += 1
                else:
                    assert org.wrapup_code(code)
    assert share(with_code, legs) == pytest.approx(0.95, abs=0.02)
    # Some wrap-ups time out and carry the system code, which no look-up resolves.
    assert share(timed_out, legs) == pytest.approx(0.03, abs=0.01)
    assert 0.1 < share(holds, legs) < 0.3
    assert double_holds > 0


def test_service_level_and_wait_spread(conversations: list[Conversation]) -> None:
    answers = [
        min(v) for c in of_kind(conversations, "voice") if (v := metric_values(c, "tAnswered"))
    ]
    met = share(sum(a <= 20_000 for a in answers), len(answers))
    assert 0.6 <= met <= 0.85
    assert min(answers) < 5_000
    assert max(answers) > 300_000
    assert sum(a > 60_000 for a in answers) > 0.05 * len(answers)


def test_transfers_between_queues(everything: list[tuple[Organisation, Conversation]]) -> None:
    answered = transferred = abandoned_after = 0
    for org, c in everything:
        if kind(c) not in ("voice", "chat") or not metric_values(c, "tAnswered"):
            if kind(c) not in ("voice", "chat"):
                assert not metric_values(c, "nTransferred")
            continue
        answered += 1
        acds, agents = having(c, "acd"), answering(c)
        if not metric_values(c, "nTransferred"):
            assert len(acds) == len(agents) == 1
            continue
        transferred += 1
        assert len(acds) == 2
        first = agents[0]
        last_talk = [s for s in segments(first) if s.segment_type == "interact"][-1]
        assert last_talk.disconnect_type == "transfer"
        assert metric(first.sessions[0], "nTransferred") == (1, last_talk.end_ms)
        wrapup = segments(first)[-1]
        assert wrapup.segment_type == "wrapup" and wrapup.start_ms == last_talk.end_ms
        assert metric(first.sessions[0], "tHandle")[1] == wrapup.end_ms
        # The next queue is a leg of its own: its own acd session, offer and wait.
        first_queue, second_queue = segments(acds[0]), segments(acds[1])
        assert acds[1].sessions[0].session_id != acds[0].sessions[0].session_id
        assert second_queue[0].queue_id != first_queue[0].queue_id
        assert {s.queue_id for s in second_queue} == {second_queue[0].queue_id}
        assert second_queue[0].start_ms == last_talk.end_ms
        second = acds[1].sessions[0]
        assert metric(second, "nOffered") == (1, last_talk.end_ms)
        waited = second_queue[-1].end_ms - second_queue[0].start_ms
        assert metric(second, "tAcd") == (waited, second_queue[-1].end_ms)
        assert not any(m.name == "tAbandon" for m in acds[0].sessions[0].metrics)
        if len(agents) == 1:
            # Abandoned in the second queue, and counted there.
            abandoned_after += 1
            assert metric(second, "tAbandon") == (waited, second_queue[-1].end_ms)
        else:
            assert not any(m.name == "tAbandon" for m in second.metrics)
            assert agents[1].user_id != first.user_id
            check_agent_leg(org, acds[1], agents[1])
        assert org.queue(second_queue[0].queue_id or "")
    assert share(transferred, answered) == pytest.approx(0.08, abs=0.02)
    assert 0 < abandoned_after < 0.3 * transferred


@pytest.mark.parametrize(
    ("media", "longest_h", "tail_h"),
    [("chat", 1.25, 0.5), ("message", 4.0, 1.6), ("email", 6.0, 2.4), ("callback", 2.0, 0.5)],
)
def test_digital_and_callback_conversations(
    conversations: list[Conversation], media: str, longest_h: float, tail_h: float
) -> None:
    found = of_kind(conversations, media)
    assert len(found) > 100
    for c in found:
        customer, first_queue = c.participants[:2]
        assert customer.purpose == "customer"
        # No IVR before the queue (a flow may take the conversation after it).
        assert first_queue.purpose == "acd"
        assert {s.media_type for s in sessions(c)} == {media}
        assert c.min_mos is None
        assert first_queue.sessions[0].segments[0].start_ms == c.start_ms
        customer_session = customer.sessions[0]
        assert (customer_session.ani is not None) == (media == "callback")
    durations = [c.end_ms - c.start_ms for c in found]
    assert max(durations) <= longest_h * MS_PER_HOUR
    # The long tails are there: these media outlast a typical phone call.
    assert max(durations) > tail_h * MS_PER_HOUR


OUTBOUND_PATTERN = re.compile(r"dialing contacting( interact hold){0,2} interact wrapup")


def test_outbound_voice(everything: list[tuple[Organisation, Conversation]]) -> None:
    outbound = [(org, c) for org, c in everything if c.originating_direction == "outbound"]
    assert len(outbound) > 300
    with_code = held_calls = 0
    for org, c in outbound:
        agent, external = c.participants
        assert (agent.purpose, external.purpose) == ("agent", "external")
        assert agent.user_id is not None
        assert c.division_ids == (any_user(org, agent.user_id).division_id,)
        session = agent.sessions[0]
        assert (session.media_type, session.direction) == ("voice", "outbound")
        segs = session.segments
        assert OUTBOUND_PATTERN.fullmatch(" ".join(s.segment_type for s in segs))
        assert all(a.end_ms == b.start_ms for a, b in pairwise(segs))
        dialing, contacting, wrapup = segs[0], segs[1], segs[-1]
        talk = [s for s in segs if s.segment_type == "interact"]
        holds = [s for s in segs if s.segment_type == "hold"]
        assert dialing.start_ms == c.start_ms and wrapup.end_ms == c.end_ms
        expected = {"nOutbound", "tDialing", "tContacting", "tTalk", "tTalkComplete", "tAcw"}
        expected |= {"tHandle"} | ({"tHeld"} if holds else set())
        assert {m.name for m in session.metrics} == expected
        held_calls += bool(holds)
        # Placing the call is emitted as each step ends, and handle time includes it.
        dial_ms = dialing.end_ms - dialing.start_ms
        contact_ms = contacting.end_ms - contacting.start_ms
        assert metric(session, "nOutbound") == (1, c.start_ms)
        assert metric(session, "tDialing") == (dial_ms, dialing.end_ms)
        assert metric(session, "tContacting") == (contact_ms, contacting.end_ms)
        talk_ms = sum(s.end_ms - s.start_ms for s in talk)
        held_ms = sum(s.end_ms - s.start_ms for s in holds)
        assert metric(session, "tTalk") == (talk_ms, talk[-1].end_ms)
        assert metric(session, "tTalkComplete") == (talk_ms, talk[-1].end_ms)
        held = [(m.value, m.emit_ms) for m in session.metrics if m.name == "tHeld"]
        assert held == [(s.end_ms - s.start_ms, s.end_ms) for s in holds]
        acw_ms = metric(session, "tAcw")[0]
        assert metric(session, "tHandle") == (
            dial_ms + contact_ms + talk_ms + held_ms + acw_ms,
            wrapup.end_ms,
        )
        emits = [m.emit_ms for m in session.metrics]
        assert emits == sorted(emits)
        assert not metric_values(c, "nOffered")
        # The far end is connected from the answer to the end of the talk, holds included.
        (far_end,) = segments(external)
        assert (far_end.start_ms, far_end.end_ms) == (contacting.end_ms, talk[-1].end_ms)
        with_code += wrapup.wrap_up_code is not None
    assert share(with_code, len(outbound)) == pytest.approx(0.95, abs=0.04)
    assert 0.1 < share(held_calls, len(outbound)) < 0.4


def test_conversation_fields(everything: list[tuple[Organisation, Conversation]]) -> None:
    ids: set[str] = set()
    tiers: Counter[str] = Counter()
    for org, c in everything:
        for i in (c.conversation_id, *(p.participant_id for p in c.participants)):
            assert UUID4.match(i) and i not in ids
            ids.add(i)
        for s in sessions(c):
            assert UUID4.match(s.session_id) and s.session_id not in ids
            ids.add(s.session_id)
        if kind(c) in ("voice", "outbound"):
            assert c.min_mos is not None and 3.0 <= c.min_mos <= 4.6
        assert len(set(c.division_ids)) == len(c.division_ids) >= 1
        for division_id in c.division_ids:
            org.division(division_id)
        acds = having(c, "acd")
        if acds:
            # The division of every queue offered to, in the order offered, each once.
            queues = [any_queue(org, segments(acd)[0].queue_id or "") for acd in acds]
            assert c.division_ids == tuple(dict.fromkeys(q.division_id or "" for q in queues))
        else:
            assert len(c.division_ids) == 1
        for p in c.participants:
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in p.attributes.items())
        customer = c.participants[1 if kind(c) == "outbound" else 0]
        tiers[customer.attributes["customerTier"]] += 1
    assert set(tiers) == {"gold", "silver", "bronze"}


# --- the details real records carry, consistent with the timeline ---------------------------


def _timeline(c: Conversation) -> tuple[Any, ...]:
    """A conversation without the record details issue 16 added."""

    def segment(g: Segment) -> tuple[Any, ...]:
        return (g.start_ms, g.end_ms, g.segment_type, g.queue_id, g.wrap_up_code, g.disconnect_type)

    def session(s: Session) -> tuple[Any, ...]:
        return (
            s.session_id,
            s.media_type,
            s.ani,
            s.dnis,
            s.metrics,
            [segment(g) for g in s.segments],
        )

    participants = [
        (
            p.participant_id,
            p.purpose,
            p.user_id,
            p.participant_name,
            [session(s) for s in p.sessions],
        )
        for p in c.participants
    ]
    shape = (c.conversation_id, c.start_ms, c.end_ms, c.division_ids, c.stuck_at_ms)
    return (*shape, c.min_mos, participants)


def test_the_details_left_the_conversations_as_they_were() -> None:
    """The record details (routing, teams, skills, notes, flow exits …) come from a random
    stream of their own: two days of conversations, without them, are byte for byte what the
    sandbox generated before they existed (digest taken at commit 85897f4)."""
    source = ConversationSource(7, build_organisation(7), VolumeProfile())
    digest = hashlib.sha256()
    for hour in range(WEDNESDAY, WEDNESDAY + 48):
        for c in source.hour(hour):
            digest.update(repr(_timeline(c)).encode())
    assert digest.hexdigest() == (
        "0b944d46210548b64d0192834f2c3746e5c77f3ccef2aaeb657a7c63a03c19d3"
    )


def test_routing_fields_agree_with_the_queue_and_the_agent(
    everything: list[tuple[Organisation, Conversation]],
) -> None:
    selected = unselected = 0
    for _, c in everything:
        for i, acd in enumerate(c.participants):
            if acd.purpose != "acd":
                continue
            (session,) = acd.sessions
            routing = session.routing
            assert routing is not None and routing.requested == ("Standard",)
            queue_id = segments(acd)[0].queue_id
            # The agent who answered this queue leg: the next agent participant after it who
            # talked on the same queue (one who did not respond may come between).
            later = [
                p
                for p in c.participants[i + 1 :]
                if p.purpose == "agent" and segments(p)[0].queue_id == queue_id
            ]
            answered = [p for p in later if any(s.segment_type == "interact" for s in segments(p))]
            if answered:
                agent = answered[0]
                assert routing.used == "Standard"
                assert routing.selected_agent_id == agent.user_id
                # Selected when it was alerted: the queue leg's end.
                assert (
                    routing.selected_ms == segments(agent)[0].start_ms == segments(acd)[-1].end_ms
                )
                selected += 1
            else:
                assert (routing.used, routing.selected_agent_id) == (None, None)
                unselected += 1
        for p in c.participants:
            if p.purpose != "acd":
                assert all(s.routing is None for s in p.sessions)
    assert selected > 1000 and unselected > 100


def test_skills_errors_notes_teams_and_sources(
    everything: list[tuple[Organisation, Conversation]],
) -> None:
    skills_of: dict[str, tuple[str, ...]] = {}
    team_of: dict[str, str] = {}
    notes: Counter[str] = Counter()
    coded = errors = system_legs = 0
    for org, c in everything:
        for p in c.participants:
            (session,) = p.sessions
            assert (
                session.provider
                == {
                    "voice": "Edge",
                    "callback": "PureCloud Callback",
                    "chat": "PureCloud Webchat v2",
                    "message": "PureCloud Messaging",
                    "email": "PureCloud Email",
                }[session.media_type]
            )
            assert (session.edge_id is not None) == (session.media_type == "voice")
            # A user's team is the same everywhere; users of one division share one.
            assert (p.team_id is not None) == (p.user_id is not None)
            if p.user_id is not None and p.team_id is not None:
                assert team_of.setdefault(p.user_id, p.team_id) == p.team_id
                division = any_user(org, p.user_id).division_id or ""
                assert team_of.setdefault(division, p.team_id) == p.team_id
            for seg in session.segments:
                if p.purpose == "acd":
                    assert seg.queue_id is not None
                    assert skills_of.setdefault(seg.queue_id, seg.skill_ids) == seg.skill_ids
                    system_legs += seg.disconnect_type == "system"
                else:
                    assert seg.skill_ids == ()
                # An error only where the system disconnected a queue leg, and there always.
                assert (seg.error_code is not None) == (
                    p.purpose == "acd" and seg.disconnect_type == "system"
                )
                errors += seg.error_code is not None
                if seg.wrap_up_note is not None:
                    assert seg.segment_type == "wrapup"
                    assert seg.wrap_up_code not in (None, WRAP_UP_TIMEOUT)
                    notes[seg.wrap_up_note] += 1
                coded += seg.wrap_up_code not in (None, WRAP_UP_TIMEOUT)
        if kind(c) == "message":
            assert (c.initiator, c.customer_participation) == ("customer", True)
            assert c.participants[0].purpose == "customer"
        else:
            assert (c.initiator, c.customer_participation) == (None, None)
    assert errors == system_legs > 0
    assert share(sum(notes.values()), coded) == pytest.approx(0.25, abs=0.03)
    assert len(notes) == 4
    with_skills = [q for q, skills in skills_of.items() if skills]
    assert 0 < len(with_skills) < len(skills_of)


def test_the_new_details_appear_only_once_known(conversations: list[Conversation]) -> None:
    checked = 0
    for c in conversations[::7]:
        if c.stuck_at_ms is not None:
            continue
        for p in c.participants:
            (session,) = p.sessions
            last_end = session.segments[-1].end_ms
            for cut in (session.segments[0].start_ms + 1, last_end - 1, last_end):
                rendered = render(c, cut, with_attributes=False)
                shown = next(
                    s
                    for q in rendered["participants"]
                    if q["participantId"] == p.participant_id
                    for s in q["sessions"]
                )
                assert shown.get("addressFrom") == session.ani == shown.get("ani")
                assert shown.get("addressTo") == session.dnis == shown.get("dnis")
                if session.routing is not None:
                    known = session.routing.used is not None and session.routing.selected_ms <= cut
                    assert ("selectedAgentId" in shown) == known
                    assert shown["requestedRoutings"] == ["Standard"]
                if session.flow is not None:
                    ended = last_end <= cut
                    assert ("exitReason" in shown["flow"]) == ended
                    assert session.flow_exit is not None
                    has_outcomes = bool(session.flow_exit.outcomes)
                    assert ("outcomes" in shown["flow"]) == (ended and has_outcomes)
                for seg, out in zip(session.segments, shown["segments"], strict=False):
                    ended = seg.end_ms <= cut
                    assert ("wrapUpNote" in out) == (ended and seg.wrap_up_note is not None)
                    assert ("errorCode" in out) == (ended and seg.error_code is not None)
                    assert out.get("conference") is (
                        False
                        if session.media_type == "voice"
                        and seg.segment_type in ("interact", "hold")
                        else None
                    )
                checked += 1
    assert checked > 1000


# --- shapes the report rules need ----------------------------------------------------------


def test_customers_are_connected(conversations: list[Conversation]) -> None:
    checked = 0
    for c in conversations:
        for customer in having(c, "customer"):
            (session,) = customer.sessions
            (talk,) = session.segments
            assert [(m.name, m.value, m.emit_ms) for m in session.metrics] == [
                ("nConnected", 1, talk.start_ms),
                ("tConnected", talk.end_ms - talk.start_ms, talk.end_ms),
            ]
            checked += 1
        # Nobody else is "connected": it is the customer's metric.
        others = [p for p in c.participants if p.purpose != "customer"]
        assert not any(
            m.name in ("nConnected", "tConnected")
            for p in others
            for s in p.sessions
            for m in s.metrics
        )
    assert checked == len(conversations) - len(of_kind(conversations, "outbound"))


def test_events_are_emitted_when_they_happen(conversations: list[Conversation]) -> None:
    """Each metric is emitted as what it measures ends, so a conversation's events spread over
    several half hours: reports count each in the half hour of its emitDate."""
    later: Counter[str] = Counter()
    counted: Counter[str] = Counter()
    for c in conversations:
        started = c.start_ms // (30 * 60_000)
        for s in sessions(c):
            for m in s.metrics:
                counted[m.name] += 1
                later[m.name] += m.emit_ms // (30 * 60_000) != started
    # Offers after an IVR or a transfer, and answers after a wait, land in a later half hour
    # now and then; handle time, emitted when the wrap-up ends, quite often.
    assert share(later["tHandle"], counted["tHandle"]) > 0.1
    assert share(later["tHandle"], counted["tHandle"]) > 2 * share(
        later["tAnswered"], counted["tAnswered"]
    )
    assert later["nOffered"] > 0 and later["tAnswered"] > 0 and later["tAbandon"] > 0
    # What is emitted at the start of an interaction never moves to a later half hour.
    assert later["nOutbound"] == 0 and later["nConnected"] == 0


def visible_metrics(c: Conversation, cut: int, participant: Participant) -> list[str]:
    """Names of the participant's metrics the record shows at ``cut``, in order."""
    record = render(c, cut, with_attributes=False)
    shown = [p for p in record["participants"] if p["participantId"] == participant.participant_id]
    return [m["name"] for p in shown for s in p["sessions"] for m in s.get("metrics", [])]


def test_an_ongoing_conversation_shows_the_events_emitted_so_far(
    conversations: list[Conversation],
) -> None:
    checked = 0
    for c in conversations:
        if c.stuck_at_ms is not None or c.originating_direction != "inbound":
            continue
        talked = answering(c)
        if not talked:
            continue
        agent = talked[-1]
        wrapup = segments(agent)[-1]
        acd = having(c, "acd")[-1]
        offered = segments(acd)[0].start_ms
        # While waiting in queue: offered, but the wait is not over.
        assert visible_metrics(c, offered + 1, acd) == ["nOffered"]
        # In wrap-up: the talk is complete, the handle time is not known yet.
        during = visible_metrics(c, wrapup.start_ms, agent)
        assert {"tAnswered", "tTalk", "tTalkComplete"} <= set(during)
        assert "tAcw" not in during and "tHandle" not in during
        assert visible_metrics(c, wrapup.end_ms - 1, agent) == during
        assert visible_metrics(c, wrapup.end_ms, agent)[-2:] == ["tAcw", "tHandle"]
        checked += 1
        if checked == 500:
            break
    assert checked == 500


def test_transfer_to_another_division_lists_both_divisions(
    everything: list[tuple[Organisation, Conversation]],
) -> None:
    crossing = same = 0
    for org, c in everything:
        acds = having(c, "acd")
        if len(acds) < 2:
            assert len(c.division_ids) == 1
            continue
        first, second = (any_queue(org, segments(acd)[0].queue_id or "") for acd in acds)
        if first.division_id == second.division_id:
            same += 1
            assert c.division_ids == (first.division_id,)
        else:
            crossing += 1
            assert c.division_ids == (first.division_id, second.division_id)
        # report-semantics §2: division_id is the first entry, the first queue's division.
        assert c.division_ids[0] == first.division_id
    assert crossing > 100 and same > 20


def test_departed_agents_and_the_deleted_queue_take_a_small_share(
    everything: list[tuple[Organisation, Conversation]],
) -> None:
    talked = by_departed = inbound = in_deleted = 0
    departed_seen: dict[int, set[str]] = {}
    for org, c in everything:
        departed = {u.id: u for u in org.departed_users}
        deleted = {q.id: q for q in org.deleted_queues}
        agents = answering(c) if c.originating_direction == "inbound" else having(c, "agent")
        if agents:
            talked += 1
            by_departed += any(a.user_id in departed for a in agents)
        for agent in having(c, "agent"):
            user = departed.get(agent.user_id or "")
            if user is None:
                continue
            departed_seen.setdefault(id(org), set()).add(user.id)
            assert agent.participant_name == user.name
            queue_ids = {seg.queue_id for seg in segments(agent)} - {None}
            for queue_id in queue_ids:
                queue = any_queue(org, queue_id or "")
                # A departed agent answered only queues they were allowed to answer.
                division_name = org.division(queue.division_id or "").name
                assert queue.division_id == user.division_id or division_name == "Home"
        if c.originating_direction != "inbound":
            continue
        inbound += 1
        used = {seg.queue_id or "" for s in sessions(c) for seg in s.segments} & deleted.keys()
        if used:
            in_deleted += 1
            (queue_id,) = used
            # Only ever the first queue offered, so it is the report's queue and division.
            assert queue_id_fact(c) == queue_id
            assert c.division_ids[0] == deleted[queue_id].division_id
            assert having(c, "acd")[0].participant_name == deleted[queue_id].name
    assert share(by_departed, talked) == pytest.approx(0.015, abs=0.006)
    assert share(in_deleted, inbound) == pytest.approx(0.01, abs=0.005)
    # The Sales and the Service leaver at least, in every generated day.
    assert [len(ids) >= 2 for ids in departed_seen.values()] == [True] * len(SEEDS)


def test_agents_alerted_who_do_not_answer(
    everything: list[tuple[Organisation, Conversation]],
) -> None:
    answered = rona = wrapped_up = 0
    for org, c in everything:
        talked = answering(c)
        silent = [p for p in having(c, "agent") if p not in talked]
        if kind(c) not in ("voice", "chat") or not metric_values(c, "tAnswered"):
            assert not silent
            continue
        answered += 1
        if not silent:
            continue
        rona += 1
        (agent,) = silent
        assert agent.user_id is not None and org.user(agent.user_id).name == agent.participant_name
        (session,) = agent.sessions
        alert, *after = session.segments
        assert alert.segment_type == "alert"
        assert alert.disconnect_type == "noAnswerTransfer"
        alert_ms = alert.end_ms - alert.start_ms
        assert 8_000 <= alert_ms <= 30_000
        expected = [
            ("tAlert", alert_ms, alert.end_ms),
            ("tNotResponding", alert_ms, alert.end_ms),
        ]
        if after:
            # Not answered, yet wrapped up: the wrap-up times out, and counts as handled.
            wrapped_up += 1
            (wrapup,) = after
            assert wrapup.segment_type == "wrapup" and wrapup.start_ms == alert.end_ms
            assert wrapup.wrap_up_code == WRAP_UP_TIMEOUT
            assert wrapup.queue_id == alert.queue_id
            acw_ms = wrapup.end_ms - wrapup.start_ms
            assert 10_000 <= acw_ms <= 120_000
            expected += [("tAcw", acw_ms, wrapup.end_ms), ("tHandle", acw_ms, wrapup.end_ms)]
        assert [(m.name, m.value, m.emit_ms) for m in session.metrics] == expected
        # Before the agent who answered, in time and in array order; never after.
        first_acd, answerer = having(c, "acd")[0], talked[0]
        queued, left = segments(first_acd)[0], segments(first_acd)[-1]
        assert alert.queue_id == left.queue_id
        assert queued.start_ms < alert.start_ms < alert.end_ms < segments(answerer)[0].start_ms
        assert segments(answerer)[0].start_ms == left.end_ms
        order = [p.participant_id for p in c.participants]
        assert order.index(first_acd.participant_id) < order.index(agent.participant_id)
        assert order.index(agent.participant_id) < order.index(answerer.participant_id)
        assert agent.user_id != answerer.user_id
        # The report's agent is the one who answered (or, after a transfer, the last one).
        assert agent_id_fact(c) == talked[-1].user_id != agent.user_id
        # The wait in queue covers the unanswered alert; speed of answer includes it too.
        assert metric(first_acd.sessions[0], "tAcd")[0] == left.end_ms - queued.start_ms
        assert metric(answerer.sessions[0], "tAnswered")[0] > alert_ms
    assert share(rona, answered) == pytest.approx(0.03, abs=0.01)
    assert share(wrapped_up, rona) == pytest.approx(0.4, abs=0.15)


def test_offered_conversations_that_leave_the_queue_unanswered(
    everything: list[tuple[Organisation, Conversation]],
) -> None:
    offered = flowed_out = disconnected = 0
    destinations: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for org, c in everything:
        if c.originating_direction != "inbound" or not metric_values(c, "nOffered"):
            continue
        offered += 1
        first_acd = having(c, "acd")[0]
        session = first_acd.sessions[0]
        queued, left = session.segments[0], session.segments[-1]
        waited = left.end_ms - queued.start_ms
        customer = segments(c.participants[0])[0]
        if left.disconnect_type == "system":
            # A system disconnect in queue is an abandon, never a flow-out.
            disconnected += 1
            assert {m.name for m in session.metrics} - {"tShortAbandon"} == {
                "nOffered",
                "tAcd",
                "tAbandon",
            }
            assert metric(session, "tAbandon") == (waited, left.end_ms)
            assert c.participants[-1] == first_acd and not having(c, "agent")
            assert customer.end_ms == left.end_ms == c.end_ms
            assert customer.disconnect_type == "peer"
            continue
        if not any(m.name == "tFlowOut" for m in session.metrics):
            continue
        # A flow-out: neither answered nor abandoned, and the interaction goes on elsewhere.
        flowed_out += 1
        kinds[kind(c)] += 1
        assert {m.name for m in session.metrics} == {"nOffered", "tAcd", "tFlowOut"}
        assert metric(session, "tFlowOut") == (waited, left.end_ms)
        assert left.disconnect_type == "transfer"
        assert not having(c, "agent") and len(having(c, "acd")) == 1
        assert not metric_values(c, "tAbandon") and not metric_values(c, "tAnswered")
        after = c.participants[-1]
        destinations[after.purpose] += 1
        (far,) = after.sessions
        assert far.segments[0].start_ms == left.end_ms
        assert far.segments[-1].end_ms == customer.end_ms == c.end_ms
        assert all(s.queue_id is None for s in far.segments)
        if after.purpose == "external":
            # Overflow to an external number: an external party takes the call.
            assert kind(c) == "voice" and after.user_id is None
            (far_end,) = far.segments
            assert far_end.segment_type == "interact"
            assert not far.metrics
            assert far.dnis and re.fullmatch(r"tel:\+1555\d{7}", far.dnis)
            assert after.participant_name == far.dnis[4:]
            continue
        # Or a flow of the queue's division, where the interaction ends.
        assert far.flow is not None and after.participant_name == far.flow["flowName"]
        assert far.flow["flowName"].startswith(org.division(c.division_ids[0]).name)
        in_flow = far.segments[-1].end_ms - far.segments[0].start_ms
        assert metric(far, "nFlow") == (1, left.end_ms)
        assert metric(far, "tFlowDisconnect") == (in_flow, c.end_ms)
        if kind(c) in ("voice", "callback"):
            assert after.purpose == "ivr"
            assert [s.segment_type for s in far.segments] == ["system", "ivr"]
            assert customer.disconnect_type == "endpoint"  # the caller hangs up in the flow
        else:
            assert after.purpose == "workflow"
            assert [s.segment_type for s in far.segments] == ["system"]
            assert customer.disconnect_type == "peer"  # the flow closes it
    assert share(flowed_out, offered) == pytest.approx(0.02, abs=0.006)
    assert share(disconnected, offered) == pytest.approx(0.01, abs=0.004)
    assert set(destinations) == {"external", "ivr", "workflow"}
    assert 0.15 * flowed_out < destinations["external"] < 0.6 * flowed_out
    assert {"voice", "chat", "message", "email"} <= set(kinds)


def test_outbound_calls_on_behalf_of_a_queue(
    everything: list[tuple[Organisation, Conversation]],
) -> None:
    outbound = queued = 0
    queues_used: set[str] = set()
    for org, c in everything:
        if c.originating_direction != "outbound":
            continue
        outbound += 1
        agent, external = c.participants
        assert all(seg.queue_id is None for seg in segments(external))
        queue_ids = {seg.queue_id for seg in segments(agent)}
        if queue_ids == {None}:
            assert queue_id_fact(c) is None
            continue
        queued += 1
        # Every segment of the agent (dialing, interact, wrap-up) carries the queue.
        (queue_id,) = queue_ids
        assert queue_id is not None
        queues_used.add(queue_id)
        queue = org.queue(queue_id)
        assert agent.user_id is not None
        assert queue.division_id == any_user(org, agent.user_id).division_id
        assert c.division_ids == (queue.division_id,)
        # No acd participant, so the report falls back to all participants' segments.
        assert not having(c, "acd")
        assert queue_id_fact(c) == queue_id
    assert share(queued, outbound) == pytest.approx(0.30, abs=0.06)
    assert len(queues_used) >= 6


def test_two_holds_emit_two_held_metrics(conversations: list[Conversation]) -> None:
    checked = 0
    for c in conversations:
        if c.stuck_at_ms is not None:
            continue
        for agent in answering(c):
            holds = [s for s in segments(agent) if s.segment_type == "hold"]
            if len(holds) != 2:
                continue
            checked += 1
            (session,) = agent.sessions
            held = [m.value for m in session.metrics if m.name == "tHeld"]
            assert held == [h.end_ms - h.start_ms for h in holds]
            handle = metric(session, "tHandle")[0]
            parts = ("tDialing", "tContacting", "tTalk", "tAcw")
            assert handle == sum(held) + sum(m.value for m in session.metrics if m.name in parts)
            # Between the two holds' ends only the first tHeld is visible.
            for cut, visible in ((holds[1].end_ms - 1, held[:1]), (c.end_ms, held)):
                record = render(c, cut, with_attributes=False)
                (shown,) = (
                    p for p in record["participants"] if p["participantId"] == agent.participant_id
                )
                values = [m["value"] for m in shown["sessions"][0]["metrics"]]
                names = [m["name"] for m in shown["sessions"][0]["metrics"]]
                assert [v for v, n in zip(values, names, strict=True) if n == "tHeld"] == visible
    assert checked > 50


# --- invariants over every generated conversation ------------------------------------------


HANDLE_PARTS = ("tDialing", "tContacting", "tTalk", "tHeld", "tAcw")


def test_timeline_invariants(days: list[Day]) -> None:
    for day in days:
        bound = day.source.max_duration_ms
        for c in day.conversations:
            assert 0 < c.end_ms - c.start_ms <= bound
            all_segments = [seg for s in sessions(c) for seg in s.segments]
            assert min(seg.start_ms for seg in all_segments) == c.start_ms
            assert max(seg.end_ms for seg in all_segments) == c.end_ms
            for s in sessions(c):
                segs = s.segments
                assert segs
                assert all(seg.start_ms < seg.end_ms for seg in segs)
                assert all(a.end_ms <= b.start_ms for a, b in pairwise(segs))
                for m in s.metrics:
                    # Emitted within the session's own span.
                    assert segs[0].start_ms <= m.emit_ms <= segs[-1].end_ms
                    assert isinstance(m.value, int) and m.value >= 0
                handle = [m.value for m in s.metrics if m.name == "tHandle"]
                if handle:
                    parts = (sum(m.value for m in s.metrics if m.name == n) for n in HANDLE_PARTS)
                    assert handle == [sum(parts)]


def test_max_duration_is_a_useful_bound(days: list[Day]) -> None:
    longest = max(c.end_ms - c.start_ms for day in days for c in day.conversations)
    assert longest <= days[0].source.max_duration_ms <= 8 * MS_PER_HOUR


def test_ids_exist_in_the_organisation(everything: list[tuple[Organisation, Conversation]]) -> None:
    unresolved: Counter[str] = Counter()
    for org, c in everything:
        departed = {u.id for u in org.departed_users}
        deleted = {q.id for q in org.deleted_queues}
        for p in c.participants:
            if p.user_id is not None:
                assert p.purpose == "agent"
                if p.user_id in departed:
                    unresolved["user"] += 1
                else:
                    org.user(p.user_id)
            for s in p.sessions:
                for seg in s.segments:
                    if seg.queue_id is not None:
                        if seg.queue_id in deleted:
                            unresolved["queue"] += 1
                        else:
                            org.queue(seg.queue_id)
                    if seg.wrap_up_code is not None:
                        assert seg.segment_type == "wrapup"
                        if seg.wrap_up_code == WRAP_UP_TIMEOUT:
                            unresolved["wrap-up code"] += 1
                        else:
                            org.wrapup_code(seg.wrap_up_code)
        for division_id in c.division_ids:
            org.division(division_id)
    # The only ids no look-up resolves are those of departed agents and deleted queues, and
    # the system wrap-up code.
    assert unresolved["user"] > 0 and unresolved["queue"] > 0 and unresolved["wrap-up code"] > 0
    org = everything[0][0]
    with pytest.raises(KeyError):
        org.wrapup_code(WRAP_UP_TIMEOUT)


# Every session metric the generator emits, each of which some test above pins.
EMITTED_METRICS = {
    "nConnected",
    "tConnected",
    "nFlow",
    "tFlow",
    "tIvr",
    "tFlowExit",
    "tFlowDisconnect",
    "nOffered",
    "tAcd",
    "tAbandon",
    "tShortAbandon",
    "tFlowOut",
    "tAlert",
    "tNotResponding",
    "tAnswered",
    "tHeld",
    "tTalk",
    "tTalkComplete",
    "nTransferred",
    "tAcw",
    "tHandle",
    "nOutbound",
    "tDialing",
    "tContacting",
}


def test_enum_values_are_in_the_vocabulary(conversations: list[Conversation]) -> None:
    seen: dict[str, set[str]] = {
        k: set() for k in ("media", "purpose", "segment", "disconnect", "metric")
    }
    for c in conversations:
        assert c.originating_direction in DIRECTIONS
        for p in c.participants:
            seen["purpose"].add(p.purpose)
            for s in p.sessions:
                seen["media"].add(s.media_type)
                assert s.direction in DIRECTIONS
                seen["metric"].update(m.name for m in s.metrics)
                for seg in s.segments:
                    seen["segment"].add(seg.segment_type)
                    if seg.disconnect_type is not None:
                        seen["disconnect"].add(seg.disconnect_type)
    assert seen["media"] == {"voice", "chat", "message", "email", "callback"} <= MEDIA_TYPES
    assert seen["purpose"] == {"customer", "ivr", "acd", "agent", "external", "workflow"}
    assert seen["purpose"] <= PURPOSES
    assert seen["segment"] == {
        "interact",
        "system",
        "ivr",
        "delay",
        "alert",
        "hold",
        "wrapup",
        "dialing",
        "contacting",
    }
    assert seen["segment"] <= SEGMENT_TYPES
    assert seen["disconnect"] <= DISCONNECT_TYPES
    assert seen["disconnect"] == {
        "endpoint",
        "peer",
        "client",
        "transfer",
        "system",
        "noAnswerTransfer",
    }
    assert seen["metric"] == EMITTED_METRICS <= CONVERSATION_METRICS


def test_some_conversations_cross_hour_boundaries_and_midnight(days: list[Day]) -> None:
    for day in days:
        crossing_hour = [
            c for c in day.conversations if c.end_ms // MS_PER_HOUR > c.start_ms // MS_PER_HOUR
        ]
        assert len(crossing_hour) > 0.05 * len(day.conversations)
        crossing_midnight = [
            c for c in day.conversations if c.end_ms // MS_PER_DAY > c.start_ms // MS_PER_DAY
        ]
        assert crossing_midnight


def test_stuck_conversations(days: list[Day]) -> None:
    default = [c for day in days for c in day.conversations if c.stuck_at_ms is not None]
    total = sum(len(day.conversations) for day in days)
    assert 0.001 * total <= len(default) <= 0.006 * total
    org = build_organisation(1)
    source = ConversationSource(1, org, VolumeProfile(stuck_fraction=0.5))
    hours = [source.hour(WEDNESDAY + h) for h in (10, 11)]
    many = [c for hour in hours for c in hour]
    stuck = [c for c in many if c.stuck_at_ms is not None]
    assert share(len(stuck), len(many)) == pytest.approx(0.5, abs=0.06)
    for c in stuck:
        assert c.stuck_at_ms is not None and c.start_ms < c.stuck_at_ms < c.end_ms
        agents = having(c, "agent")
        if agents:
            talk = next(s for s in segments(agents[-1]) if s.segment_type == "interact")
            assert talk.start_ms < c.stuck_at_ms < talk.end_ms
        record = render(c, c.end_ms + 365 * MS_PER_DAY, with_attributes=False)
        assert "conversationEnd" not in record


# --- rendering -----------------------------------------------------------------------------


def test_iso_ms_is_the_api_format() -> None:
    rng = random.Random(3)
    instants = [rng.randrange(31_536_000_000, 7_258_118_400_000) for _ in range(5000)]
    # Day, leap-day and year boundaries, on both sides.
    edges = [0, 1_709_164_800_000, 1_709_251_200_000, 1_735_689_600_000, 7_258_118_399_999]
    for ms in instants + [e + d for e in edges for d in (-1, 0, 1)]:
        moment = datetime.fromtimestamp(ms // 1000, tz=UTC)
        assert iso_ms(ms) == f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def rendered_sum(record: dict[str, Any], name: str) -> int:
    return sum(
        m["value"]
        for p in record["participants"]
        for s in p["sessions"]
        for m in s.get("metrics", [])
        if m["name"] == name
    )


def rendered_segments(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [seg for p in record["participants"] for s in p["sessions"] for seg in s["segments"]]


def test_render_after_end_shows_the_whole_conversation(conversations: list[Conversation]) -> None:
    for c in conversations[::5]:
        if c.stuck_at_ms is not None:
            continue
        record = render(c, c.end_ms, with_attributes=True)
        assert "conversationEnd" in record
        assert all("segmentEnd" in seg for seg in rendered_segments(record))
        assert len(record["participants"]) == len(c.participants)
        customer = record["participants"][1 if kind(c) == "outbound" else 0]
        assert customer["attributes"]["customerTier"] in ("gold", "silver", "bronze")
        for name in EMITTED_METRICS:
            assert rendered_sum(record, name) == sum(metric_values(c, name))
        handle = rendered_sum(record, "tHandle")
        assert handle == sum(rendered_sum(record, n) for n in HANDLE_PARTS)
        purposes = [p["purpose"] for p in record["participants"]]
        if rendered_sum(record, "tAbandon") and purposes.count("acd") == 1:
            assert "agent" not in purposes
        if "acd" in purposes:
            # report-semantics §2: queue_id is the earliest queueId on an acd participant.
            acd = next(p for p in record["participants"] if p["purpose"] == "acd")
            assert (
                acd["sessions"][0]["segments"][0]["queueId"]
                == segments(having(c, "acd")[0])[0].queue_id
            )
        first_session = record["participants"][0]["sessions"][0]
        assert first_session["mediaType"] == c.participants[0].sessions[0].media_type


def test_render_mid_conversation_is_ongoing(conversations: list[Conversation]) -> None:
    checked = 0
    for c in conversations[::5]:
        cut = (c.start_ms + c.end_ms) // 2
        record = render(c, cut, with_attributes=False)
        assert "conversationEnd" not in record
        segs = rendered_segments(record)
        assert any("segmentEnd" not in seg for seg in segs)
        emitted = sum(
            len(s.get("metrics", [])) for p in record["participants"] for s in p["sessions"]
        )
        assert emitted == sum(
            1 for s in sessions(c) for m in s.metrics if m.emit_ms <= c.cut_ms(cut)
        )
        just_before = render(c, c.end_ms - 1, with_attributes=False)
        assert "conversationEnd" not in just_before
        at_start = render(c, c.start_ms + 1, with_attributes=False)
        assert "conversationEnd" not in at_start
        assert at_start["participants"][0]["sessions"][0]["segments"][0].get("segmentEnd") is None
        checked += 1
    assert checked > 1000
