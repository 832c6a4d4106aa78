"""One report run, end to end. This is the only module that knows the order of the stages:

plan windows → fetch them concurrently into sorted spools → heapq.merge + de-duplicate →
facts → group and metrics (names resolved) → exports in a staging directory → move into place,
manifest last.

A run either commits a complete report or raises: spools live in a temporary directory and the
exports in a staging directory, both removed whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from app.cleanup import SPOOL_PREFIX, owned, spool_root
from app.completion import in_thread
from app.durations import format_duration
from app.errors import GenesysError, ReportsError, on_disk
from app.genesys import stats as request_stats
from app.genesys.aggregates import aggregate_query, query_aggregates
from app.genesys.client import GenesysClient
from app.genesys.fetch import data_availability
from app.genesys.lookups import NameResolver
from app.models import LocalFile, Period, Window, iso_utc
from app.periods import split_windows
from app.pipeline.events import Event
from app.pipeline.export import (
    ExportedFile,
    NdjsonWriter,
    Staging,
    file_name,
    write_bytes,
    write_csv,
    write_json,
)
from app.pipeline.facts import Facts, MalformedRecord, conversation_facts
from app.pipeline.fetch import FetchResult, WindowFetcher
from app.pipeline.grains import (
    Grouped,
    count_record,
    lookback_probes,
    new_aggregator,
    new_tallies,
    selection_ms,
    selection_start,
)
from app.pipeline.interval import IntervalAggregator
from app.pipeline.merge import MergeCounts, unique_records
from app.pipeline.reconcile import (
    COMPARED_METRICS,
    SERVICE_LEVEL,
    Reconciliation,
    aligned,
    with_names,
)
from app.pipeline.reconcile import plan as reconciliation_plan
from app.pipeline.reconcile import reconcile as compare_with_genesys
from app.pipeline.spool import merge_spools, reduce_spools
from app.present.view import ReportView, build_view
from app.settings import ReportSettings, Settings

if TYPE_CHECKING:  # pyarrow takes a while to load: only runs that write a dataset pay it
    from app.dataset.writer import DatasetWriter

log = logging.getLogger(__name__)

# Async jobs accept long intervals; the sandbox's default cap is 31 days.
JOB_INTERVAL_DAYS = 30
_YIELD_EVERY = 2000  # records between event-loop yields while processing


def _render_html(view: ReportView) -> bytes:
    # Imported when first needed: matplotlib takes half a second to load, which every other
    # command (check-config, query, check) would otherwise pay.
    from app.present.html import render_html

    return render_html(view)


def _render_xlsx(view: ReportView) -> bytes:
    from app.present.xlsx import render_xlsx

    return render_xlsx(view)


# Formats rendered whole from the report's view (small: one row per group).
_RENDERERS: dict[str, Callable[[ReportView], bytes]] = {
    "html": _render_html,
    "xlsx": _render_xlsx,
}


@dataclass(slots=True)
class Progress:
    """Callbacks a front end (progress bar, log lines) may hook; all optional."""

    windows_planned: Callable[[int], None] = lambda total: None
    window_done: Callable[[int], None] = lambda records: None
    stage: Callable[[str], None] = lambda name: None


@dataclass(slots=True)
class RunOutcome:
    """What a run produced. ``files`` pairs each export with its final path."""

    report: str
    period: Period
    run_id: str
    # "skipped": another process or replica was running the same period (claims.py).
    status: Literal["succeeded", "failed", "skipped"]
    files: list[tuple[ExportedFile, Path]] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    manifest_path: Path | None = None
    error: str | None = None
    # Every compared value, differences unabridged (the manifest lists the first 20).
    reconciliation: Reconciliation | None = None

    def local_files(self) -> list[LocalFile]:
        return [
            LocalFile(f.format, f.name, path, f.rows, f.bytes, f.sha256) for f, path in self.files
        ]


def period_document(period: Period) -> dict[str, str]:
    """The period as reports show it: local times with their offset, and the zone."""
    zone = ZoneInfo(period.timezone)
    return {
        "start": period.start.astimezone(zone).isoformat(),
        "end": period.end.astimezone(zone).isoformat(),
        "timezone": period.timezone,
        "label": period.label,
    }


def output_directory(settings: Settings, report: ReportSettings, period: Period) -> Path:
    return settings.storage.directory / report.name / period.label


async def choose_strategy(
    client: GenesysClient, report: ReportSettings, period: Period, windows: int
) -> Literal["query", "jobs"]:
    """``auto`` uses async jobs only for a period wholly before the availability watermark and
    long enough that a few job requests beat one query (at least) per window."""
    if report.fetch == "query" or (report.fetch == "auto" and windows < 4):
        return "query"
    watermark = await data_availability(client)
    if report.fetch == "jobs" and period.end > watermark:
        # Jobs see nothing past the watermark (reference §5.4): a report from them would be
        # silently short.
        raise ReportsError(
            f"report {report.name}: fetch: jobs, but data is available to async jobs only up to "
            f"{watermark.isoformat()}, before the period's end {period.end.isoformat()}; "
            "use fetch: query or auto, or run the period later"
        )
    return "jobs" if period.end <= watermark else "query"


def _job_windows(period: Period) -> list[Window]:
    step = timedelta(days=JOB_INTERVAL_DAYS)
    windows, cursor = [], period.start
    while cursor < period.end:
        end = min(cursor + step, period.end)
        windows.append(Window(cursor, end))
        cursor = end
    return windows


async def run_report(
    settings: Settings,
    report: ReportSettings,
    period: Period,
    client: GenesysClient,
    *,
    progress: Progress | None = None,
    run_id: str | None = None,
    trigger: datetime | None = None,
) -> RunOutcome:
    """Run one report for one period; raises on failure (nothing is committed then).
    ``trigger``: the scheduled fire or SIGUSR1 this run answers, recorded in the manifest so a
    replica that got the same trigger can tell (runner.py)."""
    progress = progress or Progress()
    run_id = run_id or uuid.uuid4().hex[:12]
    started = datetime.now(UTC)
    final_dir = output_directory(settings, report, period)
    directory = settings.storage.directory
    with on_disk(f"creating the reports directory {directory}"):
        if directory.exists() and not directory.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "not a directory (storage.directory)")
        directory.mkdir(parents=True, exist_ok=True)
    with request_stats.measure() as stats, _spool_directory(settings, report) as workdir:
        windows = split_windows(period, report.window)
        # A look-back that crosses UTC midnights adds query windows: auto counts them too.
        query_windows = len(windows) + len(lookback_probes(report, period))
        strategy = await choose_strategy(client, report, period, query_windows)
        # Jobs return every conversation active in their interval (reference §5.1), so the
        # look-back costs them nothing; the query needs windows before the period.
        probes = lookback_probes(report, period) if strategy == "query" else []
        fetch_windows = _job_windows(period) if strategy == "jobs" else probes + windows
        progress.windows_planned(len(fetch_windows))
        fetcher = WindowFetcher(
            client, report, settings.genesys, workdir, on_window_done=progress.window_done
        )
        log.info(
            "report %s, period %s: fetching %d windows (%s)",
            report.name,
            period.label,
            len(fetch_windows),
            strategy,
        )
        fetched = await fetcher.fetch_all(fetch_windows, use_jobs=strategy == "jobs")
        # Final once the async-jobs watermark (complete data) is past the period's end.
        watermark = await data_availability(client)
        completeness = "final" if watermark >= period.end else "provisional"
        progress.stage("aggregating")
        async with (
            _dataset(settings, report, period, run_id) as dataset,
            Staging(
                final_dir,
                run_id,
                file_mode=settings.storage.file_mode_bits,
                directory_mode=settings.storage.directory_mode_bits,
            ) as staging,
        ):
            # The sinks name their own files; what is left is reading and merging the spools.
            staged = f" and staging the dataset in {dataset.staging}" if dataset else ""
            with on_disk(f"merging the spools in {workdir}{staged}"):
                aggregator, merge_counts, tallies, facts_file = await _process(
                    report, period, fetched, workdir, staging, dataset
                )
            names, media_settings = await _resolve_names(client, aggregator)
            columns = aggregator.columns(report.metrics, report.custom_metrics)
            rows = aggregator.rows(report.metrics, report.custom_metrics, names, media_settings)
            reconciliation, compared = await _reconcile(
                client,
                report,
                period,
                aggregator,
                (names, media_settings),
                len(merge_counts.missed),
            )
            manifest = _manifest(
                trigger=trigger,
                completeness=completeness,
                report=report,
                period=period,
                run_id=run_id,
                started=started,
                strategy=strategy,
                windows=len(windows),
                lookback_windows=len(probes),
                fetched=fetched,
                merge_counts=merge_counts,
                tallies=tallies,
                groups=aggregator.group_count,
                stats=stats.as_dict(),
            )
            if reconciliation is not None:
                manifest["reconciliation"] = reconciliation
            # Rollups sort every handle time again: CPU work, off the event loop.
            view = await in_thread(
                lambda: build_view(
                    report,
                    period_document(period),
                    started,
                    columns,
                    rows,
                    functools.partial(aggregator.rollup, media_settings=media_settings),
                    row_targets=_row_targets(report, aggregator, columns, names, media_settings),
                    reconciliation=reconciliation,
                    completeness=completeness,
                    counts=manifest["counts"],
                )
            )
            manifest["headline"] = view.headline
            progress.stage("writing")
            files = await _write_exports(report, period, staging, view, tallies)
            if facts_file is not None:
                files.append(facts_file)
            manifest["files"] = _file_entries(files)
            if dataset is not None:
                # Before the report's own commit: a period marked done has its dataset too.
                manifest["dataset"] = await _commit_dataset(settings, dataset, run_id, period)
            manifest["finished_at"] = iso_utc(datetime.now(UTC))
            manifest_path = await staging.commit(files, manifest)
    log.info(
        "report %s, period %s: %d conversations, %d groups, written to %s",
        report.name,
        period.label,
        tallies["conversations"],
        aggregator.group_count,
        final_dir,
    )
    return RunOutcome(
        report=report.name,
        period=period,
        run_id=run_id,
        status="succeeded",
        files=[(f, final_dir / f.name) for f in files],
        manifest=manifest,
        manifest_path=manifest_path,
        reconciliation=compared,
    )


@contextlib.contextmanager
def _spool_directory(settings: Settings, report: ReportSettings) -> Iterator[Path]:
    """This run's private spool directory, marked as owned while the run lives."""
    parent = spool_root(settings)
    with on_disk(f"creating a spool directory in {parent}"):
        path = Path(tempfile.mkdtemp(prefix=f"{SPOOL_PREFIX}{report.name}-", dir=parent))
    try:
        with contextlib.ExitStack() as lock:
            with on_disk(f"locking the spool directory {path}"):
                lock.enter_context(owned(path))
            yield path
    finally:
        try:
            shutil.rmtree(path)
        except OSError as exc:  # never in place of the run's own outcome; swept at next start
            log.warning("could not remove the spool directory %s: %s", path, exc)


