"""The ``genesys-reports`` command line. It parses arguments, calls into the package and maps
errors to exit codes: 0 success, 1 a run failed, 2 the settings or arguments are invalid."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import orjson
from pydantic import SecretStr

from app.cron import dst_warnings, parse_cron
from app.durations import format_duration
from app.errors import ConfigError, ReportsError
from app.genesys.query import details_query
from app.logs import configure_logging
from app.models import Period
from app.periods import explicit_period, parse_instant, report_period, split_windows
from app.pipeline.grains import lookback_probes
from app.redact import REDACTOR
from app.regions import SANDBOX
from app.settings import (
    ReportSettings,
    SandboxSettings,
    Settings,
    StorageSettings,
    load_settings,
    resolve_config_path,
)

if TYPE_CHECKING:
    from app.pipeline.reconcile import Reconciliation
    from app.pipeline.run import RunOutcome


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="settings file (default: $GENESYS_REPORTS_CONFIG, else ./settings.yaml)",
    )
    parser = argparse.ArgumentParser(
        prog="genesys-reports",
        description="Scheduled business reports from Genesys Cloud conversation analytics.",
        parents=[common],
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log verbosity (logs go to stderr; JSON lines unless stderr is a terminal)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "check-config",
        parents=[common],
        help="validate the settings and summarise the reports",
        description="Validate the settings file; list every problem with its key (exit 2).",
    )
    sandbox = commands.add_parser(
        "sandbox",
        parents=[common],
        help="serve the embedded Genesys Cloud sandbox",
        description="Serve the Genesys Cloud emulator until interrupted. Its settings come "
        "from the sandbox section of the settings file, when there is one; flags override.",
    )
    sandbox.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    sandbox.add_argument("--port", type=int, help="port (default: any free port)")
    sandbox.add_argument("--client-id", help="OAuth client id the sandbox accepts")
    sandbox.add_argument("--client-secret", help="OAuth client secret the sandbox accepts")
    sandbox.add_argument("--seed", type=int, help="seed of the synthetic organisation")
    query = commands.add_parser(
        "query",
        parents=[common],
        help="print the request bodies a report would send, without sending them",
        description="Print, one JSON object a line, the detail-query body of each window of "
        "a report's period (page 1). Nothing is sent; no credentials are needed.",
    )
    query.add_argument("--report", required=True, help="the report's name")
    _period_arguments(query, required=True)
    run = commands.add_parser(
        "run",
        parents=[common],
        help="run reports once, end to end",
        description="Run reports for one period each and write their exports. Without "
        "--report, every report runs; without a period, each report's own `period` is used. "
        "With environment: sandbox the embedded sandbox is started in-process.",
    )
    run.add_argument("--report", action="append", default=[], help="a report's name (repeatable)")
    _period_arguments(run, required=False)
    run.add_argument(
        "--json", action="store_true", help="print one JSON object per report run on stdout"
    )
    reconcile = commands.add_parser(
        "reconcile",
        parents=[common],
        help="compare an interval-grain report with Genesys' aggregates API",
        description="Compute a report for one period (nothing is written or delivered) and "
        "compare every comparable value with Genesys' aggregates API: one line per differing "
        "value, a summary last. Exit 0 when everything matches, 1 when something differs or "
        "the comparison could not run.",
    )
    reconcile.add_argument("--report", required=True, help="the report's name")
    _period_arguments(reconcile, required=False)
    reconcile.add_argument("--json", action="store_true", help="print the result as JSON")
    dataset = commands.add_parser(
        "dataset",
        parents=[common],
        help="the Parquet dataset: table definitions for query engines",
        description="Print the SQL that defines the dataset's tables (events, conversations) "
        "for a query engine, at the dataset's location from the settings (storage.s3."
        "dataset_prefix in S3 mode, storage.dataset_directory otherwise).",
    )
    dataset_commands = dataset.add_subparsers(dest="dataset_command", required=True)
    ddl = dataset_commands.add_parser(
        "ddl", parents=[common], help="print CREATE TABLE / VIEW statements for an engine"
    )
    ddl.add_argument("--engine", required=True, choices=["athena", "trino", "spark", "duckdb"])
    ddl.add_argument("--location", help="where the tables are, instead of the settings' place")
    ddl.add_argument("--schema", default="genesys", help="the database/schema name (genesys)")
    serve = commands.add_parser(
        "serve",
        parents=[common],
        help="the always-on scheduler",
        description="Run every report on its schedule until SIGTERM/SIGINT. SIGUSR1 runs every "
        "report's latest period now; SIGHUP reloads the settings.",
    )
    serve.add_argument(
        "--run-now", action="store_true", help="run every report's latest period at start"
    )
    commands.add_parser(
        "check",
        parents=[common],
        help="health check of a running `serve` (for container HEALTHCHECKs)",
        description="Exit 0 when the service's heartbeat is fresh and no report's last run "
        "failed; exit 1 with the reason otherwise.",
    )
    return parser


def _dataset_ddl(args: argparse.Namespace, config: str | None) -> int:
    from app.dataset.ddl import ddl
    from app.delivery.keys import safe_prefix

    location = args.location
    if location is None:
        storage = load_settings(resolve_config_path(config)).storage
        if storage.kind == "s3" and storage.s3 is not None:
            prefix = safe_prefix(storage.s3.dataset_key_prefix)  # as the keys have it
            location = f"s3://{storage.s3.bucket}/{prefix}"
        else:
            location = str(storage.dataset_root.resolve())
    print(ddl(args.engine, location, schema=args.schema), end="")
    return 0


def _period_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument(
        "--period",
        help="previous_hour, previous_day, previous_week, previous_month (in the report's "
        "time zone) or a look-back duration such as PT6H",
    )
    group.add_argument("--start", help="ISO-8601 instant with offset, e.g. 2024-05-01T00:00+02:00")
    parser.add_argument("--end", help="ISO-8601 instant with offset (with --start)")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config = getattr(args, "config", None)
    configure_logging(args.log_level)
    try:
        if args.command == "check-config":
            return _check_config(resolve_config_path(config))
        if args.command == "sandbox":
            return _sandbox(args, config)
        if args.command == "query":
            return _query(args, load_settings(resolve_config_path(config)))
        if args.command == "run":
            return _run(args, load_settings(resolve_config_path(config)))
        if args.command == "reconcile":
            return _reconcile(args, load_settings(resolve_config_path(config)))
        if args.command == "dataset":
            return _dataset_ddl(args, config)
        if args.command == "serve":
            return _serve(args, resolve_config_path(config))
        if args.command == "check":
            return _check(load_settings(resolve_config_path(config)))
    except (ConfigError, ReportsError) as exc:
        print(f"error: {REDACTOR(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    raise AssertionError(f"unhandled command {args.command}")  # argparse guarantees a command


def _check_config(path: Path) -> int:
    settings = load_settings(path)
    print(f"{path}: valid")
    print(_summary(settings))
    now = datetime.now(UTC)
    for report in settings.reports:
        for warning in dst_warnings(report.schedule, report.timezone, now):
            print(f"warning: reports.{report.name}.schedule: {warning}")
    return 0


def _summary(settings: Settings) -> str:
    genesys = settings.genesys
    where = (
        "the embedded sandbox (no credentials needed)"
        if genesys.environment == SANDBOX
        else f"{genesys.environment} as client {genesys.client_id}"
    )
    lines = [
        f"  genesys: {where}; {genesys.requests_per_minute} requests/minute, "
        f"{genesys.max_concurrency} at once",
    ]
    storage = settings.storage
    if storage.kind == "s3" and storage.s3 is not None:
        lines.append(
            f"  storage: s3://{storage.s3.bucket}/{storage.s3.prefix} "
            f"(links expire after {format_duration(storage.s3.presign_expiry)})"
        )
    else:
        lines.append(f"  storage: local directory {storage.directory}")
    lines.append(f"  reports ({len(settings.reports)}):")
    now = datetime.now(UTC)
    for report in settings.reports:
        zone = ZoneInfo(report.timezone)
        fire = parse_cron(report.schedule, zone).get_next_fire_time(None, now.astimezone(zone))
        next_fire = fire.strftime("%Y-%m-%d %H:%M %Z") if fire else "never"
        custom = f" + {len(report.custom_metrics)} custom" if report.custom_metrics else ""
        group = ", ".join(report.group_by) or "(whole period)"
        lines.append(
            f"    {report.name}: {report.period} in {report.timezone}, "
            f'schedule "{report.schedule}" (next {next_fire}), '
            f"window {format_duration(report.window)}, group by {group}, "
            f"{len(report.metrics)} metrics{custom}, formats {', '.join(report.formats)}"
        )
    return "\n".join(lines)


def _period(args: argparse.Namespace, report: ReportSettings) -> Period:
    """The period named on the command line; bad input is a usage error (exit 2)."""
    try:
        if args.start is not None:
            if args.end is None:
                raise ValueError("--start needs --end")
            return explicit_period(
                parse_instant(args.start), parse_instant(args.end), report.timezone
            )
        if args.end is not None:
            raise ValueError("--end needs --start")
        period = args.period or report.period
        return report_period(period, datetime.now(UTC), report.timezone, report.delay)
    except ValueError as exc:
        raise ConfigError("command line", [f"period: {exc}"]) from None


def _report(settings: Settings, name: str) -> ReportSettings:
    try:
        return settings.report(name)
    except KeyError as exc:
        raise ConfigError("command line", [f"--report: {exc.args[0]}"]) from None


def _query(args: argparse.Namespace, settings: Settings) -> int:
    report = _report(settings, args.report)
    period = _period(args, report)
    # What a run with fetch: query asks: the look-back's probe windows, then the period's.
    for window in lookback_probes(report, period) + split_windows(period, report.window):
        body = details_query(report.filters, window).page(1, settings.genesys.page_size).body()
        sys.stdout.write(orjson.dumps(body).decode() + "\n")
    return 0


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from app.cleanup import sweep_leftovers

    reports = [_report(settings, name) for name in args.report] or list(settings.reports)
    plan = [(report, _period(args, report)) for report in reports]
    sweep_leftovers(settings)  # what a killed run left behind

    async def main() -> int:
        # SIGTERM (docker stop, a CronJob's eviction) cancels the run, so its temporary and
        # staging files are removed on the way out, as for Ctrl-C.
        task = asyncio.current_task()
        if task is not None:
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await _run_reports(settings, plan, as_json=args.json)

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:
        print("error: stopped by SIGTERM; nothing partial was kept", file=sys.stderr)
        return 143


async def _run_reports(
    settings: Settings, plan: list[tuple[ReportSettings, Period]], *, as_json: bool
) -> int:
    from app.progress import RunProgress
    from app.runner import resources, run_and_deliver

    outcomes: list[RunOutcome] = []
    async with resources(settings) as shared:
        for report, period in plan:
            progress = RunProgress(f"{report.name} {period.label}")
            try:
                outcome = await run_and_deliver(
                    settings, report, period, shared, progress=progress.hooks()
                )
            finally:
                progress.close()
            if outcome.error:
                print(
                    f"error: report {report.name}, period {period.label} failed: {outcome.error}",
                    file=sys.stderr,
                )
            outcomes.append(outcome)
            _print_outcome(outcome, as_json=as_json)
    return 0 if all(o.status == "succeeded" for o in outcomes) else 1


def _reconcile(args: argparse.Namespace, settings: Settings) -> int:
    import tempfile

    from app.pipeline.run import run_report
    from app.runtime import genesys_client

    report = _report(settings, args.report)
    if report.grain != "interval":
        raise ConfigError(
            "command line",
            [f"--report: {report.name} has grain: conversation, which has nothing to reconcile"],
        )
    period = _period(args, report)
    # The report's own numbers, computed in a scratch directory: nothing is kept or delivered.
    checked = report.model_copy(update={"reconcile": "on", "formats": ["json"], "notify": []})

    async def main() -> RunOutcome:
        with tempfile.TemporaryDirectory(prefix="genesys-reports-reconcile-") as scratch:
            local = settings.model_copy(
                update={"storage": StorageSettings(directory=Path(scratch)), "reports": [checked]}
            )
            async with genesys_client(settings) as client:
                return await run_report(local, checked, period, client)

    outcome = asyncio.run(main())
    document = outcome.manifest.get("reconciliation", {})
    result = outcome.reconciliation
    if args.json:
        full = result.as_dict(listed=None) if result is not None else {}
        sys.stdout.write(orjson.dumps({**document, **full}).decode() + "\n")
    elif result is None:
        print(f"{report.name} {period.label}: not compared: {document.get('reason')}")
    else:
        for line in _difference_table(result):
            print(line)
        requests = f"{document.get('requests')} request(s)"
        if result.compared == 0:
            print(
                f"{report.name} {period.label}: nothing to compare, neither side counted an "
                f"event in the period ({requests})"
            )
        else:
            print(
                f"{report.name} {period.label}: {result.equal} of {result.compared} values "
                f"equal Genesys' ({result.different} different, {requests})"
            )
    return 0 if result is not None and result.different == 0 else 1


def _difference_table(result: Reconciliation) -> list[str]:
    """One aligned line per differing value under a header; nothing when all are equal."""
    if not result.differences:
        return []
    header = ("GROUP", "BUCKET", "METRIC", "STAT", "OURS", "GENESYS")
    lines = [header] + [
        (
            d.group_text(),
            d.bucket or "-",
            d.metric,
            d.stat,
            str(d.ours),
            str(d.genesys),
        )
        for d in result.differences
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    ]


REQUIRE_REAL_ORG = "GENESYS_REPORTS_REQUIRE_REAL_ORG"


def refuse_sandbox_where_required(
    settings: Settings, path: Path, environ: Mapping[str, str]
) -> None:
    """The container image sets ``GENESYS_REPORTS_REQUIRE_REAL_ORG=1``: there, a ``serve`` that
    finds the built-in sandbox settings (the settings mount is missing or wrong) must stop, not
    deliver synthetic reports and report itself healthy."""
    if settings.genesys.environment != SANDBOX or environ.get(REQUIRE_REAL_ORG, "0") != "1":
        return
    raise ConfigError(
        str(path),
        [
            "genesys.environment: sandbox (synthetic data), and this image serves a real org "
            f"only ({REQUIRE_REAL_ORG}=1): mount your settings at {path} (or point "
            f"GENESYS_REPORTS_CONFIG at them), or set {REQUIRE_REAL_ORG}=0 to serve the sandbox "
            "on purpose"
        ],
    )


def _serve(args: argparse.Namespace, path: Path) -> int:
    from app.cleanup import sweep_leftovers
    from app.service.serve import Service

    settings = load_settings(path)
    refuse_sandbox_where_required(settings, path, os.environ)
    sweep_leftovers(settings)  # what a killed run left behind
    return asyncio.run(Service(path, settings, run_now=args.run_now).serve())


def _check(settings: Settings) -> int:
    from app.service.health import check

    service = settings.service
    problem = check(service.state_directory, service.heartbeat_interval.total_seconds())
    if problem is not None:
        print(f"unhealthy: {REDACTOR(problem)}", file=sys.stderr)
        return 1
    print("healthy")
    return 0


def _json_files(outcome: RunOutcome) -> list[dict[str, str]]:
    delivered = {f["name"]: f for f in outcome.manifest.get("files", []) if "url" in f}
    files = []
    for exported, path in outcome.files:
        entry = {"format": exported.format, "path": str(path)}
        if exported.name in delivered:
            entry["key"] = delivered[exported.name]["key"]
            entry["url"] = delivered[exported.name]["url"]
            entry["url_expires_at"] = delivered[exported.name]["url_expires_at"]
        files.append(entry)
    return files


def _print_outcome(outcome: RunOutcome, *, as_json: bool) -> None:
    if as_json:
        document = {
            "report": outcome.report,
            "period": {
                "start": outcome.period.start.isoformat(),
                "end": outcome.period.end.isoformat(),
                "label": outcome.period.label,
            },
            "status": outcome.status,
            "files": _json_files(outcome),
            "manifest": outcome.manifest,
        }
        if outcome.error:
            document["error"] = outcome.error
        sys.stdout.write(orjson.dumps(document).decode() + "\n")
        sys.stdout.flush()
        return
    if outcome.status != "succeeded":
        return
    counts = outcome.manifest.get("counts", {})
    where = outcome.manifest_path.parent if outcome.manifest_path else "?"
    formats = ", ".join(f.format for f, _ in outcome.files)
    print(
        f"{outcome.report} {outcome.period.label}: {counts.get('conversations', 0)} "
        f"conversations, {counts.get('groups', 0)} rows -> {where} ({formats})",
        flush=True,
    )


def _sandbox(args: argparse.Namespace, config: str | None) -> int:
    path = resolve_config_path(config)
    base = load_settings(path).sandbox if config or path.exists() else SandboxSettings()
    overrides: dict[str, object] = {}
    if args.client_id is not None:
        overrides["client_id"] = args.client_id
    if args.client_secret is not None:
        overrides["client_secret"] = SecretStr(args.client_secret)
    if args.seed is not None:
        overrides["seed"] = args.seed
    settings = base.model_copy(update=overrides)
    return asyncio.run(_serve_sandbox(settings, args.host, args.port))


async def _serve_sandbox(settings: SandboxSettings, host: str | None, port: int | None) -> int:
    from app.sandbox.server import running_sandbox

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with running_sandbox(settings, host=host, port=port) as running:
        print(
            "Genesys Cloud sandbox ready\n"
            f"  base URL:      {running.base_url}  (use as genesys.api_url and genesys.login_url)\n"
            f"  client id:     {running.client_id}\n"
            f"  client secret: {running.client_secret}\n"
            f"  seed:          {settings.seed}\n"
            "Press Ctrl-C to stop.",
            flush=True,
        )
        await stop.wait()
    return 0
