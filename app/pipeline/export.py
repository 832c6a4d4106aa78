"""Export files (CSV, JSON, NDJSON, each optionally gzipped) and their all-or-nothing commit.

A run either produces a complete, correct report or fails; it never leaves a partial one. So
every file is written into a private staging directory beside the final one, and
``Staging.commit`` moves the files into place and writes ``manifest.json`` last: a period is done
exactly when its manifest exists (ARCHITECTURE.md, "state that matters lives with the output").

Disk I/O goes through aiofiles (the executor), so the event loop never waits on the disk; hashing
and compression of each chunk run in a worker thread too. Each file's ``sha256`` and ``bytes``
are computed from exactly the bytes handed to the file, so they always describe what is on disk.
Gzip output has ``mtime=0`` and no file name in its header, so re-running a period with the same
data gives byte-identical files and checksums.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import gzip
import hashlib
import io
import logging
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import aiofiles
import aiofiles.os
import orjson
from aiofiles.threadpool.binary import AsyncBufferedIOBase

from app.cleanup import owned
from app.completion import in_thread, to_completion
from app.errors import on_disk

__all__ = [
    "CHUNK_BYTES",
    "FORMATS",
    "MANIFEST_NAME",
    "ExportedFile",
    "NdjsonWriter",
    "Staging",
    "csv_cell",
    "file_name",
    "neutral_text",
    "replace_file",
    "write_bytes",
    "write_csv",
    "write_json",
]

log = logging.getLogger(__name__)

FORMATS = ("csv", "json", "ndjson", "csv.gz", "json.gz", "ndjson.gz", "html", "xlsx")
MANIFEST_NAME = "manifest.json"
# Text is gathered into chunks of about this size before each write: big enough that aiofiles'
# executor round trip is paid rarely, small enough that memory stays flat however long the file.
CHUNK_BYTES = 1 << 20
# zlib's own default: close to level 9's size on this kind of text at a fraction of its CPU time.
_GZIP_LEVEL = 6
_FLOAT_DECIMALS = 10


@dataclass(frozen=True, slots=True)
class ExportedFile:
    """One file as written: ``bytes`` and ``sha256`` are of the bytes on disk (compressed for
    ``.gz``), ``rows`` counts data rows (CSV without its header, JSON rows, NDJSON objects)."""

    format: str
    name: str
    rows: int
    bytes: int
    sha256: str


def file_name(report: str, period_label: str, fmt: str) -> str:
    """``queue-daily_2024-05-01.csv.gz``"""
    _check_format(fmt, FORMATS)
    return f"{report}_{period_label}.{fmt}"


# --- writers ---------------------------------------------------------------------------------


async def write_csv(
    path: Path,
    columns: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    *,
    fmt: str,
    neutralise_formulas: bool = True,
) -> ExportedFile:
    """RFC 4180 CSV in UTF-8 without a BOM: a header row, then one line per row with the values
    of ``columns`` in that order, formatted by ``csv_cell``. A row lacking a column is a bug
    upstream and raises ``KeyError`` rather than writing a silently empty cell."""
    _check_format(fmt, ("csv", "csv.gz"))
    guard = neutralise_formulas
    text = io.StringIO()
    # QUOTE_MINIMAL: only cells holding a comma, a quote or a line break are quoted.
    writer = csv.writer(text, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow([csv_cell(column, neutralise_formulas=guard) for column in columns])
    count = 0
    async with _Sink(path, fmt) as sink:
        for row in rows:
            writer.writerow([csv_cell(row[c], neutralise_formulas=guard) for c in columns])
            count += 1
            if text.tell() >= CHUNK_BYTES:  # characters, not bytes: "about 1 MiB" is enough
                await sink.write(text.getvalue().encode("utf-8"))
                text.seek(0)
                text.truncate()
        await sink.write(text.getvalue().encode("utf-8"))
        return await sink.finish(rows=count)


async def write_json(
    path: Path, document: Mapping[str, Any], *, fmt: str, rows: int
) -> ExportedFile:
    """The document as compact JSON plus a trailing newline. ``rows`` is recorded as given (the
    caller knows which list holds the rows)."""
    _check_format(fmt, ("json", "json.gz"))
    # orjson holds the GIL while it runs, so a thread would not free the loop; a report
    # document holds aggregated groups, not conversations, and is small.
    data = orjson.dumps(document, default=_json_default, option=orjson.OPT_APPEND_NEWLINE)
    async with _Sink(path, fmt) as sink:
        for offset in range(0, len(data), CHUNK_BYTES):
            await sink.write(data[offset : offset + CHUNK_BYTES])
        return await sink.finish(rows=rows)


async def write_bytes(path: Path, data: bytes, *, fmt: str, rows: int) -> ExportedFile:
    """A file rendered whole in memory (an HTML page, a workbook), written, fsynced and
    recorded like every export."""
    _check_format(fmt, ("html", "xlsx"))
    async with _Sink(path, fmt) as sink:
        for offset in range(0, len(data), CHUNK_BYTES):
            await sink.write(data[offset : offset + CHUNK_BYTES])
        return await sink.finish(rows=rows)


class NdjsonWriter:
    """Streams one JSON object per line (the per-conversation facts), buffered in chunks of
    about ``CHUNK_BYTES`` so the disk is not visited per line. Leaving the block without
    ``finish()`` (an exception, a cancellation) closes and deletes the partial file."""

    def __init__(self, path: Path, *, fmt: str) -> None:
        _check_format(fmt, ("ndjson", "ndjson.gz"))
        self._sink = _Sink(path, fmt)
        self._buffer = bytearray()
        self._rows = 0

    async def __aenter__(self) -> NdjsonWriter:
        await self._sink.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._sink.__aexit__(exc_type, exc, tb)

    async def write(self, obj: Mapping[str, Any]) -> None:
        self._buffer += orjson.dumps(obj, default=_json_default, option=orjson.OPT_APPEND_NEWLINE)
        self._rows += 1
        if len(self._buffer) >= CHUNK_BYTES:
            await self._sink.write(bytes(self._buffer))
            self._buffer.clear()

    async def finish(self) -> ExportedFile:
        """Flush, fsync and close the file; its record counts the objects written."""
        await self._sink.write(bytes(self._buffer))
        self._buffer.clear()
        return await self._sink.finish(rows=self._rows)


def csv_cell(value: Any, *, neutralise_formulas: bool = True) -> str:
    """The text of one CSV cell.

    ``None`` and non-finite floats are empty (the JSON export writes both as ``null``); lists are
    joined with ``"; "``; booleans are ``true``/``false``; floats are written in plain decimal
    notation with at most 10 decimals and no trailing zeros (``0.8123``, ``12.5``, ``3``), never
    in scientific notation, which spreadsheets and ``COPY`` imports read inconsistently.

    Text that a spreadsheet would run as a formula (a queue named ``=HYPERLINK(...)``) is
    neutralised by ``neutral_text`` unless ``neutralise_formulas`` is false; numbers are never
    touched, so ``-42`` stays a number while the text ``"-42"`` does not.
    """
    if value is None:
        return ""
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _decimal(value)
    if isinstance(value, str):
        return neutral_text(value) if neutralise_formulas else value
    if isinstance(value, list | tuple):
        # The joined text is one cell: only its start can be read as a formula.
        joined = "; ".join(csv_cell(item, neutralise_formulas=False) for item in value)
        return neutral_text(joined) if neutralise_formulas and value else joined
    raise TypeError(f"cannot write a {type(value).__name__} to a CSV cell: {value!r}")


# OWASP's CSV-injection rule: a cell starting with one of these is read as a formula (or, for
# tab and carriage return, can hide one) by Excel, LibreOffice and Google Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutral_text(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would otherwise run it as a formula; the
    apostrophe makes the cell literal text in every common spreadsheet and is visible in a text
    editor, so nothing is hidden."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _decimal(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        return ""
    text = f"{value:.{_FLOAT_DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _json_default(obj: Any) -> Any:
    # orjson serialises dict but not other Mappings (e.g. MappingProxyType); the signatures here
    # promise Mapping, so honour it.
    if isinstance(obj, Mapping):
        return dict(obj)
    raise TypeError(f"cannot write a {type(obj).__name__} as JSON")


def _check_format(fmt: str, allowed: Sequence[str]) -> None:
    if fmt not in allowed:
        raise ValueError(f"unknown export format {fmt!r}: expected one of {', '.join(allowed)}")


class _Sink:
    """The bytes of one new file: optionally gzipped, hashed and counted exactly as written.

    Opened with ``"xb"``: a name written twice is a bug, and since the sink only ever removes a
    file it created itself, cleaning up after a failure cannot destroy anything older.
    """

    def __init__(self, path: Path, fmt: str) -> None:
        self.path = path
        self.format = fmt
        self._compressed = io.BytesIO()
        # Written into a nameless BytesIO, so the header carries no file name; with mtime=0 it
        # carries no time either: equal content, equal bytes.
        self._gzip = (
            gzip.GzipFile(fileobj=self._compressed, mode="wb", compresslevel=_GZIP_LEVEL, mtime=0)
            if fmt.endswith(".gz")
            else None
        )
        self._digest = hashlib.sha256()
        self._size = 0
        self._file: AsyncBufferedIOBase | None = None
        self._finished = False

    async def __aenter__(self) -> _Sink:
        with on_disk(f"creating {self.path}"):
            opening = asyncio.ensure_future(aiofiles.open(self.path, "xb"))
            try:
                self._file = await to_completion(opening)
            except asyncio.CancelledError:
                if not opening.cancelled() and opening.exception() is None:
                    self._file = opening.result()  # opened as the run was cancelled: undo it
                    await self._discard()
                raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._finished:
            await self._discard()

    async def write(self, data: bytes) -> None:
        if data:
            # Compressing and hashing a chunk is milliseconds of CPU; a thread keeps the loop
            # free (zlib and hashlib release the GIL on large buffers).
            encoded = await in_thread(self._encode, data)
            with on_disk(f"writing {self.path}"):
                await self._emit(encoded)

    async def finish(self, *, rows: int) -> ExportedFile:
        """Write the gzip trailer, flush and fsync (the manifest will vouch for these bytes, so
        they must be on disk before it is), close; return the file's record."""
        file = self._opened()
        with on_disk(f"writing {self.path}"):
            if self._gzip is not None:
                await self._emit(await in_thread(self._close_gzip, self._gzip))
            await to_completion(file.flush())
            await in_thread(os.fsync, file.fileno())
            await to_completion(file.close())
        self._finished = True
        return ExportedFile(
            format=self.format,
            name=self.path.name,
            rows=rows,
            bytes=self._size,
            sha256=self._digest.hexdigest(),
        )

    def _encode(self, data: bytes) -> bytes:
        if self._gzip is not None:
            self._gzip.write(data)
            data = self._take_compressed()
        self._digest.update(data)  # exactly the bytes the file gets, in the order it gets them
        return data

    def _close_gzip(self, compressor: gzip.GzipFile) -> bytes:
        compressor.close()  # writes the CRC and size trailer; leaves the BytesIO open
        trailer = self._take_compressed()
        self._digest.update(trailer)
        return trailer

    def _take_compressed(self) -> bytes:
        out = self._compressed.getvalue()
        self._compressed.seek(0)
        self._compressed.truncate()
        return out

    async def _emit(self, data: bytes) -> None:
        if data:
            await to_completion(self._opened().write(data))
            self._size += len(data)

    def _opened(self) -> AsyncBufferedIOBase:
        if self._file is None:
            raise RuntimeError(f"{self.path} is not open: use the writer in an 'async with'")
        return self._file

    async def _discard(self) -> None:
        # Runs while another exception propagates: cleanup failures must not replace it.
        if self._file is not None:
            with contextlib.suppress(OSError):
                await to_completion(self._file.close())
        with contextlib.suppress(FileNotFoundError):
            await aiofiles.os.remove(self.path)