@contextlib.asynccontextmanager
async def _dataset(
    settings: Settings, report: ReportSettings, period: Period, run_id: str
) -> AsyncIterator[DatasetWriter | None]:
    """The run's dataset writer, staging beside the dataset (None: the report has none);
    the staging directory is removed whatever happens."""
    if not report.dataset.tables:
        yield None
        return
    from app.dataset.store import remove_staging, staging_directory
    from app.dataset.writer import DatasetWriter

    root = settings.storage.dataset_root
    staging = staging_directory(root, run_id)
    with on_disk(f"creating the dataset staging directory {staging}"):
        staging.mkdir(parents=True, mode=settings.storage.directory_mode_bits)
    writer = DatasetWriter(staging, report.name, period.label, report.dataset.tables)
    try:
        # Locked while the run lives: a killed run's staging is swept at the next start
        # (cleanup.py), a live one's never.
        with owned(staging):
            yield writer
    finally:
        writer.close()
        await in_thread(remove_staging, staging)


async def _commit_dataset(
    settings: Settings, dataset: DatasetWriter, run_id: str, period: Period
) -> dict[str, Any]:
    """Finish the Parquet files and move them into the dataset (store.py); what the report's
    manifest says of them."""
    from app.dataset.schema import SCHEMA_VERSION
    from app.dataset.store import commit_local

    root = settings.storage.dataset_root
    with on_disk(f"writing the dataset in {dataset.staging}"):
        files = await in_thread(dataset.finish)
    document = {
        "report": dataset.report,
        "period": dataset.label,
        "period_bounds": period_document(period),
        "run_id": run_id,
        "schema_version": SCHEMA_VERSION,
        "tables": sorted(dataset.tables),
        "files": [f.as_dict() for f in files],
    }
    with on_disk(f"moving the dataset files into {root}"):
        where = await in_thread(
            functools.partial(
                commit_local,
                root,
                dataset.staging,
                files,
                document,
                file_mode=settings.storage.file_mode_bits,
                directory_mode=settings.storage.directory_mode_bits,
            )
        )
    log.info("report %s: %d dataset files in %s", dataset.report, len(files), root)
    return {
        "directory": str(root),
        "manifest": str(where.relative_to(root)),
        "schema_version": SCHEMA_VERSION,
        "files": document["files"],
    }


