"""Process benchmark: merge + facts + aggregate + export of conversations already spooled.

Two data sets, 100,000 and 1,000,000 conversations, are written as hourly window spools through
``WindowSpool`` (the files the pipeline really reads): the sandbox's conversations of one weekday
(about 2,000 an hour, rendered as detail records) repeated day after day with the dates shifted
and fresh conversation ids. As with the detail query, a conversation still active when a later
window of its day begins is in that window too, so the merge has real copies to drop.
Generating them is not measured.

Each variant then runs in a fresh subprocess (``python -m tests.benchmarks.bench_process
--child ...``), which reports its own ``ru_maxrss``, so one variant's memory cannot pollute the
other's:

* **ours**: ``app.pipeline.run._process`` (``merge_spools`` + ``unique_records`` + facts +
  ``Aggregator``) and ``_write_exports`` (CSV and JSON through ``app/pipeline/export.py``), as
  ``run_report`` calls them, minus the name look-ups (network);
* **baseline** (the tutorial's approach): load every page of every window into memory, sort
  every page, merge the pages with a recursive list merge (merge sort over pages), de-duplicate
  with a dict, aggregate in memory with dicts of lists, write the CSV with the csv module. It
  uses the same JSON parser (orjson) and the same per-conversation facts function as ours, so
  the ratio measures the data flow, not the libraries.

Run::

    .venv/bin/python -m tests.benchmarks.bench_process [--sizes 100000 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import math
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from app.models import Period
from app.periods import explicit_period
from app.pipeline.export import Staging
from app.pipeline.facts import Facts, MalformedRecord, conversation_facts
from app.pipeline.fetch import FetchResult
from app.pipeline.merge import better
from app.pipeline.run import _process, _write_exports, period_document
from app.pipeline.spool import WindowSpool
from app.present.view import build_view
from app.sandbox.generate import ConversationSource, VolumeProfile
from app.sandbox.org import build_organisation
from app.sandbox.records import MS_PER_DAY, MS_PER_HOUR, render
from app.settings import ReportSettings, ServiceLevelSettings
from tests.benchmarks.common import mem_available_mib, peak_rss_mib, ratio, say, table

TEMPLATE_DAY = datetime(2024, 5, 1, tzinfo=UTC)  # a Wednesday: the day repeated
PEAK_PER_HOUR = 4600  # about 47,750 conversations on a weekday, 1,990 an hour on average
SEED = 7
PAGE_SIZE = 100
# The baseline may use this share of the available memory (others share the machine).
BASELINE_MEMORY_SHARE = 0.25
BASELINE_SECONDS = 600.0  # and should take no longer than this
_DATE = re.compile(rb'"(\d{4}-\d{2}-\d{2})T')

REPORT = ReportSettings(
    name="bench-process",
    timezone="UTC",
    # The baseline is the tutorial's per-conversation reading: compare like with like.
    grain="conversation",
    group_by=["queue_id", "day"],
    metrics=[
        "conversations",
        "offered",
        "answered",
        "abandoned",
        "transferred",
        "abandon_rate",
        "service_level",
        "avg_speed_of_answer_seconds",
        "avg_handle_seconds",
        "p50_handle_seconds",
        "p90_handle_seconds",
    ],
    custom_metrics={"answered_within_sla_pct": "round(service_level * 100, 1)"},
    service_level=ServiceLevelSettings(default_seconds=20),
    formats=["csv", "json"],
)
# The same report in the interval grain (the default): every metric event is read, grouped
# and, for handle times and answers, kept as 8 bytes; checked for speed and flat memory too.
INTERVAL_REPORT = REPORT.model_copy(update={"grain": "interval"})
COUNT_COLUMNS = ("conversations", "offered", "answered", "abandoned", "transferred")


# --- the data sets ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Template:
    """One rendered conversation of the template day."""

    start_ms: int
    first_hour: int  # the hour of the day it starts in
    last_hour: int  # the last hour of its day it is active in (the query returns it there)
    conversation_id: bytes
    record: bytes
    dates: tuple[bytes, ...]  # the dates its timestamps use, latest first


def build_templates() -> list[Template]:
    org = build_organisation(SEED)
    source = ConversationSource(
        SEED,
        org,
        VolumeProfile(peak_per_hour=PEAK_PER_HOUR, timezone="Europe/Berlin"),
        cache_hours=30,
    )
    day_ms = round(TEMPLATE_DAY.timestamp() * 1000)
    now = day_ms + 3 * MS_PER_DAY  # every conversation that will end has ended
    templates = []
    for conversation in sorted(
        source.started_between(day_ms, day_ms + MS_PER_DAY),
        key=lambda c: (c.start_ms, c.conversation_id),
    ):
        record = orjson.dumps(render(conversation, now, with_attributes=False))
        active_until = min(conversation.activity_end_ms(now), day_ms + MS_PER_DAY)
        first_hour = (conversation.start_ms - day_ms) // MS_PER_HOUR
        last_hour = max(first_hour, math.ceil((active_until - day_ms) / MS_PER_HOUR) - 1)
        dates = tuple(sorted(set(_DATE.findall(record)), reverse=True))
        templates.append(
            Template(
                conversation.start_ms,
                first_hour,
                min(last_hour, 23),
                conversation.conversation_id.encode(),
                record,
                dates,
            )
        )
    return templates


def _shifted(template: Template, days: int) -> bytes:
    """The template's record moved ``days`` later, with an id of its own."""
    record = template.record
    if days:
        # Latest date first: a replaced date is later than every date still to be replaced,
        # so nothing is shifted twice.
        for text in template.dates:
            moved = date.fromisoformat(text.decode()) + timedelta(days=days)
            record = record.replace(b'"' + text + b"T", b'"' + moved.isoformat().encode() + b"T")
    new_id = template.conversation_id[:-4] + f"{days:04x}".encode()
    return record.replace(template.conversation_id, new_id, 1)


