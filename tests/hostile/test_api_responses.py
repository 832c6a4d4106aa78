"""Hostile detail-query responses through the real pipeline (issue 7, item 2: API responses).

Records missing optional fields, ``null`` where a list, object or value is expected, unknown
fields and enum values, metrics with unexpected names or values, odd and invalid timestamps,
records that are not objects, bodies that are not JSON or not the documented shape, a wrong
``totalHits`` and a huge page. Whatever arrives, a run either succeeds with the bad records
skipped and counted in ``counts.malformed_skipped`` (its numbers computed from the good records
alone) or raises a ``ReportsError`` naming the problem and leaves nothing in the final location.

Reference reports come from the same pipeline over the same data with the chosen conversations
moved out of the period (a valid record that simply does not count), so both runs page alike.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from app.errors import GenesysUnavailableError, ReportsError
from app.settings import grain_metrics
from tests.genesys.conftest import Connect
from tests.hostile.harness import WINDOW, Harness, Mutation, Record, Reply, start

# A valid start outside the period: the record is read, and does not count.
ELSEWHERE = "2000-01-01T00:00:00.000Z"


@pytest.fixture
async def harness(connect: Connect, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    return await start(connect, tmp_path, monkeypatch)


# --- mutations ----------------------------------------------------------------------------


def _participants(record: Record) -> Iterator[Record]:
    yield from record.get("participants") or []


def _sessions(record: Record) -> Iterator[Record]:
    for participant in _participants(record):
        yield from participant.get("sessions") or []


def _segments(record: Record) -> Iterator[Record]:
    for session in _sessions(record):
        yield from session.get("segments") or []


def _set(path: str, value: Any) -> Mutation:
    """Set (or with ``...`` delete) a field on the record, every participant, every session
    or every segment: ``path`` is ``record``, ``participant``, ``session`` or ``segment``
    followed by the field name."""
    level, name = path.split(".")
    walk: dict[str, Callable[[Record], Iterator[Record]]] = {
        "record": lambda r: iter([r]),
        "participant": _participants,
        "session": _sessions,
        "segment": _segments,
    }

    def mutate(record: Record) -> Record:
        for target in list(walk[level](record)):
            if value is ...:
                target.pop(name, None)
            else:
                target[name] = copy.deepcopy(value)
        return record

    return mutate


def _chain(*mutations: Mutation) -> Mutation:
    def mutate(record: Record) -> Any:
        for mutation in mutations:
            record = mutation(record)
        return record

    return mutate


_JUNK_METRICS: list[Any] = [
    {"name": None, "value": "x"},
    {"name": "tTalk", "value": "12000"},
    {"name": "tHandle", "value": True},
    {"name": "tHandle", "value": 1.5},
    {"name": "tHandle", "value": None},
    {"name": "tHandle"},
    {"value": 3},
    {"name": ["tTalk"], "value": 1},
    {"name": "tMindReading", "value": 42},
    {"name": "nTeleported", "value": 1},
    {"name": "", "value": 7},
    None,
    7,
    "tAnswered",
    [],
]


def _junk_metrics(record: Record) -> Record:
    for session in _sessions(record):
        session["metrics"] = [*(session.get("metrics") or []), *copy.deepcopy(_JUNK_METRICS)]
    return record


def _unknown_fields(record: Record) -> Record:
    record["shinyNewField"] = {"nested": [1, 2, {"deeper": None}]}
    record["mediaStatsFuture"] = [None, "x", 3.5]
    for participant in _participants(record):
        participant["holoChannel"] = {"enabled": True}
    for session in _sessions(record):
        session["quantumState"] = "superposed"
        session["metrics2"] = [{"name": "tTalk", "value": 10**6}]
    for segment in _segments(record):
        segment["sentiment"] = -0.5
        segment["properties"] = [{"property": "x", "propertyType": "string", "value": "y"}]
    return record


def _odd_iso(text: str) -> str:
    """The same instant with a +02:00 offset, and without the milliseconds when they are 0."""
    moment = datetime.fromisoformat(text).astimezone(timezone(timedelta(hours=2)))
    spec = "seconds" if moment.microsecond == 0 else "milliseconds"
    return moment.isoformat(timespec=spec)


def _odd_iso_everywhere(record: Record) -> Record:
    for key in ("conversationStart", "conversationEnd"):
        if isinstance(record.get(key), str):
            record[key] = _odd_iso(record[key])
    for segment in _segments(record):
        for key in ("segmentStart", "segmentEnd"):
            if isinstance(segment.get(key), str):
                segment[key] = _odd_iso(segment[key])
    return record


def _not_interact(kind: str) -> Mutation:
    """An unknown segment type on the segments whose type decides no fact."""

    def mutate(record: Record) -> Record:
        for segment in _segments(record):
            if segment.get("segmentType") not in ("interact", "wrapup"):
                segment["segmentType"] = kind
        return record

    return mutate


# --- records with missing, null, unknown or odd optional content: kept and counted ---------

Facts = dict[str, Any]
Check = Callable[[Facts, Facts], None]


def _no_participant_facts(before: Facts, after: Facts) -> None:
    for name in ("media_type", "queue_id", "agent_id", "wrapup_code", "speed_of_answer_ms"):
        assert after[name] is None, name
    for name in ("offered", "answered", "abandoned", "transferred", "talk_ms", "handle_ms"):
        assert after[name] == 0, name
    # Conversation-level facts do not depend on participants.
    for name in ("duration_ms", "direction", "division_id", "day", "ended"):
        assert after[name] == before[name], name


def _no_segment_facts(before: Facts, after: Facts) -> None:
    # Metrics still count; what segments decide (queue, agent, wrap-up) is unknown.
    assert after["queue_id"] is None and after["agent_id"] is None
    assert after["wrapup_code"] is None
    for name in ("media_type", "offered", "answered", "handle_ms", "talk_ms", "duration_ms"):
        assert after[name] == before[name], name


def _no_metric_facts(before: Facts, after: Facts) -> None:
    for name in ("offered", "answered", "abandoned", "transferred", "handle_ms", "wait_ms"):
        assert after[name] == 0, name
    assert after["speed_of_answer_ms"] is None
    for name in ("media_type", "queue_id", "agent_id", "wrapup_code", "duration_ms"):
        assert after[name] == before[name], name


def _unchanged(before: Facts, after: Facts) -> None:
    assert after == before


def _only_counted(before: Facts, after: Facts) -> None:
    assert after["conversation_id"] == before["conversation_id"]
    assert after["duration_ms"] == before["duration_ms"]
    assert after["handle_ms"] == before["handle_ms"]


def _unknown_enums(before: Facts, after: Facts) -> None:
    assert after["media_type"] == "hologram"
    assert after["direction"] == "sideways"
    for name in ("queue_id", "agent_id", "offered", "answered", "handle_ms", "wrapup_code"):
        assert after[name] == before[name], name


def _robots(before: Facts, after: Facts) -> None:
    # No participant is an agent any more; the queue is still found on the other participants.
    assert after["agent_id"] is None
    assert after["queue_id"] == before["queue_id"]
    assert after["answered"] == before["answered"]


def _null_scalars(before: Facts, after: Facts) -> None:
    for name in ("media_type", "direction", "division_id", "queue_id", "agent_id", "wrapup_code"):
        assert after[name] is None, name
    assert after["handle_ms"] == before["handle_ms"]


TOLERATED: dict[str, tuple[Mutation, Check]] = {
    "no participants": (_set("record.participants", ...), _no_participant_facts),
    "participants null": (_set("record.participants", None), _no_participant_facts),
    "participants a string": (_set("record.participants", "everyone"), _no_participant_facts),
    "participants an object": (_set("record.participants", {"a": 1}), _no_participant_facts),
    "participants [null, 1, 'x', []]": (
        _set("record.participants", [None, 1, "x", []]),
        _no_participant_facts,
    ),
    "no sessions": (_set("participant.sessions", ...), _no_participant_facts),
    "sessions null": (_set("participant.sessions", None), _no_participant_facts),
    "sessions [null]": (_set("participant.sessions", [None]), _no_participant_facts),
    "no segments": (_set("session.segments", ...), _no_segment_facts),
    "segments null": (_set("session.segments", None), _no_segment_facts),
    "segments [null, 3]": (_set("session.segments", [None, 3]), _no_segment_facts),
    "no metrics": (_set("session.metrics", ...), _no_metric_facts),
    "metrics null": (_set("session.metrics", None), _no_metric_facts),
    "metrics an object": (_set("session.metrics", {"tTalk": 5}), _no_metric_facts),
    "metric entries with null, wrong types and unexpected names": (_junk_metrics, _unchanged),
    "unknown fields at every level": (_unknown_fields, _unchanged),
    "segmentStart null": (_set("segment.segmentStart", None), _only_counted),
    "segmentStart garbage": (_set("segment.segmentStart", "yesterday-ish"), _only_counted),
    "segmentStart a number": (_set("segment.segmentStart", 1714550400000), _only_counted),
    "unknown enum values": (
        _chain(
            _set("session.mediaType", "hologram"),
            _set("record.originatingDirection", "sideways"),
            _set("segment.disconnectType", "meteor"),
            _not_interact("teleport"),
        ),
        _unknown_enums,
    ),
    "purpose robot on every participant": (_set("participant.purpose", "robot"), _robots),
    "null where strings are expected": (
        _chain(
            _set("session.mediaType", None),
            _set("record.originatingDirection", None),
            _set("record.divisionIds", None),
            _set("segment.queueId", None),
            _set("participant.userId", None),
            _set("segment.wrapUpCode", None),
        ),
        _null_scalars,
    ),
    "wrong types where strings are expected": (
        _chain(
            _set("session.mediaType", ["voice"]),
            _set("record.originatingDirection", 1),
            _set("record.divisionIds", [None, "d"]),
            _set("segment.queueId", {"id": "q"}),
            _set("participant.userId", 42),
            _set("segment.wrapUpCode", ""),
        ),
        _null_scalars,
    ),
}


@pytest.mark.parametrize("case", list(TOLERATED))
async def test_records_with_missing_null_or_unknown_content_are_kept(
    harness: Harness, case: str
) -> None:
    mutation, check = TOLERATED[case]
    victims = harness.answered_victims()
    harness.hostile.rules = dict.fromkeys(victims, mutation)
    run = await harness.run()
    assert run.counts["malformed_skipped"] == 0
    assert run.counts["conversations"] == len(harness.ended())
    facts = run.facts
    for victim in victims:
        check(harness.facts_of(victim), facts[victim])
    # A missing value is an empty cell, never the string "None" (report-semantics §2).
    assert b"None" not in run.csv


async def test_odd_but_valid_timestamps_give_the_same_report(harness: Harness) -> None:
    """Offsets other than Z and instants without milliseconds name the same instants."""
    reference = await harness.run()
    harness.hostile.every = _odd_iso_everywhere
    odd = await harness.run()
    assert odd.csv == reference.csv
    assert odd.rows == reference.rows
    assert odd.counts["malformed_skipped"] == 0
    assert odd.counts["conversations"] == reference.counts["conversations"] > 0


# The same report in the interval grain: its events read emit dates and session segments.
INTERVAL = {
    "grain": "interval",
    "group_by": ["queue_id", "half_hour"],
    "metrics": list(grain_metrics("interval")),
}


async def test_odd_but_valid_timestamps_give_the_same_interval_report(harness: Harness) -> None:
    reference = await harness.run(**INTERVAL)
    harness.hostile.every = _odd_iso_everywhere
    odd = await harness.run(**INTERVAL)
    assert odd.csv == reference.csv
    assert odd.counts["malformed_skipped"] == 0
    assert odd.counts["events_counted"] == reference.counts["events_counted"] > 0


@pytest.mark.parametrize("case", list(TOLERATED))
async def test_odd_content_does_not_break_the_interval_grain(harness: Harness, case: str) -> None:
    mutation, _ = TOLERATED[case]
    reference = await harness.run(**INTERVAL)
    victims = harness.answered_victims()
    harness.hostile.rules = dict.fromkeys(victims, mutation)
    run = await harness.run(**INTERVAL)
    assert run.counts["malformed_skipped"] == 0
    # Odd content can only take events away (an unreadable entry is skipped), never add any.
    assert 0 < run.counts["events_counted"] <= reference.counts["events_counted"]
    assert b"None" not in run.csv


@pytest.mark.parametrize(
    "value", ["the end", "2024-05-01T10:00:00", 1714557600000, "", ["2024-05-01T10:00:00Z"]]
)
async def test_an_unreadable_conversation_end_is_not_a_crash(harness: Harness, value: Any) -> None:
    victims = harness.answered_victims()
    harness.hostile.rules = dict.fromkeys(victims, _set("record.conversationEnd", value))
    run = await harness.run()
    # Without a readable end the conversation cannot count as ended: it is left out, as
    # ongoing or as malformed, and the manifest's counts say so.
    assert run.counts["ongoing_skipped"] + run.counts["malformed_skipped"] >= len(victims)
    assert run.counts["conversations"] == len(harness.ended()) - len(victims)


@pytest.mark.parametrize(
    "value",
    [2**63 - 1, 2**63, 2**64 - 1, -(2**63), 1e30, -1],
    ids=["2^63-1", "2^63", "2^64-1", "-2^63", "1e30", "-1"],
)
async def test_absurd_metric_values_are_not_a_crash(harness: Harness, value: float) -> None:
    """A metric value far outside any real duration (orjson reads integers up to 2^64-1 as
    int and larger ones as float). The run must ignore the value, skip the record, or fail
    with a ReportsError; never an OverflowError or an encoder error."""
    victims = harness.answered_victims(1)

    def absurd(record: Record) -> Record:
        for session in _sessions(record):
            for metric in session.get("metrics") or []:
                if metric.get("name") in ("tHandle", "tTalk", "tAnswered"):
                    metric["value"] = value
        return record

    harness.hostile.rules = dict.fromkeys(victims, absurd)
    try:
        run = await harness.run()
    except ReportsError as error:
        assert "metric" in str(error) or "value" in str(error), str(error)
        return
    counted = run.counts["conversations"] + run.counts["malformed_skipped"]
    assert counted == len(harness.ended())


# --- records that cannot become facts: skipped, counted, the report made without them ------


def _record(value: Any) -> Mutation:
    return lambda record: copy.deepcopy(value)


MALFORMED: dict[str, Mutation] = {
    "conversationId missing": _set("record.conversationId", ...),
    "conversationId null": _set("record.conversationId", None),
    "conversationId empty": _set("record.conversationId", ""),
    "conversationId a number": _set("record.conversationId", 42),
    "conversationId an object": _set("record.conversationId", {"id": "x"}),
    "conversationStart missing": _set("record.conversationStart", ...),
    "conversationStart null": _set("record.conversationStart", None),
    "conversationStart garbage": _set("record.conversationStart", "last tuesday"),
    "conversationStart without offset": _set("record.conversationStart", "2024-05-01T09:00:00"),
    "conversationStart a date only": _set("record.conversationStart", "2024-05-01"),
    "conversationStart impossible date": _set("record.conversationStart", "2024-02-30T09:00Z"),
    "conversationStart hour 24": _set("record.conversationStart", "2024-05-01T24:00:00Z"),
    "conversationStart epoch millis": _set("record.conversationStart", 1714554000000),
    "conversationStart empty": _set("record.conversationStart", ""),
    "conversationStart a list": _set("record.conversationStart", ["2024-05-01T09:00:00Z"]),
    "record null": _record(None),
    "record a string": _record("conversation"),
    "record a number": _record(7),
    "record a list": _record([{"conversationId": "x"}]),
    "record an empty object": _record({}),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_unusable_records_are_skipped_and_counted(harness: Harness, case: str) -> None:
    victims = harness.victims(3)
    # The reference: the same data with the victims' (valid) starts outside the period.
    harness.hostile.rules = dict.fromkeys(victims, _set("record.conversationStart", ELSEWHERE))
    reference = await harness.run()
    harness.hostile.rules = dict.fromkeys(victims, MALFORMED[case])
    hostile = await harness.run()
    expected = len(harness.ended()) - len(victims)
    found = {
        "malformed_skipped": hostile.counts["malformed_skipped"],
        "conversations": hostile.counts["conversations"],
    }
    assert found == {"malformed_skipped": len(victims), "conversations": expected}, (
        f"{len(victims)} unusable records were served among {len(harness.truth)}"
    )
    assert reference.counts["conversations"] == expected
    assert hostile.rows == reference.rows


# --- whole responses that break the contract -----------------------------------------------


def _json(value: Any) -> Reply:
    """A 200 whose JSON is ``value`` (or ``value(genuine payload)``)."""
    return lambda payload: web.Response(
        body=orjson.dumps(value(payload) if callable(value) else value),
        content_type="application/json",
    )


def _raw(body: bytes, content_type: str = "application/json") -> Reply:
    return lambda payload: web.Response(body=body, content_type=content_type)


def _without(key: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda payload: {k: v for k, v in payload.items() if k != key}


def _with(key: str, value: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda payload: {**payload, key: value}


NOT_AN_OBJECT = ("not a JSON object", "no integer totalHits")
NOT_A_LIST = ("'conversations' is not a list",)
NO_TOTAL = ("no integer totalHits",)
BROKEN_CONTRACT: dict[str, tuple[Reply, tuple[str, ...]]] = {
    "body a JSON list": (_json(lambda payload: [payload]), NOT_AN_OBJECT),
    "body JSON null": (_json(None), NOT_AN_OBJECT),
    "body a JSON string": (_json("conversations"), NOT_AN_OBJECT),
    "body a JSON number": (_json(200), NOT_AN_OBJECT),
    "body empty": (_raw(b""), NOT_AN_OBJECT),
    "conversations a string": (_json(_with("conversations", "many")), NOT_A_LIST),
    "conversations an object": (_json(_with("conversations", {"0": {}})), NOT_A_LIST),
    "conversations a number": (_json(_with("conversations", 3)), NOT_A_LIST),
    "conversations true": (_json(_with("conversations", True)), NOT_A_LIST),
    "totalHits missing": (_json(_without("totalHits")), NO_TOTAL),
    "totalHits a string": (_json(_with("totalHits", "lots")), NO_TOTAL),
    "totalHits null": (_json(_with("totalHits", None)), NO_TOTAL),
    "totalHits a float": (_json(_with("totalHits", 12.5)), NO_TOTAL),
}


@pytest.mark.parametrize("case", list(BROKEN_CONTRACT))
async def test_a_200_that_breaks_the_contract_fails_cleanly(harness: Harness, case: str) -> None:
    reply, words = BROKEN_CONTRACT[case]
    harness.hostile.reply = reply
    message = str(await harness.fails())
    assert any(word in message for word in words), message
    # The message says which request got the answer.
    assert f"report hostile, {WINDOW}" in message


NOT_JSON: dict[str, Reply] = {
    "html": _raw(b"<html><body>Service Unavailable</body></html>", "text/html"),
    "cut short": _raw(b'{"totalHits": 5, "conversations": [{"conversationId": "a'),
    "NaN": _raw(b'{"totalHits": NaN}'),
    "a number beyond double": _raw(b'{"totalHits": 1e400}'),
    "nested 100,000 deep": _raw(b"[" * 100_000 + b"]" * 100_000),
    "binary": _raw(bytes(range(256)) * 4, "application/octet-stream"),
    "invalid UTF-8": _raw(b'{"totalHits": 1, "x": "\xff\xfe"}'),
}


@pytest.mark.parametrize("case", list(NOT_JSON))
async def test_a_200_that_is_not_json_fails_as_unavailable(harness: Harness, case: str) -> None:
    harness.hostile.reply = NOT_JSON[case]
    error = await harness.fails()
    assert isinstance(error, GenesysUnavailableError)
    assert error.cause == "bad_json"
    assert "not valid JSON" in str(error) and "gave up after 2 attempts" in str(error)


@pytest.mark.parametrize("kind", ["bad_json", "truncated"])
async def test_a_permanent_bad_body_fault_fails_naming_its_cause(
    connect: Connect, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """The sandbox's own fault kinds on every detail query: a 200 with half its body, complete
    (``bad_json``) or with the connection cut (``truncated``)."""
    harness = await start(
        connect,
        tmp_path,
        monkeypatch,
        sandbox={"faults": [{"endpoint": "details_query", "kind": kind}]},
    )
    error = await harness.fails()
    assert isinstance(error, GenesysUnavailableError)
    assert error.cause == kind
    assert ("not valid JSON" if kind == "bad_json" else "cut short") in str(error)
    assert WINDOW in str(error)


@pytest.mark.parametrize("change", ["0", "-3", "+500", "*40"])
async def test_a_wrong_total_hits_does_not_change_the_report(harness: Harness, change: str) -> None:
    """``totalHits`` is approximate (reference §4.4): over- or understated, every record is
    still read and paging still ends."""
    reference = await harness.run()

    def wrong(payload: dict[str, Any]) -> dict[str, Any]:
        total: int = payload["totalHits"]
        if change.startswith("+"):
            total += int(change[1:])
        elif change.startswith("*"):
            total *= int(change[1:])
        else:
            total = int(change)
        return {**payload, "totalHits": total}

    harness.hostile.reply = _json(wrong)
    changed = await harness.run()
    assert changed.csv == reference.csv
    assert changed.counts["conversations"] == reference.counts["conversations"] > 0


async def test_one_huge_page(
    connect: Connect, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One page of 5,000 records (five times the 1,000 asked for, from a sandbox whose page cap
    is raised) is read whole, and the report equals the normally paged one."""
    harness = await start(
        connect,
        tmp_path,
        monkeypatch,
        sandbox={
            "volume": {"peak_per_hour": 2700},
            "limits": {"max_page_size": 5000, "max_results": 1_000_000},
        },
        genesys={"page_size": 1000},
    )
    reference = await harness.run(formats=["csv", "json"])
    assert reference.counts["records_read"] > 5000, "too few conversations for the test"
    served: list[int] = []

    def huge(body: Any) -> Any:
        number = (body.get("paging") or {}).get("pageNumber", 1)
        served.append(number)
        # Page 1 is the first 5,000 records; later pages continue after them.
        return {**body, "paging": {"pageSize": 5000, "pageNumber": number}}

    harness.hostile.body = huge
    big = await harness.run(formats=["csv", "json"])
    assert served and served[0] == 1
    assert big.counts["records_read"] == reference.counts["records_read"]
    assert big.counts["malformed_skipped"] == 0
    assert big.csv == reference.csv


