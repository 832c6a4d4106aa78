"""Hand-built detail records that pin every rule of report-semantics v2, with hand-computed rows.

Each :class:`Case` is a few conversations in the real detail-record shape (``genesys-api.md``
§7), one report (``ReportSettings`` keyword arguments), a period and the rows that report must
show. Every expected number was worked out by hand from the records; the arithmetic is in the
comment beside it. ``test_oracle_v2.py`` checks the oracle against these rows; the pipeline's
tests run the same cases through the pipeline.

Ids are lower-case UUIDs where ReportSettings filters would check them. Records carry metrics
on the sessions Genesys puts them on (``genesys-api.md`` §7.5, §13): the acd session has
``nOffered``, ``tAcd``, ``tAbandon``, ``tShortAbandon``, ``tFlowOut``; an agent session has
``tAlert``, ``tAnswered``, ``tTalk``, ``tHeld``, ``tAcw``, ``tHandle``, ``nTransferred``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Record = dict[str, Any]

Q1 = "a1000000-0000-4000-8000-000000000001"  # Sales: call 20 s / 80 %, email 1 day / 90 %
Q2 = "a2000000-0000-4000-8000-000000000002"  # Support: call 30 s / 75 %, nothing for chat
Q3 = "a3000000-0000-4000-8000-000000000003"  # deleted: no name, no media settings
U1 = "b1000000-0000-4000-8000-000000000001"  # Ada
U2 = "b2000000-0000-4000-8000-000000000002"  # Ben
W_SALE = "c1000000-0000-4000-8000-000000000001"
W_FOLLOW_UP = "c2000000-0000-4000-8000-000000000002"
W_TIMEOUT = "ININ-WRAP-UP-TIMEOUT"  # Genesys' system code: no name from the look-up
D_HOME = "d1000000-0000-4000-8000-000000000001"
D_OTHER = "d2000000-0000-4000-8000-000000000002"

NAMES: dict[str, dict[str, str]] = {
    "queues": {Q1: "Sales", Q2: "Support"},
    "users": {U1: "Ada", U2: "Ben"},
    "wrapupcodes": {W_SALE: "Sale", W_FOLLOW_UP: "Follow-up"},
    "divisions": {D_HOME: "Home"},
}
MEDIA_SETTINGS: dict[str, dict[str, Any]] = {
    Q1: {
        "call": {"serviceLevel": {"percentage": 0.8, "durationMs": 20000}},
        "email": {"serviceLevel": {"percentage": 0.9, "durationMs": 86400000}},
    },
    Q2: {"call": {"serviceLevel": {"percentage": 0.75, "durationMs": 30000}}},
}


@dataclass(frozen=True)
class Case:
    """One report over hand-built records, and what it must show.

    ``period`` is (start, end, time zone), ISO-8601 instants. ``expected_rows`` are the whole
    rows, in report order: every group column and every metric the report lists.
    """

    id: str
    records: list[Record]
    report: dict[str, Any]
    period: tuple[str, str, str]
    expected_rows: list[dict[str, Any]]
    media_settings: dict[str, dict[str, Any]] = field(default_factory=lambda: MEDIA_SETTINGS)
    names: dict[str, dict[str, str]] = field(default_factory=lambda: NAMES)
    expected_events_counted: int | None = None
    expected_conversations: int | None = None  # the manifest's count
    expected_ongoing_skipped: int | None = None

    def instants(self) -> tuple[datetime, datetime]:
        """The period's ``[start, end)`` as aware datetimes."""
        start, end, _ = self.period
        return datetime.fromisoformat(start), datetime.fromisoformat(end)


# --- record builders: the §7 shape, nothing derived ----------------------------------------------


def same_value(got: Any, want: Any) -> bool:
    """Equal and of the same JSON type: 1 is not 1.0, and neither is True."""
    if isinstance(want, list):
        return isinstance(got, list) and got == want
    if want is None or isinstance(got, bool) or isinstance(want, bool):
        return got is want
    return type(got) is type(want) and got == want


def metric(name: str, value: int, emitted: str) -> dict[str, Any]:
    return {"name": name, "value": value, "emitDate": emitted}


def segment(
    kind: str,
    start: str,
    end: str | None = None,
    *,
    queue: str | None = None,
    code: str | None = None,
    disconnect: str | None = None,
) -> dict[str, Any]:
    found: dict[str, Any] = {"segmentStart": start, "segmentType": kind}
    for key, value in (
        ("segmentEnd", end),
        ("queueId", queue),
        ("wrapUpCode", code),
        ("disconnectType", disconnect),
    ):
        if value is not None:
            found[key] = value
    return found


def session(
    session_id: str,
    media: str,
    segments: list[dict[str, Any]],
    metrics: list[dict[str, Any]] | None = None,
    *,
    direction: str = "inbound",
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "sessionId": session_id,
        "mediaType": media,
        "direction": direction,
        "segments": segments,
    }
    if metrics:
        found["metrics"] = metrics
    return found


def participant(
    participant_id: str, purpose: str, *sessions: dict[str, Any], user: str | None = None
) -> dict[str, Any]:
    found: dict[str, Any] = {"participantId": participant_id, "purpose": purpose}
    if user is not None:
        found["userId"] = user
    found["sessions"] = list(sessions)
    return found


def conversation(
    conversation_id: str,
    start: str,
    end: str | None,
    *participants: dict[str, Any],
    direction: str = "inbound",
    divisions: tuple[str, ...] = (D_HOME,),
) -> Record:
    found: Record = {"conversationId": conversation_id, "conversationStart": start}
    if end is not None:
        found["conversationEnd"] = end
    found |= {
        "originatingDirection": direction,
        "divisionIds": list(divisions),
        "participants": list(participants),
    }
    return found


def customer(prefix: str, media: str, start: str, end: str | None) -> dict[str, Any]:
    """The customer's side: no metrics, so no events."""
    return participant(
        f"{prefix}-customer",
        "customer",
        session(f"{prefix}-s0", media, [segment("interact", start, end)]),
    )


def report(name: str, **settings: Any) -> dict[str, Any]:
    return {"name": name, "timezone": "UTC", **settings}


MAY1 = "2024-05-01T"


# --- records ---------------------------------------------------------------------------------

# A voice call answered in Sales by Ada after 25 s, blind-transferred to Support after five
# minutes' talk, and abandoned there after 270 s in queue.
TRANSFER = conversation(
    "c-transfer",
    f"{MAY1}09:00:00.000Z",
    f"{MAY1}09:10:00.000Z",
    customer("tr", "voice", f"{MAY1}09:00:00.000Z", f"{MAY1}09:10:00.000Z"),
    participant(
        "tr-acd-sales",
        "acd",
        session(
            "tr-s1",
            "voice",
            [segment("interact", f"{MAY1}09:00:05.000Z", f"{MAY1}09:00:25.000Z", queue=Q1)],
            [
                metric("nOffered", 1, f"{MAY1}09:00:05.000Z"),
                metric("tAcd", 20000, f"{MAY1}09:00:25.000Z"),
            ],
        ),
    ),
    participant(
        "tr-ada",
        "agent",
        session(
            "tr-s2",
            "voice",
            [
                segment("alert", f"{MAY1}09:00:25.000Z", f"{MAY1}09:00:30.000Z", queue=Q1),
                segment("interact", f"{MAY1}09:00:30.000Z", f"{MAY1}09:05:30.000Z", queue=Q1),
                segment(
                    "wrapup", f"{MAY1}09:05:30.000Z", f"{MAY1}09:06:00.000Z", queue=Q1, code=W_SALE
                ),
            ],
            [
                metric("tAlert", 5000, f"{MAY1}09:00:30.000Z"),
                metric("tAnswered", 25000, f"{MAY1}09:00:30.000Z"),
                metric("tTalk", 300000, f"{MAY1}09:05:30.000Z"),
                metric("nTransferred", 1, f"{MAY1}09:05:30.000Z"),
                metric("tAcw", 30000, f"{MAY1}09:06:00.000Z"),
                metric("tHandle", 330000, f"{MAY1}09:06:00.000Z"),
            ],
        ),
        user=U1,
    ),
    participant(
        "tr-acd-support",
        "acd",
        session(
            "tr-s3",
            "voice",
            [
                segment(
                    "interact",
                    f"{MAY1}09:05:30.000Z",
                    f"{MAY1}09:10:00.000Z",
                    queue=Q2,
                    disconnect="peer",
                )
            ],
            [
                metric("nOffered", 1, f"{MAY1}09:05:30.000Z"),
                metric("tAcd", 270000, f"{MAY1}09:10:00.000Z"),
                metric("tAbandon", 270000, f"{MAY1}09:10:00.000Z"),
            ],
        ),
    ),
)

# Ada answers a Sales call and transfers it straight to Ben (his segments carry no queue); each
# wraps up with their own code.
SEQUENCE = conversation(
    "c-sequence",
    f"{MAY1}10:00:00.000Z",
    f"{MAY1}10:07:40.000Z",
    customer("sq", "voice", f"{MAY1}10:00:00.000Z", f"{MAY1}10:07:20.000Z"),
    participant(
        "sq-acd",
        "acd",
        session(
            "sq-s1",
            "voice",
            [segment("interact", f"{MAY1}10:00:00.000Z", f"{MAY1}10:00:10.000Z", queue=Q1)],
            [
                metric("nOffered", 1, f"{MAY1}10:00:00.000Z"),
                metric("tAcd", 10000, f"{MAY1}10:00:10.000Z"),
            ],
        ),
    ),
    participant(
        "sq-ada",
        "agent",
        session(
            "sq-s2",
            "voice",
            [
                segment("alert", f"{MAY1}10:00:10.000Z", f"{MAY1}10:00:14.000Z", queue=Q1),
                segment("interact", f"{MAY1}10:00:14.000Z", f"{MAY1}10:02:14.000Z", queue=Q1),
                segment(
                    "wrapup", f"{MAY1}10:02:14.000Z", f"{MAY1}10:02:44.000Z", queue=Q1, code=W_SALE
                ),
            ],
            [
                metric("tAlert", 4000, f"{MAY1}10:00:14.000Z"),
                metric("tAnswered", 14000, f"{MAY1}10:00:14.000Z"),
                metric("tTalk", 120000, f"{MAY1}10:02:14.000Z"),
                metric("nTransferred", 1, f"{MAY1}10:02:14.000Z"),
                metric("tAcw", 30000, f"{MAY1}10:02:44.000Z"),
                metric("tHandle", 150000, f"{MAY1}10:02:44.000Z"),
            ],
        ),
        user=U1,
    ),
    participant(
        "sq-ben",
        "agent",
        session(
            "sq-s3",
            "voice",
            [
                segment("alert", f"{MAY1}10:02:14.000Z", f"{MAY1}10:02:20.000Z"),
                segment("interact", f"{MAY1}10:02:20.000Z", f"{MAY1}10:05:20.000Z"),
                segment("hold", f"{MAY1}10:05:20.000Z", f"{MAY1}10:06:20.000Z"),
                segment("interact", f"{MAY1}10:06:20.000Z", f"{MAY1}10:07:20.000Z"),
                segment("wrapup", f"{MAY1}10:07:20.000Z", f"{MAY1}10:07:40.000Z", code=W_FOLLOW_UP),
            ],
            [
                metric("tAlert", 6000, f"{MAY1}10:02:20.000Z"),
                metric("tHeld", 60000, f"{MAY1}10:06:20.000Z"),
                metric("tTalk", 240000, f"{MAY1}10:07:20.000Z"),
                metric("tAcw", 20000, f"{MAY1}10:07:40.000Z"),
                metric("tHandle", 320000, f"{MAY1}10:07:40.000Z"),
            ],
        ),
        user=U2,
    ),
    divisions=(D_HOME, D_OTHER),
)