@dataclass(frozen=True, slots=True)
class Dataset:
    directory: Path
    conversations: int
    period: Period
    spools: list[Path]  # window order
    new_per_window: list[int]  # conversations starting in each window
    records: int  # spool lines, copies included
    bytes: int

    def meta(self) -> dict[str, Any]:
        return {
            "conversations": self.conversations,
            "start": self.period.start.isoformat(),
            "end": self.period.end.isoformat(),
            "spools": [p.name for p in self.spools],
            "new_per_window": self.new_per_window,
            "records": self.records,
            "bytes": self.bytes,
        }

    @classmethod
    def load(cls, directory: Path) -> Dataset:
        meta = orjson.loads((directory / "meta.json").read_bytes())
        period = explicit_period(
            datetime.fromisoformat(meta["start"]), datetime.fromisoformat(meta["end"]), "UTC"
        )
        return cls(
            directory,
            meta["conversations"],
            period,
            [directory / name for name in meta["spools"]],
            meta["new_per_window"],
            meta["records"],
            meta["bytes"],
        )

    def first_windows(self, count: int) -> Dataset:
        """The data set cut after ``count`` windows (and its period with it)."""
        end = self.period.start + timedelta(hours=count)
        return Dataset(
            self.directory,
            sum(self.new_per_window[:count]),
            explicit_period(self.period.start, end, "UTC"),
            self.spools[:count],
            self.new_per_window[:count],
            -1,
            -1,
        )


def write_dataset(directory: Path, templates: list[Template], conversations: int) -> Dataset:
    """Hourly window spools holding ``conversations`` conversations over as many days."""
    directory.mkdir(parents=True)
    days = math.ceil(conversations / len(templates))
    spools, new_per_window, records = asyncio.run(
        _spool_days(directory, templates, conversations, days)
    )
    start = TEMPLATE_DAY
    dataset = Dataset(
        directory,
        conversations,
        explicit_period(start, start + timedelta(days=days), "UTC"),
        spools,
        new_per_window,
        records,
        sum(p.stat().st_size for p in spools),
    )
    (directory / "meta.json").write_bytes(orjson.dumps(dataset.meta()))
    return dataset


