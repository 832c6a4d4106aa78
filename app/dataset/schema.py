"""The dataset's tables: a fixed, versioned schema, the one place their columns are defined.

Every column has its Arrow type, whether it may be null, its unit and what it means; the
writer, the DDL of each engine and the README's table are all made from this. Adding a column
at the end is a minor change (engines read old files with nulls); anything else is a new
``SCHEMA_VERSION``, written into every file's metadata.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

__all__ = ["SCHEMA_VERSION", "TABLES", "Column", "Table"]

SCHEMA_VERSION = 1
PARTITION_COLUMN = "date"  # Hive-style: .../date=2024-05-01/, the UTC date of the row's time


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: pa.DataType
    nullable: bool
    unit: str
    meaning: str

    @property
    def field(self) -> pa.Field:
        return pa.field(self.name, self.type, nullable=self.nullable)


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    time_column: str  # its UTC date names the partition
    meaning: str

    @property
    def schema(self) -> pa.Schema:
        return pa.schema(
            [c.field for c in self.columns],
            metadata={"genesys_reports.schema_version": str(SCHEMA_VERSION)},
        )


_TIME = pa.timestamp("ms", tz="UTC")
_ID = pa.string()


def _ids() -> tuple[Column, ...]:
    return (
        Column("queue_id", _ID, True, "", "the ACD queue (report-semantics §2)"),
        Column("agent_id", _ID, True, "", "the agent (user) credited"),
        Column("media_type", pa.string(), True, "", "voice, callback, chat, email, message, ..."),
        Column("direction", pa.string(), True, "", "the conversation's originating direction"),
        Column("division_id", _ID, True, "", "the conversation's first division"),
        Column("wrapup_code", _ID, True, "", "the wrap-up code id"),
    )


_REPORT = Column(
    "report",
    pa.string(),
    False,
    "",
    "the report whose run wrote the row (filter on it: two reports may hold the same events)",
)

EVENTS = Table(
    "events",
    (
        _REPORT,
        Column("conversation_id", _ID, False, "", "the conversation"),
        Column("session_id", _ID, True, "", "the session that emitted the metric"),
        Column(
            "purpose", pa.string(), True, "", "the participant's purpose (customer, acd, agent)"
        ),
        Column("emit_time", _TIME, False, "UTC", "when the metric was emitted (emitDate)"),
        Column("metric", pa.string(), False, "", "the Genesys metric (nOffered, tHandle, ...)"),
        Column("value", pa.int64(), False, "ms for t*, a count for n*", "the metric's value"),
        *_ids(),
    ),
    "emit_time",
    "one row per metric event the interval grain counted (report-semantics §1-§3): the "
    "events emitted in the period that passed the report's filters",
)

CONVERSATIONS = Table(
    "conversations",
    (
        _REPORT,
        Column("conversation_id", _ID, False, "", "the conversation"),
        Column("start_time", _TIME, False, "UTC", "conversationStart"),
        Column("ended", pa.bool_(), False, "", "whether the conversation had ended when read"),
        *_ids(),
        Column("offered", pa.bool_(), False, "", "a session has nOffered (§2 flags)"),
        Column("answered", pa.bool_(), False, "", "a session has tAnswered"),
        Column("abandoned", pa.bool_(), False, "", "a session has tAbandon"),
        Column("transferred", pa.bool_(), False, "", "a session has nTransferred"),
        Column("handled", pa.bool_(), False, "", "a session has tHandle"),
        Column("speed_of_answer_ms", pa.int64(), True, "ms", "the smallest tAnswered (§4)"),
        Column("wait_ms", pa.int64(), False, "ms", "the sum of tAcd"),
        Column("talk_ms", pa.int64(), False, "ms", "the sum of tTalk"),
        Column("hold_ms", pa.int64(), False, "ms", "the sum of tHeld"),
        Column("acw_ms", pa.int64(), False, "ms", "the sum of tAcw"),
        Column("handle_ms", pa.int64(), False, "ms", "the sum of tHandle"),
        Column(
            "duration_ms",
            pa.int64(),
            True,
            "ms",
            "conversationEnd - conversationStart; null while ongoing",
        ),
    ),
    "start_time",
    "one row per conversation that started in the period, with the conversation grain's "
    "facts (report-semantics §2, §4)",
)

TABLES = {table.name: table for table in (EVENTS, CONVERSATIONS)}