# Ada is alerted and does not answer (RONA): the system wraps her up with the timeout code after
# 57 s of ACW, which is handle time. Ben answers and handles the call.
RONA = conversation(
    "c-rona",
    f"{MAY1}11:00:00.000Z",
    f"{MAY1}11:07:00.000Z",
    customer("rn", "voice", f"{MAY1}11:00:00.000Z", f"{MAY1}11:06:30.000Z"),
    participant(
        "rn-acd",
        "acd",
        session(
            "rn-s1",
            "voice",
            [segment("interact", f"{MAY1}11:00:00.000Z", f"{MAY1}11:00:30.000Z", queue=Q1)],
            [
                metric("nOffered", 1, f"{MAY1}11:00:00.000Z"),
                metric("tAcd", 30000, f"{MAY1}11:00:30.000Z"),
            ],
        ),
    ),
    participant(
        "rn-ada",
        "agent",
        session(
            "rn-s2",
            "voice",
            [
                segment(
                    "alert",
                    f"{MAY1}11:00:00.000Z",
                    f"{MAY1}11:00:15.000Z",
                    queue=Q1,
                    disconnect="noAnswerTransfer",
                ),
                segment(
                    "wrapup",
                    f"{MAY1}11:00:15.000Z",
                    f"{MAY1}11:01:12.000Z",
                    queue=Q1,
                    code=W_TIMEOUT,
                ),
            ],
            [
                metric("tAlert", 15000, f"{MAY1}11:00:15.000Z"),
                metric("tNotResponding", 15000, f"{MAY1}11:00:15.000Z"),
                metric("tAcw", 57000, f"{MAY1}11:01:12.000Z"),
                metric("tHandle", 57000, f"{MAY1}11:01:12.000Z"),
            ],
        ),
        user=U1,
    ),
    participant(
        "rn-ben",
        "agent",
        session(
            "rn-s3",
            "voice",
            [
                segment("alert", f"{MAY1}11:00:15.000Z", f"{MAY1}11:00:30.000Z", queue=Q1),
                segment("interact", f"{MAY1}11:00:30.000Z", f"{MAY1}11:06:30.000Z", queue=Q1),
                segment(
                    "wrapup", f"{MAY1}11:06:30.000Z", f"{MAY1}11:07:00.000Z", queue=Q1, code=W_SALE
                ),
            ],
            [
                metric("tAlert", 15000, f"{MAY1}11:00:30.000Z"),
                metric("tAnswered", 30000, f"{MAY1}11:00:30.000Z"),
                metric("tTalk", 360000, f"{MAY1}11:06:30.000Z"),
                metric("tAcw", 30000, f"{MAY1}11:07:00.000Z"),
                metric("tHandle", 390000, f"{MAY1}11:07:00.000Z"),
            ],
        ),
        user=U2,
    ),
)

# Ada dials out (no queue): 5 s dialing, 15 s contacting, 40 + 110 s talk around a 30 s hold,
# 30 s ACW.
OUTBOUND = conversation(
    "c-outbound",
    f"{MAY1}12:00:00.000Z",
    f"{MAY1}12:03:50.000Z",
    participant(
        "ob-ada",
        "agent",
        session(
            "ob-s1",
            "voice",
            [
                segment("dialing", f"{MAY1}12:00:00.000Z", f"{MAY1}12:00:05.000Z"),
                segment("contacting", f"{MAY1}12:00:05.000Z", f"{MAY1}12:00:20.000Z"),
                segment("interact", f"{MAY1}12:00:20.000Z", f"{MAY1}12:01:00.000Z"),
                segment("hold", f"{MAY1}12:01:00.000Z", f"{MAY1}12:01:30.000Z"),
                segment("interact", f"{MAY1}12:01:30.000Z", f"{MAY1}12:03:20.000Z"),
                segment("wrapup", f"{MAY1}12:03:20.000Z", f"{MAY1}12:03:50.000Z", code=W_SALE),
            ],
            [
                metric("nOutbound", 1, f"{MAY1}12:00:00.000Z"),
                metric("tDialing", 5000, f"{MAY1}12:00:05.000Z"),
                metric("tContacting", 15000, f"{MAY1}12:00:20.000Z"),
                metric("tHeld", 30000, f"{MAY1}12:01:30.000Z"),
                metric("tTalk", 150000, f"{MAY1}12:03:20.000Z"),
                metric("tAcw", 30000, f"{MAY1}12:03:50.000Z"),
                metric("tHandle", 230000, f"{MAY1}12:03:50.000Z"),
            ],
            direction="outbound",
        ),
        user=U1,
    ),
    participant(
        "ob-external",
        "external",
        session(
            "ob-s2",
            "voice",
            [segment("interact", f"{MAY1}12:00:20.000Z", f"{MAY1}12:03:20.000Z")],
            direction="outbound",
        ),
    ),
    direction="outbound",
)


def _queued_call(
    prefix: str,
    media: str,
    queue: str,
    agent: str,
    offered: str,
    answered: str,
    wait_ms: int,
    *,
    talk: tuple[int, str] | None = None,
    acw: tuple[int, str] | None = None,
    end: str | None = None,
) -> Record:
    """A conversation offered to ``queue`` at ``offered`` and answered by ``agent`` at
    ``answered`` after ``wait_ms``; talk and ACW are (ms, emitted) and make the handle time."""
    agent_metrics = [metric("tAnswered", wait_ms, answered)]
    handle = 0
    for name, part in (("tTalk", talk), ("tAcw", acw)):
        if part is not None:
            agent_metrics.append(metric(name, part[0], part[1]))
            handle += part[0]
    if handle:
        agent_metrics.append(metric("tHandle", handle, agent_metrics[-1]["emitDate"]))
    return conversation(
        f"c-{prefix}",
        offered,
        end,
        customer(prefix, media, offered, end),
        participant(
            f"{prefix}-acd",
            "acd",
            session(
                f"{prefix}-s1",
                media,
                [segment("interact", offered, answered, queue=queue)],
                [metric("nOffered", 1, offered), metric("tAcd", wait_ms, answered)],
            ),
        ),
        participant(
            f"{prefix}-agent",
            "agent",
            session(
                f"{prefix}-s2",
                media,
                [segment("interact", answered, end, queue=queue)],
                agent_metrics,
            ),
            user=agent,
        ),
    )


def _abandoned_call(
    prefix: str, queue: str, offered: str, left: str, wait_ms: int, *extra: dict[str, Any]
) -> Record:
    """A voice call offered to ``queue`` that leaves it at ``left``: ``extra`` metrics say how
    (tAbandon, tShortAbandon, tFlowOut)."""
    return conversation(
        f"c-{prefix}",
        offered,
        left,
        customer(prefix, "voice", offered, left),
        participant(
            f"{prefix}-acd",
            "acd",
            session(
                f"{prefix}-s1",
                "voice",
                [segment("interact", offered, left, queue=queue)],
                [metric("nOffered", 1, offered), metric("tAcd", wait_ms, left), *extra],
            ),
        ),
    )


def _ivr(prefix: str, start: str, end: str, ivr_ms: int) -> dict[str, Any]:
    """An IVR leg (no queue, no agent) whose one event is emitted as it ends."""
    return participant(
        f"{prefix}-ivr",
        "ivr",
        session(
            f"{prefix}-s9", "voice", [segment("ivr", start, end)], [metric("tIvr", ivr_ms, end)]
        ),
    )


# Around the period [10:00, 11:00) UTC, look-back PT6H (from 04:00).
# An email offered at 05:00, answered at 10:15 after 5 h 15 min, handled by 10:40.
LOOKBACK_EMAIL = _queued_call(
    "lb-email",
    "email",
    Q1,
    U1,
    f"{MAY1}05:00:00.000Z",
    f"{MAY1}10:15:00.000Z",
    18900000,
    talk=(1200000, f"{MAY1}10:35:00.000Z"),
    acw=(300000, f"{MAY1}10:40:00.000Z"),
    end=f"{MAY1}10:40:00.000Z",
)
# Messages offered exactly at the look-back's start (counted) and 1 ms before it (not).
LOOKBACK_FIRST_IN = _queued_call(
    "lb-first-in",
    "message",
    Q1,
    U2,
    f"{MAY1}04:00:00.000Z",
    f"{MAY1}10:05:00.000Z",
    21900000,
    talk=(600000, f"{MAY1}10:15:00.000Z"),
    acw=(300000, f"{MAY1}10:20:00.000Z"),
    end=f"{MAY1}10:20:00.000Z",
)
LOOKBACK_TOO_OLD = _queued_call(
    "lb-too-old",
    "message",
    Q1,
    U2,
    f"{MAY1}03:59:59.999Z",
    f"{MAY1}10:05:00.000Z",
    21900001,
    talk=(600000, f"{MAY1}10:15:00.000Z"),
    acw=(300000, f"{MAY1}10:20:00.000Z"),
    end=f"{MAY1}10:20:00.000Z",
)
# IVR ends 1 ms before the period (not counted); the offer is exactly at its start (counted).
AT_START = conversation(
    "c-at-start",
    f"{MAY1}09:59:30.000Z",
    f"{MAY1}10:04:00.000Z",
    customer("as", "voice", f"{MAY1}09:59:30.000Z", f"{MAY1}10:03:00.000Z"),
    _ivr("as", f"{MAY1}09:59:30.000Z", f"{MAY1}09:59:59.999Z", 29999),
    participant(
        "as-acd",
        "acd",
        session(
            "as-s1",
            "voice",
            [segment("interact", f"{MAY1}10:00:00.000Z", f"{MAY1}10:00:10.000Z", queue=Q1)],
            [
                metric("nOffered", 1, f"{MAY1}10:00:00.000Z"),
                metric("tAcd", 10000, f"{MAY1}10:00:10.000Z"),
            ],
        ),
    ),
    participant(
        "as-ada",
        "agent",
        session(
            "as-s2",
            "voice",
            [
                segment("interact", f"{MAY1}10:00:10.000Z", f"{MAY1}10:03:00.000Z", queue=Q1),
                segment(
                    "wrapup", f"{MAY1}10:03:00.000Z", f"{MAY1}10:04:00.000Z", queue=Q1, code=W_SALE
                ),
            ],
            [
                metric("tAnswered", 10000, f"{MAY1}10:00:10.000Z"),
                metric("tTalk", 170000, f"{MAY1}10:03:00.000Z"),
                metric("tAcw", 60000, f"{MAY1}10:04:00.000Z"),
                metric("tHandle", 230000, f"{MAY1}10:04:00.000Z"),
            ],
        ),
        user=U1,
    ),
)
# IVR ends 1 ms before the period's end (counted); the offer is exactly at the end (not), and
# the abandon after it (not).
AT_END = conversation(
    "c-at-end",
    f"{MAY1}10:59:00.000Z",
    f"{MAY1}11:00:20.000Z",
    customer("ae", "voice", f"{MAY1}10:59:00.000Z", f"{MAY1}11:00:20.000Z"),
    _ivr("ae", f"{MAY1}10:59:00.000Z", f"{MAY1}10:59:59.999Z", 59999),
    participant(
        "ae-acd",
        "acd",
        session(
            "ae-s1",
            "voice",
            [segment("interact", f"{MAY1}11:00:00.000Z", f"{MAY1}11:00:20.000Z", queue=Q2)],
            [
                metric("nOffered", 1, f"{MAY1}11:00:00.000Z"),
                metric("tAcd", 20000, f"{MAY1}11:00:20.000Z"),
                metric("tAbandon", 20000, f"{MAY1}11:00:20.000Z"),
            ],
        ),
    ),
)
EDGES = [LOOKBACK_EMAIL, LOOKBACK_FIRST_IN, LOOKBACK_TOO_OLD, AT_START, AT_END]