async def _process(
    report: ReportSettings,
    period: Period,
    fetched: FetchResult,
    workdir: Path,
    staging: Staging,
    dataset: DatasetWriter | None = None,
) -> tuple[Grouped, MergeCounts, dict[str, int], ExportedFile | None]:
    """Merge the spools, then count each conversation in the report's grain; stream facts
    (conversation grain) or counted events (interval grain) to NDJSON when asked, and the
    rows of the dataset's tables to its writer."""
    zone = ZoneInfo(report.timezone)
    aggregator = new_aggregator(report, period)
    counts = MergeCounts()
    tallies = new_tallies()
    ndjson_format = next((f for f in report.formats if f.startswith("ndjson")), None)
    # Intermediate merges (hundreds of windows) are file work: off the event loop.
    spools = await in_thread(reduce_spools, fetched.spools, workdir)
    lines = merge_spools(spools, workdir)
    missed = None
    if isinstance(aggregator, IntervalAggregator):
        interval_aggregator = aggregator

        def missed(record: dict[str, Any]) -> bool:
            """Whether a conversation older than the look-back emitted a counted event."""
            try:
                return next(iter(interval_aggregator.events(record)), None) is not None
            except MalformedRecord:
                return False

    records = unique_records(lines, *selection_ms(report, period), counts, missed=missed)
    period_ms = (int(period.start.timestamp() * 1000), int(period.end.timestamp() * 1000))
    facts_file = None
    async with contextlib.AsyncExitStack() as stack:
        writer = None
        if ndjson_format is not None:
            kind = "events" if report.grain == "interval" else "facts"
            name = file_name(report.name, f"{period.label}_{kind}", ndjson_format)
            writer = await stack.enter_async_context(
                NdjsonWriter(staging.path(name), fmt=ndjson_format)
            )
        for index, record in enumerate(records):
            if index % _YIELD_EVERY == 0:
                await asyncio.sleep(0)  # keep the loop (heartbeats, signals) responsive
            try:
                counted = count_record(aggregator, record, report, zone, tallies)
            except MalformedRecord as exc:
                tallies["malformed_skipped"] += 1
                log.warning("report %s: skipping a malformed record: %s", report.name, exc)
                continue
            if writer is not None:
                for item in counted:
                    await writer.write(
                        item._asdict() if isinstance(item, Event) else item.as_dict()
                    )
            if dataset is not None:
                _add_to_dataset(dataset, counted, record, report, zone, period_ms)
                if dataset.flush_due:
                    await in_thread(dataset.flush)
        if writer is not None:
            facts_file = await writer.finish()
    return aggregator, counts, tallies, facts_file


