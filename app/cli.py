"""The ``genesys-reports`` command line. It parses arguments, calls into the package and maps
errors to exit codes: 0 success, 1 a run failed, 2 the settings or arguments are invalid."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import SecretStr

from app.cron import parse_cron
from app.durations import format_duration
from app.errors import ConfigError, ReportsError
from app.regions import SANDBOX
from app.settings import SandboxSettings, Settings, load_settings, resolve_config_path


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config = getattr(args, "config", None)
    try:
        if args.command == "check-config":
            return _check_config(resolve_config_path(config))
        if args.command == "sandbox":
            return _sandbox(args, config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ReportsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    raise AssertionError(f"unhandled command {args.command}")  # argparse guarantees a command


def _check_config(path: Path) -> int:
    settings = load_settings(path)
    print(f"{path}: valid")
    print(_summary(settings))
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
