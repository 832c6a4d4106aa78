"""Facts of one conversation (report-semantics §2), pinned on detail records written by hand.

Every expected value below was worked out by hand from the record next to it; the arithmetic
is in a comment wherever it is not a plain copy.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from app.pipeline.facts import Facts, MalformedRecord, conversation_facts, instant_ms

BERLIN = ZoneInfo("Europe/Berlin")
UTC_ZONE = ZoneInfo("UTC")


# --- small builders for the §7 shape ----------------------------------------------------------


def metric(name: str, value: Any) -> dict[str, Any]:
    return {"name": name, "value": value, "emitDate": "2024-05-01T09:10:00.000Z"}


def segment(kind: str, start: str, **extra: Any) -> dict[str, Any]:
    return {"segmentStart": start, "segmentEnd": start, "segmentType": kind, **extra}


def participant(
    purpose: str,
    segments: list[dict[str, Any]],
    metrics: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    session = {"sessionId": f"s-{purpose}", "mediaType": "voice", "direction": "inbound"}
    return {
        "participantId": f"p-{purpose}",
        "purpose": purpose,
        "sessions": [{**session, "metrics": metrics or [], "segments": segments}],
        **extra,
    }


def record(participants: list[Any], **fields: Any) -> dict[str, Any]:
    return {
        "conversationId": "c-1",
        "conversationStart": "2024-05-01T09:00:00.000Z",
        "conversationEnd": "2024-05-01T09:10:00.000Z",
        "originatingDirection": "inbound",
        "divisionIds": ["div-1"],
        "participants": participants,
        **fields,
    }


T = "2024-05-01T09:0"  # prefix: T + "1:00.000Z" is 09:01:00 UTC


# --- a full transferred call ------------------------------------------------------------------

# Customer → queue Sales → agent u-1 (answers, holds twice, transfers) → queue Support →
# agent u-3 (answers, wraps up) → agent u-2 (alerted only: a RONA). Array order is deliberate:
# the RONA agent comes last, so "last agent" and "last agent that interacted" differ.
TRANSFERRED_CALL: dict[str, Any] = {
    "conversationId": "conv-transfer",
    "conversationStart": "2024-05-01T09:00:00.000Z",
    "conversationEnd": "2024-05-01T09:07:30.500Z",
    "originatingDirection": "inbound",
    "divisionIds": ["div-1", "div-2"],
    "mediaStatsMinConversationMos": 4.38,
    "participants": [
        {
            "participantId": "p1",
            "purpose": "customer",
            "sessions": [
                {
                    "sessionId": "s1",
                    "mediaType": "voice",
                    "direction": "inbound",
                    "segments": [segment("interact", "2024-05-01T09:00:00.000Z")],
                }
            ],
        },
        {
            "participantId": "p2",
            "participantName": "Sales",
            "purpose": "acd",
            "sessions": [
                {
                    "sessionId": "s2",
                    "mediaType": "voice",
                    "metrics": [metric("nOffered", 1), metric("tAcd", 20_000)],
                    "segments": [
                        segment("interact", "2024-05-01T09:00:05.000Z", queueId="q-sales")
                    ],
                }
            ],
        },
        {
            "participantId": "p3",
            "purpose": "agent",
            "userId": "u-1",
            "sessions": [
                {
                    "sessionId": "s3",
                    "mediaType": "voice",
                    "metrics": [
                        metric("tAlert", 3_000),
                        metric("tAnswered", 25_000),
                        metric("tTalk", 60_000),
                        metric("tHeld", 10_000),
                        metric("tHeld", 5_000),
                        metric("tAcw", 4_000),
                        metric("tHandle", 79_000),
                        metric("nTransferred", 1),
                    ],
                    "segments": [
                        segment("alert", "2024-05-01T09:00:25.000Z", queueId="q-sales"),
                        segment("interact", "2024-05-01T09:00:28.000Z", queueId="q-sales"),
                        segment("hold", "2024-05-01T09:01:00.000Z", queueId="q-sales"),
                        segment(
                            "wrapup",
                            "2024-05-01T09:02:00.000Z",
                            queueId="q-sales",
                            wrapUpCode="wc-transfer",
                        ),
                    ],
                }
            ],
        },
        {
            "participantId": "p4",
            "participantName": "Support",
            "purpose": "acd",
            "sessions": [
                {
                    "sessionId": "s4",
                    "mediaType": "voice",
                    # The transfer offers the call again: a second nOffered.
                    "metrics": [metric("nOffered", 1), metric("tAcd", 12_000)],
                    "segments": [
                        segment("interact", "2024-05-01T09:02:00.000Z", queueId="q-support")
                    ],
                }
            ],
        },
        {
            "participantId": "p5",
            "purpose": "agent",
            "userId": "u-3",
            "sessions": [
                {
                    "sessionId": "s5",
                    "mediaType": "voice",
                    "metrics": [
                        metric("tAlert", 4_000),
                        metric("tAnswered", 30_000),
                        metric("tTalk", 240_000),
                        metric("tHeld", 20_000),
                        metric("tAcw", 30_000),
                        metric("tHandle", 290_000),
                    ],
                    "segments": [
                        segment("alert", "2024-05-01T09:02:12.000Z", queueId="q-support"),
                        segment("interact", "2024-05-01T09:02:30.000Z", queueId="q-support"),
                        segment(
                            "wrapup",
                            "2024-05-01T09:07:00.000Z",
                            queueId="q-support",
                            wrapUpCode="wc-resolved",
                        ),
                    ],
                }
            ],
        },
        {
            "participantId": "p6",
            "purpose": "agent",
            "userId": "u-2",
            "sessions": [
                {
                    "sessionId": "s6",
                    "mediaType": "voice",
                    "metrics": [metric("tAlert", 10_000)],
                    "segments": [segment("alert", "2024-05-01T09:02:00.000Z", queueId="q-support")],
                }
            ],
        },
    ],
}


def test_transferred_call_has_every_fact_as_defined() -> None:
    expected = Facts(
        conversation_id="conv-transfer",
        # 2024-05-01 is day 19844 after 1970-01-01: 19844 * 86400 s + 9 h = 1_714_554_000 s.
        start_ms=1_714_554_000_000,
        ended=True,
        media_type="voice",
        direction="inbound",
        division_id="div-1",
        # acd segments start 09:00:05 (q-sales) and 09:02:00 (q-support): the earliest wins.
        queue_id="q-sales",
        # u-1 and u-3 interacted, u-2 was only alerted: the last one that interacted.
        agent_id="u-3",
        # wrap-ups at 09:02:00 (wc-transfer) and 09:07:00 (wc-resolved): the latest.
        wrapup_code="wc-resolved",
        offered=1,  # nOffered on two sessions is still one offered conversation
        answered=1,
        abandoned=0,
        transferred=1,
        handled=1,  # two sessions carry tHandle: one handled conversation
        speed_of_answer_ms=25_000,  # min(25_000, 30_000)
        wait_ms=32_000,  # tAcd 20_000 + 12_000
        talk_ms=300_000,  # tTalk 60_000 + 240_000
        hold_ms=35_000,  # tHeld 10_000 + 5_000 (two entries, one session) + 20_000
        acw_ms=34_000,  # tAcw 4_000 + 30_000
        handle_ms=369_000,  # tHandle 79_000 + 290_000
        duration_ms=450_500,  # 09:07:30.500 - 09:00:00.000
        half_hour="2024-05-01T11:00",  # 09:00:00Z is 11:00 CEST, the first half of the hour
        hour="2024-05-01T11:00",  # CEST is UTC+2
        day="2024-05-01",
        week="2024-W18",  # Monday 2024-04-29 starts ISO week 18
        month="2024-05",
    )
    assert conversation_facts(TRANSFERRED_CALL, BERLIN) == expected


def test_as_dict_has_every_field_and_is_json_ready() -> None:
    facts = conversation_facts(TRANSFERRED_CALL, BERLIN)
    exported = facts.as_dict()
    assert list(exported) == list(Facts.__dataclass_fields__)
    assert exported["conversation_id"] == "conv-transfer"
    assert exported["hold_ms"] == 35_000
    assert orjson.loads(orjson.dumps(exported)) == exported


def test_ongoing_facts_as_dict_carry_null_duration() -> None:
    ongoing = {key: value for key, value in TRANSFERRED_CALL.items() if key != "conversationEnd"}
    exported = conversation_facts(ongoing, BERLIN).as_dict()
    assert (exported["ended"], exported["duration_ms"]) == (False, None)
    assert orjson.dumps(exported).count(b'"duration_ms":null') == 1


# --- flags and sums ---------------------------------------------------------------------------


def test_noffered_emitted_twice_counts_once() -> None:
    acd = participant(
        "acd",
        [segment("interact", T + "0:05.000Z", queueId="q-1")],
        [metric("nOffered", 1), metric("nOffered", 1), metric("tAbandon", 7_000)],
    )
    facts = conversation_facts(record([acd]), UTC_ZONE)
    assert (facts.offered, facts.abandoned, facts.answered, facts.transferred) == (1, 1, 0, 0)


def test_flags_are_presence_whatever_the_value() -> None:
    # A flag is the presence of the metric (§2), so a count of 2 is still 1.
    agent = participant(
        "agent",
        [segment("interact", T + "0:05.000Z")],
        [metric("nTransferred", 2), metric("tAnswered", 0)],
        userId="u-1",
    )
    facts = conversation_facts(record([agent]), UTC_ZONE)
    assert (facts.transferred, facts.answered, facts.speed_of_answer_ms) == (1, 1, 0)


def test_two_held_entries_in_one_session_are_summed() -> None:
    agent = participant(
        "agent",
        [segment("interact", T + "0:05.000Z")],
        [metric("tHeld", 12_345), metric("tHeld", 1_000), metric("tTalk", 100)],
        userId="u-1",
    )
    facts = conversation_facts(record([agent]), UTC_ZONE)
    assert (facts.hold_ms, facts.talk_ms) == (13_345, 100)


def test_unanswered_conversation_has_no_speed_of_answer_and_zero_sums() -> None:
    customer = participant("customer", [segment("interact", T + "0:00.000Z")])
    facts = conversation_facts(record([customer]), UTC_ZONE)
    summed = ("wait_ms", "talk_ms", "hold_ms", "acw_ms", "handle_ms")
    flags = ("offered", "answered", "abandoned", "transferred")
    exported = facts.as_dict()
    assert {name: exported[name] for name in summed + flags} == dict.fromkeys(summed + flags, 0)
    assert facts.speed_of_answer_ms is None


# --- queue, agent, wrap-up --------------------------------------------------------------------


def test_acd_queue_wins_over_an_earlier_queue_on_another_participant() -> None:
    # The agent's alert segment (09:00:01) is earlier than the acd segment (09:00:05), but §2
    # looks at acd participants first.
    agent = participant(
        "agent", [segment("alert", T + "0:01.000Z", queueId="q-agent")], userId="u-1"
    )
    acd = participant("acd", [segment("interact", T + "0:05.000Z", queueId="q-acd")])
    assert conversation_facts(record([agent, acd]), UTC_ZONE).queue_id == "q-acd"


def test_earliest_acd_segment_wins_not_the_first_in_the_array() -> None:
    later = participant("acd", [segment("interact", T + "3:00.000Z", queueId="q-later")])
    earlier = participant("acd", [segment("interact", T + "1:00.000Z", queueId="q-earlier")])
    assert conversation_facts(record([later, earlier]), UTC_ZONE).queue_id == "q-earlier"


def test_queue_from_other_participants_only_when_no_acd_segment_has_one() -> None:
    # The acd participant has segments, none with a queueId; so all participants are looked
    # at: the agent's segments start 09:00:20 and 09:00:10, the customer's 09:00:30.
    acd = participant("acd", [segment("interact", T + "0:05.000Z")])
    agent = participant(
        "agent",
        [
            segment("alert", T + "0:20.000Z", queueId="q-alert"),
            segment("interact", T + "0:10.000Z", queueId="q-interact"),
        ],
        userId="u-1",
    )
    customer = participant("customer", [segment("interact", T + "0:30.000Z", queueId="q-cust")])
    assert conversation_facts(record([customer, acd, agent]), UTC_ZONE).queue_id == "q-interact"


def test_no_queue_anywhere_is_none() -> None:
    acd = participant("acd", [segment("interact", T + "0:05.000Z", queueId=None)])
    assert conversation_facts(record([acd]), UTC_ZONE).queue_id is None


def test_agent_is_the_last_agent_that_interacted() -> None:
    transfer_agent = participant(
        "agent", [segment("interact", T + "0:10.000Z")], userId="u-transfer"
    )
    answering_agent = participant(
        "agent", [segment("alert", T + "1:00.000Z"), segment("interact", T + "1:05.000Z")]
    )
    answering_agent["userId"] = "u-answer"
    rona_agent = participant("agent", [segment("alert", T + "2:00.000Z")], userId="u-rona")
    # A non-agent purpose with an interact segment never counts either.
    user = participant("user", [segment("interact", T + "3:00.000Z")], userId="u-user")
    call = record([transfer_agent, answering_agent, rona_agent, user])
    assert conversation_facts(call, UTC_ZONE).agent_id == "u-answer"


def test_no_agent_interacted_is_none() -> None:
    rona_agent = participant("agent", [segment("alert", T + "2:00.000Z")], userId="u-rona")
    assert conversation_facts(record([rona_agent]), UTC_ZONE).agent_id is None


def test_latest_wrapup_code_by_segment_start_not_array_order() -> None:
    # Array order: 09:05 (wc-late), 09:02 (wc-early), then a wrap-up at 09:09 without a code.
    agent = participant(
        "agent",
        [
            segment("interact", T + "1:00.000Z"),
            segment("wrapup", T + "5:00.000Z", wrapUpCode="wc-late"),
            segment("wrapup", T + "2:00.000Z", wrapUpCode="wc-early"),
            segment("wrapup", T + "9:00.000Z"),
        ],
        userId="u-1",
    )
    assert conversation_facts(record([agent]), UTC_ZONE).wrapup_code == "wc-late"


def test_wrapup_codes_are_compared_across_participants_and_offsets() -> None:
    # 08:04-01:00 is 09:04Z, later than 09:03:30Z although its text sorts first: instants
    # are compared, not strings.
    first = participant(
        "agent",
        [segment("wrapup", "2024-05-01T08:04:00.000-01:00", wrapUpCode="wc-offset")],
        userId="u-1",
    )
    second = participant(
        "agent", [segment("wrapup", T + "3:30.000Z", wrapUpCode="wc-z")], userId="u-2"
    )
    assert conversation_facts(record([first, second]), UTC_ZONE).wrapup_code == "wc-offset"


def test_no_wrapup_code_is_none() -> None:
    agent = participant(
        "agent", [segment("wrapup", T + "5:00.000Z", wrapUpCode=None)], userId="u-1"
    )
    # wrapUpCode on a segment that is not a wrap-up segment does not count.
    other = participant(
        "agent", [segment("interact", T + "6:00.000Z", wrapUpCode="wc-x")], userId="u-2"
    )
    assert conversation_facts(record([agent, other]), UTC_ZONE).wrapup_code is None


# --- robustness -------------------------------------------------------------------------------

ODD_RECORD: dict[str, Any] = {
    "conversationId": "c-odd",
    "conversationStart": "2024-05-01T09:00:00.000Z",
    "conversationEnd": None,
    "originatingDirection": None,
    "divisionIds": None,
    "brandNewField": {"nested": [1, 2, 3]},
    "participants": [
        None,  # the first participant is not an object: no media type
        "junk",
        {"purpose": "customer", "sessions": None},
        {
            "purpose": "acd",
            "futureFlag": True,
            "sessions": [
                None,
                {"metrics": None, "segments": None},
                {
                    "mediaType": 5,
                    "metrics": [
                        None,
                        metric("nOffered", 1),
                        metric("tAcd", "20000"),  # a string: skipped
                        metric("tAcd", 1.5),  # a float: skipped
                        metric("tAcd", True),  # a bool: skipped
                        metric("tAcd", None),  # null: skipped
                        metric("tAcd", 7_000),
                        metric("tBrandNew", 5),  # unknown name: ignored
                        {"name": None, "value": 1},
                        {"value": 3},
                        {"name": ["tTalk"], "value": 1},  # not even hashable
                        metric("tAnswered", "soon"),  # skipped, so not answered
                    ],
                    "segments": [
                        None,
                        {"segmentType": "interact", "queueId": None},
                        {"segmentType": "interact", "queueId": ""},
                        {"segmentType": "interact", "queueId": "q-1", "segmentStart": None},
                        {"segmentType": "wrapup", "wrapUpCode": 17},
                    ],
                },
            ],
        },
        {"purpose": "agent", "userId": None, "sessions": [{"segments": [{"segmentType": None}]}]},
    ],
}


def test_record_with_nulls_unknown_fields_and_odd_metrics_is_tolerated() -> None:
    facts = conversation_facts(ODD_RECORD, UTC_ZONE)
    assert facts == Facts(
        conversation_id="c-odd",
        start_ms=1_714_554_000_000,
        ended=False,  # conversationEnd is null
        media_type=None,
        direction=None,
        division_id=None,
        queue_id="q-1",  # the only queue segment, even without a readable start
        agent_id=None,
        wrapup_code=None,  # 17 is not a code id
        offered=1,
        answered=0,
        abandoned=0,
        transferred=0,
        handled=0,
        speed_of_answer_ms=None,
        wait_ms=7_000,  # the one integer tAcd
        talk_ms=0,
        hold_ms=0,
        acw_ms=0,
        handle_ms=0,
        duration_ms=None,
        half_hour="2024-05-01T09:00",
        hour="2024-05-01T09:00",
        day="2024-05-01",
        week="2024-W18",
        month="2024-05",
    )


@pytest.mark.parametrize("participants", [None, {}, "x", 3, []])
def test_participants_missing_or_not_a_list(participants: Any) -> None:
    facts = conversation_facts(record(participants), UTC_ZONE)
    assert (facts.media_type, facts.queue_id, facts.agent_id) == (None, None, None)
    assert (facts.offered, facts.handle_ms) == (0, 0)
    assert facts.duration_ms == 600_000  # 09:10 - 09:00


def test_participants_key_absent() -> None:
    bare = {"conversationId": "c-bare", "conversationStart": "2024-05-01T09:00:00Z"}
    facts = conversation_facts(bare, UTC_ZONE)
    assert (facts.ended, facts.direction, facts.division_id) == (False, None, None)


def test_media_type_is_the_first_session_of_the_first_participant_only() -> None:
    # The first participant has no sessions: §2 names no fallback, so there is no media type.
    sessionless = {"purpose": "customer", "sessions": []}
    chat = participant("acd", [])
    chat["sessions"][0]["mediaType"] = "chat"
    assert conversation_facts(record([sessionless, chat]), UTC_ZONE).media_type is None
    assert conversation_facts(record([chat, sessionless]), UTC_ZONE).media_type == "chat"


def test_unreadable_conversation_end_means_not_ended() -> None:
    facts = conversation_facts(record([], conversationEnd="soon"), UTC_ZONE)
    assert (facts.ended, facts.duration_ms) == (False, None)


def test_division_is_the_first_entry_or_none() -> None:
    two = record([], divisionIds=["d-a", "d-b"])
    assert conversation_facts(two, UTC_ZONE).division_id == "d-a"
    assert conversation_facts(record([], divisionIds=[]), UTC_ZONE).division_id is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"conversationId": None}, "no conversationId"),
        ({"conversationId": ""}, "no conversationId"),
        ({"conversationId": 42}, "no conversationId"),
        ({"conversationStart": None}, "conversation c-1 has no conversationStart"),
        ({"conversationStart": 1714554000000}, "conversation c-1 has no conversationStart"),
        ({"conversationStart": "yesterday"}, "c-1 has an invalid conversationStart 'yesterday'"),
        # Without an offset the instant is ambiguous.
        ({"conversationStart": "2024-05-01T09:00:00"}, "c-1 has an invalid conversationStart"),
    ],
)
def test_malformed_record(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(MalformedRecord, match=message):
        conversation_facts(record([], **fields), UTC_ZONE)


@pytest.mark.parametrize("missing", ["conversationId", "conversationStart"])
def test_missing_key_is_malformed(missing: str) -> None:
    broken = {key: value for key, value in record([]).items() if key != missing}
    with pytest.raises(MalformedRecord, match=missing):
        conversation_facts(broken, UTC_ZONE)


def test_record_that_is_not_an_object_is_malformed() -> None:
    not_a_record: Any = ["conversationId", "c-1"]
    with pytest.raises(MalformedRecord, match="must be an object"):
        conversation_facts(not_a_record, UTC_ZONE)


def test_malformed_record_is_a_value_error() -> None:
    assert issubclass(MalformedRecord, ValueError)


# --- instants ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1970-01-01T00:00:00.000Z", 0),
        ("2024-05-01T09:00:05.123Z", 1_714_554_005_123),
        ("2024-05-01T09:00:05Z", 1_714_554_005_000),
        ("2024-05-01T11:00:05.123+02:00", 1_714_554_005_123),
        ("2024-05-01T04:00:05.123-05:00", 1_714_554_005_123),
        ("2024-05-01T09:00:05.123999Z", 1_714_554_005_123),  # microseconds truncated
        ("1969-12-31T23:59:59.999Z", -1),
    ],
)
def test_instant_ms(text: str, expected: int) -> None:
    assert instant_ms(text) == expected


@pytest.mark.parametrize(
    "text", ["2024-05-01T09:00:05.123", "2024-05-01", "", "yesterday", "2024-13-01T00:00:00Z"]
)
def test_instant_ms_refuses_texts_without_a_zone_or_date(text: str) -> None:
    with pytest.raises(ValueError):
        instant_ms(text)


# --- local time buckets -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "hour", "day", "week", "month"),
    [
        # Spring forward at 2024-03-31 01:00Z: local 02:00-03:00 does not exist.
        ("2024-03-31T00:30:00.000Z", "2024-03-31T01:00", "2024-03-31", "2024-W13", "2024-03"),
        ("2024-03-31T01:30:00.000Z", "2024-03-31T03:00", "2024-03-31", "2024-W13", "2024-03"),
        # Fall back at 2024-10-27 01:00Z: local 02:00-03:00 happens twice, both are "02:00".
        ("2024-10-27T00:30:00.000Z", "2024-10-27T02:00", "2024-10-27", "2024-W43", "2024-10"),
        ("2024-10-27T01:30:00.000Z", "2024-10-27T02:00", "2024-10-27", "2024-W43", "2024-10"),
        # 22:30Z is 00:30 the next local day in summer (UTC+2), 23:30 the same day in winter.
        ("2024-10-26T22:30:00.000Z", "2024-10-27T00:00", "2024-10-27", "2024-W43", "2024-10"),
        ("2024-10-27T22:30:00.000Z", "2024-10-27T23:00", "2024-10-27", "2024-W43", "2024-10"),
        # ISO weeks at year ends: Monday 2024-12-30 starts 2025-W01, Friday 2021-01-01 is
        # in 2020-W53; and a local new year that is still the old year in UTC.
        ("2024-12-30T12:00:00.000Z", "2024-12-30T13:00", "2024-12-30", "2025-W01", "2024-12"),
        ("2024-12-31T23:30:00.000Z", "2025-01-01T00:00", "2025-01-01", "2025-W01", "2025-01"),
        ("2021-01-01T12:00:00.000Z", "2021-01-01T13:00", "2021-01-01", "2020-W53", "2021-01"),
    ],
)
def test_local_buckets_in_berlin(start: str, hour: str, day: str, week: str, month: str) -> None:
    facts = conversation_facts(record([], conversationStart=start), BERLIN)
    assert (facts.hour, facts.day, facts.week, facts.month) == (hour, day, week, month)


def test_the_same_instant_falls_into_each_zones_own_hour() -> None:
    call = record([], conversationStart="2024-05-01T09:45:00.000Z")
    # Kolkata is UTC+5:30, so 09:45Z is 15:15 there; New York is UTC-4 in May: 05:45.
    hours = [
        conversation_facts(call, ZoneInfo(zone)).hour
        for zone in ("Asia/Kolkata", "UTC", "America/New_York", "Europe/Berlin")
    ]
    assert hours == ["2024-05-01T15:00", "2024-05-01T09:00", "2024-05-01T05:00", "2024-05-01T11:00"]
