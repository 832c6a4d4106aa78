"""The dataset writer: rows per second and peak RSS writing 1M and 10M metric events as
Parquet (app/dataset/writer.py, as a run feeds it), against writing the same rows as NDJSON
(the ``ndjson`` export's way: orjson per row, 1 MiB chunks), and bytes per event.

Each variant runs in its own child process, which reports its own peak RSS (``ru_maxrss``), so
one variant's memory cannot pollute another's figure. The events are synthetic with a
contact centre's cardinalities (ids from pools, 11 metric names, two UTC dates) and are made
one at a time inside the child, never held as a list.

    .venv/bin/python -m tests.benchmarks.bench_dataset [--sizes 1000000 10000000]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson

from app.pipeline.events import Event
from tests.benchmarks.common import peak_rss_mib, ratio, say, table

METRICS = (
    "nOffered", "tAnswered", "tAbandon", "tShortAbandon", "tFlowOut", "nTransferred",
    "tHandle", "tTalk", "tHeld", "tAcw", "tAcd",
)  # fmt: skip
START_MS = 1_714_514_400_000  # 2024-04-30T22:00Z: a Berlin day spans two UTC dates
DAY_MS = 86_400_000


def events(count: int) -> Iterator[Event]:
    rng = random.Random(count)
    queues = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(40)]
    agents = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(800)]
    codes = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(30)]
    division = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    conversation = session = ""
    for index in range(count):
        if index % 12 == 0:  # about 12 counted events per conversation
            conversation = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if index % 4 == 0:
            session = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        name = METRICS[index % len(METRICS)]
        yield Event(
            conversation,
            session,
            "agent",
            START_MS + rng.randrange(DAY_MS),
            name,
            1 if name.startswith("n") else rng.randrange(1_000, 900_000),
            rng.choice(queues),
            rng.choice(agents),
            "voice",
            "inbound",
            division,
            rng.choice(codes),
        )


def write_parquet(count: int, out: Path) -> dict[str, float]:
    from app.dataset.writer import DatasetWriter

    writer = DatasetWriter(out, "bench", "2024-05-01", ["events"])
    started = time.perf_counter()
    batch: list[Event] = []
    for event in events(count):
        batch.append(event)
        if len(batch) == 12:  # a conversation's events at a time, as run.py adds them
            writer.add_events(batch)
            batch = []
            if writer.flush_due:
                writer.flush()
    writer.add_events(batch)
    files = writer.finish()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "bytes": sum(f.bytes for f in files), "files": len(files)}


def write_ndjson(count: int, out: Path) -> dict[str, float]:
    path = out / "events.ndjson"
    started = time.perf_counter()
    buffer = bytearray()
    with path.open("wb") as handle:
        for event in events(count):
            buffer += orjson.dumps(event._asdict(), option=orjson.OPT_APPEND_NEWLINE)
            if len(buffer) >= 1 << 20:
                handle.write(buffer)
                buffer.clear()
        handle.write(buffer)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "bytes": path.stat().st_size, "files": 1}


def generate_only(count: int, out: Path) -> dict[str, float]:
    started = time.perf_counter()
    for _ in events(count):
        pass
    return {"seconds": time.perf_counter() - started, "bytes": 0, "files": 0}


VARIANTS = {"parquet": write_parquet, "ndjson": write_ndjson, "generate": generate_only}


def child(variant: str, count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-dataset-") as scratch:
        figures = VARIANTS[variant](count, Path(scratch))
    figures["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(figures))


def measure(variant: str, count: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.bench_dataset", "--child", variant, str(count)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    say(f"{variant}, {count:,} events: {figures}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    rows = []
    for count in args.sizes:
        made = measure("generate", count)
        parquet, ndjson = measure("parquet", count), measure("ndjson", count)
        # Rows per second of the writing itself: the time to make the synthetic events is
        # measured on its own and taken off both.
        p_write = parquet["seconds"] - made["seconds"]
        n_write = ndjson["seconds"] - made["seconds"]
        rows.append(
            [
                f"{count:,}",
                f"{count / p_write:,.0f}",
                f"{count / n_write:,.0f}",
                ratio(n_write, p_write),
                f"{parquet['peak_rss_mib']:.0f}",
                f"{ndjson['peak_rss_mib']:.0f}",
                f"{parquet['bytes'] / count:.1f}",
                f"{ndjson['bytes'] / count:.1f}",
            ]
        )
    header = [
        "events",
        "parquet rows/s",
        "ndjson rows/s",
        "ndjson/parquet time",
        "parquet peak MiB",
        "ndjson peak MiB",
        "parquet B/event",
        "ndjson B/event",
    ]
    print(table("Writing the events table", header, rows))


if __name__ == "__main__":
    main()
