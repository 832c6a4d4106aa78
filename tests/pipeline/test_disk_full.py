"""A disk that fills up (or fails) under a run: the run fails with a StorageError naming the file
and the reason, nothing partial reaches the final location, and a done period stays done.

The disk is modelled at the file-object boundary: ``FullDisk`` lets writes under a directory
through until ``free`` bytes have been written, then writes what still fits and fails with
ENOSPC, as a full file system does. The whole run (sandbox over 127.0.0.1, spools, merge,
exports, commit) is real; the command-line test at the end has the kernel itself refuse the
writes (RLIMIT_FSIZE)."""

from __future__ import annotations

import errno
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiofiles
import pytest

from app.errors import StorageError
from app.pipeline import spool
from app.pipeline.run import RunOutcome, run_report
from app.settings import Settings
from tests.genesys.conftest import Connect, Connected
from tests.pipeline.test_run import PERIOD, REPO, _config, _files

FORMATS = ["csv", "json.gz", "ndjson"]  # every writer: CSV, gzipped JSON, streamed NDJSON


def enospc() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class FullDisk:
    """``free`` bytes left under ``root`` for files opened with aiofiles (None: no limit, just
    count). ``written`` is what reached the disk."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, root: Path, free: int | None) -> None:
        self.root = root
        self.free = free
        self.written = 0
        real_open = aiofiles.open

        def fake_open(file: Any, *args: Any, **kwargs: Any) -> _Opening:
            return _Opening(real_open(file, *args, **kwargs), self, Path(file))

        monkeypatch.setattr(aiofiles, "open", fake_open)

    def room(self, path: Path, wanted: int) -> int:
        if not path.is_relative_to(self.root) or self.free is None:
            return wanted
        return max(0, min(wanted, self.free - self.written))


class _Opening:
    """Both ways aiofiles.open is used: awaited, and as an async context manager."""

    def __init__(self, opening: Any, disk: FullDisk, path: Path) -> None:
        self._opening = opening
        self._disk = disk
        self._path = path
        self._file: _File | None = None

    def __await__(self) -> Any:
        return self._open().__await__()

    async def _open(self) -> _File:
        return _File(await self._opening, self._disk, self._path)

    async def __aenter__(self) -> _File:
        self._file = await self._open()
        return self._file

    async def __aexit__(self, *exc: object) -> None:
        assert self._file is not None
        await self._file.close()


class _File:
    def __init__(self, file: Any, disk: FullDisk, path: Path) -> None:
        self._file = file
        self._disk = disk
        self._path = path

    async def write(self, data: bytes) -> int:
        fits = self._disk.room(self._path, len(data))
        await self._file.write(data[:fits])
        self._disk.written += fits
        if fits < len(data):
            raise enospc()
        return fits

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


def _settings(tmp_path: Path, fetch: str = "query") -> Settings:
    return Settings.model_validate(
        {
            "storage": {
                "directory": str(tmp_path / "reports"),
                "spool_directory": str(tmp_path / "spool"),
            },
            "reports": [
                {
                    "name": "numbers",
                    "timezone": "UTC",
                    "group_by": ["queue_id", "agent_id"],
                    "metrics": ["conversations", "answered", "avg_handle_seconds"],
                    "fetch": fetch,
                    "formats": FORMATS,
                }
            ],
        }
    )


async def _run(connect: Connect, settings: Settings) -> RunOutcome:
    connected = await connect(sandbox={"volume": {"peak_per_hour": 120}})
    return await run_report(settings, settings.reports[0], PERIOD, connected.client)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _assert_nothing_left(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    assert _files(reports) == []
    assert not [p for p in reports.rglob("*") if "staging" in p.name]
    assert list((tmp_path / "spool").iterdir()) == []


async def _reference_bytes(
    connect: Connect, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, int]:
    """What a complete run writes under its reports directory, counted by the same model, and
    how much of that is the manifest."""
    settings = _settings(tmp_path / "reference")
    (tmp_path / "reference" / "spool").mkdir(parents=True)
    with monkeypatch.context() as patch:
        disk = FullDisk(patch, tmp_path / "reference" / "reports", free=None)
        outcome = await _run(connect, settings)
    assert outcome.status == "succeeded" and outcome.manifest_path is not None
    on_disk = sum(p.stat().st_size for p in (tmp_path / "reference" / "reports").rglob("*.*"))
    assert disk.written == on_disk  # the model sees every byte the run writes
    return disk.written, outcome.manifest_path.stat().st_size


@pytest.mark.parametrize(
    ("share", "failing"),
    [
        (0.0, "numbers_"),  # the first export, not one byte of room
        (0.3, "numbers_"),  # part way through the exports
        (0.7, "numbers_"),
        (None, "manifest.json"),  # every export fits, the manifest does not
    ],
)
async def test_a_full_disk_fails_the_run_and_leaves_nothing(
    connect: Connect,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    share: float | None,
    failing: str,
) -> None:
    total, manifest = await _reference_bytes(connect, tmp_path, monkeypatch)
    # None: the exports fit and 40 bytes of the manifest do (the manifest's length varies a
    # little with timings and request counts; it is well over a kilobyte).
    free = total - manifest + 40 if share is None else int(total * share)
    settings = _settings(tmp_path)
    (tmp_path / "spool").mkdir()
    disk = FullDisk(monkeypatch, tmp_path / "reports", free=free)

    with pytest.raises(StorageError) as caught:
        await _run(connect, settings)

    message = str(caught.value)
    assert message.startswith("writing ") and message.endswith(": No space left on device")
    assert str(tmp_path / "reports") in message and failing in message
    assert disk.written == free  # the disk really was filled to the last byte
    _assert_nothing_left(tmp_path)


@pytest.mark.parametrize("runs_out_in", ["exports", "manifest"])
async def test_a_full_disk_on_a_rerun_keeps_the_done_period_whole(
    connect: Connect, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runs_out_in: str
) -> None:
    settings = _settings(tmp_path)
    (tmp_path / "spool").mkdir()
    first = await _run(connect, settings)
    assert first.manifest_path is not None
    before = _snapshot(tmp_path / "reports")
    exports = sum(len(b) for name, b in before.items() if not name.endswith("manifest.json"))
    # Half the exports, or all of them and 10 bytes of a manifest of several hundred.
    free = exports // 2 if runs_out_in == "exports" else exports + 10

    FullDisk(monkeypatch, tmp_path / "reports", free=free)
    with pytest.raises(StorageError, match="No space left on device") as caught:
        await _run(connect, settings)
    assert ("manifest.json" in str(caught.value)) == (runs_out_in == "manifest")

    # Every byte of the re-run is written before the final directory is touched: the earlier
    # report, manifest included, is still there and still says the period is done.
    assert _snapshot(tmp_path / "reports") == before
    assert "manifest.json" in {Path(name).name for name in before}
    assert list((tmp_path / "spool").iterdir()) == []


async def test_a_failing_fsync_fails_the_run(
    connect: Connect, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Delayed allocation and network file systems report a full disk at fsync, not write."""
    settings = _settings(tmp_path)
    (tmp_path / "spool").mkdir()
    real_fsync = os.fsync
    calls: list[int] = []

    def fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:  # the second export
            raise enospc()
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(StorageError, match=r"^writing .*numbers_.*: No space left on device$"):
        await _run(connect, settings)
    assert len(calls) == 2
    _assert_nothing_left(tmp_path)