@pytest.mark.parametrize("case", ["conversationStart garbage", "record null"])
async def test_unusable_job_results_are_skipped_and_counted(
    connect: Connect, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """The same through the async jobs API (cursor-paged results, records with attributes)."""
    harness = await start(
        connect,
        tmp_path,
        monkeypatch,
        sandbox={"jobs": {"delay": "PT0.05S"}},
        genesys={"job_poll_interval": "PT0.05S"},
    )
    victims = harness.victims(3)
    harness.hostile.rules = dict.fromkeys(victims, _set("record.conversationStart", ELSEWHERE))
    reference = await harness.run(fetch="jobs")
    harness.hostile.rules = dict.fromkeys(victims, MALFORMED[case])
    hostile = await harness.run(fetch="jobs")
    assert hostile.outcome.manifest["fetch"] == "jobs"
    expected = len(harness.ended()) - len(victims)
    found = {
        "malformed_skipped": hostile.counts["malformed_skipped"],
        "conversations": hostile.counts["conversations"],
    }
    assert found == {"malformed_skipped": len(victims), "conversations": expected}
    assert hostile.rows == reference.rows


@pytest.mark.parametrize(
    "hostile_id",
    ["q" * 10_000, "../../routing/queues?id=x&pageSize=1#f", "not a uuid \u202e", "ä" * 50],
    ids=["10,000 characters", "URL metacharacters", "spaces and RLO", "non-ASCII"],
)
async def test_ids_that_cannot_be_resolved_keep_their_id_as_name(
    harness: Harness, hostile_id: str
) -> None:
    """report-semantics §4: an id that cannot be resolved keeps its id in the name column. A
    malformed id in one record must not make the name look-up, and so the report, fail."""
    victims = harness.answered_victims(1)
    harness.hostile.rules = dict.fromkeys(
        victims,
        _chain(
            _set("segment.queueId", hostile_id),
            _set("participant.userId", hostile_id),
            _set("record.divisionIds", [hostile_id]),
        ),
    )
    run = await harness.run(group_by=["queue_id", "agent_id", "division_id"])
    rows = [row for row in run.rows if row["queue_id"] == hostile_id]
    assert len(rows) == 1
    row = rows[0]
    assert row["queue_name"] == row["agent_name"] == row["division_name"] == hostile_id
    assert run.counts["conversations"] == len(harness.ended())


# --- bounded against a misbehaving API (issue 13, item 4) ---------------------------------


async def test_a_total_hits_of_a_billion_fails_after_bounded_requests(harness: Harness) -> None:
    """Today: a task per claimed page (10^7 of them), 1.4 GiB and a hang. Now the query is
    refused as holding more than max_query_results, the window is split, and the run fails
    once the windows cannot shrink further."""
    harness.hostile.reply = _json(_with("totalHits", 10**9))
    error = await harness.fails()
    assert "max_query_results" in str(error)
    requests = harness.connected.sandbox.requests("details_query")
    assert len(requests) <= 2 * 120  # halvings of a 2-hour window down to 1 minute, 1 page each


async def test_full_pages_for_ever_are_bounded_by_max_query_results(harness: Harness) -> None:
    """Every page full, with a small totalHits: following full last pages must end."""
    harness.genesys["max_query_results"] = 100  # five pages of 20

    def always_full(payload: dict[str, Any]) -> dict[str, Any]:
        record = payload.get("conversations", [{}])[0]
        return {**payload, "totalHits": 20, "conversations": [record] * 20}

    harness.hostile.reply = _json(always_full)
    error = await harness.fails()
    assert "max_query_results: 100" in str(error)
    assert len(harness.connected.sandbox.requests("details_query")) <= 6 * 2 * 120


async def test_a_response_over_max_response_bytes_is_a_clear_error(
    connect: Connect, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Today the body is read whole, however large (1.2 GiB in the audit)."""
    harness = await start(connect, tmp_path, monkeypatch, genesys={"max_response_bytes": 65536})
    harness.hostile.reply = _json(_with("padding", "x" * 1_000_000))
    error = await harness.fails()
    assert "genesys.max_response_bytes" in str(error) and "65536" in str(error)
    assert len(harness.connected.sandbox.requests("details_query")) == 1  # final, not retried


async def test_a_response_aiohttp_cannot_parse_is_classified_not_escaped(harness: Harness) -> None:
    """A header line past aiohttp's limit raises ClientResponseError, which is neither a
    connection error nor a payload error: it used to escape the client unnamed."""
    harness.hostile.reply = lambda payload: web.Response(
        body=orjson.dumps(payload),
        content_type="application/json",
        headers={"X-Huge": "a" * 20_000},
    )
    error = await harness.fails()
    assert isinstance(error, GenesysUnavailableError) and error.cause == "bad_response"
    assert "the response is not valid HTTP" in str(error) and WINDOW in str(error)