async def _spool_days(
    directory: Path, templates: list[Template], conversations: int, days: int
) -> tuple[list[Path], list[int], int]:
    per_day = len(templates)
    by_hour: list[list[int]] = [[] for _ in range(24)]  # template indexes active in each hour
    for index, template in enumerate(templates):
        for hour in range(template.first_hour, template.last_hour + 1):
            by_hour[hour].append(index)
    spools: list[Path] = []
    new_per_window: list[int] = []
    records = 0
    for day in range(days):
        wanted = min(per_day, conversations - day * per_day)  # the earliest ones of the day
        shifted: dict[int, dict[str, Any]] = {}
        for hour in range(24):
            spool = WindowSpool(directory / f"window-{day * 24 + hour:06d}.spool")
            members = [index for index in by_hour[hour] if index < wanted]
            for offset in range(0, len(members), PAGE_SIZE):
                page = []
                for index in members[offset : offset + PAGE_SIZE]:
                    record = shifted.get(index)
                    if record is None:
                        record = shifted[index] = orjson.loads(_shifted(templates[index], day))
                    page.append(record)
                await spool.add_page(page)
            spools.append(await spool.finish())
            new_per_window.append(sum(1 for i in members if templates[i].first_hour == hour))
            records += len(members)
        say(f"  {directory.name}: day {day + 1}/{days} spooled ({records:,} records so far)")
    return spools, new_per_window, records


# --- ours (in a child process) ------------------------------------------------------------


async def run_ours(dataset: Dataset, out: Path, report: ReportSettings = REPORT) -> dict[str, Any]:
    period = dataset.period
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-merge-") as scratch:
        fetched = FetchResult(spools=list(dataset.spools), windows_fetched=len(dataset.spools))
        async with Staging(out / period.label, "bench") as staging:
            aggregator, counts, tallies, _ = await _process(
                report, period, fetched, Path(scratch), staging
            )
            columns = aggregator.columns(report.metrics, report.custom_metrics)
            rows = aggregator.rows(report.metrics, report.custom_metrics, {})
            view = build_view(
                report,
                period_document(period),
                datetime.now(UTC),
                columns,
                rows,
                aggregator.rollup,
            )
            files = await _write_exports(report, period, staging, view)
            await staging.commit(files, {"report": report.name, "rows": len(rows)})
    elapsed = time.perf_counter() - started
    csv_file = next(f for f in files if f.format == "csv")
    return {
        "seconds": elapsed,
        "conversations": tallies["conversations"] + tallies["ongoing_skipped"],
        "records_read": counts.read,
        "duplicates_dropped": counts.duplicates_dropped,
        "groups": aggregator.group_count,
        "csv": str(out / period.label / csv_file.name),
        "peak_rss_mib": peak_rss_mib(),
    }


# --- the baseline (in a child process) ----------------------------------------------------

Item = tuple[tuple[str, str], dict[str, Any]]


def _pages(spools: list[Path]) -> Iterator[list[Item]]:
    """Every page of every window, as the API returned them (100 records a page)."""
    for path in spools:
        page: list[Item] = []
        with path.open("rb") as lines:
            for line in lines:
                _, _, record = orjson.loads(line)
                page.append(((record["conversationStart"], record["conversationId"]), record))
                if len(page) == PAGE_SIZE:
                    yield page
                    page = []
        if page:
            yield page


def _merge_two(left: list[Item], right: list[Item]) -> list[Item]:
    merged: list[Item] = []
    i = j = 0
    while i < len(left) and j < len(right):
        if left[i][0] <= right[j][0]:
            merged.append(left[i])
            i += 1
        else:
            merged.append(right[j])
            j += 1
    merged.extend(left[i:])
    merged.extend(right[j:])
    return merged


def _merge_pages(pages: list[list[Item]]) -> list[Item]:
    """Merge sort over pages: split the list of pages in halves, merge each, merge the two."""
    if not pages:
        return []
    if len(pages) == 1:
        return pages[0]
    middle = len(pages) // 2
    return _merge_two(_merge_pages(pages[:middle]), _merge_pages(pages[middle:]))


