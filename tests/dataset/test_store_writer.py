"""The dataset's writer and local commit on their own: row groups, exact modes, stale files
found by name, the undo."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from app.dataset import writer as writer_module
from app.dataset.store import commit_local, manifest_path
from app.dataset.writer import DatasetWriter
from app.pipeline.events import Event

DAY_MS = 86_400_000
START_MS = 1_714_521_600_000  # 2024-05-01T00:00Z


def _events(days: int, per_day: int) -> Iterator[Event]:
    for day in range(days):
        for index in range(per_day):
            at = START_MS + day * DAY_MS + index
            yield Event(f"c{day}-{index}", "s", "agent", at, "tHandle", 1000 + index, "q", "a",
                        "voice", "inbound", "d", None)  # fmt: skip


def _write(staging: Path, label: str, days: int, per_day: int) -> list:  # type: ignore[type-arg]
    writer = DatasetWriter(staging, "r", label, ["events"])
    for event in _events(days, per_day):
        writer.add_events([event])
        if writer.flush_due:
            writer.flush()
    return writer.finish()


def test_a_full_buffer_writes_the_largest_partitions_not_every_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "PART_ROWS", 100)
    monkeypatch.setattr(writer_module, "RUN_ROWS", 200)
    # One big day and many small ones, interleaved as a merged stream would give them.
    writer = DatasetWriter(tmp_path, "r", "p", ["events"])
    big = _events(1, 1000)
    small = _events(30, 5)
    for event in small:
        writer.add_events([event, next(big)])
        if writer.flush_due:
            writer.flush()
    for event in big:
        writer.add_events([event])
        if writer.flush_due:
            writer.flush()
    files = writer.finish()
    groups = {
        f.date: [
            pq.ParquetFile(tmp_path / f.path).metadata.row_group(i).num_rows
            for i in range(pq.ParquetFile(tmp_path / f.path).metadata.num_row_groups)
        ]
        for f in files
    }
    assert sum(sum(g) for g in groups.values()) == 1000 + 30 * 5
    # The small days were never cut up: one row group each.
    assert all(len(g) == 1 for date, g in groups.items() if date != "2024-05-01")
    assert all(size <= 100 for g in groups.values() for size in g)


def test_a_commit_sets_exact_modes_removes_the_period_s_stale_files_and_no_others(
    tmp_path: Path,
) -> None:
    root = tmp_path / "dataset"
    first = _write(tmp_path / "s1", "p", 3, 4)
    old_umask = os.umask(0)  # a umask that would leave directories world-writable
    try:
        commit_local(root, tmp_path / "s1", first, {"report": "r", "period": "p", "files": []})
    finally:
        os.umask(old_umask)
    for path in [root, root / "events", *root.glob("events/*"), root / "_manifests"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o750, path
    assert {stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*.parquet")} == {0o640}
    # Another period's file in the same partition, and an unreadable old manifest.
    other = root / "events" / "date=2024-05-01" / "r_other.parquet"
    other.write_bytes(b"another period")
    manifest_path(root, "r", "p").write_text("{not json")
    second = _write(tmp_path / "s2", "p", 1, 4)  # now one date only
    commit_local(root, tmp_path / "s2", second, {"report": "r", "period": "p", "files": []})
    assert sorted(p.name for p in root.rglob("r_p.parquet")) == ["r_p.parquet"]
    assert other.read_bytes() == b"another period"
    assert manifest_path(root, "r", "p").read_text().startswith("{")


def test_a_failed_commit_puts_back_the_files_and_the_manifest(tmp_path: Path) -> None:
    root = tmp_path / "dataset"
    first = _write(tmp_path / "s1", "p", 2, 3)
    commit_local(root, tmp_path / "s1", first, {"report": "r", "period": "p", "v": 1})
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    second = _write(tmp_path / "s2", "p", 3, 5)
    (root / "events" / "date=2024-05-03").write_text("in the way")
    with pytest.raises(NotADirectoryError):
        commit_local(root, tmp_path / "s2", second, {"report": "r", "period": "p", "v": 2})
    (root / "events" / "date=2024-05-03").unlink()
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