def _add_to_dataset(
    dataset: DatasetWriter,
    counted: list[Event] | list[Facts],
    record: dict[str, Any],
    report: ReportSettings,
    zone: ZoneInfo,
    period_ms: tuple[int, int],
) -> None:
    """Events as the interval grain counted them; conversations as the conversation grain
    counted them, or, in the interval grain, every conversation read that started in the
    period (ongoing ones too, unless the filters exclude them: ``ended`` says which)."""
    if report.grain == "conversation":
        for item in counted:
            if isinstance(item, Facts):
                dataset.add_facts(item)
        return
    dataset.add_events(item for item in counted if isinstance(item, Event))
    if "conversations" not in dataset.tables:
        return
    try:
        facts = conversation_facts(record, zone)
    except MalformedRecord:
        return  # its events are counted; facts of a malformed record are not
    if not facts.ended and report.filters.exclude_ongoing:
        return
    if period_ms[0] <= facts.start_ms < period_ms[1]:
        dataset.add_facts(facts)


async def _resolve_names(
    client: GenesysClient, aggregator: Grouped
) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, Any]]]:
    """Names by look-up kind, and each queue's ``mediaSettings`` (service-level targets),
    from the same queue look-ups."""
    resolver = NameResolver(client)
    names: dict[str, dict[str, str]] = {}
    wanted = aggregator.ids_to_resolve()
    for kind, ids in wanted.items():
        if ids:
            names[kind] = await resolver.names(kind, ids)  # type: ignore[arg-type]
    media_settings: dict[str, dict[str, Any]] = {}
    if isinstance(aggregator, IntervalAggregator) and wanted.get("queues"):
        media_settings = await resolver.media_settings(wanted["queues"])
    return names, media_settings