# Offered 1 ms before a half hour, answered after it, handle emitted exactly on the hour
# (Berlin, UTC+2 in May: 09:29:59.999Z is 11:29:59.999 local).
CROSSING = _queued_call(
    "cross",
    "voice",
    Q1,
    U1,
    f"{MAY1}09:29:59.999Z",
    f"{MAY1}09:30:10.000Z",
    10001,
    talk=(1760000, f"{MAY1}09:59:30.000Z"),
    acw=(30000, f"{MAY1}10:00:00.000Z"),
    end=f"{MAY1}10:00:00.000Z",
)

# Berlin midnight (22:00Z on 30 April): offered at 23:59:59.999 local, answered after it.
MIDNIGHT = [
    _queued_call(
        "mid1",
        "voice",
        Q1,
        U1,
        "2024-04-30T21:59:59.999Z",
        "2024-04-30T22:00:09.999Z",
        10000,
        talk=(120000, "2024-04-30T22:02:09.999Z"),
        end="2024-04-30T22:02:09.999Z",
    ),
    _queued_call(
        "mid2",
        "voice",
        Q1,
        U2,
        "2024-04-30T22:05:00.000Z",
        "2024-04-30T22:05:05.000Z",
        5000,
        talk=(60000, "2024-04-30T22:06:05.000Z"),
        end="2024-04-30T22:06:05.000Z",
    ),
]

# 2024-03-31 in Berlin: at 01:00Z the wall clock jumps from 02:00 CET to 03:00 CEST.
SPRING = _queued_call(
    "spring",
    "voice",
    Q1,
    U1,
    "2024-03-31T00:45:00.000Z",
    "2024-03-31T01:00:00.000Z",
    900000,
    talk=(1500000, "2024-03-31T01:25:00.000Z"),
    acw=(300000, "2024-03-31T01:30:00.000Z"),
    end="2024-03-31T01:30:00.000Z",
)

# 2024-10-27 in Berlin: 02:00-03:00 local happens twice, 00:00-01:00Z (CEST) and 01:00-02:00Z
# (CET).
AUTUMN = [
    _queued_call(
        "autumn1",
        "voice",
        Q1,
        U1,
        "2024-10-27T00:10:00.000Z",
        "2024-10-27T00:10:15.000Z",
        15000,
        talk=(1200000, "2024-10-27T00:30:15.000Z"),
        acw=(60000, "2024-10-27T00:31:15.000Z"),
        end="2024-10-27T00:31:15.000Z",
    ),
    _queued_call(
        "autumn2",
        "voice",
        Q1,
        U2,
        "2024-10-27T01:10:00.000Z",
        "2024-10-27T01:10:25.000Z",
        25000,
        talk=(1800000, "2024-10-27T01:40:25.000Z"),
        acw=(120000, "2024-10-27T01:42:25.000Z"),
        end="2024-10-27T01:42:25.000Z",
    ),
]

# Sales: an email answered after 3 h (target one day) and a call answered after 25 s (target
# 20 s), both inside [09:00, 10:00); the email was offered at 06:00, before the period.
MIXED_MEDIA = [
    _queued_call(
        "email",
        "email",
        Q1,
        U1,
        f"{MAY1}06:00:00.000Z",
        f"{MAY1}09:00:00.000Z",
        10800000,
        talk=(1200000, f"{MAY1}09:20:00.000Z"),
        acw=(600000, f"{MAY1}09:30:00.000Z"),
        end=f"{MAY1}09:30:00.000Z",
    ),
    _queued_call(
        "voice",
        "voice",
        Q1,
        U1,
        f"{MAY1}09:10:00.000Z",
        f"{MAY1}09:10:25.000Z",
        25000,
        talk=(240000, f"{MAY1}09:14:25.000Z"),
        acw=(35000, f"{MAY1}09:15:00.000Z"),
        end=f"{MAY1}09:15:00.000Z",
    ),
]

# Chats in Support (which has a target for calls only) and in a queue without any settings.
CHATS = [
    _queued_call(
        "chat1",
        "chat",
        Q2,
        U1,
        f"{MAY1}13:00:00.000Z",
        f"{MAY1}13:00:15.000Z",
        15000,
        end=f"{MAY1}13:05:00.000Z",
    ),
    _queued_call(
        "chat2",
        "chat",
        Q2,
        U1,
        f"{MAY1}13:10:00.000Z",
        f"{MAY1}13:10:24.000Z",
        24000,
        end=f"{MAY1}13:15:00.000Z",
    ),
    _queued_call(
        "chat3",
        "chat",
        Q2,
        U2,
        f"{MAY1}13:20:00.000Z",
        f"{MAY1}13:20:25.000Z",
        25000,
        end=f"{MAY1}13:25:00.000Z",
    ),
    _queued_call(
        "chat4",
        "chat",
        Q3,
        U2,
        f"{MAY1}13:30:00.000Z",
        f"{MAY1}13:30:23.000Z",
        23000,
        end=f"{MAY1}13:35:00.000Z",
    ),
]

# Sales, [14:00, 15:00): one call answered in 10 s, one abandoned after 60 s, one after 3 s (a
# short abandon is also an abandon).
ABANDONS = [
    _queued_call(
        "answered",
        "voice",
        Q1,
        U1,
        f"{MAY1}14:00:00.000Z",
        f"{MAY1}14:00:10.000Z",
        10000,
        talk=(100000, f"{MAY1}14:01:50.000Z"),
        end=f"{MAY1}14:01:50.000Z",
    ),
    _abandoned_call(
        "abandoned",
        Q1,
        f"{MAY1}14:10:00.000Z",
        f"{MAY1}14:11:00.000Z",
        60000,
        metric("tAbandon", 60000, f"{MAY1}14:11:00.000Z"),
    ),
    _abandoned_call(
        "short",
        Q1,
        f"{MAY1}14:20:00.000Z",
        f"{MAY1}14:20:03.000Z",
        3000,
        metric("tAbandon", 3000, f"{MAY1}14:20:03.000Z"),
        metric("tShortAbandon", 3000, f"{MAY1}14:20:03.000Z"),
    ),
]

# Sales, [15:00, 16:00): one call answered in 12 s, one that flows out after 90 s.
FLOWOUTS = [
    _queued_call(
        "kept",
        "voice",
        Q1,
        U1,
        f"{MAY1}15:00:00.000Z",
        f"{MAY1}15:00:12.000Z",
        12000,
        end=f"{MAY1}15:03:00.000Z",
    ),
    _abandoned_call(
        "flowout",
        Q1,
        f"{MAY1}15:10:00.000Z",
        f"{MAY1}15:11:30.000Z",
        90000,
        metric("tFlowOut", 90000, f"{MAY1}15:11:30.000Z"),
    ),
]

# [16:00, 17:00): a call answered in 10 s in Sales (target 20 s), one in 25 s in Support
# (target 30 s).
TWO_QUEUES = [
    _queued_call(
        "sales",
        "voice",
        Q1,
        U1,
        f"{MAY1}16:00:00.000Z",
        f"{MAY1}16:00:10.000Z",
        10000,
        end=f"{MAY1}16:05:00.000Z",
    ),
    _queued_call(
        "support",
        "voice",
        Q2,
        U2,
        f"{MAY1}16:10:00.000Z",
        f"{MAY1}16:10:25.000Z",
        25000,
        end=f"{MAY1}16:15:00.000Z",
    ),
]

# [17:00, 18:00): a finished call answered at exactly the 20 s target, and one still going,
# answered after 30 s, with no conversationEnd.
ONGOING_DONE = _queued_call(
    "done",
    "voice",
    Q1,
    U1,
    f"{MAY1}17:00:00.000Z",
    f"{MAY1}17:00:20.000Z",
    20000,
    talk=(300000, f"{MAY1}17:05:20.000Z"),
    acw=(40000, f"{MAY1}17:06:00.000Z"),
    end=f"{MAY1}17:06:00.000Z",
)
ONGOING_LIVE = _queued_call(
    "live", "voice", Q1, U2, f"{MAY1}17:50:00.000Z", f"{MAY1}17:50:30.000Z", 30000
)
# The same finished call as fetched while it was still going: no end, fewer segments' worth of
# metrics.
ONGOING_DONE_EARLY_COPY = _queued_call(
    "done", "voice", Q1, U1, f"{MAY1}17:00:00.000Z", f"{MAY1}17:00:20.000Z", 20000
)