# --- staging and commit ----------------------------------------------------------------------


class Staging:
    """A private staging directory beside the final one; files are written there, then moved into
    place by commit(); if the block exits with an exception (or commit is never called), the
    staging directory and everything in it is removed and the final directory is untouched.

    The staging directory is a sibling (``.{final}.staging-{run_id}``), on the same file system,
    so each move into place is an atomic ``os.replace``, never a copy.
    """

    def __init__(
        self,
        final_dir: Path,
        run_id: str,
        *,
        file_mode: int = 0o640,
        directory_mode: int = 0o750,
    ) -> None:
        _check_plain_name(final_dir.name)
        staging_name = f".{final_dir.name}.staging-{run_id}"
        _check_plain_name(staging_name)  # a run id with "/" would escape the parent
        self.final_dir = final_dir
        self.run_id = run_id
        self.directory = final_dir.parent / staging_name
        self._committed = False
        self._owner = contextlib.ExitStack()
        self.file_mode = file_mode
        self.directory_mode = directory_mode

    async def __aenter__(self) -> Staging:
        # Not exist_ok: a directory with this run id already there is another run's (or a reused
        # id), and sharing it would mix two runs' files.
        with on_disk(f"creating the staging directory {self.directory}"):
            await aiofiles.os.makedirs(self.directory)
            self.directory.chmod(self.directory_mode)  # exact, whatever the umask
            # Held while the run lives, so a later start can tell this directory from a dead
            # run's.
            try:
                self._owner.enter_context(owned(self.directory))
            except BaseException:
                await _remove_quietly(self.directory)
                raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._owner.close()
        if self._committed:
            return
        if exc_type is None:
            await _remove_tree(self.directory)
        else:  # never let a cleanup error hide why the run failed
            await _remove_quietly(self.directory)

    def path(self, name: str) -> Path:
        """Where to write the export called ``name`` (a plain file name)."""
        _check_plain_name(name)
        if name == MANIFEST_NAME:
            raise ValueError(f"{MANIFEST_NAME!r} is written by commit(), not as an export")
        return self.directory / name

    async def commit(self, files: Sequence[ExportedFile], manifest: Mapping[str, Any]) -> Path:
        """Move ``files`` into the final directory, then write ``manifest`` beside them.

        Order matters, because the manifest's presence is what marks a period done. Every byte
        (the manifest included) is written and fsynced in the staging directory first, so a
        full disk fails the run before the final directory is touched. Then an existing
        manifest is moved aside (while a re-run replaces a done period, the period must not
        look done), each file is moved in (atomically; an older copy is moved aside first), and
        the new manifest appears last, itself atomically. If any of that fails, every move is
        undone: the earlier report, if any, is back in place and still marked done. A
        cancellation waits for this to finish either way. Returns the manifest's path.
        """
        if self._committed:
            raise RuntimeError(f"{self.directory} was already committed")
        names = [self.path(f.name).name for f in files]
        if len(set(names)) != len(names):
            raise ValueError(f"an export name appears twice: {sorted(names)}")
        for name in names:
            if not await aiofiles.os.path.isfile(self.directory / name):
                raise FileNotFoundError(f"{name} was not written to {self.directory}")
        body = orjson.dumps(
            manifest,
            default=_json_default,
            option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE,  # read by people too
        )
        temp = self.directory / f".{MANIFEST_NAME}.{self.run_id}.tmp"
        async with _Sink(temp, "json") as sink:  # flushed and fsynced like every export
            await sink.write(body)
            await sink.finish(rows=0)
        with on_disk(f"setting the mode of the files in {self.directory}"):
            for name in [*names, temp.name]:
                (self.directory / name).chmod(self.file_mode)
        with on_disk(f"moving the report into {self.final_dir}"):
            manifest_path = await to_completion(self._move_into_place(names, temp))
        self._committed = True
        self._owner.close()

        try:
            await _remove_tree(self.directory)
        except OSError as exc:  # the report is complete; a stray hidden directory is not fatal
            log.warning("could not remove the staging directory %s: %s", self.directory, exc)
        return manifest_path

    async def _move_into_place(self, names: Sequence[str], temp: Path) -> Path:
        final = self.final_dir
        manifest_path = final / MANIFEST_NAME
        done: list[tuple[Path, Path]] = []  # the renames made, to undo on failure

        async def move(source: Path, target: Path) -> None:
            await aiofiles.os.replace(source, target)
            done.append((source, target))

        try:
            if not await aiofiles.os.path.isdir(final):
                await aiofiles.os.makedirs(final, exist_ok=True)
                final.chmod(self.directory_mode)
            if await aiofiles.os.path.exists(manifest_path):
                await move(manifest_path, self.directory / f"{_ASIDE}{MANIFEST_NAME}")
            # Durable before any file changes: after a crash the period must not look done
            # with half-replaced files.
            await _fsync_directory(final)
            for name in names:
                if await aiofiles.os.path.exists(final / name):
                    await move(final / name, self.directory / f"{_ASIDE}{name}")
                await move(self.directory / name, final / name)
            # The renames must be durable before the manifest vouches for the files.
            await _fsync_directory(final)
            await move(temp, manifest_path)
            await _fsync_directory(final)
        except BaseException:
            await _undo(done, final)
            raise
        return manifest_path


