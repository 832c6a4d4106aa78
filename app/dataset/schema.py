"""The dataset's tables: a fixed, versioned schema, the one place their columns are defined.

Every column has its Arrow type, whether it may be null, its unit and what it means; the
writer, the DDL of each engine and the README's table are all made from this. Adding a column
at the end is a minor change (engines read old files with nulls); anything else is a new
``SCHEMA_VERSION``, written into every file's metadata.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from app.settings import DATASET_TABLES

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
        Column("direction", pa.string(), True, "", "originating direction of the conversation"),
        Column("division_id", _ID, True, "", "first division of the conversation"),
        Column("wrapup_code", _ID, True, "", "the wrap-up code id"),
    )


_PERIOD = Column(
    "period",
    pa.string(),
    False,
    "",
    "label of the period whose run wrote the row (2024-05-01, 2024-W18, ...): a manual run over "
    "other bounds is a period of its own",
)
_REPORT = Column(
    "report",
    pa.string(),
    False,
    "",
    "the report whose run wrote the row (filter on it: two reports may hold the same events)",
)
# Every table's first columns: whose run wrote the row, and of which conversation.
_KEYS = (_REPORT, _PERIOD, Column("conversation_id", _ID, False, "", "the conversation"))

EVENTS = Table(
    "events",
    (
        *_KEYS,
        Column("session_id", _ID, True, "", "the session that emitted the metric"),
        Column(
            "purpose", pa.string(), True, "", "purpose of the participant (customer, acd, agent)"
        ),
        Column("emit_time", _TIME, False, "UTC", "when the metric was emitted (emitDate)"),
        Column("metric", pa.string(), False, "", "the Genesys metric (nOffered, tHandle, ...)"),
        Column("value", pa.int64(), False, "ms for t*, a count for n*", "value of the metric"),
        *_ids(),
    ),
    "emit_time",
    "one row per metric event the interval grain counted (report-semantics §1-§3): the "
    "events emitted in the period that passed the filters of the report",
)

CONVERSATIONS = Table(
    "conversations",
    (
        *_KEYS,
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
    "one row per conversation that started in the period, with the facts of the conversation "
    "grain (report-semantics §2, §4)",
)

TABLES = {table.name: table for table in (EVENTS, CONVERSATIONS)}
if tuple(TABLES) != DATASET_TABLES:  # the settings name the tables without loading pyarrow
    raise RuntimeError(f"schema tables {tuple(TABLES)} differ from settings {DATASET_TABLES}")