def _percentile(values: list[int], fraction: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def _baseline_row(key: tuple[Any, ...], group: list[Facts], sla_ms: int) -> list[Any]:
    offered = sum(f.offered for f in group)
    answered = [f for f in group if f.answered]
    speeds = [f.speed_of_answer_ms for f in answered if f.speed_of_answer_ms is not None]
    handles = sorted(f.handle_ms for f in group if f.handled)
    within = sum(1 for f in answered if f.offered and (f.speed_of_answer_ms or 0) <= sla_ms)
    abandoned = sum(f.abandoned for f in group)
    service_level = within / offered if offered else None
    p50, p90 = _percentile(handles, 0.5), _percentile(handles, 0.9)
    return [
        key[0],
        key[0],  # no name look-ups here either: the name column shows the id
        key[1],
        len(group),
        offered,
        len(answered),
        abandoned,
        sum(f.transferred for f in group),
        round(abandoned / offered, 4) if offered else "",
        round(service_level, 4) if service_level is not None else "",
        round(sum(speeds) / len(speeds) / 1000, 2) if speeds else "",
        round(sum(handles) / len(handles) / 1000, 2) if handles else "",
        round(p50 / 1000, 2) if p50 is not None else "",
        round(p90 / 1000, 2) if p90 is not None else "",
        round(service_level * 100, 1) if service_level is not None else "",
    ]


def run_baseline(dataset: Dataset, out: Path) -> dict[str, Any]:
    zone = ZoneInfo(REPORT.timezone)
    start_iso = dataset.period.start
    end_iso = dataset.period.end
    started = time.perf_counter()
    pages = list(_pages(dataset.spools))  # every page in memory
    records_read = sum(len(page) for page in pages)
    for page in pages:
        page.sort(key=lambda item: item[0])
    merged = _merge_pages(pages)
    del pages
    unique: dict[str, dict[str, Any]] = {}
    for _, record in merged:
        moment = datetime.fromisoformat(record["conversationStart"])
        if not start_iso <= moment < end_iso:
            continue
        cid = record["conversationId"]
        kept = unique.get(cid)
        unique[cid] = record if kept is None else better(kept, record)
    groups: dict[tuple[Any, ...], list[Facts]] = {}
    for record in unique.values():
        try:
            facts = conversation_facts(record, zone)
        except MalformedRecord:
            continue
        if facts.ended:
            groups.setdefault((facts.queue_id, facts.day), []).append(facts)
    sla_ms = round(REPORT.service_level.default_seconds * 1000)
    header = [
        "queue_id",
        "queue_name",
        "day",
        *REPORT.metrics,
        *REPORT.custom_metrics,
    ]
    ordered = sorted(groups, key=lambda k: tuple((v is not None, v or "") for v in k))
    out.mkdir(parents=True, exist_ok=True)
    target = out / "baseline.csv"
    with target.open("w", newline="", encoding="utf-8") as sink:
        writer = csv.writer(sink)
        writer.writerow(header)
        for key in ordered:
            writer.writerow(_baseline_row(key, groups[key], sla_ms))
    elapsed = time.perf_counter() - started
    return {
        "seconds": elapsed,
        "conversations": len(unique),
        "records_read": records_read,
        "duplicates_dropped": records_read - len(unique),
        "groups": len(groups),
        "csv": str(target),
        "peak_rss_mib": peak_rss_mib(),
    }


def generate(scratch: Path, sizes: list[int]) -> None:
    say(f"templates: one weekday of the sandbox (seed {SEED}, peak {PEAK_PER_HOUR}/hour)")
    templates = build_templates()
    say(f"templates: {len(templates):,} conversations rendered")
    for size in sizes:
        say(f"spooling {size:,} conversations")
        dataset = write_dataset(scratch / f"n{size}", templates, size)
        say(
            f"spooled {size:,} conversations: {len(dataset.spools)} windows, "
            f"{dataset.records:,} records with copies, {dataset.bytes / 2**30:.2f} GiB"
        )


def child(args: argparse.Namespace) -> None:
    dataset = Dataset.load(Path(args.dataset))
    if args.windows is not None:
        dataset = dataset.first_windows(args.windows)
    out = Path(args.out)
    if args.child == "ours":
        result = asyncio.run(run_ours(dataset, out))
    elif args.child == "ours-interval":
        result = asyncio.run(run_ours(dataset, out, INTERVAL_REPORT))
    else:
        result = run_baseline(dataset, out)
    Path(args.result).write_bytes(orjson.dumps(result))


# --- the parent ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Run:
    variant: str
    label: str  # the data the run covered
    conversations: int
    seconds: float
    peak_rss_mib: float
    records_read: int
    groups: int
    csv: Path

    @property
    def rate(self) -> float:
        return self.conversations / self.seconds


def spawn(variant: str, dataset: Dataset, scratch: Path, windows: int | None = None) -> Run:
    """One variant over one data set, in a fresh interpreter."""
    label = f"{dataset.conversations:,}" if windows is None else f"{dataset.conversations:,} cut"
    result = scratch / f"result-{variant}-{dataset.directory.name}-{windows}.json"
    out = scratch / f"out-{variant}-{dataset.directory.name}-{windows}"
    command = [
        sys.executable,
        "-m",
        "tests.benchmarks.bench_process",
        "--child",
        variant,
        "--dataset",
        str(dataset.directory),
        "--out",
        str(out),
        "--result",
        str(result),
    ]
    if windows is not None:
        command += ["--windows", str(windows)]
        label = f"{sum(dataset.new_per_window[:windows]):,} (first {windows} windows)"
    say(f"{variant}: {label} conversations, in a fresh process")
    subprocess.run(command, check=True)
    data = orjson.loads(result.read_bytes())
    run = Run(
        variant,
        label,
        data["conversations"],
        data["seconds"],
        data["peak_rss_mib"],
        data["records_read"],
        data["groups"],
        Path(data["csv"]),
    )
    say(
        f"{variant}: {run.conversations:,} conversations in {run.seconds:.1f} s "
        f"({run.rate:,.0f}/s), peak RSS {run.peak_rss_mib:,.0f} MiB"
    )
    return run


def _counts(path: Path) -> dict[tuple[str, str], tuple[str, ...]]:
    with path.open(newline="", encoding="utf-8") as source:
        return {
            (row["queue_id"], row["day"]): tuple(row[c] for c in COUNT_COLUMNS)
            for row in csv.DictReader(source)
        }


def baseline_cap(dataset: Dataset, ours: Run, baseline: Run, small: int) -> int | None:
    """How many windows of ``dataset`` the baseline may take, from its run on ``small``
    conversations: None for all of them. Memory and time are assumed to grow linearly."""
    grow = dataset.conversations / small
    per_conversation = max(baseline.peak_rss_mib - ours.peak_rss_mib, 0.0) / small
    available = mem_available_mib() or float("inf")
    memory_room = BASELINE_MEMORY_SHARE * available - ours.peak_rss_mib
    fit_memory = memory_room / per_conversation if per_conversation else math.inf
    fit_time = BASELINE_SECONDS / baseline.seconds * small
    fits = min(fit_memory, fit_time)
    estimate_mib = ours.peak_rss_mib + per_conversation * dataset.conversations
    say(
        f"baseline at {dataset.conversations:,}: about {estimate_mib:,.0f} MiB and "
        f"{baseline.seconds * grow:.0f} s expected; {available:,.0f} MiB available, "
        f"so it may use {BASELINE_MEMORY_SHARE * available:,.0f} MiB and "
        f"{BASELINE_SECONDS:.0f} s"
    )
    if fits >= dataset.conversations:
        return None
    total, windows = 0, 0
    for count in dataset.new_per_window:
        if total + count > fits:
            break
        total += count
        windows += 1
    return windows


def parent(args: argparse.Namespace) -> None:
    sizes = sorted(args.sizes)
    with tempfile.TemporaryDirectory(prefix="bench-process-", dir=args.workdir) as scratch_name:
        scratch = Path(scratch_name)
        # Generation runs in a process of its own too: a child forked from a large parent
        # would inherit the parent's resident size in its ru_maxrss.
        subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.benchmarks.bench_process",
                "--generate",
                str(scratch),
                "--sizes",
                *map(str, sizes),
            ],
            check=True,
        )
        datasets = [Dataset.load(scratch / f"n{size}") for size in sizes]

        ours_full: list[Run] = []  # ours over each whole data set: is memory flat?
        interval_full = [spawn("ours-interval", dataset, scratch) for dataset in datasets]
        pairs: list[tuple[Run, Run]] = []  # ours and the baseline over the same data
        notes: list[str] = []
        for dataset in datasets:
            ours = spawn("ours", dataset, scratch)
            ours_full.append(ours)
            windows = args.baseline_windows
            if windows is None and pairs:
                windows = baseline_cap(dataset, *pairs[0], sizes[0])
            if windows is not None and windows < len(dataset.spools):
                cut = sum(dataset.new_per_window[:windows])
                notes.append(
                    f"the baseline at {dataset.conversations:,} is capped to the first "
                    f"{windows} windows ({cut:,} conversations), to stay within "
                    f"{BASELINE_MEMORY_SHARE:.0%} of the available memory and "
                    f"{BASELINE_SECONDS:.0f} s; ours ran over the same cut for the ratio"
                )
                pair = (
                    spawn("ours", dataset, scratch, windows),
                    spawn("baseline", dataset, scratch, windows),
                )
            else:
                pair = (ours, spawn("baseline", dataset, scratch))
            if not pairs:
                same = _counts(pair[0].csv) == _counts(pair[1].csv)
                notes.insert(
                    0,
                    f"per-group counts ({', '.join(COUNT_COLUMNS)}), ours vs baseline at "
                    f"{pair[0].conversations:,}: {'MATCH' if same else 'DIFFER'} "
                    f"({pair[0].groups} groups vs {pair[1].groups})",
                )
            pairs.append(pair)
        report(ours_full, pairs, notes, interval_full)