_ASIDE = ".previous."  # prefix, in the staging directory, of what a commit replaces


async def _undo(done: Sequence[tuple[Path, Path]], final: Path) -> None:
    """Reverse the renames, newest first; runs while the commit's error propagates."""
    for source, target in reversed(done):
        try:
            await aiofiles.os.replace(target, source)
        except OSError as exc:
            log.error("could not move %s back to %s: %s", target, source, exc)
    with contextlib.suppress(OSError):
        await _fsync_directory(final)


def _check_plain_name(name: str) -> None:
    # Names end up as path components (and S3 keys): nothing that could climb out or nest.
    if name in ("", ".", "..") or any(sep in name for sep in ("/", "\\", "\0")):
        raise ValueError(f"not a plain file name: {name!r}")


async def _remove_quietly(path: Path) -> None:
    # On failure paths: a clean-up error must never replace the error being raised.
    await asyncio.to_thread(shutil.rmtree, path, ignore_errors=True)


async def _remove_tree(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        await asyncio.to_thread(shutil.rmtree, path)


async def replace_file(path: Path, body: bytes) -> None:
    """Replace ``path`` with ``body`` atomically and durably: a temporary file beside it, with
    the mode ``path`` has now, written and fsynced, renamed over it, the directory fsynced. A
    reader sees the old bytes or the new, never a mixture; a crash leaves one of the two."""

    def write() -> None:
        temporary = path.with_name(f".{path.name}.{os.getpid()}.replacing")
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o640
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            try:
                os.fchmod(fd, mode)  # exact, whatever the umask
                view = memoryview(body)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            temporary.replace(path)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise

    with on_disk(f"rewriting {path}"):
        await asyncio.to_thread(write)
        await _fsync_directory(path.parent)


async def _fsync_directory(path: Path) -> None:
    """Make the directory's entries (creations, renames, removals) durable."""

    def sync() -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    await asyncio.to_thread(sync)
