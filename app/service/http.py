"""The service's optional HTTP listener (``service.listen``): ``GET /healthz`` for liveness probes
and ``GET /metrics`` in the Prometheus text format, for dashboards and alerts.

``/healthz`` answers 200 while the scheduler and the heartbeat run, and while the service drains
on SIGTERM; 503 when either has stopped. A liveness probe must not restart a healthy process
because Genesys Cloud was down for a run: alert on ``genesys_reports_last_run_succeeded == 0``
instead (``genesys-reports check``, the container's HEALTHCHECK, fails on a failed last run).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from app.errors import ConfigError
from app.pipeline.run import RunOutcome

log = logging.getLogger(__name__)

_DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200)


class ServiceMetrics:
    """The service's counters and gauges, in a registry of their own (no process-wide state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.runs = Counter(
            "genesys_reports_runs", "Report runs, by outcome.", ["report", "status"], registry=r
        )
        self.duration = Histogram(
            "genesys_reports_run_duration_seconds",
            "Wall time of report runs (fetch, process, write, deliver).",
            ["report"],
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.running = Gauge(
            "genesys_reports_running", "Runs of the report in progress.", ["report"], registry=r
        )
        self.last_succeeded = Gauge(
            "genesys_reports_last_run_succeeded",
            "1 when the report's last run succeeded, 0 when it failed.",
            ["report"],
            registry=r,
        )
        self.last_success = Gauge(
            "genesys_reports_last_success_timestamp_seconds",
            "When the report's last successful run finished (Unix time).",
            ["report"],
            registry=r,
        )
        self.next_fire = Gauge(
            "genesys_reports_next_fire_timestamp_seconds",
            "When the report's schedule fires next (Unix time).",
            ["report"],
            registry=r,
        )
        self.conversations = Counter(
            "genesys_reports_conversations",
            "Conversations processed by successful runs (a re-run counts them again).",
            ["report"],
            registry=r,
        )
        self.api_requests = Counter(
            "genesys_reports_api_requests",
            "Genesys Cloud API requests made by successful runs.",
            ["report"],
            registry=r,
        )
        self.api_retries = Counter(
            "genesys_reports_api_retries",
            "Retried Genesys Cloud API requests of successful runs, by cause.",
            ["report", "cause"],
            registry=r,
        )
        self.api_throttled = Counter(
            "genesys_reports_api_throttled",
            "429 answers from Genesys Cloud in successful runs.",
            ["report"],
            registry=r,
        )

    def configure(self, reports: Iterable[str]) -> None:
        """The configured reports: their series exist from the start (at 0), those of reports
        no longer configured are dropped (a SIGHUP may remove one)."""
        names = set(reports)
        for name in names:
            for status in ("succeeded", "failed", "skipped", "cancelled"):
                self.runs.labels(name, status)
            self.running.labels(name)
        for gauge in (self.running, self.last_succeeded, self.last_success, self.next_fire):
            for report in _reports(gauge) - names:
                gauge.remove(report)

    def run_started(self, report: str) -> None:
        self.running.labels(report).inc()

    def run_finished(self, report: str, outcome: RunOutcome | None, seconds: float) -> None:
        """``outcome`` None: the run was cancelled (the service is stopping)."""
        self.running.labels(report).dec()
        self.duration.labels(report).observe(seconds)
        status = outcome.status if outcome is not None else "cancelled"
        self.runs.labels(report, status).inc()
        if outcome is None or outcome.status == "skipped":
            return  # another process ran the period: says nothing of this report's health
        self.last_succeeded.labels(report).set(1 if outcome.status == "succeeded" else 0)
        if outcome.status != "succeeded":
            return
        self.last_success.labels(report).set_to_current_time()
        counts: Mapping[str, Any] = outcome.manifest.get("counts") or {}
        self.conversations.labels(report).inc(_number(counts.get("conversations")))
        self.api_requests.labels(report).inc(_number(counts.get("requests")))
        self.api_throttled.labels(report).inc(_number(counts.get("throttled_429")))
        for cause, count in (counts.get("retries_by_cause") or {}).items():
            self.api_retries.labels(report, str(cause)).inc(_number(count))

    def next_fires(self, fires: Mapping[str, datetime | None]) -> None:
        self.next_fire.clear()
        for report, when in fires.items():
            if when is not None:
                self.next_fire.labels(report).set(when.timestamp())


def _reports(gauge: Gauge) -> set[str]:
    return {sample.labels["report"] for family in gauge.collect() for sample in family.samples}


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and value >= 0 else 0.0


@contextlib.asynccontextmanager
async def serving_http(
    host: str, port: int, metrics: ServiceMetrics, health: Callable[[], tuple[bool, dict[str, Any]]]
) -> AsyncIterator[str]:
    """Serve /healthz and /metrics on host:port for the block; yields the base URL."""

    async def healthz(request: web.Request) -> web.Response:
        healthy, body = health()
        return web.json_response(body, status=200 if healthy else 503)

    async def metrics_page(request: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(metrics.registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:  # taken, or not an address of this host
            reason = exc.strerror or str(exc)
            raise ConfigError(
                "settings", [f"service.listen: cannot listen on {host}:{port}: {reason}"]
            ) from None
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        url = f"http://{shown}:{bound_port}"
        log.info("health and metrics at %s/healthz and %s/metrics", url, url)
        yield url
    finally:
        await runner.cleanup()
