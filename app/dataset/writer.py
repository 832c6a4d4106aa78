"""Rows of one report run into Parquet files, one per table and UTC date, in a staging
directory; ``store.py`` moves them into the dataset.

Memory stays flat in the number of rows: each partition buffers at most ``PART_ROWS`` rows (and
all of them together ``RUN_ROWS``) before they are encoded and appended to its file as a row
group, so a long period costs the same memory per partition as a short one. Files are zstd-
compressed, with dictionary encoding for the repetitive string columns (ids, metric names), and
carry the schema version in their metadata.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from app.dataset.schema import CONVERSATIONS, EVENTS, PARTITION_COLUMN, Table
from app.pipeline.events import Event
from app.pipeline.facts import Facts

__all__ = ["PART_ROWS", "RUN_ROWS", "DatasetFile", "DatasetWriter", "relative_path"]

PART_ROWS = 65_536  # rows per row group, at most: about DuckDB's own, small enough to buffer
RUN_ROWS = 131_072  # rows buffered over every partition of a run before all are written out
_MS_PER_DAY = 86_400_000
_COMPRESSION = "zstd"


@dataclass(frozen=True, slots=True)
class DatasetFile:
    """One written file: its place under the dataset root, rows, bytes and SHA-256."""

    table: str
    date: str
    path: str  # relative: events/date=2024-05-01/queue-daily_2024-05-01.parquet
    rows: int
    bytes: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def relative_path(table: str, date: str, report: str, label: str) -> str:
    """``events/date=2024-05-01/queue-daily_2024-05-01.parquet``: a period's file in a
    partition is named by report and period, so periods sharing a UTC date never collide."""
    return f"{table}/{PARTITION_COLUMN}={date}/{report}_{label}.parquet"


@dataclass(slots=True)
class _Partition:
    table: Table
    path: Path
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    written: int = 0
    writer: pq.ParquetWriter | None = None

    def flush(self) -> None:
        if not self.rows:
            return
        columns = list(zip(*self.rows, strict=True))
        arrays = [
            pa.array(values, type=column.type)
            for values, column in zip(columns, self.table.columns, strict=True)
        ]
        batch = pa.Table.from_arrays(arrays, schema=self.table.schema)
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(
                self.path,
                self.table.schema,
                compression=_COMPRESSION,
                use_dictionary=True,
                write_statistics=True,
            )
        self.writer.write_table(batch, row_group_size=PART_ROWS)
        self.written += len(self.rows)
        self.rows.clear()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class DatasetWriter:
    """Buffers a run's rows by (table, UTC date) and writes them as Parquet under ``staging``.

    ``add_events`` and ``add_facts`` only buffer (cheap, on the event loop); ``flush_due`` says
    when ``flush`` (encoding and compression: run it in a thread) should be called. ``close``
    without ``finish`` leaves partial files for the caller to delete with the staging directory.
    """

    def __init__(self, staging: Path, report: str, label: str, tables: Iterable[str]) -> None:
        self.staging = staging
        self.report = report
        self.label = label
        self.tables = frozenset(tables)
        self._parts: dict[tuple[str, str], _Partition] = {}
        self._buffered = 0
        self._full = False  # a partition holds PART_ROWS rows
        self._dates: dict[int, str] = {}

    def add_events(self, events: Iterable[Event]) -> None:
        if "events" not in self.tables:
            return
        report, label = self.report, self.label
        for e in events:
            self._add(
                EVENTS,
                e.emit_ms,
                (
                    report,
                    label,
                    e.conversation_id,
                    e.session_id,
                    e.purpose,
                    e.emit_ms,
                    e.name,
                    e.value,
                    e.queue_id,
                    e.agent_id,
                    e.media_type,
                    e.direction,
                    e.division_id,
                    e.wrapup_code,
                ),
            )

    def add_facts(self, f: Facts) -> None:
        if "conversations" not in self.tables:
            return
        self._add(
            CONVERSATIONS,
            f.start_ms,
            (
                self.report,
                self.label,
                f.conversation_id,
                f.start_ms,
                f.ended,
                f.queue_id,
                f.agent_id,
                f.media_type,
                f.direction,
                f.division_id,
                f.wrapup_code,
                bool(f.offered),
                bool(f.answered),
                bool(f.abandoned),
                bool(f.transferred),
                bool(f.handled),
                f.speed_of_answer_ms,
                f.wait_ms,
                f.talk_ms,
                f.hold_ms,
                f.acw_ms,
                f.handle_ms,
                f.duration_ms,
            ),
        )

    @property
    def flush_due(self) -> bool:
        return self._full or self._buffered >= RUN_ROWS

    def flush(self) -> None:
        """Write out every full partition; once the run's buffer is full, also the largest
        partitions until it is half empty (small partitions keep buffering, so they are not
        cut into tiny row groups)."""
        for part in sorted(self._parts.values(), key=lambda p: len(p.rows), reverse=True):
            if len(part.rows) < PART_ROWS and self._buffered <= RUN_ROWS // 2:
                break
            self._buffered -= len(part.rows)
            part.flush()
        self._full = False

    def finish(self) -> list[DatasetFile]:
        """Write what is buffered, close every file; the files' records, sorted by path."""
        files = []
        for (table, date), part in sorted(self._parts.items()):
            self._buffered -= len(part.rows)
            part.flush()
            part.close()
            with part.path.open("rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
            files.append(
                DatasetFile(
                    table=table,
                    date=date,
                    path=str(part.path.relative_to(self.staging)),
                    rows=part.written,
                    bytes=part.path.stat().st_size,
                    sha256=digest,
                )
            )
        return files

    def close(self) -> None:
        for part in self._parts.values():
            part.close()

    def _add(self, table: Table, ms: int, row: tuple[Any, ...]) -> None:
        day = ms // _MS_PER_DAY
        date = self._dates.get(day)
        if date is None:
            date = self._dates[day] = datetime.fromtimestamp(day * 86_400, UTC).date().isoformat()
        key = (table.name, date)
        part = self._parts.get(key)
        if part is None:
            path = self.staging / relative_path(table.name, date, self.report, self.label)
            part = self._parts[key] = _Partition(table, path)
        part.rows.append(row)
        self._buffered += 1
        if len(part.rows) >= PART_ROWS:
            self._full = True
