"""Window spools: pages go to disk as they arrive, and each window's spool ends sorted.

A spool line is NDJSON: ``[start_ms, "conversationId", {record}]``. Carrying the sort key in
front lets the merge order lines without trusting the record's own timestamp format, and keeps
every line a plain JSON value.

Each page is sorted on its own (a page is small) and appended as a *run*; when the window is
complete its runs are merged into the window's sorted spool, reading each run lazily from disk.
Memory therefore stays at about one page per run being merged, never a window's or a period's
worth of records.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from app.completion import in_thread
from app.errors import on_disk
from app.pipeline.facts import instant_ms

_FLUSH_BYTES = 1 << 20
_DECODER = json.JSONDecoder()


def _fan_in() -> int:
    """How many spools to merge at once: as many as the open-file limit comfortably allows
    (each level above it rewrites every byte), at most 1024."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, ValueError, OSError):
        return 128
    if soft == resource.RLIM_INFINITY:
        return 1024
    return max(16, min(1024, soft // 2 - 32))


FAN_IN = _fan_in()

Key = tuple[int, str]


def spool_line(record: Any) -> tuple[Key, bytes] | None:
    """The key and spool line of a record; None when it has no usable id or start."""
    if not isinstance(record, Mapping):
        return None
    conversation_id = record.get("conversationId")
    start = record.get("conversationStart")
    if not isinstance(conversation_id, str) or not conversation_id or not isinstance(start, str):
        return None
    try:
        start_ms = instant_ms(start)
    except ValueError:
        return None
    key = (start_ms, conversation_id)
    return key, orjson.dumps([start_ms, conversation_id, record]) + b"\n"


class WindowSpool:
    """Collects one window's pages; ``finish()`` leaves a sorted spool at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._raw = path.with_suffix(".runs")
        self._runs: list[tuple[int, int]] = []  # (offset, length) of each sorted page run
        self._offset = 0
        self._buffer = bytearray()
        self.records = 0
        self.rejected = 0  # records without a usable id or start

    async def add_page(self, conversations: list[Any]) -> None:
        lines = []
        for record in conversations:
            entry = spool_line(record)
            if entry is None:
                self.rejected += 1
            else:
                lines.append(entry)
        if not lines:
            return
        lines.sort(key=lambda entry: entry[0])
        run = b"".join(line for _, line in lines)
        self._runs.append((self._offset, len(run)))
        self._offset += len(run)
        self.records += len(lines)
        self._buffer += run
        if len(self._buffer) >= _FLUSH_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        # One thread call that opens, writes and closes: a cancellation can never leave the
        # file open (aiofiles opens in a thread the caller may stop waiting for).
        data = bytes(self._buffer)
        self._buffer.clear()
        with on_disk(f"spooling fetched pages to {self._raw}"):
            await in_thread(_append, self._raw, data)

    async def finish(self) -> Path:
        await self._flush()
        runs = list(self._runs)
        with on_disk(f"sorting the spool {self.path}"):
            await in_thread(_merge_runs, self._raw, runs, self.path)
        self._raw.unlink(missing_ok=True)
        return self.path

    def discard(self) -> None:
        self._buffer.clear()
        self._raw.unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)


def _append(path: Path, data: bytes) -> None:
    with path.open("ab") as out:
        out.write(data)


def _read_run(path: Path, offset: int, length: int) -> Iterator[tuple[Key, bytes]]:
    with path.open("rb") as handle:
        handle.seek(offset)
        remaining = length
        while remaining > 0:
            line = handle.readline()
            if not line:
                return
            remaining -= len(line)
            yield line_key(line), line


def line_key(line: bytes) -> Key:
    """The ``(start_ms, conversationId)`` in front of a spool line, without parsing the record."""
    first = line.index(b",")
    second = line.index(b'",', first)
    raw = line[first + 2 : second]
    if b"\\" in raw:
        # The id holds an escaped character (a quote, a backslash, a control character): the
        # '",' found may be inside it, so read the JSON string properly. Everything before it
        # is ASCII, so byte and character offsets agree.
        text, _ = _DECODER.raw_decode(line.decode(), first + 1)  # the id's opening quote
        return int(line[1:first]), str(text)
    return int(line[1:first]), raw.decode()


def _merge_runs(raw: Path, runs: list[tuple[int, int]], out: Path, fan_in: int = FAN_IN) -> None:
    """Merge a window's sorted runs into ``out``, at most ``fan_in`` files open at a time (a
    month-long job window has thousands of pages)."""
    parts = []
    for index in range(0, len(runs), fan_in):
        group = [_read_run(raw, offset, length) for offset, length in runs[index : index + fan_in]]
        if len(runs) <= fan_in:
            _write_merged(group, out)
            return
        target = out.with_name(f"{out.name}.part-{index // fan_in}")
        _write_merged(group, target)
        parts.append(target)
    parts = reduce_spools(parts, out.parent, fan_in, prefix=f"{out.name}.")
    _write_merged([read_spool(p) for p in parts], out)
    for part in parts:
        part.unlink(missing_ok=True)


def _write_merged(streams: list[Iterator[tuple[Key, bytes]]], target: Path) -> int:
    size = 0
    with target.open("wb") as sink:
        for _, line in heapq.merge(*streams, key=_first):
            sink.write(line)
            size += len(line)
    return size


def read_spool(path: Path) -> Iterator[tuple[Key, bytes]]:
    """The ``(key, line)`` pairs of a sorted spool, lazily."""
    with path.open("rb") as handle:
        for line in handle:
            yield line_key(line), line


def reduce_spools(
    paths: list[Path], workdir: Path, fan_in: int = FAN_IN, *, prefix: str = "period."
) -> list[Path]:
    """At most ``fan_in`` sorted spools with the same lines: groups are merged into
    intermediate spools (and their inputs deleted), so a month of hourly windows never holds
    hundreds of files open at once. Blocking file work: run it in a thread."""
    level = 0
    while len(paths) > fan_in:
        merged = []
        for index in range(0, len(paths), fan_in):
            group = paths[index : index + fan_in]
            target = workdir / f"{prefix}merge-{level}-{index // fan_in}.spool"
            _write_merged([read_spool(p) for p in group], target)
            for used in group:
                used.unlink(missing_ok=True)
            merged.append(target)
        paths, level = merged, level + 1
    return paths


def merge_spools(paths: list[Path], workdir: Path, fan_in: int = FAN_IN) -> Iterator[bytes]:
    """All lines of many sorted spools in key order (``heapq.merge``)."""
    sources = [read_spool(p) for p in reduce_spools(paths, workdir, fan_in)]
    for _, line in heapq.merge(*sources, key=_first):
        yield line


def _first(entry: tuple[Key, bytes]) -> Key:
    return entry[0]