def report(
    ours_full: list[Run], pairs: list[tuple[Run, Run]], notes: list[str], interval: list[Run]
) -> None:
    runs: list[Run] = []
    for full, (ours, baseline) in zip(ours_full, pairs, strict=True):
        runs += dict.fromkeys((full, ours, baseline))
    rows = [
        [
            run.variant,
            run.label,
            f"{run.records_read:,}",
            f"{run.seconds:.1f}",
            f"{run.rate:,.0f}",
            f"{run.peak_rss_mib:,.0f}",
        ]
        for run in [*runs, *interval]
    ]
    print()
    print(
        table(
            "bench_process: merge + facts + aggregate + export (CSV, JSON), each run in a fresh "
            "process",
            ["variant", "conversations", "records read", "seconds", "conv/s", "peak RSS MiB"],
            rows,
        )
    )
    small, large = ours_full[0], ours_full[-1]
    print(
        f"ours, peak RSS at {large.conversations:,} / at {small.conversations:,}: "
        f"{ratio(large.peak_rss_mib, small.peak_rss_mib)} "
        f"({large.peak_rss_mib:,.0f} / {small.peak_rss_mib:,.0f} MiB; target: flat)"
    )
    first, last = interval[0], interval[-1]
    print(
        f"ours in the interval grain, peak RSS at {last.conversations:,} / at "
        f"{first.conversations:,}: {ratio(last.peak_rss_mib, first.peak_rss_mib)} (target: "
        f"flat); throughput interval / conversation grain at {large.conversations:,}: "
        f"{ratio(last.rate, large.rate)}"
    )
    for ours, baseline in pairs:
        print(
            f"same data, {ours.conversations:,} conversations: throughput ours / baseline "
            f"{ratio(ours.rate, baseline.rate)} (target > 1); peak RSS baseline / ours "
            f"{ratio(baseline.peak_rss_mib, ours.peak_rss_mib)}"
        )
    for note in notes:
        print(note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--baseline-windows",
        type=int,
        default=None,
        help="cap the baseline to the first N windows of each data set (default: decided "
        "from its memory and time at the smallest size)",
    )
    parser.add_argument("--workdir", default=None, help="where to spool (default: the temp dir)")
    parser.add_argument(
        "--child", choices=["ours", "ours-interval", "baseline"], help=argparse.SUPPRESS
    )
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    parser.add_argument("--windows", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--generate", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate(Path(args.generate), sorted(args.sizes))
    elif args.child:
        child(args)
    else:
        parent(args)


if __name__ == "__main__":
    main()
