"""A report run as the command line and the service both need it: the pipeline, then the
delivery, then the notifications, sharing one process's resources (the Genesys client, the S3
client, one HTTP session). Failures become a failed ``RunOutcome`` with the cause; nothing
partial is ever committed (see ``app.pipeline.run`` and ``app.delivery.publish``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
import orjson

from app.claims import PeriodBusyError, period_claim
from app.delivery.notify import notify
from app.delivery.publish import DeliveryRun, amend_manifest, deliver, report_key
from app.durations import format_duration
from app.errors import DeliveryError, ReportsError
from app.genesys.client import GenesysClient
from app.logs import bind
from app.models import Period, iso_utc
from app.periods import parse_instant
from app.pipeline.export import MANIFEST_NAME
from app.pipeline.run import Progress, RunOutcome, output_directory, run_report
from app.redact import REDACTOR
from app.runtime import genesys_client
from app.settings import ReportSettings, Settings

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Resources:
    client: GenesysClient
    http: aiohttp.ClientSession
    delivery: DeliveryRun | None


@contextlib.asynccontextmanager
async def resources(settings: Settings) -> AsyncIterator[Resources]:
    """The Genesys client (and embedded sandbox), an HTTP session, and S3 when configured."""
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(genesys_client(settings))
        http = await stack.enter_async_context(aiohttp.ClientSession())
        delivery = None
        if settings.storage.kind == "s3" and settings.storage.s3 is not None:
            from app.delivery.s3 import open_s3

            dest = await stack.enter_async_context(open_s3(settings.storage.s3))
            delivery = DeliveryRun(dest, http)
        yield Resources(client, http, delivery)


async def run_and_deliver(
    settings: Settings,
    report: ReportSettings,
    period: Period,
    shared: Resources,
    *,
    progress: Progress | None = None,
    answers: datetime | None = None,
) -> RunOutcome:
    """Run and deliver one period, holding its claims (claims.py) for the whole run.

    ``answers``: the instant of the trigger this run answers (a scheduled fire, SIGUSR1),
    recorded in the manifest. A delivery of the period for a trigger within ``TRIGGER_GRACE``
    of it (another replica got the same fire or signal first) answers it too: the run is
    skipped then, so replicas sharing a bucket deliver each triggered period once, while a
    later trigger always runs again.
    """
    run_id = uuid.uuid4().hex[:12]
    limit = report.run_timeout.total_seconds()
    with bind(report=report.name, period=period.label, run_id=run_id):
        try:
            async with period_claim(
                settings.service.state_directory,
                report.name,
                period.label,
                run_id=run_id,
                run_timeout=report.run_timeout,
                dest=shared.delivery.dest if shared.delivery is not None else None,
                lease_margin=settings.service.lease_margin,
            ):
                if answers is not None:
                    done = await _delivered_since(settings, report, period, shared, answers)
                    if done is not None:
                        raise PeriodBusyError(done)
                async with asyncio.timeout(limit):
                    return await _run_and_deliver(
                        settings, report, period, shared, progress, run_id, answers
                    )
        except PeriodBusyError as busy:
            log.warning("report %s, period %s not run: %s", report.name, period.label, busy)
            return RunOutcome(
                report=report.name,
                period=period,
                run_id=run_id,
                status="skipped",
                error=REDACTOR(str(busy)),
            )
        except TimeoutError:
            # The run was cancelled inside (the same clean-up as SIGTERM); only the deadline's
            # own TimeoutError lands here, since _run_and_deliver turns every other failure
            # into a failed outcome.
            return _failed(
                report,
                period,
                run_id,
                f"cancelled after run_timeout ({format_duration(report.run_timeout)}); nothing "
                "partial was kept, the period is left for the next run",
            )
        except (DeliveryError, OSError) as exc:  # the claim itself could not be made
            return _failed(report, period, run_id, f"could not claim the period: {exc}")


# Triggers of two replicas this close are one trigger (a schedule's fire, one SIGUSR1 sent to
# both): clock skew and signal delivery, never two runs a person asked for.
TRIGGER_GRACE = timedelta(seconds=5)


async def _delivered_since(
    settings: Settings, report: ReportSettings, period: Period, shared: Resources, since: datetime
) -> str | None:
    """Why the period needs no run for a trigger at ``since``, or None: its manifest (in S3
    when delivering there) was made for a trigger within ``TRIGGER_GRACE`` of ``since``."""
    if shared.delivery is not None:
        dest = shared.delivery.dest
        body = await dest.read(report_key(dest.settings, report.name, period.label, MANIFEST_NAME))
    else:
        try:
            body = (output_directory(settings, report, period) / MANIFEST_NAME).read_bytes()
        except OSError:
            body = None
    if body is None:
        return None
    try:
        manifest = orjson.loads(body)
        trigger = parse_instant(str(manifest["trigger_at"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None  # no trigger recorded (a manual run, a catch-up): not this trigger's
    if abs(trigger - since) > TRIGGER_GRACE:
        return None
    return (
        f"already delivered for this trigger ({iso_utc(since)}) by run "
        f"{manifest.get('run_id')}, triggered at {iso_utc(trigger)}"
    )


async def _run_and_deliver(
    settings: Settings,
    report: ReportSettings,
    period: Period,
    shared: Resources,
    progress: Progress | None,
    run_id: str,
    trigger: datetime | None = None,
) -> RunOutcome:
    if shared.delivery is not None:
        shared.delivery.bucket_checks = None  # checked afresh for every run
    try:
        outcome = await run_report(
            settings,
            report,
            period,
            shared.client,
            progress=progress,
            run_id=run_id,
            trigger=trigger,
        )
        if shared.delivery is not None and outcome.manifest_path is not None:
            outcome.manifest = await deliver(
                shared.delivery,
                report=report.name,
                period_label=period.label,
                run_id=outcome.run_id,
                files=outcome.local_files(),
                manifest=outcome.manifest,
                manifest_path=outcome.manifest_path,
                link_expiry=report.link_expiry,
            )
    except asyncio.CancelledError:
        if shared.delivery is not None:
            _unmark(settings, report, period, run_id)
        raise
    except (ReportsError, OSError) as exc:
        return _failed(report, period, run_id, str(exc) or type(exc).__name__)
    except Exception as exc:  # a bug: say so, keep the traceback in the log, go on
        log.exception("report %s, period %s: unexpected error", report.name, period.label)
        return _failed(report, period, run_id, f"unexpected {type(exc).__name__}: {exc}")
    if report.notify and outcome.manifest_path is not None:
        await _notify(report, outcome, shared)
    return outcome


def _unmark(settings: Settings, report: ReportSettings, period: Period, run_id: str) -> None:
    """Cancelled between the local commit and the end of the delivery: the local manifest
    would say the period is done although S3 may not have it. Remove it if this run wrote it;
    the data files stay, and the next run or catch-up delivers the period."""
    path = output_directory(settings, report, period) / MANIFEST_NAME
    try:
        written_by = orjson.loads(path.read_bytes()).get("run_id")
    except (OSError, orjson.JSONDecodeError, AttributeError):
        return
    if written_by == run_id:
        path.unlink(missing_ok=True)
        log.warning(
            "report %s, period %s: cancelled before its delivery finished; removed %s",
            report.name,
            period.label,
            path,
        )


def _failed(report: ReportSettings, period: Period, run_id: str, error: str) -> RunOutcome:
    # The one place a run's error is kept: it reaches the heartbeat, /healthz, --json and
    # stderr, so it is redacted here, not only in the log.
    error = REDACTOR(error)
    log.error("report %s, period %s failed: %s", report.name, period.label, error)
    return RunOutcome(
        report=report.name, period=period, run_id=run_id, status="failed", error=error
    )


async def _notify(report: ReportSettings, outcome: RunOutcome, shared: Resources) -> None:
    """Best effort: the report is delivered whatever happens here."""
    assert outcome.manifest_path is not None
    results = await notify(shared.http, report.notify, outcome.manifest)
    try:
        outcome.manifest = await amend_manifest(
            shared.delivery, outcome.manifest_path, outcome.manifest, notifications=results
        )
    except (ReportsError, OSError) as exc:
        log.warning("report %s: could not record the notifications: %s", report.name, exc)