# [18:00, 19:00), conversation grain: one call answered in 15 s and handled (300 s talk around
# a 20 s hold, 30 s ACW); one abandoned after 60 s; one abandoned after 40 s while Ben, alerted,
# did not answer and was wrapped up by the system (57 s ACW = 57 s handle).
HANDLED = [
    conversation(
        "c-handled",
        f"{MAY1}18:00:00.000Z",
        f"{MAY1}18:06:05.000Z",
        customer("hd", "voice", f"{MAY1}18:00:00.000Z", f"{MAY1}18:05:35.000Z"),
        participant(
            "hd-acd",
            "acd",
            session(
                "hd-s1",
                "voice",
                [segment("interact", f"{MAY1}18:00:00.000Z", f"{MAY1}18:00:15.000Z", queue=Q1)],
                [
                    metric("nOffered", 1, f"{MAY1}18:00:00.000Z"),
                    metric("tAcd", 15000, f"{MAY1}18:00:15.000Z"),
                ],
            ),
        ),
        participant(
            "hd-ada",
            "agent",
            session(
                "hd-s2",
                "voice",
                [
                    segment("interact", f"{MAY1}18:00:15.000Z", f"{MAY1}18:03:00.000Z", queue=Q1),
                    segment("hold", f"{MAY1}18:03:00.000Z", f"{MAY1}18:03:20.000Z", queue=Q1),
                    segment("interact", f"{MAY1}18:03:20.000Z", f"{MAY1}18:05:35.000Z", queue=Q1),
                    segment(
                        "wrapup",
                        f"{MAY1}18:05:35.000Z",
                        f"{MAY1}18:06:05.000Z",
                        queue=Q1,
                        code=W_SALE,
                    ),
                ],
                [
                    metric("tAnswered", 15000, f"{MAY1}18:00:15.000Z"),
                    metric("tHeld", 20000, f"{MAY1}18:03:20.000Z"),
                    metric("tTalk", 300000, f"{MAY1}18:05:35.000Z"),
                    metric("tAcw", 30000, f"{MAY1}18:06:05.000Z"),
                    metric("tHandle", 350000, f"{MAY1}18:06:05.000Z"),
                ],
            ),
            user=U1,
        ),
    ),
    _abandoned_call(
        "gave-up",
        Q1,
        f"{MAY1}18:10:00.000Z",
        f"{MAY1}18:11:00.000Z",
        60000,
        metric("tAbandon", 60000, f"{MAY1}18:11:00.000Z"),
    ),
    conversation(
        "c-rona-abandoned",
        f"{MAY1}18:20:00.000Z",
        f"{MAY1}18:21:12.000Z",
        customer("ra", "voice", f"{MAY1}18:20:00.000Z", f"{MAY1}18:20:40.000Z"),
        participant(
            "ra-acd",
            "acd",
            session(
                "ra-s1",
                "voice",
                [segment("interact", f"{MAY1}18:20:00.000Z", f"{MAY1}18:20:40.000Z", queue=Q1)],
                [
                    metric("nOffered", 1, f"{MAY1}18:20:00.000Z"),
                    metric("tAcd", 40000, f"{MAY1}18:20:40.000Z"),
                    metric("tAbandon", 40000, f"{MAY1}18:20:40.000Z"),
                ],
            ),
        ),
        participant(
            "ra-ben",
            "agent",
            session(
                "ra-s2",
                "voice",
                [
                    segment(
                        "alert",
                        f"{MAY1}18:20:00.000Z",
                        f"{MAY1}18:20:15.000Z",
                        queue=Q1,
                        disconnect="noAnswerTransfer",
                    ),
                    segment(
                        "wrapup",
                        f"{MAY1}18:20:15.000Z",
                        f"{MAY1}18:21:12.000Z",
                        queue=Q1,
                        code=W_TIMEOUT,
                    ),
                ],
                [
                    metric("tAlert", 15000, f"{MAY1}18:20:15.000Z"),
                    metric("tNotResponding", 15000, f"{MAY1}18:20:15.000Z"),
                    metric("tAcw", 57000, f"{MAY1}18:21:12.000Z"),
                    metric("tHandle", 57000, f"{MAY1}18:21:12.000Z"),
                ],
            ),
            user=U2,
        ),
    ),
]


# Sales moves the call on to Support inside one acd session (segments listed out of time
# order); Ada answers from Support, and her wrap-up segment carries no queue.
MOVED = conversation(
    "c-moved",
    f"{MAY1}19:00:00.000Z",
    f"{MAY1}19:04:00.000Z",
    customer("mv", "voice", f"{MAY1}19:00:00.000Z", f"{MAY1}19:03:30.000Z"),
    participant(
        "mv-acd",
        "acd",
        session(
            "mv-s1",
            "voice",
            [
                segment("interact", f"{MAY1}19:01:00.000Z", f"{MAY1}19:01:30.000Z", queue=Q2),
                segment("interact", f"{MAY1}19:00:00.000Z", f"{MAY1}19:01:00.000Z", queue=Q1),
            ],
            [
                metric("nOffered", 1, f"{MAY1}19:00:00.000Z"),
                metric("tAcd", 90000, f"{MAY1}19:01:30.000Z"),
            ],
        ),
    ),
    participant(
        "mv-ada",
        "agent",
        session(
            "mv-s2",
            "voice",
            [
                segment("interact", f"{MAY1}19:01:30.000Z", f"{MAY1}19:03:30.000Z", queue=Q2),
                segment("wrapup", f"{MAY1}19:03:30.000Z", f"{MAY1}19:04:00.000Z", code=W_SALE),
            ],
            [
                metric("tAnswered", 90000, f"{MAY1}19:01:30.000Z"),
                metric("tTalk", 120000, f"{MAY1}19:03:30.000Z"),
                metric("tAcw", 30000, f"{MAY1}19:04:00.000Z"),
                metric("tHandle", 150000, f"{MAY1}19:04:00.000Z"),
            ],
        ),
        user=U1,
    ),
)

# --- the cases -------------------------------------------------------------------------------

BERLIN = "Europe/Berlin"
HOUR_09 = (f"{MAY1}09:00:00Z", f"{MAY1}10:00:00Z", "UTC")
HOUR_10 = (f"{MAY1}10:00:00Z", f"{MAY1}11:00:00Z", "UTC")
HOUR_11 = (f"{MAY1}11:00:00Z", f"{MAY1}12:00:00Z", "UTC")
HOUR_12 = (f"{MAY1}12:00:00Z", f"{MAY1}13:00:00Z", "UTC")
HOUR_13 = (f"{MAY1}13:00:00Z", f"{MAY1}14:00:00Z", "UTC")
HOUR_14 = (f"{MAY1}14:00:00Z", f"{MAY1}15:00:00Z", "UTC")
HOUR_15 = (f"{MAY1}15:00:00Z", f"{MAY1}16:00:00Z", "UTC")
HOUR_16 = (f"{MAY1}16:00:00Z", f"{MAY1}17:00:00Z", "UTC")
HOUR_17 = (f"{MAY1}17:00:00Z", f"{MAY1}18:00:00Z", "UTC")
HOUR_18 = (f"{MAY1}18:00:00Z", f"{MAY1}19:00:00Z", "UTC")
HOUR_19 = (f"{MAY1}19:00:00Z", f"{MAY1}20:00:00Z", "UTC")


def _sales(**row: Any) -> dict[str, Any]:
    return {"queue_id": Q1, "queue_name": "Sales", **row}


def _support(**row: Any) -> dict[str, Any]:
    return {"queue_id": Q2, "queue_name": "Support", **row}