def _fail_the_nth_append(monkeypatch: pytest.MonkeyPatch, nth: int) -> list[Path]:
    real_append = spool._append
    appended: list[Path] = []

    def append(path: Path, data: bytes) -> None:
        appended.append(path)
        if len(appended) == nth:  # half the page reaches the disk, then it is full
            real_append(path, data[: len(data) // 2])
            raise enospc()
        real_append(path, data)

    monkeypatch.setattr(spool, "_append", append)
    return appended


async def test_a_full_spool_disk_fails_the_run_and_names_the_spool(
    connect: Connect, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)
    (tmp_path / "spool").mkdir()
    appended = _fail_the_nth_append(monkeypatch, 3)  # a few windows in
    with pytest.raises(StorageError) as caught:
        await _run(connect, settings)
    message = str(caught.value)
    assert message.startswith(f"spooling fetched pages to {tmp_path / 'spool'}")
    assert message.endswith(": No space left on device")
    assert len(appended) >= 3
    _assert_nothing_left(tmp_path)


async def test_a_full_spool_disk_still_deletes_the_async_job_before_the_run_returns(
    connect: Connect, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path, fetch="jobs")
    (tmp_path / "spool").mkdir()
    _fail_the_nth_append(monkeypatch, 1)
    connected: list[Connected] = []

    async def run() -> None:
        connected.append(
            await connect(
                sandbox={"volume": {"peak_per_hour": 120}, "jobs": {"delay": "PT0.05S"}},
                genesys={"job_poll_interval": "PT0.02S"},
            )
        )
        await run_report(settings, settings.reports[0], PERIOD, connected[0].client)

    with pytest.raises(StorageError, match="No space left on device"):
        await run()
    # Checked the moment the run raised: a job left for the garbage collector to delete
    # would find the client closed by then.
    sandbox = connected[0].sandbox
    submitted = [r for r in sandbox.requests("jobs_submit") if r.status == 202]
    deleted = [r for r in sandbox.requests("jobs_delete") if r.status in (200, 202, 204)]
    assert len(submitted) == 1 and len(deleted) == 1
    _assert_nothing_left(tmp_path)


def test_the_command_line_names_the_disk_error_and_exits_1(tmp_path: Path) -> None:
    """The kernel refuses the writes (a 4 KiB file size limit): exit 1, one line naming the
    file and the reason, no traceback, nothing in the reports directory."""
    config = _config(tmp_path, storage={"spool_directory": str(tmp_path / "spool")})
    (tmp_path / "spool").mkdir()

    def limit_file_size() -> None:  # Python ignores SIGXFSZ: writes past it fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    result = subprocess.run(
        [sys.executable, "-m", "app", "run", "--config", str(config), "--report", "queue-daily"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"},
        preexec_fn=limit_file_size,
        timeout=240,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"spooling fetched pages to {tmp_path / 'spool'}" in result.stderr
    assert "File too large" in result.stderr
    reports = tmp_path / "reports"
    assert not reports.exists() or _files(reports) == []
    assert list((tmp_path / "spool").iterdir()) == []


async def test_a_reports_directory_that_is_a_file_is_named(
    connect: Connect, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    (tmp_path / "spool").mkdir()
    (tmp_path / "reports").write_text("not a directory")
    with pytest.raises(StorageError) as caught:
        await _run(connect, settings)
    assert str(caught.value) == (
        f"creating the reports directory {tmp_path / 'reports'}: "
        "not a directory (storage.directory)"
    )


async def test_a_missing_spool_directory_is_named(connect: Connect, tmp_path: Path) -> None:
    settings = _settings(tmp_path)  # its spool directory was never created
    with pytest.raises(StorageError) as caught:
        await _run(connect, settings)
    message = str(caught.value)
    assert message.startswith(f"creating a spool directory in {tmp_path / 'spool'}: ")
    assert "No such file or directory" in message
    assert _files(tmp_path / "reports") == []