async def _reconcile(
    client: GenesysClient,
    report: ReportSettings,
    period: Period,
    aggregator: Grouped,
    looked_up: tuple[dict[str, dict[str, str]], dict[str, dict[str, Any]]],
    lookback_missed: int,
) -> tuple[dict[str, Any] | None, Reconciliation | None]:
    """report-semantics §7: the same period, groups and filters asked of the aggregates API and
    compared value by value. One that cannot run is ``skipped`` with the reason, never a failed
    run; differences fail the run only with ``reconcile: strict`` (before anything is
    delivered)."""
    mode = report.reconcile_mode
    if mode == "off" or not isinstance(aggregator, IntervalAggregator):
        return None, None
    what = f"report {report.name}, reconciliation"
    try:
        zone = ZoneInfo(report.timezone)
        shape = aligned(reconciliation_plan(report.group_by), period.start, period.end, zone)
        metrics = list(COMPARED_METRICS)
        not_compared = []
        if report.service_level.target_seconds is not None:
            # One fixed target is the report's own choice, not Genesys' per-queue one.
            metrics.remove(SERVICE_LEVEL)
            not_compared.append(f"{SERVICE_LEVEL}: the report sets service_level.target_seconds")
        query = aggregate_query(
            report.filters,
            interval=Window(period.start, period.end).interval,
            metrics=metrics,
            group_by=shape.group_by,
            granularity=shape.granularity,
            time_zone=report.timezone,
        )
    except ValueError as exc:
        return _skipped(what, str(exc)), None
    # Counted in the run's own request figures too: read as a difference of them.
    run_stats = request_stats.current()
    before = run_stats.requests if run_stats is not None else 0
    try:
        answer = await query_aggregates(client, query, what=what)
    except GenesysError as exc:
        return _skipped(what, str(exc).removeprefix(f"{what}: ")), None
    cost = (run_stats.requests if run_stats is not None else 0) - before
    names, media_settings = looked_up
    result = with_names(
        compare_with_genesys(
            aggregator.genesys_stats(media_settings), answer, shape, zone, metrics
        ),
        names,
    )
    document = {
        "status": "equal" if result.different == 0 else "different",
        **result.as_dict(),
        "requests": cost,
        "lookback_missed": lookback_missed,
    }
    if not_compared:
        document["not_compared"] = not_compared
    if result.different:
        first = result.differences[0]
        summary = (
            f"{what}: {result.different} of {result.compared} values differ from Genesys' "
            f"aggregates; first: {first.metric} {first.stat} of {first.group_text()}"
            f"{f' at {first.bucket}' if first.bucket else ''}: ours {first.ours}, "
            f"Genesys {first.genesys}"
        )
        if lookback_missed:
            summary += (
                f"; {lookback_missed} conversation(s) that started before the look-back "
                f"({format_duration(report.lookback)}) emitted events in the period, which "
                "Genesys counts: a longer lookback would count them too"
            )
        if mode == "strict":
            raise ReportsError(summary + " (reconcile: strict, nothing delivered)")
        log.warning(summary)
    else:
        log.info("%s: all %d values equal Genesys'", what, result.compared)
    return document, result


def _skipped(what: str, reason: str) -> dict[str, Any]:
    log.warning("%s skipped: %s", what, reason)
    return {"status": "skipped", "reason": reason}


def _row_targets(
    report: ReportSettings,
    aggregator: Grouped,
    columns: list[str],
    names: dict[str, dict[str, str]],
    media_settings: dict[str, dict[str, Any]],
) -> list[float | None]:
    """Each row's queue service-level percentage target, for shading the HTML table's service
    level (rows of one queue and medium only, as §3's service_level_target_pct)."""
    if "service_level" not in columns or not isinstance(aggregator, IntervalAggregator):
        return []
    target = "service_level_target_pct"
    return [row[target] for row in aggregator.rows([target], {}, names, media_settings)]