CASES: list[Case] = [
    # --- transfers, agents, RONA, outbound (interval grain) ---
    Case(
        id="interval-transfer-a-to-b-abandoned-in-b",
        records=[TRANSFER],
        report=report(
            "transfer-by-queue",
            group_by=["queue_id"],
            metrics=[
                "conversations",
                "offered",
                "answered",
                "abandoned",
                "transferred",
                "handled",
                "abandon_rate",
                "answer_rate",
                "service_level",
                "service_level_target_pct",
                "avg_wait_seconds",
                "avg_abandon_seconds",
                "avg_handle_seconds",
            ],
        ),
        period=HOUR_09,
        expected_rows=[
            _sales(
                conversations=1,
                offered=1,  # Sales' nOffered
                answered=1,  # Ada's tAnswered: her segments carry Sales
                abandoned=0,  # the abandon is Support's
                transferred=1,  # Ada's nTransferred
                handled=1,
                abandon_rate=0.0,  # 0 / 1
                answer_rate=1.0,  # 1 / 1
                service_level=0.0,  # 25000 > Sales' call target 20000: 0 / (1 + 0)
                service_level_target_pct=0.8,  # every event Sales and voice
                avg_wait_seconds=20.0,  # 20000 / 1 / 1000
                avg_abandon_seconds=None,  # no tAbandon in Sales
                avg_handle_seconds=330.0,  # 330000 / 1 / 1000
            ),
            _support(
                conversations=1,
                offered=1,  # the transfer is a new offer in Support
                answered=0,
                abandoned=1,
                transferred=0,
                handled=0,
                abandon_rate=1.0,  # 1 / 1
                answer_rate=0.0,  # 0 / 1
                service_level=0.0,  # 0 / (0 answered + 1 abandoned)
                service_level_target_pct=0.75,
                avg_wait_seconds=270.0,  # 270000 / 1 / 1000
                avg_abandon_seconds=270.0,  # 270000 / 1 / 1000
                avg_handle_seconds=None,  # no tHandle in Support
            ),
        ],
        expected_events_counted=11,  # Sales acd 2 + Ada 6 + Support acd 3
        expected_conversations=1,
    ),
    Case(
        id="interval-two-agents-in-sequence",
        records=[SEQUENCE],
        report=report(
            "two-agents",
            group_by=["agent_id", "wrapup_code"],
            metrics=[
                "conversations",
                "offered",
                "answered",
                "transferred",
                "handled",
                "avg_talk_seconds",
                "avg_hold_seconds",
                "avg_acw_seconds",
                "avg_handle_seconds",
                "talk_ratio",
                "hold_ratio",
                "wrapup_codes",
            ],
        ),
        period=HOUR_10,
        expected_rows=[
            {  # the acd session's events: no agent, no wrap-up
                "agent_id": None,
                "agent_name": None,
                "wrapup_code_id": None,
                "wrapup_code_name": None,
                "conversations": 1,
                "offered": 1,
                "answered": 0,
                "transferred": 0,
                "handled": 0,
                "avg_talk_seconds": None,  # no tTalk
                "avg_hold_seconds": None,
                "avg_acw_seconds": None,
                "avg_handle_seconds": None,
                "talk_ratio": None,  # sum(tHandle) = 0
                "hold_ratio": None,
                "wrapup_codes": [],
            },
            {
                "agent_id": U1,
                "agent_name": "Ada",
                "wrapup_code_id": W_SALE,
                "wrapup_code_name": "Sale",
                "conversations": 1,
                "offered": 0,  # nOffered is the acd session's
                "answered": 1,
                "transferred": 1,
                "handled": 1,
                "avg_talk_seconds": 120.0,  # 120000 / 1 / 1000
                "avg_hold_seconds": None,  # no tHeld event
                "avg_acw_seconds": 30.0,  # 30000 / 1 / 1000
                "avg_handle_seconds": 150.0,  # 150000 / 1 / 1000
                "talk_ratio": 0.8,  # 120000 / 150000
                "hold_ratio": 0.0,  # 0 / 150000: no tHeld sums to 0 over a real handle
                "wrapup_codes": ["Sale"],
            },
            {
                "agent_id": U2,
                "agent_name": "Ben",
                "wrapup_code_id": W_FOLLOW_UP,
                "wrapup_code_name": "Follow-up",
                "conversations": 1,
                "offered": 0,
                "answered": 0,  # a direct transfer has no tAnswered
                "transferred": 0,
                "handled": 1,
                "avg_talk_seconds": 240.0,  # 240000 / 1 / 1000
                "avg_hold_seconds": 60.0,  # 60000 / 1 / 1000
                "avg_acw_seconds": 20.0,  # 20000 / 1 / 1000
                "avg_handle_seconds": 320.0,  # 320000 / 1 / 1000
                "talk_ratio": 0.75,  # 240000 / 320000
                "hold_ratio": 0.1875,  # 60000 / 320000
                "wrapup_codes": ["Follow-up"],
            },
        ],
        expected_events_counted=13,  # acd 2 + Ada 6 + Ben 5
    ),
    Case(
        id="interval-missing-queue-is-null",
        records=[SEQUENCE],
        report=report(
            "no-queue",
            group_by=["queue_id"],
            metrics=[
                "conversations",
                "handled",
                "service_level_target_pct",
                "avg_handle_seconds",
            ],
        ),
        period=HOUR_10,
        expected_rows=[
            {  # Ben's segments carry no queue
                "queue_id": None,
                "queue_name": None,
                "conversations": 1,
                "handled": 1,
                "service_level_target_pct": None,  # no queue
                "avg_handle_seconds": 320.0,  # 320000 / 1 / 1000
            },
            _sales(
                conversations=1,
                handled=1,
                service_level_target_pct=0.8,  # acd and Ada: Sales, voice
                avg_handle_seconds=150.0,  # 150000 / 1 / 1000
            ),
        ],
        expected_events_counted=13,
    ),
    Case(
        id="interval-division-first-entry",
        records=[SEQUENCE],  # divisionIds [Home, Other]
        report=report(
            "division",
            group_by=["division_id", "direction"],
            metrics=["conversations", "offered", "handled"],
        ),
        period=HOUR_10,
        expected_rows=[
            {
                "division_id": D_HOME,
                "division_name": "Home",
                "direction": "inbound",
                "conversations": 1,
                "offered": 1,
                "handled": 2,  # Ada's and Ben's tHandle
            }
        ],
        expected_events_counted=13,
    ),
    Case(
        id="interval-rona-handle-by-agent-and-code",
        records=[RONA],
        report=report(
            "rona-by-agent",
            group_by=["agent_id", "wrapup_code"],
            metrics=[
                "conversations",
                "offered",
                "answered",
                "handled",
                "avg_acw_seconds",
                "avg_handle_seconds",
                "wrapup_codes",
            ],
        ),
        period=HOUR_11,
        expected_rows=[
            {
                "agent_id": None,
                "agent_name": None,
                "wrapup_code_id": None,
                "wrapup_code_name": None,
                "conversations": 1,
                "offered": 1,
                "answered": 0,
                "handled": 0,
                "avg_acw_seconds": None,
                "avg_handle_seconds": None,
                "wrapup_codes": [],
            },
            {  # the look-up does not know the system code: its id is its name
                "agent_id": U1,
                "agent_name": "Ada",
                "wrapup_code_id": W_TIMEOUT,
                "wrapup_code_name": W_TIMEOUT,
                "conversations": 1,
                "offered": 0,
                "answered": 0,  # not answered, yet handled
                "handled": 1,
                "avg_acw_seconds": 57.0,  # 57000 / 1 / 1000
                "avg_handle_seconds": 57.0,  # 57000 / 1 / 1000
                "wrapup_codes": [W_TIMEOUT],
            },
            {
                "agent_id": U2,
                "agent_name": "Ben",
                "wrapup_code_id": W_SALE,
                "wrapup_code_name": "Sale",
                "conversations": 1,
                "offered": 0,
                "answered": 1,
                "handled": 1,
                "avg_acw_seconds": 30.0,  # 30000 / 1 / 1000
                "avg_handle_seconds": 390.0,  # 390000 / 1 / 1000
                "wrapup_codes": ["Sale"],
            },
        ],
        expected_events_counted=11,  # acd 2 + Ada 4 + Ben 5
    ),
    Case(
        id="interval-rona-handle-all",
        records=[RONA],
        report=report(
            "rona-all",
            metrics=[
                "answered",
                "handled",
                "avg_acw_seconds",
                "avg_handle_seconds",
                "p50_handle_seconds",
                "p90_handle_seconds",
                "wrapup_codes",
            ],
            custom_metrics={
                "unanswered_handles": "handled - answered",
                "rona_share": "(handled - answered) / handled",
            },
        ),
        period=HOUR_11,
        expected_rows=[
            {
                "answered": 1,
                "handled": 2,  # both agents' tHandle
                "avg_acw_seconds": 43.5,  # (57000 + 30000) / 2 / 1000
                "avg_handle_seconds": 223.5,  # (390000 + 57000) / 2 / 1000
                "p50_handle_seconds": 223.5,  # 57000 + 0.5 * (390000 - 57000) = 223500
                "p90_handle_seconds": 356.7,  # 57000 + 0.9 * 333000 = 356700
                "wrapup_codes": [W_TIMEOUT, "Sale"],  # "I" sorts before "S"
                "unanswered_handles": 1,  # 2 - 1
                "rona_share": 0.5,  # (2 - 1) / 2
            }
        ],
        expected_events_counted=11,
    ),
    Case(
        id="interval-outbound-dialing-contacting-in-handle",
        records=[OUTBOUND],
        report=report(
            "outbound",
            group_by=["direction"],
            metrics=[
                "conversations",
                "offered",
                "handled",
                "avg_talk_seconds",
                "avg_hold_seconds",
                "avg_acw_seconds",
                "avg_handle_seconds",
                "talk_ratio",
                "hold_ratio",
                "efficiency_score",
            ],
        ),
        period=HOUR_12,
        expected_rows=[
            {
                "direction": "outbound",
                "conversations": 1,
                "offered": 0,
                "handled": 1,
                "avg_talk_seconds": 150.0,  # 150000 / 1 / 1000
                "avg_hold_seconds": 30.0,  # 30000 / 1 / 1000
                "avg_acw_seconds": 30.0,  # 30000 / 1 / 1000
                # (5000 dialing + 15000 contacting + 150000 talk + 30000 hold + 30000 acw)
                # = 230000 / 1 / 1000
                "avg_handle_seconds": 230.0,
                "talk_ratio": 0.6522,  # 150000 / 230000 = 0.65217...
                "hold_ratio": 0.1304,  # 30000 / 230000 = 0.13043...
                "efficiency_score": 93.48,  # 100 - 0.130434... * 50 = 93.478...
            }
        ],
        expected_events_counted=7,  # nOutbound, tDialing, tContacting, tHeld, tTalk, tAcw, tHandle
    ),
    # --- the period's edges, look-back, time buckets ---
    Case(
        id="interval-lookback-and-period-edges",
        records=EDGES,
        report=report(
            "edges",
            lookback="PT6H",
            group_by=["half_hour"],
            metrics=[
                "conversations",
                "offered",
                "answered",
                "abandoned",
                "handled",
                "answer_rate",
                "avg_speed_of_answer_seconds",
                "avg_handle_seconds",
            ],
        ),
        period=HOUR_10,
        expected_rows=[
            {
                "half_hour": "2024-05-01T10:00",
                # email (tAcd, tAnswered 10:15), first-in (10:05 to 10:20), at-start (10:00 to
                # 10:04); too-old started 1 ms before 04:00 and counts nowhere
                "conversations": 3,
                "offered": 1,  # at-start's nOffered at exactly 10:00:00.000
                "answered": 3,
                "abandoned": 0,
                "handled": 2,  # first-in 10:20, at-start 10:04
                "answer_rate": 3.0,  # 3 / 1: two were offered before the period
                # (18900000 + 21900000 + 10000) / 3 / 1000 = 13603.333...
                "avg_speed_of_answer_seconds": 13603.33,
                "avg_handle_seconds": 565.0,  # (900000 + 230000) / 2 / 1000
            },
            {
                "half_hour": "2024-05-01T10:30",
                "conversations": 2,  # email (10:35, 10:40), at-end (tIvr at 10:59:59.999)
                "offered": 0,  # at-end's nOffered at exactly 11:00:00.000 is outside
                "answered": 0,
                "abandoned": 0,  # at-end's tAbandon at 11:00:20 is outside
                "handled": 1,
                "answer_rate": None,  # 0 offered
                "avg_speed_of_answer_seconds": None,
                "avg_handle_seconds": 1500.0,  # 1500000 / 1 / 1000
            },
        ],
        # email 5 (not nOffered at 05:00) + first-in 5 (not nOffered at 04:00) + at-start 6
        # (not tIvr at 09:59:59.999) + at-end 1
        expected_events_counted=17,
        expected_conversations=4,
    ),
    Case(
        id="interval-lookback-zero",
        records=EDGES,
        report=report(
            "no-lookback",
            lookback="PT0S",
            group_by=["half_hour"],
            metrics=["conversations", "offered", "answered", "handled", "avg_handle_seconds"],
        ),
        period=HOUR_10,
        expected_rows=[
            {  # only at-end started inside the period; at-start began at 09:59:30
                "half_hour": "2024-05-01T10:30",
                "conversations": 1,
                "offered": 0,
                "answered": 0,
                "handled": 0,
                "avg_handle_seconds": None,
            }
        ],
        expected_events_counted=1,  # at-end's tIvr
        expected_conversations=1,
    ),
    Case(
        id="interval-berlin-half-hour-and-hour-crossing",
        records=[CROSSING],
        report=report(
            "crossing",
            timezone=BERLIN,
            group_by=["hour", "half_hour"],
            metrics=[
                "conversations",
                "offered",
                "answered",
                "handled",
                "answer_rate",
                "avg_speed_of_answer_seconds",
                "avg_handle_seconds",
            ],
        ),
        period=(f"{MAY1}09:00:00Z", f"{MAY1}11:00:00Z", BERLIN),
        expected_rows=[
            {  # nOffered at 11:29:59.999 local
                "hour": "2024-05-01T11:00",
                "half_hour": "2024-05-01T11:00",
                "conversations": 1,
                "offered": 1,
                "answered": 0,
                "handled": 0,
                "answer_rate": 0.0,  # 0 / 1
                "avg_speed_of_answer_seconds": None,
                "avg_handle_seconds": None,
            },
            {  # tAcd and tAnswered at 11:30:10, tTalk at 11:59:30 local
                "hour": "2024-05-01T11:00",
                "half_hour": "2024-05-01T11:30",
                "conversations": 1,
                "offered": 0,
                "answered": 1,
                "handled": 0,
                "answer_rate": None,  # an answer without its offer: 1 / 0
                "avg_speed_of_answer_seconds": 10.0,  # 10001 / 1 / 1000 = 10.001
                "avg_handle_seconds": None,
            },
            {  # tAcw and tHandle at exactly 12:00:00.000 local
                "hour": "2024-05-01T12:00",
                "half_hour": "2024-05-01T12:00",
                "conversations": 1,
                "offered": 0,
                "answered": 0,
                "handled": 1,
                "answer_rate": None,
                "avg_speed_of_answer_seconds": None,
                "avg_handle_seconds": 1790.0,  # (1760000 + 30000) / 1 / 1000
            },
        ],
        expected_events_counted=6,
    ),
    Case(
        id="interval-berlin-midnight",
        records=MIDNIGHT,
        report=report(
            "midnight",
            timezone=BERLIN,
            group_by=["month", "week", "day"],
            metrics=[
                "conversations",
                "offered",
                "answered",
                "handled",
                "answer_rate",
                "avg_speed_of_answer_seconds",
            ],
        ),
        period=("2024-04-30T20:00:00Z", "2024-04-30T23:00:00Z", BERLIN),
        expected_rows=[
            {  # mid1's nOffered at 23:59:59.999 local on 30 April
                "month": "2024-04",
                "week": "2024-W18",  # Tuesday 30 April and Wednesday 1 May: one ISO week
                "day": "2024-04-30",
                "conversations": 1,
                "offered": 1,
                "answered": 0,
                "handled": 0,
                "answer_rate": 0.0,  # 0 / 1
                "avg_speed_of_answer_seconds": None,
            },
            {  # the rest of mid1 (from 00:00:09.999 local) and all of mid2
                "month": "2024-05",
                "week": "2024-W18",
                "day": "2024-05-01",
                "conversations": 2,
                "offered": 1,  # mid2
                "answered": 2,
                "handled": 2,
                "answer_rate": 2.0,  # 2 / 1
                "avg_speed_of_answer_seconds": 7.5,  # (10000 + 5000) / 2 / 1000
            },
        ],
        expected_events_counted=10,  # 5 + 5
    ),
    Case(
        id="interval-berlin-2024-03-31-spring-forward-half-hours",
        records=[SPRING],
        report=report(
            "spring",
            timezone=BERLIN,
            group_by=["hour", "half_hour"],
            metrics=["conversations", "offered", "answered", "handled", "avg_handle_seconds"],
        ),
        period=("2024-03-31T00:00:00Z", "2024-03-31T02:00:00Z", BERLIN),
        expected_rows=[
            {  # 00:45Z = 01:45 CET
                "hour": "2024-03-31T01:00",
                "half_hour": "2024-03-31T01:30",
                "conversations": 1,
                "offered": 1,
                "answered": 0,
                "handled": 0,
                "avg_handle_seconds": None,
            },
            {  # 01:00Z = 03:00 CEST (no 02:00 or 02:30 bucket exists); tTalk 01:25Z = 03:25
                "hour": "2024-03-31T03:00",
                "half_hour": "2024-03-31T03:00",
                "conversations": 1,
                "offered": 0,
                "answered": 1,
                "handled": 0,
                "avg_handle_seconds": None,
            },
            {  # 01:30Z = 03:30 CEST
                "hour": "2024-03-31T03:00",
                "half_hour": "2024-03-31T03:30",
                "conversations": 1,
                "offered": 0,
                "answered": 0,
                "handled": 1,
                "avg_handle_seconds": 1800.0,  # (1500000 + 300000) / 1 / 1000
            },
        ],
        expected_events_counted=6,
    ),
    Case(
        id="interval-berlin-2024-10-27-repeated-hour-one-bucket",
        records=AUTUMN,
        report=report(
            "autumn",
            timezone=BERLIN,
            group_by=["hour", "half_hour"],
            metrics=[
                "conversations",
                "offered",
                "answered",
                "handled",
                "avg_speed_of_answer_seconds",
                "avg_handle_seconds",
            ],
        ),
        period=("2024-10-27T00:00:00Z", "2024-10-27T02:00:00Z", BERLIN),
        expected_rows=[
            {  # autumn1 at 02:10 CEST (00:10Z) and autumn2 at 02:10 CET (01:10Z)
                "hour": "2024-10-27T02:00",
                "half_hour": "2024-10-27T02:00",
                "conversations": 2,
                "offered": 2,
                "answered": 2,
                "handled": 0,
                "avg_speed_of_answer_seconds": 20.0,  # (15000 + 25000) / 2 / 1000
                "avg_handle_seconds": None,
            },
            {  # 02:30:15 and 02:31:15 CEST, 02:40:25 and 02:42:25 CET
                "hour": "2024-10-27T02:00",
                "half_hour": "2024-10-27T02:30",
                "conversations": 2,
                "offered": 0,
                "answered": 0,
                "handled": 2,
                "avg_speed_of_answer_seconds": None,
                # (1200000 + 60000 + 1800000 + 120000) / 2 / 1000
                "avg_handle_seconds": 1590.0,
            },
        ],
        expected_events_counted=12,  # 6 + 6
    ),
    Case(
        id="interval-session-queue-is-its-latest-segment-queue",
        records=[MOVED],
        report=report(
            "latest-queue",
            group_by=["queue_id"],
            metrics=["conversations", "offered", "answered", "handled", "service_level"],
        ),
        period=HOUR_19,
        expected_rows=[
            # The acd session's latest segment by segmentStart (19:01:00, listed first) is
            # Support's, so even the offer made in Sales at 19:00 is Support's; Ada's wrap-up has
            # no queue, so her session's is her interact segment's.
            _support(
                conversations=1,
                offered=1,
                answered=1,
                handled=1,
                service_level=0.0,  # 90000 > Support's 30000: 0 / 1
            )
        ],
        expected_events_counted=6,  # acd 2 + Ada 4
    ),
    # --- service level ---
    Case(
        id="interval-service-level-queue-targets-by-media",
        records=MIXED_MEDIA,
        report=report(
            "sl-by-media",
            group_by=["media_type"],
            metrics=[
                "conversations",
                "offered",
                "answered",
                "service_level",
                "service_level_target_pct",
                "avg_speed_of_answer_seconds",
            ],
        ),
        period=HOUR_09,
        expected_rows=[
            {
                "media_type": "email",
                "conversations": 1,
                "offered": 0,  # offered at 06:00, before the period (look-back 6 h)
                "answered": 1,
                "service_level": 1.0,  # 10800000 <= Sales' email target 86400000: 1 / 1
                "service_level_target_pct": 0.9,
                "avg_speed_of_answer_seconds": 10800.0,  # 10800000 / 1 / 1000
            },
            {
                "media_type": "voice",
                "conversations": 1,
                "offered": 1,
                "answered": 1,
                "service_level": 0.0,  # 25000 > Sales' call target 20000: 0 / 1
                "service_level_target_pct": 0.8,
                "avg_speed_of_answer_seconds": 25.0,  # 25000 / 1 / 1000
            },
        ],
        expected_events_counted=11,  # email 5 (not nOffered), voice 6
    ),
    Case(
        id="interval-service-level-mixed-media-one-row",
        records=MIXED_MEDIA,
        report=report(
            "sl-mixed",
            metrics=[
                "answered",
                "service_level",
                "service_level_target_pct",
                "avg_speed_of_answer_seconds",
            ],
        ),
        period=HOUR_09,
        expected_rows=[
            {
                "answered": 2,
                "service_level": 0.5,  # (1 email within a day + 0 voice within 20 s) / 2
                "service_level_target_pct": None,  # two media
                "avg_speed_of_answer_seconds": 5412.5,  # (10800000 + 25000) / 2 / 1000
            }
        ],
    ),
    Case(
        id="interval-service-level-target-seconds-overrides-queues",
        records=MIXED_MEDIA,
        report=report(
            "sl-fixed-target",
            group_by=["media_type"],
            service_level={"target_seconds": 30},
            metrics=["answered", "service_level", "service_level_target_pct"],
        ),
        period=HOUR_09,
        expected_rows=[
            {
                "media_type": "email",
                "answered": 1,
                "service_level": 0.0,  # 10800000 > 30000: 0 / 1
                "service_level_target_pct": 0.9,  # still the queue's own percentage
            },
            {
                "media_type": "voice",
                "answered": 1,
                "service_level": 1.0,  # 25000 <= 30000: 1 / 1
                "service_level_target_pct": 0.8,
            },
        ],
    ),
    Case(
        id="interval-service-level-default-seconds-fallback",
        records=CHATS,
        report=report(
            "sl-default",
            group_by=["queue_id"],
            service_level={"default_seconds": 24},
            metrics=["offered", "answered", "service_level", "service_level_target_pct"],
        ),
        period=HOUR_13,
        expected_rows=[
            _support(
                offered=3,
                answered=3,
                # Support has no chat setting, so 24 s: 15000 and 24000 within, 25000 not: 2 / 3
                service_level=0.6667,
                service_level_target_pct=None,  # no chat setting
            ),
            {  # a queue the look-up and the media settings do not know
                "queue_id": Q3,
                "queue_name": Q3,
                "offered": 1,
                "answered": 1,
                "service_level": 1.0,  # 23000 <= 24000: 1 / 1
                "service_level_target_pct": None,
            },
        ],
        expected_events_counted=12,  # 4 x (nOffered, tAcd, tAnswered)
    ),
    Case(
        id="interval-short-abandons-counted",
        records=ABANDONS,
        report=report(
            "short-abandons-in",
            metrics=[
                "offered",
                "answered",
                "abandoned",
                "short_abandoned",
                "abandon_rate",
                "service_level",
                "avg_abandon_seconds",
            ],
        ),
        period=HOUR_14,
        expected_rows=[
            {
                "offered": 3,
                "answered": 1,
                "abandoned": 2,
                "short_abandoned": 1,
                "abandon_rate": 0.6667,  # 2 / 3
                "service_level": 0.3333,  # 1 within 20 s / (1 answered + 2 abandoned)
                "avg_abandon_seconds": 31.5,  # (60000 + 3000) / 2 / 1000
            }
        ],
        expected_events_counted=12,  # answered 5, abandoned 3, short 4
    ),
    Case(
        id="interval-short-abandons-excluded",
        records=ABANDONS,
        report=report(
            "short-abandons-out",
            service_level={"exclude_short_abandons": True},
            metrics=[
                "offered",
                "answered",
                "abandoned",
                "short_abandoned",
                "abandon_rate",
                "service_level",
                "avg_abandon_seconds",
            ],
        ),
        period=HOUR_14,
        expected_rows=[
            {
                "offered": 3,
                "answered": 1,
                "abandoned": 2,  # the option changes the service level only
                "short_abandoned": 1,
                "abandon_rate": 0.6667,  # 2 / 3
                "service_level": 0.5,  # 1 / (1 answered + 2 abandoned - 1 short)
                "avg_abandon_seconds": 31.5,  # (60000 + 3000) / 2 / 1000
            }
        ],
    ),
    Case(
        # §5: custom metrics read the unrounded values, earlier custom metrics included; the
        # output is rounded to 4 decimals unless the expression rounds itself; a null operand
        # gives null, even where Python would pick a branch.
        id="custom-metrics-unrounded-chain-own-rounding-and-null-operands",
        records=ABANDONS,
        report=report(
            "custom-chain",
            metrics=["offered", "answered", "avg_hold_seconds"],
            custom_metrics={
                "answered_share": "answered / offered",
                "share_per_10k": "answered_share * 10000",
                "share_6": "round(answered / offered, 6)",
                "hold_or_zero": "avg_hold_seconds if avg_hold_seconds else 0",
                "whole": "offered * 2",
            },
        ),
        period=HOUR_14,
        expected_rows=[
            {
                "offered": 3,
                "answered": 1,
                "avg_hold_seconds": None,  # no tHeld event: count 0
                "answered_share": 0.3333,  # 1 / 3, rounded at output
                "share_per_10k": 3333.3333,  # (1 / 3) * 10000 from the unrounded 1 / 3
                "share_6": 0.333333,  # round(1 / 3, 6): the expression's own rounding
                "hold_or_zero": None,  # avg_hold_seconds is null
                "whole": 6,  # 3 * 2, an integer stays one
            }
        ],
    ),
    Case(
        id="interval-flowouts-not-in-service-level",
        records=FLOWOUTS,
        report=report(
            "flowouts-out",
            metrics=["offered", "answered", "flowouts", "answer_rate", "service_level"],
        ),
        period=HOUR_15,
        expected_rows=[
            {
                "offered": 2,
                "answered": 1,
                "flowouts": 1,
                "answer_rate": 0.5,  # 1 / 2
                "service_level": 1.0,  # 1 within 20 s / (1 answered + 0 abandoned)
            }
        ],
        expected_events_counted=6,  # 3 + 3
    ),
    Case(
        id="interval-flowouts-in-service-level",
        records=FLOWOUTS,
        report=report(
            "flowouts-in",
            service_level={"include_flowouts": True},
            metrics=["offered", "answered", "flowouts", "answer_rate", "service_level"],
        ),
        period=HOUR_15,
        expected_rows=[
            {
                "offered": 2,
                "answered": 1,
                "flowouts": 1,
                "answer_rate": 0.5,  # 1 / 2
                "service_level": 0.5,  # 1 / (1 answered + 0 abandoned + 1 flow-out)
            }
        ],
    ),
    Case(
        id="interval-target-pct-one-queue-one-medium",
        records=TWO_QUEUES,
        report=report(
            "target-pct-by-queue",
            group_by=["queue_id"],
            metrics=["answered", "service_level", "service_level_target_pct"],
        ),
        period=HOUR_16,
        expected_rows=[
            _sales(
                answered=1,
                service_level=1.0,  # 10000 <= 20000: 1 / 1
                service_level_target_pct=0.8,
            ),
            _support(
                answered=1,
                service_level=1.0,  # 25000 <= Support's 30000: 1 / 1
                service_level_target_pct=0.75,
            ),
        ],
    ),
    Case(
        id="interval-target-pct-null-two-queues",
        records=TWO_QUEUES,
        report=report(
            "target-pct-two-queues",
            group_by=["media_type"],
            metrics=["answered", "service_level", "service_level_target_pct"],
        ),
        period=HOUR_16,
        expected_rows=[
            {
                "media_type": "voice",
                "answered": 2,
                "service_level": 1.0,  # each against its own queue: (1 + 1) / 2
                "service_level_target_pct": None,  # Sales and Support
            }
        ],
    ),
    Case(
        id="interval-target-pct-null-with-a-queueless-event",
        records=[SEQUENCE],
        report=report(
            "target-pct-queueless",
            group_by=["media_type"],
            metrics=["conversations", "handled", "service_level_target_pct"],
        ),
        period=HOUR_10,
        expected_rows=[
            {
                "media_type": "voice",
                "conversations": 1,
                "handled": 2,
                # Sales' events and Ben's queue-less ones: not every event has Sales
                "service_level_target_pct": None,
            }
        ],
    ),
    Case(
        id="interval-target-seconds-below-a-queue-target",
        records=TWO_QUEUES,
        report=report(
            "fixed-20s",
            service_level={"target_seconds": 20},
            metrics=["answered", "service_level"],
        ),
        period=HOUR_16,
        expected_rows=[
            {
                "answered": 2,
                "service_level": 0.5,  # 10000 <= 20000, 25000 > 20000 (Support's 30 s unused)
            }
        ],
    ),
    # --- ongoing conversations and copies ---
    Case(
        id="interval-ongoing-counts-its-events",
        records=[ONGOING_DONE, ONGOING_LIVE],
        report=report(
            "ongoing-interval",
            metrics=[
                "conversations",
                "offered",
                "answered",
                "handled",
                "service_level",
                "avg_speed_of_answer_seconds",
            ],
        ),
        period=HOUR_17,
        expected_rows=[
            {
                "conversations": 2,
                "offered": 2,
                "answered": 2,
                "handled": 1,  # the live call has no tHandle yet
                "service_level": 0.5,  # 20000 <= 20000 within, 30000 not: 1 / 2
                "avg_speed_of_answer_seconds": 25.0,  # (20000 + 30000) / 2 / 1000
            }
        ],
        expected_events_counted=9,  # done 6, live 3
        expected_conversations=2,
        expected_ongoing_skipped=0,
    ),
    Case(
        id="interval-exclude-ongoing-filter",
        records=[ONGOING_DONE, ONGOING_LIVE],
        report=report(
            "exclude-ongoing",
            filters={"exclude_ongoing": True},
            metrics=[
                "conversations",
                "offered",
                "answered",
                "handled",
                "service_level",
                "avg_speed_of_answer_seconds",
            ],
        ),
        period=HOUR_17,
        expected_rows=[
            {
                "conversations": 1,
                "offered": 1,
                "answered": 1,
                "handled": 1,
                "service_level": 1.0,  # 20000 <= 20000: 1 / 1
                "avg_speed_of_answer_seconds": 20.0,  # 20000 / 1 / 1000
            }
        ],
        expected_events_counted=6,
        expected_conversations=1,
    ),
    Case(
        id="interval-copies-merged-ended-copy-wins",
        records=[ONGOING_DONE, ONGOING_DONE_EARLY_COPY],
        report=report(
            "copies",
            metrics=["conversations", "offered", "answered", "handled", "avg_handle_seconds"],
        ),
        period=HOUR_17,
        expected_rows=[
            {
                "conversations": 1,
                "offered": 1,  # once, not once per copy
                "answered": 1,
                "handled": 1,
                "avg_handle_seconds": 340.0,  # (300000 + 40000) / 1 / 1000
            }
        ],
        expected_events_counted=6,
    ),
    # --- filters select conversations and events ---
    Case(
        id="interval-filter-queue-ids-drops-other-queue-events",
        records=[TRANSFER],
        report=report(
            "filter-queue",
            filters={"queue_ids": [Q1]},
            metrics=[
                "conversations",
                "offered",
                "answered",
                "abandoned",
                "transferred",
                "handled",
                "avg_wait_seconds",
            ],
        ),
        period=HOUR_09,
        expected_rows=[
            {
                "conversations": 1,
                "offered": 1,  # Sales only; Support's offer is not counted
                "answered": 1,
                "abandoned": 0,  # the abandon in Support is not counted
                "transferred": 1,
                "handled": 1,
                "avg_wait_seconds": 20.0,  # 20000 / 1 / 1000 (Support's 270000 left out)
            }
        ],
        expected_events_counted=8,  # Sales acd 2 + Ada 6
    ),
    Case(
        id="interval-filter-user-ids-agent-events-only",
        records=[TRANSFER],
        report=report(
            "filter-user",
            filters={"user_ids": [U1]},
            metrics=[
                "conversations",
                "offered",
                "answered",
                "transferred",
                "handled",
                "answer_rate",
                "avg_handle_seconds",
            ],
        ),
        period=HOUR_09,
        expected_rows=[
            {
                "conversations": 1,
                "offered": 0,  # nOffered is on acd sessions, which have no agent
                "answered": 1,
                "transferred": 1,
                "handled": 1,
                "answer_rate": None,  # 1 / 0
                "avg_handle_seconds": 330.0,  # 330000 / 1 / 1000
            }
        ],
        expected_events_counted=6,  # Ada's
    ),
    Case(
        id="interval-filters-all-hold-for-each-event",
        records=[TRANSFER],
        report=report(
            "filter-and",
            # The conversation has a Support segment and an Ada segment, but no event is both.
            filters={"queue_ids": [Q2], "user_ids": [U1]},
            metrics=[
                "conversations",
                "offered",
                "answered",
                "handled",
                "answer_rate",
                "avg_handle_seconds",
                "wrapup_codes",
            ],
        ),
        period=HOUR_09,
        expected_rows=[
            {  # an ungrouped report has its one row even over no events
                "conversations": 0,
                "offered": 0,
                "answered": 0,
                "handled": 0,
                "answer_rate": None,  # 0 / 0
                "avg_handle_seconds": None,  # no tHandle
                "wrapup_codes": [],
            }
        ],
        expected_events_counted=0,
        expected_conversations=0,
    ),
    Case(
        id="interval-filter-wrapup-codes-session-events-only",
        records=[SEQUENCE],
        report=report(
            "filter-code",
            filters={"wrapup_codes": [W_SALE]},
            metrics=[
                "conversations",
                "offered",
                "answered",
                "transferred",
                "handled",
                "avg_handle_seconds",
                "wrapup_codes",
            ],
        ),
        period=HOUR_10,
        expected_rows=[
            {
                "conversations": 1,
                "offered": 0,  # the acd session has no wrap-up code
                "answered": 1,
                "transferred": 1,
                "handled": 1,  # Ada's; Ben's session has Follow-up
                "avg_handle_seconds": 150.0,  # 150000 / 1 / 1000
                "wrapup_codes": ["Sale"],
            }
        ],
        expected_events_counted=6,  # Ada's
    ),
    Case(
        id="interval-filter-directions",
        records=[SEQUENCE, OUTBOUND],
        report=report(
            "filter-direction",
            filters={"directions": ["outbound"]},
            group_by=["direction"],
            metrics=["conversations", "handled", "avg_handle_seconds"],
        ),
        period=(f"{MAY1}10:00:00Z", f"{MAY1}13:00:00Z", "UTC"),
        expected_rows=[
            {
                "direction": "outbound",
                "conversations": 1,
                "handled": 1,
                "avg_handle_seconds": 230.0,  # 230000 / 1 / 1000
            }
        ],
        expected_events_counted=7,
    ),
    Case(
        id="interval-filter-media-types",
        records=MIXED_MEDIA,
        report=report(
            "filter-media",
            filters={"media_types": ["email"]},
            metrics=[
                "conversations",
                "answered",
                "service_level",
                "service_level_target_pct",
            ],
        ),
        period=HOUR_09,
        expected_rows=[
            {
                "conversations": 1,
                "answered": 1,
                "service_level": 1.0,  # 10800000 <= 86400000: 1 / 1
                "service_level_target_pct": 0.9,  # Sales and email only
            }
        ],
        expected_events_counted=5,
    ),
    # --- nulls over nothing ---
    Case(
        id="interval-empty-period-one-row-of-nulls",
        records=[TRANSFER],
        report=report(
            "empty-interval",
            metrics=[
                "conversations",
                "offered",
                "answered",
                "abandoned",
                "handled",
                "abandon_rate",
                "answer_rate",
                "service_level",
                "service_level_target_pct",
                "avg_speed_of_answer_seconds",
                "avg_abandon_seconds",
                "avg_handle_seconds",
                "p50_handle_seconds",
                "talk_ratio",
                "hold_ratio",
                "efficiency_score",
                "wrapup_codes",
            ],
        ),
        # The next day: the transfer started 24 h before, beyond the 6 h look-back.
        period=("2024-05-02T09:00:00Z", "2024-05-02T10:00:00Z", "UTC"),
        expected_rows=[
            {
                "conversations": 0,
                "offered": 0,
                "answered": 0,
                "abandoned": 0,
                "handled": 0,
                "abandon_rate": None,  # 0 / 0
                "answer_rate": None,
                "service_level": None,  # 0 / (0 + 0)
                "service_level_target_pct": None,  # no queue at all
                "avg_speed_of_answer_seconds": None,
                "avg_abandon_seconds": None,
                "avg_handle_seconds": None,
                "p50_handle_seconds": None,
                "talk_ratio": None,
                "hold_ratio": None,
                "efficiency_score": None,  # from a null hold ratio
                "wrapup_codes": [],
            }
        ],
        expected_events_counted=0,
        expected_conversations=0,
    ),
    # --- conversation grain ---
    Case(
        id="conversation-handled-denominator",
        records=HANDLED,
        report=report(
            "journey-handled",
            grain="conversation",
            service_level={"default_seconds": 20},
            metrics=[
                "conversations",
                "offered",
                "answered",
                "abandoned",
                "handled",
                "service_level",
                "avg_speed_of_answer_seconds",
                "avg_wait_seconds",
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
            ],
        ),
        period=HOUR_18,
        # Sales' own call target (10 s) must not matter in this grain: 15 s is within 20 s.
        media_settings={Q1: {"call": {"serviceLevel": {"percentage": 0.8, "durationMs": 10000}}}},
        expected_rows=[
            {
                "conversations": 3,
                "offered": 3,
                "answered": 1,
                "abandoned": 2,
                "handled": 2,  # the answered call, and the RONA one (tHandle 57000)
                "service_level": 0.3333,  # 1 answered within 20 s / 3 offered
                "avg_speed_of_answer_seconds": 15.0,  # 15000 / 1 / 1000
                "avg_wait_seconds": 38.33,  # (15000 + 60000 + 40000) / 3 / 1000 = 38.333...
                # (365000 + 60000 + 72000) / 3 / 1000 = 165.666...
                "avg_duration_seconds": 165.67,
                "avg_talk_seconds": 150.0,  # (300000 + 0) / 2 handled / 1000
                "avg_hold_seconds": 10.0,  # (20000 + 0) / 2 / 1000
                "avg_acw_seconds": 43.5,  # (30000 + 57000) / 2 / 1000
                "avg_handle_seconds": 203.5,  # (350000 + 57000) / 2 / 1000
                "p50_handle_seconds": 203.5,  # 57000 + 0.5 * (350000 - 57000) = 203500
                "p90_handle_seconds": 320.7,  # 57000 + 0.9 * 293000 = 320700
                "talk_ratio": 0.6036,  # 300000 / 497000 = 0.60362...
                "hold_ratio": 0.0402,  # 20000 / 497000 = 0.04024...
                "efficiency_score": 97.99,  # 100 - 0.040241... * 50 = 97.9879...
                "wrapup_codes": [W_TIMEOUT, "Sale"],
            }
        ],
        expected_conversations=3,
        expected_ongoing_skipped=0,
    ),
    Case(
        id="conversation-target-seconds-threshold",
        records=HANDLED,
        report=report(
            "journey-target",
            grain="conversation",
            service_level={"target_seconds": 10, "default_seconds": 20},
            metrics=["offered", "answered", "service_level"],
        ),
        period=HOUR_18,
        expected_rows=[
            {
                "offered": 3,
                "answered": 1,
                "service_level": 0.0,  # 15000 > 10000: 0 / 3
            }
        ],
    ),
    Case(
        id="conversation-flags-as-groups",
        records=HANDLED,
        report=report(
            "journey-flags",
            grain="conversation",
            group_by=["offered", "answered", "abandoned", "transferred"],
            metrics=["conversations", "handled", "avg_handle_seconds"],
        ),
        period=HOUR_18,
        expected_rows=[
            {  # the two abandoned calls, one of them handled by the RONA wrap-up
                "offered": 1,
                "answered": 0,
                "abandoned": 1,
                "transferred": 0,
                "conversations": 2,
                "handled": 1,
                "avg_handle_seconds": 57.0,  # 57000 / 1 / 1000
            },
            {
                "offered": 1,
                "answered": 1,
                "abandoned": 0,
                "transferred": 0,
                "conversations": 1,
                "handled": 1,
                "avg_handle_seconds": 350.0,  # 350000 / 1 / 1000
            },
        ],
    ),
    Case(
        id="conversation-transfer-first-queue-last-agent",
        records=[TRANSFER],
        report=report(
            "journey-transfer",
            grain="conversation",
            group_by=["queue_id", "agent_id"],
            metrics=[
                "conversations",
                "offered",
                "answered",
                "abandoned",
                "transferred",
                "handled",
                "avg_wait_seconds",
                "avg_duration_seconds",
                "avg_handle_seconds",
            ],
        ),
        period=HOUR_09,
        expected_rows=[
            _sales(
                agent_id=U1,
                agent_name="Ada",
                conversations=1,
                offered=1,  # flags: once per conversation
                answered=1,
                abandoned=1,  # the journey ended abandoned in Support
                transferred=1,
                handled=1,
                avg_wait_seconds=290.0,  # (20000 + 270000) / 1 offered / 1000
                avg_duration_seconds=600.0,  # 09:00:00 to 09:10:00
                avg_handle_seconds=330.0,  # 330000 / 1 / 1000
            )
        ],
    ),
    Case(
        id="conversation-two-agents-sum-per-conversation",
        records=[SEQUENCE],
        report=report(
            "journey-agents",
            grain="conversation",
            group_by=["agent_id", "wrapup_code"],
            metrics=[
                "conversations",
                "transferred",
                "handled",
                "avg_talk_seconds",
                "avg_hold_seconds",
                "avg_acw_seconds",
                "avg_handle_seconds",
                "wrapup_codes",
            ],
        ),
        period=HOUR_10,
        expected_rows=[
            {  # Ben: the last agent with an interact; his wrap-up (10:07:20) is the latest
                "agent_id": U2,
                "agent_name": "Ben",
                "wrapup_code_id": W_FOLLOW_UP,
                "wrapup_code_name": "Follow-up",
                "conversations": 1,
                "transferred": 1,
                "handled": 1,
                "avg_talk_seconds": 360.0,  # (120000 + 240000) / 1 / 1000
                "avg_hold_seconds": 60.0,  # 60000 / 1 / 1000
                "avg_acw_seconds": 50.0,  # (30000 + 20000) / 1 / 1000
                "avg_handle_seconds": 470.0,  # (150000 + 320000) / 1 / 1000
                "wrapup_codes": ["Follow-up"],
            }
        ],
    ),
    Case(
        id="conversation-first-queue-by-segment-start",
        records=[MOVED],
        report=report(
            "journey-first-queue",
            grain="conversation",
            group_by=["queue_id"],
            metrics=["conversations", "offered", "answered", "service_level"],
        ),
        period=HOUR_19,
        expected_rows=[
            _sales(  # the earliest acd segment (19:00:00), though listed second
                conversations=1,
                offered=1,
                answered=1,
                service_level=0.0,  # 90000 > 20000 default: 0 / 1 offered
            )
        ],
    ),
    Case(
        id="conversation-half-hour-by-start",
        records=[CROSSING],
        report=report(
            "journey-half-hour",
            grain="conversation",
            timezone=BERLIN,
            group_by=["half_hour"],
            metrics=[
                "conversations",
                "offered",
                "answered",
                "handled",
                "service_level",
                "avg_duration_seconds",
                "avg_handle_seconds",
            ],
        ),
        period=(f"{MAY1}09:00:00Z", f"{MAY1}11:00:00Z", BERLIN),
        expected_rows=[
            {  # started 09:29:59.999Z = 11:29:59.999 local: all of it there
                "half_hour": "2024-05-01T11:00",
                "conversations": 1,
                "offered": 1,
                "answered": 1,
                "handled": 1,
                "service_level": 1.0,  # 10001 <= 20000: 1 / 1
                "avg_duration_seconds": 1800.0,  # 10:00:00.000 - 09:29:59.999 = 1800001 ms
                "avg_handle_seconds": 1790.0,  # 1790000 / 1 / 1000
            }
        ],
    ),
    Case(
        id="conversation-ongoing-skipped",
        records=[ONGOING_DONE, ONGOING_LIVE],
        report=report(
            "journey-ongoing-out",
            grain="conversation",
            metrics=[
                "conversations",
                "offered",
                "answered",
                "handled",
                "service_level",
                "avg_handle_seconds",
            ],
        ),
        period=HOUR_17,
        expected_rows=[
            {
                "conversations": 1,
                "offered": 1,
                "answered": 1,
                "handled": 1,
                "service_level": 1.0,  # 20000 <= 20000: 1 / 1
                "avg_handle_seconds": 340.0,  # 340000 / 1 / 1000
            }
        ],
        expected_conversations=1,
        expected_ongoing_skipped=1,
    ),
    Case(
        id="conversation-ongoing-included-in-conversations-only",
        records=[ONGOING_DONE, ONGOING_LIVE],
        report=report(
            "journey-ongoing-in",
            grain="conversation",
            include_ongoing=True,
            metrics=[
                "conversations",
                "offered",
                "answered",
                "handled",
                "service_level",
                "avg_handle_seconds",
            ],
        ),
        period=HOUR_17,
        expected_rows=[
            {
                "conversations": 2,
                "offered": 1,  # the live call counts in conversations only
                "answered": 1,
                "handled": 1,
                "service_level": 1.0,  # 1 / 1
                "avg_handle_seconds": 340.0,
            }
        ],
        expected_conversations=2,
        expected_ongoing_skipped=0,
    ),
    Case(
        id="conversation-empty-period-one-row-of-nulls",
        records=[TRANSFER],
        report=report(
            "empty-journey",
            grain="conversation",
            metrics=[
                "conversations",
                "offered",
                "handled",
                "answer_rate",
                "service_level",
                "avg_duration_seconds",
                "avg_handle_seconds",
                "p90_handle_seconds",
                "talk_ratio",
                "efficiency_score",
                "wrapup_codes",
            ],
        ),
        period=HOUR_10,  # the transfer started at 09:00
        expected_rows=[
            {
                "conversations": 0,
                "offered": 0,
                "handled": 0,
                "answer_rate": None,  # 0 / 0
                "service_level": None,
                "avg_duration_seconds": None,
                "avg_handle_seconds": None,
                "p90_handle_seconds": None,
                "talk_ratio": None,  # 0 / 0 duration
                "efficiency_score": None,
                "wrapup_codes": [],
            }
        ],
        expected_conversations=0,
        expected_ongoing_skipped=0,
    ),
]
