"""``genesys-reports serve``: the always-on scheduler.

APScheduler's ``AsyncIOScheduler`` (started inside the running loop) fires one cron job per
report, in the report's time zone; the period is computed at fire time. Around it:

- no overlap: one lock per report covers scheduled fires, catch-up and on-demand runs, and the
  jobs themselves have ``max_instances=1`` and ``coalesce=True``;
- catch-up: at start and after each run, every period within ``service.catch_up`` whose manifest
  is missing runs, oldest first;
- signals: SIGUSR1 runs every report's latest period now; SIGHUP reloads the settings (an
  invalid file keeps the old ones); SIGTERM/SIGINT stop new fires, give a running report
  ``shutdown_grace`` to finish, then cancel it cleanly (temporary files removed, async jobs
  deleted, no manifest);
- a heartbeat file, refreshed by the loop, which ``genesys-reports check`` reads;
- with ``service.listen``, GET /healthz and /metrics (``app.service.http``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.cron import parse_cron
from app.delivery.publish import report_key
from app.errors import ConfigError, DeliveryError
from app.models import Period
from app.periods import report_period
from app.pipeline.export import MANIFEST_NAME
from app.pipeline.run import RunOutcome, output_directory
from app.runner import Resources, resources, run_and_deliver
from app.service.catchup import recent_periods
from app.service.health import write_heartbeat
from app.service.http import ServiceMetrics, serving_http
from app.settings import ReportSettings, Settings, load_settings

log = logging.getLogger(__name__)


class Service:
    def __init__(self, config_path: Path, settings: Settings, *, run_now: bool = False) -> None:
        self._config_path = config_path
        self.settings = settings
        self._run_now = run_now
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._running: dict[str, str] = {}  # report -> period label
        self._last: dict[str, dict[str, Any]] = {}
        self._stop = asyncio.Event()
        self._scheduler: AsyncIOScheduler | None = None
        self._shared: Resources | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self.metrics = ServiceMetrics()

    # --- life cycle -----------------------------------------------------------------------

    async def serve(self) -> int:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stop.set)
        loop.add_signal_handler(signal.SIGINT, self._stop.set)
        loop.add_signal_handler(signal.SIGUSR1, self._on_demand)
        loop.add_signal_handler(signal.SIGHUP, self._reload)
        async with resources(self.settings) as shared, contextlib.AsyncExitStack() as http:
            self._shared = shared
            address = self.settings.service.listen_address()
            if address is not None:  # first: a port already taken fails before any fire
                await http.enter_async_context(serving_http(*address, self.metrics, self._health))
            self._scheduler = AsyncIOScheduler(timezone=UTC)
            self._schedule_all()
            self._scheduler.start()
            heartbeat = self._heartbeat_task = asyncio.create_task(self._heartbeat())
            try:
                log.info("serving %d reports", len(self.settings.reports))
                for report in self.settings.reports:
                    self._spawn(self._catch_up(report, include_latest=self._run_now))
                await self._stop.wait()
                log.info("stopping: no new runs; waiting up to %s for running reports", self._grace)
                self._scheduler.shutdown(wait=False)
                await self._drain()
            finally:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat
        log.info("stopped")
        return 0

    @property
    def _grace(self) -> str:
        return f"{self.settings.service.shutdown_grace.total_seconds():.0f} s"

    async def _drain(self) -> None:
        if not self._tasks:
            return
        grace = self.settings.service.shutdown_grace.total_seconds()
        _, pending = await asyncio.wait(self._tasks, timeout=grace)
        if pending:
            log.warning("cancelling %d runs still going after the grace period", len(pending))
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- scheduling -----------------------------------------------------------------------

    def _schedule_all(self) -> None:
        assert self._scheduler is not None
        self._scheduler.remove_all_jobs()
        for report in self.settings.reports:
            self._scheduler.add_job(
                self._fire,
                parse_cron(report.schedule, ZoneInfo(report.timezone)),
                args=[report.name],
                id=report.name,
                name=report.name,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=int(self.settings.service.misfire_grace.total_seconds()),
                replace_existing=True,
            )
        self.metrics.configure(r.name for r in self.settings.reports)
        self.metrics.next_fires(self._next_fires())

    def _next_fires(self) -> dict[str, datetime | None]:
        jobs = self._scheduler.get_jobs() if self._scheduler else []
        # Jobs added before the scheduler starts have no next_run_time yet.
        return {job.id: getattr(job, "next_run_time", None) for job in jobs}

    async def _fire(self, name: str) -> None:
        if self._stop.is_set():
            return
        self.metrics.next_fires(self._next_fires())
        report = self._report(name)
        if report is not None:
            log.info("scheduled fire of %s", name)
            await self._catch_up(report, include_latest=True, trigger=datetime.now(UTC))

    def _on_demand(self) -> None:
        log.info("SIGUSR1: running every report's latest period now")
        trigger = datetime.now(UTC)
        for report in self.settings.reports:
            self._spawn(self._run_latest(report, trigger))

    def _reload(self) -> None:
        try:
            settings = load_settings(self._config_path)
        except ConfigError as exc:
            log.error("SIGHUP: keeping the current settings; %s", exc)
            return
        changed = [
            section
            for section in ("genesys", "sandbox", "storage")
            if getattr(settings, section) != getattr(self.settings, section)
        ]
        keep: dict[str, Any] = {section: getattr(self.settings, section) for section in changed}
        if settings.service.listen != self.settings.service.listen:
            changed.append("service.listen")
            keep["service"] = settings.service.model_copy(
                update={"listen": self.settings.service.listen}
            )
        if changed:
            log.warning("SIGHUP: changes to %s take effect after a restart", ", ".join(changed))
        self.settings = settings.model_copy(update=keep)
        self._schedule_all()
        log.info("SIGHUP: settings reloaded; %d reports scheduled", len(settings.reports))

    def _report(self, name: str) -> ReportSettings | None:
        return next((r for r in self.settings.reports if r.name == name), None)

    # --- runs -----------------------------------------------------------------------------

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    async def _run_latest(self, report: ReportSettings, trigger: datetime) -> None:
        period = report_period(report.period, trigger, report.timezone, report.delay)
        await self._run(report, period, reason="on demand", answers=trigger)

    async def _catch_up(
        self, report: ReportSettings, *, include_latest: bool, trigger: datetime | None = None
    ) -> None:
        """Run the missing periods, oldest first; with ``include_latest`` the latest always."""
        now = datetime.now(UTC)
        periods = recent_periods(report, now, self.settings.service.catch_up)
        for index, period in enumerate(periods):
            if self._stop.is_set():
                return
            latest = index == len(periods) - 1
            if latest and include_latest:
                await self._run(report, period, reason="schedule", answers=trigger)
                continue
            try:
                done = await self._done(report, period)
            except DeliveryError as exc:
                # Not knowing what is done, running every period of the catch-up window would
                # only fail each at delivery: skip to the scheduled run; the next fire retries.
                log.error("%s: catch-up skipped, S3 cannot be checked: %s", report.name, exc)
                if include_latest and not latest:
                    await self._run(report, periods[-1], reason="schedule")
                return
            if not done:
                await self._run(report, period, reason="schedule" if latest else "catch-up")

    async def _done(self, report: ReportSettings, period: Period) -> bool:
        """A period is done when its manifest exists (in S3 when delivering there) and, with
        ``rerun_provisional``, does not say ``provisional``. Raises DeliveryError when S3
        cannot be asked."""
        shared = self._shared
        rerun_provisional = self.settings.service.rerun_provisional
        if shared is not None and shared.delivery is not None:
            dest = shared.delivery.dest
            key = report_key(dest.settings, report.name, period.label, MANIFEST_NAME)
            if not rerun_provisional:
                return await dest.exists(key)
            body = await dest.read(key)
        else:
            path = output_directory(self.settings, report, period) / MANIFEST_NAME
            if not rerun_provisional:
                return path.exists()
            try:
                body = path.read_bytes()
            except OSError:
                body = None
        if body is None:
            return False
        try:
            return bool(orjson.loads(body).get("completeness") != "provisional")
        except (orjson.JSONDecodeError, AttributeError):
            return False  # unreadable: run it again rather than trust it

    async def _run(
        self,
        report: ReportSettings,
        period: Period,
        *,
        reason: str,
        answers: datetime | None = None,
    ) -> None:
        async with self._lock(report.name):
            if self._stop.is_set() or self._shared is None:
                return
            self._running[report.name] = period.label
            log.info("run started: %s %s (%s)", report.name, period.label, reason)
            self.metrics.run_started(report.name)
            started = time.monotonic()
            outcome: RunOutcome | None = None
            try:
                outcome = await run_and_deliver(
                    self.settings, report, period, self._shared, answers=answers
                )
            finally:
                self._running.pop(report.name, None)
                self.metrics.run_finished(report.name, outcome, time.monotonic() - started)
            self._record(outcome)
            log.info("run finished: %s %s %s", report.name, period.label, outcome.status)

    def _record(self, outcome: RunOutcome) -> None:
        self._last[outcome.report] = {
            "status": outcome.status,
            "period": outcome.period.label,
            "finished_at": datetime.now(UTC).isoformat(),
            "error": outcome.error,
        }

    def _health(self) -> tuple[bool, dict[str, Any]]:
        """Alive while the loop answers and the heartbeat task lives; stopping is alive too (a
        liveness probe failing during ``shutdown_grace`` could only cut the drain short)."""
        if self._stop.is_set():
            status = "stopping"
        elif self._heartbeat_task is None or self._heartbeat_task.done():
            status = "heartbeat stopped"
        elif self._scheduler is None or not self._scheduler.running:
            status = "scheduler stopped"
        else:
            status = "ok"
        healthy = status in {"ok", "stopping"}
        return healthy, {"status": status, "running": dict(self._running), "last_runs": self._last}

    async def _heartbeat(self) -> None:
        interval = self.settings.service.heartbeat_interval.total_seconds()
        while True:
            fires = self._next_fires()
            self.metrics.next_fires(fires)
            write_heartbeat(
                self.settings.service.state_directory,
                {
                    "running": dict(self._running),
                    "last_runs": self._last,
                    "next_fires": {
                        name: when.isoformat() if when else None for name, when in fires.items()
                    },
                },
            )
            await asyncio.sleep(interval)