async def _write_exports(
    report: ReportSettings,
    period: Period,
    staging: Staging,
    view: ReportView,
    tallies: dict[str, int] | None = None,
) -> list[ExportedFile]:
    columns, rows, generated = view.columns, view.rows, view.generated_at
    # What the numbers are (§6): the grain, and in the interval grain the look-back and how
    # many events were counted, so the JSON alone says how to read it.
    interval = report.grain == "interval"
    counted = tallies or new_tallies()
    reading: dict[str, Any] = {"grain": report.grain}
    if interval:
        reading |= {
            "lookback": format_duration(report.lookback),
            "events_counted": counted["events_counted"],
        }
    files = []
    for fmt in report.formats:
        if fmt.startswith("ndjson"):
            continue
        path = staging.path(file_name(report.name, period.label, fmt))
        if fmt in _RENDERERS:
            # matplotlib and XlsxWriter are CPU work: a thread keeps heartbeats and signals
            # answered meanwhile.
            data = await in_thread(_RENDERERS[fmt], view)
            files.append(await write_bytes(path, data, fmt=fmt, rows=len(rows)))
        elif fmt.startswith("csv"):
            files.append(
                await write_csv(
                    path,
                    columns,
                    rows,
                    fmt=fmt,
                    neutralise_formulas=report.neutralise_formulas,
                )
            )
        else:
            document = {
                "report": report.name,
                **reading,
                "period": period_document(period),
                "generated_at": iso_utc(generated),
                "group_by": list(report.group_by),
                "metrics": [*report.metrics, *report.custom_metrics],
                "headline": view.headline,
                "columns": columns,
                "rows": rows,
            }
            files.append(await write_json(path, document, fmt=fmt, rows=len(rows)))
    return files


def _manifest(
    *,
    trigger: datetime | None,
    completeness: str,
    report: ReportSettings,
    period: Period,
    run_id: str,
    started: datetime,
    strategy: str,
    windows: int,
    lookback_windows: int,
    fetched: FetchResult,
    merge_counts: MergeCounts,
    tallies: dict[str, int],
    groups: int,
    stats: dict[str, Any],
) -> dict[str, Any]:
    """The manifest without its files (added once they are written)."""
    interval = report.grain == "interval"
    grain_counts = (
        {
            "events_counted": tallies["events_counted"],
            "ongoing_counted": tallies["ongoing_counted"],
            "lookback_windows": lookback_windows,
            # Seen in the fetched data, started before the look-back, with events in the
            # period: a longer lookback would count them (a fetch through the query sees only
            # some of them, jobs all).
            "lookback_missed": len(merge_counts.missed),
        }
        if interval
        else {"ongoing_skipped": tallies["ongoing_skipped"]}
    )
    return {
        "report": report.name,
        "run_id": run_id,
        "status": "complete",
        "completeness": completeness,
        "grain": report.grain,
        # The conversations read start here; the interval grain counts their events that were
        # emitted in the period (report-semantics §1).
        "lookback": format_duration(report.lookback) if interval else None,
        "conversations_from": iso_utc(selection_start(report, period)),
        "period": period_document(period),
        "started_at": iso_utc(started),
        "finished_at": iso_utc(datetime.now(UTC)),
        "trigger_at": iso_utc(trigger) if trigger is not None else None,
        "fetch": strategy,
        "counts": {
            "conversations": tallies["conversations"],
            **grain_counts,
            "groups": groups,
            "windows": windows,
            "windows_fetched": fetched.windows_fetched,
            "splits": len(fetched.splits),
            "jobs_resubmitted": fetched.jobs_resubmitted,
            "records_read": merge_counts.read,
            "duplicates_dropped": merge_counts.duplicates_dropped,
            "outside_period": merge_counts.outside_period,
            "malformed_skipped": tallies["malformed_skipped"] + fetched.rejected_records,
            "requests": stats["requests"],
            "retries": stats["retries"],
            "retries_by_cause": stats["retries_by_cause"],
            "throttled_429": stats["throttled_429"],
            "bytes_received": stats["bytes_received"],
        },
        "splits": fetched.splits,
        "files": [],
    }


def _file_entries(files: list[ExportedFile]) -> list[dict[str, Any]]:
    return [
        {"format": f.format, "name": f.name, "rows": f.rows, "bytes": f.bytes, "sha256": f.sha256}
        for f in files
    ]
