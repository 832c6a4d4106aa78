"""Spools and the merge: sorted runs, heapq.merge across windows, de-duplication (§1)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from app.pipeline.merge import MergeCounts, better, unique_records
from app.pipeline.spool import WindowSpool, line_key, merge_spools, read_spool, spool_line


def _record(cid: str, minute: int, *, end: int | None = None, segments: int = 1) -> dict[str, Any]:
    record: dict[str, Any] = {
        "conversationId": cid,
        "conversationStart": f"2024-05-01T10:{minute:02d}:00.000Z",
    }
    if end is not None:
        record["conversationEnd"] = f"2024-05-01T11:{end:02d}:00.000Z"
    record["participants"] = [{"purpose": "customer", "sessions": [{"segments": [{}] * segments}]}]
    return record


def _ms(minute: int) -> int:
    return 1_714_557_600_000 + minute * 60_000  # 2024-05-01T10:00Z + minutes


async def test_window_spool_sorts_pages_that_arrive_out_of_order(tmp_path: Path) -> None:
    rng = random.Random(3)
    records = [_record(f"c{i:03d}", rng.randrange(60), end=5) for i in range(300)]
    pages = [records[i : i + 25] for i in range(0, 300, 25)]
    rng.shuffle(pages)
    spool = WindowSpool(tmp_path / "w.spool")
    for page in pages:
        await spool.add_page(page)
    await spool.add_page([{"conversationStart": "2024-05-01T10:00:00Z"}, {"conversationId": "x"}])
    path = await spool.finish()
    keys = [key for key, _ in read_spool(path)]
    assert keys == sorted(keys) and len(keys) == 300
    assert spool.records == 300 and spool.rejected == 2
    assert not path.with_suffix(".runs").exists()


def test_line_key_reads_the_prefix() -> None:
    entry = spool_line(_record("abc-1", 7, end=1))
    assert entry is not None
    key, line = entry
    assert key == (_ms(7), "abc-1") == line_key(line)
    assert orjson.loads(line)[2]["conversationId"] == "abc-1"


@pytest.mark.parametrize(
    "conversation_id", ['a",b', 'quote"only', "back\\slash", "tab\there", "Zoë-1", '",']
)
def test_line_key_survives_ids_with_quotes_and_escapes(conversation_id: str) -> None:
    """Issue 13, item 9: an id containing '",' was cut at the escaped quote."""
    entry = spool_line(_record(conversation_id, 7, end=1))
    assert entry is not None
    key, line = entry
    assert line_key(line) == key == (_ms(7), conversation_id)


async def test_odd_ids_survive_the_spool_and_the_merge(tmp_path: Path) -> None:
    ids = ['a",b', "a", 'a"', "back\\slash", "b"]
    path = await _spool(tmp_path, "odd.spool", [_record(i, 7, end=1) for i in ids])
    read = [key for key, _ in read_spool(path)]
    assert read == sorted((_ms(7), i) for i in ids)
    merged = [orjson.loads(line)[2]["conversationId"] for line in merge_spools([path], tmp_path)]
    assert sorted(merged) == sorted(ids)


async def _spool(tmp_path: Path, name: str, records: list[dict[str, Any]]) -> Path:
    spool = WindowSpool(tmp_path / name)
    await spool.add_page(records)
    return await spool.finish()


async def test_copies_from_two_windows_are_merged_per_the_rules(tmp_path: Path) -> None:
    first = await _spool(
        tmp_path,
        "a.spool",
        [_record("a", 10), _record("b", 20, end=5), _record("c", 30, end=5, segments=1)],
    )
    second = await _spool(
        tmp_path,
        "b.spool",
        [_record("a", 10, end=3), _record("b", 20, end=9), _record("c", 30, end=5, segments=4)],
    )
    counts = MergeCounts()
    merged = list(unique_records(merge_spools([first, second], tmp_path), _ms(0), _ms(60), counts))
    assert [r["conversationId"] for r in merged] == ["a", "b", "c"]
    assert merged[0]["conversationEnd"].endswith("11:03:00.000Z")  # an ended copy wins
    assert merged[1]["conversationEnd"].endswith("11:09:00.000Z")  # the later end wins
    assert len(merged[2]["participants"][0]["sessions"][0]["segments"]) == 4  # more segments
    assert counts.duplicates_dropped == 3 and counts.read == 6


async def test_only_conversations_starting_in_the_period_are_kept(tmp_path: Path) -> None:
    path = await _spool(
        tmp_path, "w.spool", [_record("early", 5, end=1), _record("in", 15), _record("late", 45)]
    )
    counts = MergeCounts()
    kept = list(unique_records(merge_spools([path], tmp_path), _ms(10), _ms(45), counts))
    assert [r["conversationId"] for r in kept] == ["in"]  # the end instant is excluded
    assert counts.outside_period == 2


async def test_many_spools_merge_through_intermediate_levels(tmp_path: Path) -> None:
    paths = []
    expected = []
    for window in range(9):
        records = [_record(f"w{window}-{i}", (window * 7 + i) % 60, end=1) for i in range(5)]
        expected += [(_ms((window * 7 + i) % 60), f"w{window}-{i}") for i in range(5)]
        paths.append(await _spool(tmp_path, f"{window}.spool", records))
    lines = list(merge_spools(paths, tmp_path, fan_in=2))
    assert [line_key(line) for line in lines] == sorted(expected)


def test_better_prefers_ended_then_later_then_more_segments() -> None:
    open_copy, ended = _record("x", 1), _record("x", 1, end=2)
    assert better(open_copy, ended) is ended and better(ended, open_copy) is ended
    earlier, later = _record("x", 1, end=2), _record("x", 1, end=4)
    assert better(later, earlier) is later
    few, many = _record("x", 1, end=2, segments=1), _record("x", 1, end=2, segments=3)
    assert better(few, many) is many
    assert better(few, _record("x", 1, end=2, segments=1)) is few  # a tie keeps the first


def test_a_window_with_many_runs_merges_with_few_files_open(tmp_path: Path) -> None:
    from app.pipeline.spool import _merge_runs

    raw = tmp_path / "w.runs"
    runs, offset, expected = [], 0, []
    with raw.open("wb") as out:
        for page in range(40):
            lines = []
            for i in range(3):
                entry = spool_line(_record(f"p{page}-{i}", (page * 11 + i * 7) % 60, end=1))
                assert entry is not None
                lines.append(entry)
            lines.sort(key=lambda e: e[0])
            run = b"".join(line for _, line in lines)
            out.write(run)
            runs.append((offset, len(run)))
            offset += len(run)
            expected += [key for key, _ in lines]
    _merge_runs(raw, runs, tmp_path / "w.spool", fan_in=4)
    assert [key for key, _ in read_spool(tmp_path / "w.spool")] == sorted(expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.runs", "w.spool"]
