"""The chaos soak: many report runs under random faults, each checked against a fault-free run.

    .venv/bin/python -m tests.chaos.soak [--runs N] [--fault-rate R] [--s3-fault-rate R] [--seed S]

Every run goes through ``app.runner.resources`` and ``app.runner.run_and_deliver``, the path
``genesys-reports run`` takes (pipeline, S3 delivery, notifications), in this one process:

- the *reference*: each report and day once against a fault-free sandbox, written locally;
- the *faulty runs*: the same reports and days, repeated, each against a sandbox injecting
  random faults on every endpoint (429 with and without Retry-After, 500/502/503/504, resets,
  slow answers past the client's timeout, truncated and bad JSON, token revocation, async jobs
  FAILED/EXPIRED, and faults on the token endpoint), delivering to S3 through a proxy that
  answers SlowDown/InternalError, resets or stalls now and then (tests/chaos/s3proxy.py).

Both sandboxes have the same seed and pinned ``now``, so they serve identical data. Each faulty
run has its own storage directory, spool directory and S3 prefix; afterwards it must be either

(a) succeeded, with CSV/NDJSON byte-identical to the reference and JSON identical apart from
    ``generated_at``, and its S3 copies (read back through their presigned links) the same bytes
    as its local files, with the remote manifest equal to the local one; or
(b) failed loudly (a non-empty error) with no manifest, locally or in S3.

Anything else is a wrong report. After every run nothing may be left behind: no staging
directory, no temporary manifest, nothing in the spool directory, no file a manifest does not
list; and no file may be left open (a ResourceWarning when the file object is collected). The
closing figures say how many runs, requests, faults and retries there were and how each run
ended; the exit status is 1 when there is a wrong report or a file left behind or open.

Defaults (256 runs: 4 reports x 8 days x 8; about 28,000 requests, 13-14 % of them faulted) take
about five minutes on two cores. The S3 test server is $GR_S3_ENDPOINT when set, else a
ministack started for the soak (tests/s3server.py). ``--work-dir`` keeps every run's files and
``runs.jsonl``, one line per run with its requests, faults, retries and verdict.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import gzip
import logging
import random
import re
import shutil
import sys
import tempfile
import time
import tracemalloc
import uuid
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import aioboto3
import aiohttp
import orjson

from app.models import Period
from app.periods import previous_period
from app.pipeline.export import MANIFEST_NAME
from app.pipeline.run import RunOutcome, output_directory
from app.runner import resources, run_and_deliver
from app.sandbox.faults import FaultPlan
from app.sandbox.server import RunningSandbox, running_sandbox
from app.settings import FaultSettings, ReportSettings, SandboxSettings, Settings
from tests.chaos.s3proxy import (
    BYPASS_HEADER,
    S3_FAULT_KINDS,
    FaultyS3Proxy,
    S3FaultSettings,
    Scope,
)
from tests.s3server import (
    DELIVERY_ACTIONS,
    Credentials,
    S3Server,
    bucket_policy,
    client_config,
    create_bucket,
    create_user,
    session_server,
    sha256_hex,
)

# A Friday morning; the eight days before it lie wholly in the sandbox's past (and before the
# async jobs' availability watermark, two hours behind the sandbox clock).
NOW = datetime(2024, 5, 10, 10, 30, tzinfo=UTC)
SANDBOX_SEED = 7

# The reports: query and async-job fetching, several group-bys, time zones and formats.
REPORTS: tuple[dict[str, Any], ...] = (
    {
        "name": "queues-hourly",
        "timezone": "Europe/Berlin",
        "window": "PT1H",
        "fetch": "query",
        "group_by": ["queue_id"],
        "formats": ["csv", "json"],
    },
    {
        "name": "agents-media",
        "timezone": "UTC",
        "window": "PT2H",
        "fetch": "query",
        "group_by": ["agent_id", "media_type"],
        "metrics": [
            "conversations",
            "answered",
            "transferred",
            "avg_talk_seconds",
            "avg_hold_seconds",
            "avg_acw_seconds",
            "avg_handle_seconds",
            "p50_handle_seconds",
            "p90_handle_seconds",
            "talk_ratio",
            "wrapup_codes",
        ],
        "formats": ["csv", "json", "ndjson"],
    },
    {
        "name": "queue-hours-jobs",
        "timezone": "Europe/Berlin",
        "fetch": "jobs",
        "group_by": ["queue_id", "hour"],
        "formats": ["csv.gz", "json.gz"],
    },
    {
        # auto with three windows: the query path, with many pages per window.
        "name": "wrapups-auto",
        "timezone": "America/New_York",
        "window": "PT8H",
        "fetch": "auto",
        "group_by": ["wrapup_code", "direction"],
        "custom_metrics": {"answered_share": "answered / max(offered, 1)"},
        "formats": ["csv", "json"],
    },
)

# Relative weights of the Genesys faults; "429" is split between Retry-After 0 and 1 s.
GENESYS_WEIGHTS: dict[str, float] = {
    "429": 1.0,
    "429_no_retry_after": 1.0,
    "500": 1.0,
    "502": 1.0,
    "503": 1.0,
    "504": 1.0,
    "reset": 1.0,
    "slow": 0.5,
    "truncated": 1.0,
    "bad_json": 1.0,
    "revoke_token": 0.5,
}
RETRY_AFTER_ONE_SHARE = 0.3  # of the 429s with Retry-After, the share saying 1 s (else 0 s)
# The harsh mix of the hardening audit (issue 13): a 429 on a third of the requests, a 503 on a
# fifth, resets and truncations besides, and tokens that live 3 s.
HARSH_MARGINALS: dict[str, float] = {"429": 1 / 3, "503": 1 / 5, "reset": 0.05, "truncated": 0.05}
HARSH_TOKEN_LIFETIME = "PT3S"
Mix = Literal["random", "harsh"]

log = logging.getLogger("chaos.soak")


# --- options ------------------------------------------------------------------------------


@dataclass(slots=True)
class SoakOptions:
    runs: int = 256  # faulty runs: 4 reports x 8 days x 8 repetitions
    fault_rate: float = 0.15  # share of Genesys requests (token requests too) faulted
    job_fault_rate: float = 0.1  # share of job submissions ending FAILED or EXPIRED
    s3_fault_rate: float = 0.08  # share of S3 requests faulted by the proxy
    s3_scope: Scope = "all"
    mix: Mix = "random"  # "harsh": HARSH_MARGINALS on every endpoint, 3 s tokens
    seed: int = 1
    lanes: int = 4  # faulty runs at once, each with its own sandbox and S3 proxy
    days: int = 8
    reports: int = len(REPORTS)
    page_size: int = 10
    peak_per_hour: int = 80  # conversations in a weekday's busiest hour
    request_timeout: float = 0.5
    slow_seconds: float = 0.7  # an injected slow answer: past the request timeout
    s3_stall_seconds: float = 0.4
    # Faults every run meets for sure, before the random ones: Genesys kinds (or "ok") taken by
    # the run's API requests in arrival order; S3 kinds by request class (s3proxy.request_class).
    genesys_script: tuple[str, ...] = ()
    s3_script: dict[str, tuple[str, ...]] = field(default_factory=dict)
    run_timeout: float = 300.0  # a run still going after this is a hang: a wrong report
    work_dir: Path | None = None  # kept when given; a temporary directory otherwise
    progress: Callable[[str], None] | None = None

    def check(self) -> None:
        for name in ("fault_rate", "job_fault_rate", "s3_fault_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], not {value}")
        if self.runs < 1 or self.lanes < 1 or self.days < 1:
            raise ValueError("runs, lanes and days must be at least 1")
        if not 1 <= self.reports <= len(REPORTS):
            raise ValueError(f"reports must be within 1..{len(REPORTS)}")
        if self.slow_seconds <= self.request_timeout:
            raise ValueError("slow_seconds must exceed request_timeout (a slow answer times out)")


# --- settings -----------------------------------------------------------------------------


def sandbox_settings(options: SoakOptions) -> SandboxSettings:
    return SandboxSettings.model_validate(
        {
            "seed": SANDBOX_SEED,
            "now": NOW,
            "volume": {"peak_per_hour": options.peak_per_hour},
            # The soak is about faults, not the rate limit: real 429s would only slow it down.
            "rate_limit_per_minute": 1_000_000,
            "jobs": {"delay": "PT0.2S"},
            **({"token_lifetime": HARSH_TOKEN_LIFETIME} if options.mix == "harsh" else {}),
        }
    )


def _spread(
    weights: dict[str, float], rate: float, **common: Any
) -> list[tuple[str, float, dict[str, Any]]]:
    """(kind, marginal probability, extra fields) for each kind, ``rate`` in all."""
    total = sum(weights.values())
    out: list[tuple[str, float, dict[str, Any]]] = []
    for kind, weight in weights.items():
        share = rate * weight / total
        if kind == "429":
            out.append(("429", share * (1 - RETRY_AFTER_ONE_SHARE), {"retry_after_seconds": 0}))
            out.append(("429", share * RETRY_AFTER_ONE_SHARE, {"retry_after_seconds": 1}))
        else:
            out.append((kind, share, {}))
    return [(kind, share, {**common, **extra}) for kind, share, extra in out]


def _sequential(
    endpoint: str, marginals: list[tuple[str, float, dict[str, Any]]]
) -> list[FaultSettings]:
    """Rules whose probabilities, tried in order (the first hit wins), give each kind its
    marginal share: p_i = m_i / (1 - m_1 - ... - m_(i-1))."""
    rules, taken = [], 0.0
    for kind, marginal, extra in marginals:
        if marginal <= 0:
            continue
        probability = min(1.0, marginal / (1.0 - taken)) if taken < 1.0 else 0.0
        taken += marginal
        rules.append(
            FaultSettings.model_validate(
                {"endpoint": endpoint, "kind": kind, "probability": probability, **extra}
            )
        )
    return rules


def fault_rules(options: SoakOptions) -> list[FaultSettings]:
    """Random faults on every endpoint at ``fault_rate``; job outcomes at ``job_fault_rate``."""
    common = {"slow_seconds": options.slow_seconds}
    jobs: list[tuple[str, float, dict[str, Any]]] = [
        ("job_failed", options.job_fault_rate / 2, {}),
        ("job_expired", options.job_fault_rate / 2, {}),
    ]
    token_weights = {k: w for k, w in GENESYS_WEIGHTS.items() if k != "revoke_token"}
    if options.mix == "harsh":
        marginals = [
            (kind, share, {**common, **extra})
            for name, rate in HARSH_MARGINALS.items()
            for kind, share, extra in _spread({name: 1.0}, rate)
        ]
        return [
            *_sequential("jobs_submit", jobs),
            *_sequential("token", marginals),
            *_sequential("*", marginals),
        ]
    scripted = []
    if options.genesys_script:
        scripted.append(
            FaultSettings.model_validate(
                {"endpoint": "*", "script": list(options.genesys_script), **common}
            )
        )
    return [
        *scripted,
        *_sequential("jobs_submit", jobs),
        *_sequential("token", _spread(token_weights, options.fault_rate, **common)),
        *_sequential("*", _spread(GENESYS_WEIGHTS, options.fault_rate, **common)),
    ]


def genesys_section(
    options: SoakOptions, base_url: str, *, request_timeout: float | None = None
) -> dict[str, Any]:
    return {
        "environment": "sandbox",
        "api_url": base_url,
        "login_url": base_url,
        "requests_per_minute": 100_000,
        "max_concurrency": 8,
        "page_size": options.page_size,
        "request_timeout": request_timeout or options.request_timeout,
        "retry_backoff": "PT0.05S",
        "retry_backoff_max": "PT0.5S",
        "job_poll_interval": "PT0.1S",
        "job_timeout": "PT2M",
        "job_page_size": options.page_size,
    }


def report_settings(options: SoakOptions) -> list[ReportSettings]:
    return [ReportSettings.model_validate(r) for r in REPORTS[: options.reports]]


def periods(report: ReportSettings, days: int) -> list[Period]:
    return [
        previous_period("previous_day", NOW - timedelta(days=day), report.timezone)
        for day in range(days)
    ]


# --- the S3 side --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class S3Target:
    server: S3Server
    bucket: str
    user: Credentials


def prepare_s3(server: S3Server) -> S3Target:
    """A bucket as a delivery bucket should be, and an IAM user allowed only what delivery
    needs (ministack checks the signatures of IAM users, not of the root key)."""
    bucket = create_bucket(server)
    user = create_user(server, bucket_policy(bucket, DELIVERY_ACTIONS))
    return S3Target(server, bucket, user)


@contextlib.asynccontextmanager
async def admin_client(server: S3Server) -> AsyncIterator[Any]:
    """Straight to ministack (no proxy, no faults), with the admin key."""
    session = aioboto3.Session()
    async with session.client(
        "s3",
        region_name=server.region,
        endpoint_url=server.endpoint,
        aws_access_key_id=server.admin.access_key_id,
        aws_secret_access_key=server.admin.secret_access_key,
        config=client_config(),
    ) as client:
        yield client


# --- comparing ----------------------------------------------------------------------------

_GENERATED_AT = re.compile(rb'"generated_at":"[^"]*"')


def _plain(name: str, data: bytes) -> bytes:
    return gzip.decompress(data) if name.endswith(".gz") else data


def same_report_file(name: str, reference: bytes, candidate: bytes) -> str | None:
    """None when ``candidate`` is the reference's file; else what differs."""
    if ".json" in name:
        want = _plain(name, reference)
        got = _plain(name, candidate)
        if _GENERATED_AT.sub(b"", want) == _GENERATED_AT.sub(b"", got):
            return None
        # The bytes tell it; the parsed form says where, for the report.
        a, b = orjson.loads(want), orjson.loads(got)
        a.pop("generated_at", None)
        b.pop("generated_at", None)
        keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        return f"{name}: JSON differs from the reference (apart from generated_at) in {keys}"
    if reference == candidate:
        return None
    return (
        f"{name}: {len(candidate)} bytes (sha256 {sha256_hex(candidate)[:12]}), the reference has "
        f"{len(reference)} (sha256 {sha256_hex(reference)[:12]})"
    )


def _differs(name: str, one: bytes | None, other: bytes | None) -> str | None:
    if one is None or other is None:
        return f"{name} was written by one run only"
    return same_report_file(name, one, other)


def leftovers(storage: Path, spool: Path, final_dir: Path, listed: set[str] | None) -> list[str]:
    """What a finished run left that it should not have. ``listed`` is what the manifest lists
    (with the manifest itself), or None when there is no manifest: then nothing may be there."""
    found = [f"spool: {p.relative_to(spool)}" for p in sorted(spool.rglob("*"))]
    if storage.exists():
        for path in sorted(storage.rglob("*")):
            if path.name.startswith("."):  # staging directories, temporary manifests
                found.append(f"hidden: {path.relative_to(storage)}")
    if final_dir.is_dir():
        for path in sorted(final_dir.iterdir()):
            if path.name.startswith("."):
                continue
            if listed is None or path.name not in listed:
                found.append(f"not in a manifest: {path.relative_to(storage)}")
    return found


# --- one run ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Job:
    index: int
    report: ReportSettings
    period: Period

    @property
    def key(self) -> tuple[str, str]:
        return (self.report.name, self.period.label)


@dataclass(slots=True)
class RunRecord:
    index: int
    report: str
    period: str
    status: str
    error: str | None
    seconds: float
    genesys_requests: int = 0
    genesys_faults: Counter[str] = field(default_factory=Counter)
    genesys_retries: Counter[str] = field(default_factory=Counter)
    s3_requests: int = 0
    s3_faults: Counter[str] = field(default_factory=Counter)
    s3_retries: int = 0
    wrong: list[str] = field(default_factory=list)  # "what went wrong -- details"
    left_behind: list[str] = field(default_factory=list)
    s3_orphans: int = 0  # objects of a failed run (no manifest): the README says they stay
    splits: int = 0  # windows a succeeded run split after timeouts (its manifest's counts)
    kept_local: int = 0  # exports a failed delivery kept locally, as its error says

    @property
    def faults(self) -> int:
        return sum(self.genesys_faults.values()) + sum(self.s3_faults.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "report": self.report,
            "period": self.period,
            "status": self.status,
            "error": self.error,
            "seconds": round(self.seconds, 3),
            "genesys_requests": self.genesys_requests,
            "genesys_faults": dict(self.genesys_faults),
            "genesys_retries": dict(self.genesys_retries),
            "s3_requests": self.s3_requests,
            "s3_faults": dict(self.s3_faults),
            "s3_retries": self.s3_retries,
            "wrong": self.wrong,
            "left_behind": self.left_behind,
            "s3_orphans": self.s3_orphans,
            "splits": self.splits,
            "kept_local": self.kept_local,
        }


@dataclass(slots=True)
class Lane:
    """One faulty sandbox and one S3 proxy; runs on a lane go one after another, so each
    run's requests and faults are counted exactly."""

    sandbox: RunningSandbox
    proxy: FaultyS3Proxy


class Soak:
    def __init__(self, options: SoakOptions, target: S3Target, work: Path) -> None:
        options.check()
        self.options = options
        self.target = target
        self.work = work
        self.reports = report_settings(options)
        self.rules = fault_rules(options)
        self.references: dict[tuple[str, str], dict[str, bytes]] = {}
        self.records: list[RunRecord] = []
        self.reference_runs = 0
        self._admin: Any = None
        self._http: aiohttp.ClientSession | None = None
        self._journal = work / "runs.jsonl"
        # Every soak has its own S3 prefix, so soaks sharing a bucket never see each other.
        self.tag = f"{options.seed}-{uuid.uuid4().hex[:8]}"

    def plan(self) -> list[Job]:
        combos = [(r, p) for r in self.reports for p in periods(r, self.options.days)]
        rng = random.Random(f"plan:{self.options.seed}")
        rng.shuffle(combos)
        return [
            Job(i, *combos[i % len(combos)])
            for i in range(self.options.runs)  # every combination before any repeats
        ]

    def _say(self, text: str) -> None:
        if self.options.progress is not None:
            self.options.progress(text)

    # --- the reference ------------------------------------------------------------------

    def prewarm(self, running: RunningSandbox, jobs: Sequence[Job]) -> None:
        """Generate the days the runs ask for up front: the sandbox generates an hour's
        conversations when first asked, on the event loop, which would stall runs meanwhile."""
        start = min(job.period.start for job in jobs) - timedelta(days=1)
        running.sandbox.source.started_between(
            round(start.timestamp() * 1000), round(NOW.timestamp() * 1000)
        )

    async def reference(self, jobs: Sequence[Job]) -> None:
        distinct = list({job.key: job for job in jobs}.values())
        async with running_sandbox(sandbox_settings(self.options)) as sandbox:
            self.prewarm(sandbox, jobs)
            queue: asyncio.Queue[Job] = asyncio.Queue()
            for job in distinct:
                queue.put_nowait(job)

            async def worker() -> None:
                while not queue.empty():
                    job = queue.get_nowait()
                    # Twice, and the two must agree: then one reference per report and day
                    # stands for the fault-free twin of every faulty run of it.
                    first = await self._reference_run(sandbox, job, 1)
                    second = await self._reference_run(sandbox, job, 2)
                    problems = [
                        problem
                        for name in sorted(first.keys() | second.keys())
                        if (problem := _differs(name, first.get(name), second.get(name)))
                    ]
                    if problems:
                        raise RuntimeError(
                            f"two fault-free runs of {job.report.name} {job.period.label} "
                            f"differ, so nothing can be compared with them: {problems}"
                        )
                    self.references[job.key] = first
                    self.reference_runs += 2

            async with asyncio.TaskGroup() as group:
                for _ in range(self.options.lanes):
                    group.create_task(worker())

    async def _reference_run(
        self, sandbox: RunningSandbox, job: Job, attempt: int
    ) -> dict[str, bytes]:
        root = self.work / "reference" / f"{job.report.name}_{job.period.label}_{attempt}"
        spool = root / "spool"
        spool.mkdir(parents=True)
        settings = Settings.model_validate(
            {
                # Fault-free: a generous timeout, so a busy event loop cannot fail it.
                "genesys": genesys_section(self.options, sandbox.base_url, request_timeout=60),
                "service": {"state_directory": str(root / "state")},
                "storage": {
                    "kind": "local",
                    "directory": str(root / "reports"),
                    "spool_directory": str(spool),
                },
                "reports": [job.report],
            }
        )
        async with resources(settings) as shared:
            outcome = await run_and_deliver(settings, job.report, job.period, shared)
        if outcome.status != "succeeded":
            raise RuntimeError(
                f"the fault-free reference run of {job.report.name} {job.period.label} "
                f"failed: {outcome.error}"
            )
        files = {path.name: path.read_bytes() for _, path in outcome.files}
        if not files:
            raise RuntimeError(f"the reference run of {job.report.name} wrote no files")
        self._say(f"reference {job.report.name} {job.period.label}: {len(files)} files")
        return files

    # --- the faulty runs ----------------------------------------------------------------

    async def faulty(self, jobs: Sequence[Job]) -> None:
        settings = S3FaultSettings(
            rate=self.options.s3_fault_rate,
            stall_seconds=self.options.s3_stall_seconds,
            scope=self.options.s3_scope,
            script=self.options.s3_script,
        )
        queue: asyncio.Queue[Job] = asyncio.Queue()
        for job in jobs:
            queue.put_nowait(job)
        async with contextlib.AsyncExitStack() as stack:
            self._admin = await stack.enter_async_context(admin_client(self.target.server))
            self._http = await stack.enter_async_context(aiohttp.ClientSession(trust_env=False))
            lanes = []
            for _ in range(self.options.lanes):
                sandbox = await stack.enter_async_context(
                    running_sandbox(sandbox_settings(self.options))
                )
                self.prewarm(sandbox, jobs)
                proxy = await stack.enter_async_context(
                    FaultyS3Proxy(self.target.server.endpoint, settings).serving()
                )
                lanes.append(Lane(sandbox, proxy))

            async def worker(lane: Lane) -> None:
                while not queue.empty():
                    record = await self._faulty_run(lane, queue.get_nowait())
                    self.records.append(record)
                    with self._journal.open("ab") as journal:
                        journal.write(orjson.dumps(record.as_dict()) + b"\n")
                    self._say(_one_line(record, len(self.records), len(jobs)))

            async with asyncio.TaskGroup() as group:
                for lane in lanes:
                    group.create_task(worker(lane))

    async def _faulty_run(self, lane: Lane, job: Job) -> RunRecord:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.options.run_timeout):
                return await self._faulty_run_checked(lane, job)
        except TimeoutError:
            problem = f"the run hung -- not finished after {self.options.run_timeout:.0f} s"
        except Exception as exc:  # the soak's own failure: loud, and never a pass
            log.exception("run %d could not be checked", job.index)
            problem = f"the soak could not check the run -- {type(exc).__name__}: {exc}"
        return RunRecord(
            index=job.index,
            report=job.report.name,
            period=job.period.label,
            status="unknown",
            error=None,
            seconds=time.monotonic() - started,
            wrong=[problem],
        )

    async def _faulty_run_checked(self, lane: Lane, job: Job) -> RunRecord:
        run_seed = self.options.seed * 1_000_003 + job.index
        plan = FaultPlan(seed=run_seed)
        plan.replace(self.rules)
        lane.sandbox.sandbox.faults = plan
        lane.sandbox.sandbox.log.clear()
        lane.proxy.reset(run_seed)

        root = self.work / "runs" / f"{job.index:04d}"
        storage, spool = root / "reports", root / "spool"
        spool.mkdir(parents=True)
        prefix = f"soak-{self.tag}/run-{job.index:04d}/"
        settings = Settings.model_validate(
            {
                "genesys": genesys_section(self.options, lane.sandbox.base_url),
                # Each run is its own deployment: its own claims on its periods.
                "service": {"state_directory": str(root / "state")},
                "storage": {
                    "kind": "s3",
                    "directory": str(storage),
                    "spool_directory": str(spool),
                    "s3": {
                        "bucket": self.target.bucket,
                        "prefix": prefix,
                        "region": self.target.server.region,
                        "endpoint_url": lane.proxy.base_url,
                        "access_key_id": self.target.user.access_key_id,
                        "secret_access_key": self.target.user.secret_access_key,
                        "presign_expiry": "PT2H",
                    },
                },
                "reports": [job.report],
            }
        )
        started = time.monotonic()
        async with resources(settings) as shared:
            outcome = await run_and_deliver(settings, job.report, job.period, shared)
            client_retries = Counter(shared.client.stats.retries)
        record = RunRecord(
            index=job.index,
            report=job.report.name,
            period=job.period.label,
            status=outcome.status,
            error=outcome.error,
            seconds=time.monotonic() - started,
            genesys_requests=len(lane.sandbox.sandbox.log),
            genesys_faults=Counter(plan.injected),
            genesys_retries=client_retries,
            s3_requests=lane.proxy.requests,
            s3_faults=Counter(lane.proxy.injected),
            s3_retries=lane.proxy.retries,
        )
        final_dir = output_directory(settings, job.report, job.period)
        keys = await self._keys(prefix)
        if outcome.status == "succeeded":
            record.splits = int(outcome.manifest.get("counts", {}).get("splits", 0))
            await self._check_success(job, outcome, final_dir, prefix, keys, record)
            listed = {entry["name"] for entry in outcome.manifest.get("files", [])} | {
                MANIFEST_NAME
            }
        else:
            self._check_failure(outcome, final_dir, keys, record)
            record.s3_orphans = len(keys)
            listed = None
            if (final_dir / MANIFEST_NAME).exists():
                # Counted as a wrong report already; its files are not "left behind" as well.
                listed = {p.name for p in final_dir.iterdir()}
            elif final_dir.is_dir() and f"local copies are kept in {final_dir}" in (
                outcome.error or ""
            ):
                listed = self._check_kept(job, final_dir, record)
        record.left_behind = leftovers(storage, spool, final_dir, listed)
        return record

    def _check_kept(self, job: Job, final_dir: Path, record: RunRecord) -> set[str]:
        """A failed delivery keeps the finished exports (without a manifest) and names their
        directory in the error: they are kept on purpose, and must be the reference's files."""
        reference = self.references[job.key]
        kept = {p.name for p in final_dir.iterdir() if not p.name.startswith(".")}
        for name in sorted(kept & set(reference)):
            problem = same_report_file(name, reference[name], (final_dir / name).read_bytes())
            if problem:
                record.wrong.append(f"a kept local copy differs from the reference -- {problem}")
        record.kept_local = len(kept & set(reference))
        return kept & set(reference)  # anything else there is left behind

    async def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self._admin.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.target.bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return keys

    async def _check_success(
        self,
        job: Job,
        outcome: RunOutcome,
        final_dir: Path,
        prefix: str,
        keys: list[str],
        record: RunRecord,
    ) -> None:
        wrong = record.wrong
        reference = self.references[job.key]
        local = {path.name: path.read_bytes() for _, path in outcome.files}
        if set(local) != set(reference):
            wrong.append(f"other files -- {sorted(local)}, the reference has {sorted(reference)}")
        for name in sorted(set(local) & set(reference)):
            problem = same_report_file(name, reference[name], local[name])
            if problem:
                wrong.append(f"a local file differs from the reference -- {problem}")
        manifest_path = final_dir / MANIFEST_NAME
        if not manifest_path.is_file():
            wrong.append("succeeded without a local manifest -- ")
            return
        manifest_bytes = manifest_path.read_bytes()
        manifest = orjson.loads(manifest_bytes)
        entries = {entry["name"]: entry for entry in manifest.get("files", [])}
        if set(entries) != set(local):
            wrong.append(
                f"wrong manifest -- lists {sorted(entries)}, the run wrote {sorted(local)}"
            )
        manifest_key = manifest.get("delivery", {}).get("manifest_key")
        if manifest_key != f"{prefix}{job.report.name}/{job.period.label}/{MANIFEST_NAME}":
            wrong.append(f"wrong manifest key -- {manifest_key!r}")
        elif manifest_key not in keys:
            wrong.append(f"succeeded without a manifest in S3 -- {manifest_key}")
        else:
            remote = await self._admin.get_object(Bucket=self.target.bucket, Key=manifest_key)
            async with remote["Body"] as stream:
                remote_bytes = await stream.read()
            if remote_bytes != manifest_bytes:
                wrong.append("the manifest in S3 is not the local one -- ")
        for name, entry in sorted(entries.items()):
            data = local.get(name)
            if data is None:
                continue
            if entry.get("sha256") != sha256_hex(data):
                wrong.append(f"a manifest sha256 is not the file's -- {name}")
            fetched = await self._fetch(str(entry.get("url", "")))
            if isinstance(fetched, str):
                wrong.append(f"a presigned link does not work -- {name}: {fetched}")
                continue
            if fetched != data:
                wrong.append(f"an S3 copy is not the local file -- {name}")
            if name in reference:
                problem = same_report_file(name, reference[name], fetched)
                if problem:
                    wrong.append(f"an S3 copy differs from the reference -- {problem}")

    async def _fetch(self, url: str) -> bytes | str:
        """An object through its presigned link (via the proxy, which lets it through)."""
        assert self._http is not None
        if not url.startswith("http://127.0.0.1:"):
            return f"is not a loopback URL: {url[:60]}"
        async with self._http.get(url, headers={BYPASS_HEADER: "1"}) as response:
            body = await response.read()
            if response.status != 200:
                return f"answered HTTP {response.status}"
            return body

    def _check_failure(
        self, outcome: RunOutcome, final_dir: Path, keys: list[str], record: RunRecord
    ) -> None:
        if not (outcome.error or "").strip():
            record.wrong.append("failed without saying why -- the error is empty")
        if (final_dir / MANIFEST_NAME).exists():
            record.wrong.append(
                f"failed, but a local manifest exists -- {final_dir / MANIFEST_NAME}"
            )
        remote = [key for key in keys if key.endswith(f"/{MANIFEST_NAME}")]
        if remote:
            record.wrong.append(f"failed, but S3 has a manifest -- {remote[0]}")


def _one_line(record: RunRecord, done: int, total: int) -> str:
    verdict = "WRONG" if record.wrong else ("ok" if record.status == "succeeded" else "failed")
    if record.left_behind:
        verdict += " +LEFT-BEHIND"
    line = (
        f"[{done:>4}/{total}] run {record.index:>4} {record.report:<17} {record.period:<10} "
        f"{verdict:<7} {record.seconds:5.1f} s, {record.genesys_requests:>4} + "
        f"{record.s3_requests:>3} requests, {record.faults:>3} faults"
    )
    if record.status != "succeeded":
        line += f": {failure_cause(record.error or '')}"
    for problem in [*record.wrong, *record.left_behind]:
        line += f"\n        {problem}"
    return line


# --- the figures --------------------------------------------------------------------------

_CAUSES: tuple[tuple[str, str], ...] = (
    (r"job \S+ ended (\w+)", "async job ended {0}"),
    (r"no access token.*?: (HTTP \d+)", "no access token ({0})"),
    (r"HTTP 401 ([\w.]+)", "HTTP 401 {0} (after one token renewal)"),
    (
        r"gave up after \d+ attempts.*?last failure: (.*?)(?: from | at |$)",
        "retries exhausted: {0}",
    ),
    (r"check (\w+) of \S+: (the server answered HTTP \d+)", "S3 check {0}: {1}"),
    (r"check (\w+) of .* could not reach the server", "S3 check {0} could not reach S3"),
    (r"an anonymous GET of .* got HTTP (\d+)", "S3 check anonymous_get_refused got HTTP {0}"),
    (r"presigned link of .* got HTTP (\d+)", "S3 check presigned_link_works got HTTP {0}"),
    (r"(uploading|checking|deleting) s3://\S+ failed \((\w+)\)", "S3 {0} failed ({1})"),
    (r"^unexpected (\w+)", "unexpected {0} (a bug)"),
)


def failure_cause(error: str) -> str:
    """A short, id-free name for why a run failed (failures are grouped by it)."""
    for pattern, template in _CAUSES:
        match = re.search(pattern, error)
        if match:
            return template.format(*match.groups())[:110]
    return re.sub(r"\d+", "#", re.sub(r"\S*/\S*", "...", error))[:110]


@dataclass(slots=True)
class Figures:
    runs: int
    references: int
    combinations: int
    genesys_requests: int
    s3_requests: int
    genesys_faults: Counter[str]
    s3_faults: Counter[str]
    genesys_retries: Counter[str]
    s3_retries: int
    recovered: int
    succeeded_without_fault: int
    failed_cleanly: int
    splits: int
    failure_causes: Counter[str]
    wrong: list[str]  # one line per wrong run
    wrong_kinds: Counter[str]  # what was wrong (and, for a failed run, why it failed)
    left_behind: list[str]  # one line per file
    s3_orphans: int
    kept_local: int
    unclosed: list[str]  # ResourceWarnings: files (or sockets) dropped without being closed
    seconds: float
    options: SoakOptions

    @property
    def requests(self) -> int:
        return self.genesys_requests + self.s3_requests

    @property
    def faults(self) -> int:
        return sum(self.genesys_faults.values()) + sum(self.s3_faults.values())

    @property
    def ok(self) -> bool:
        return not self.wrong and not self.left_behind and not self.unclosed

    def summary(self) -> str:
        o = self.options
        share = self.faults / self.requests if self.requests else 0.0

        def kinds(counter: Counter[str], order: Sequence[str]) -> str:
            ordered = [k for k in order if counter[k]] + sorted(set(counter) - set(order))
            return ", ".join(f"{k} {counter[k]}" for k in ordered) or "none"

        genesys_order = [*GENESYS_WEIGHTS, "job_failed", "job_expired"]
        lines = [
            f"chaos soak: seed {o.seed}, {self.combinations} report-days "
            f"({o.reports} reports x {o.days} days), {o.lanes} lanes, fault rates: Genesys "
            + (
                "harsh mix (429 1/3, 503 1/5, reset 5%, truncated 5%, 3 s tokens)"
                if o.mix == "harsh"
                else f"{o.fault_rate:.0%} of requests"
            )
            + f" + {o.job_fault_rate:.0%} of job submissions, "
            f"S3 {o.s3_fault_rate:.0%} ({o.s3_scope} requests)",
            f"runs                  {self.runs} with faults (+ {self.references} fault-free "
            f"reference runs, two per report-day, identical)",
            f"requests              {self.requests} (Genesys {self.genesys_requests}, "
            f"S3 {self.s3_requests})",
            f"faulted requests      {self.faults} ({share:.1%})",
            f"faults by kind        Genesys: {kinds(self.genesys_faults, genesys_order)}",
            f"                      S3: {kinds(self.s3_faults, S3_FAULT_KINDS)}",
            f"retries               {sum(self.genesys_retries.values()) + self.s3_retries} "
            f"(Genesys {sum(self.genesys_retries.values())}: "
            f"{kinds(self.genesys_retries, [])}; S3 {self.s3_retries})",
            f"runs recovered        {self.recovered} (met faults, delivered the reference "
            f"report; {self.succeeded_without_fault} more met none; {self.splits} windows "
            "split after timeouts)",
            f"runs failed cleanly   {self.failed_cleanly}"
            + (f" ({kinds(self.failure_causes, [])})" if self.failure_causes else ""),
            f"wrong reports         {len(self.wrong)}",
            *(f"    {n:>4} x {kind}" for kind, n in self.wrong_kinds.most_common()),
            *(f"         e.g. {w}" for w in self.wrong[:3]),
            f"files left behind     {len(self.left_behind)}",
            *(f"    {f}" for f in self.left_behind[:20]),
            f"files left open       {len(self.unclosed)} (ResourceWarning: dropped unclosed)",
            *(f"    {u}" for u in self.unclosed[:10]),
            f"kept by failed deliveries (no manifest, named in the error, replaced by a re-run): "
            f"{self.kept_local} local files, {self.s3_orphans} S3 objects",
            f"runtime               {self.seconds:.0f} s",
        ]
        return "\n".join(lines)


def figures(soak: Soak, seconds: float, unclosed: Sequence[str] = ()) -> Figures:
    records = sorted(soak.records, key=lambda r: r.index)
    wrong: list[str] = []
    left: list[str] = []
    causes: Counter[str] = Counter()
    recovered = clean = quiet = 0
    kinds: Counter[str] = Counter()
    for r in records:
        cause = f"failed: {failure_cause(r.error or '')}" if r.status == "failed" else r.status
        label = f"run {r.index} ({r.report} {r.period}, {cause})"
        left.extend(f"{label}: {f}" for f in r.left_behind)
        if r.wrong:
            wrong.append(f"{label}: {'; '.join(r.wrong)}")
            for problem in dict.fromkeys(w.split(" -- ")[0] for w in r.wrong):
                kinds[problem + (f" (run {cause})" if r.status == "failed" else "")] += 1
            continue
        if r.status == "succeeded":
            if r.faults:
                recovered += 1
            else:
                quiet += 1
        else:
            clean += 1
            causes[failure_cause(r.error or "")] += 1
    return Figures(
        runs=len(records),
        references=soak.reference_runs,
        combinations=len({(r.report, r.period) for r in records}),
        genesys_requests=sum(r.genesys_requests for r in records),
        s3_requests=sum(r.s3_requests for r in records),
        genesys_faults=sum((r.genesys_faults for r in records), Counter()),
        s3_faults=sum((r.s3_faults for r in records), Counter()),
        genesys_retries=sum((r.genesys_retries for r in records), Counter()),
        s3_retries=sum(r.s3_retries for r in records),
        recovered=recovered,
        succeeded_without_fault=quiet,
        failed_cleanly=clean,
        splits=sum(r.splits for r in records if not r.wrong),
        failure_causes=causes,
        wrong=wrong,
        wrong_kinds=kinds,
        left_behind=left,
        s3_orphans=sum(r.s3_orphans for r in records),
        kept_local=sum(r.kept_local for r in records),
        unclosed=list(unclosed),
        seconds=seconds,
        options=soak.options,
    )


@contextlib.contextmanager
def _work_directory(given: Path | None) -> Iterator[Path]:
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given
        return
    path = Path(tempfile.mkdtemp(prefix="gr-chaos-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _unclosed(warning: warnings.WarningMessage) -> str:
    """The warning, and where the object was made when tracemalloc traces (PYTHONTRACEMALLOC)."""
    text = str(warning.message)
    made = tracemalloc.get_object_traceback(warning.source) if warning.source else None
    if made is not None:
        text += "; made at " + " <- ".join(
            f"{frame.filename.rsplit('/', 2)[-1]}:{frame.lineno}" for frame in reversed(made)
        )
    return text


async def run_soak(options: SoakOptions, target: S3Target) -> Figures:
    """The whole soak: references, then the faulty runs; returns the closing figures."""
    started = time.monotonic()
    with _work_directory(options.work_dir) as work, warnings.catch_warnings(record=True) as caught:
        # A file object dropped without being closed warns when it is collected: each one is a
        # file the application left open (tests treat warnings as errors; here they are counted).
        warnings.simplefilter("always", ResourceWarning)
        soak = Soak(options, target, work)
        jobs = soak.plan()
        await soak.reference(jobs)
        await soak.faulty(jobs)
        gc.collect()
    unclosed = [_unclosed(w) for w in caught if issubclass(w.category, ResourceWarning)]
    for other in caught:
        if not issubclass(other.category, ResourceWarning):
            warnings.warn_explicit(other.message, other.category, other.filename, other.lineno)
    return figures(soak, time.monotonic() - started, unclosed)


# --- the command --------------------------------------------------------------------------


def _arguments(argv: Sequence[str] | None) -> SoakOptions:
    defaults = SoakOptions()
    parser = argparse.ArgumentParser(
        prog="python -m tests.chaos.soak", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--runs", type=int, default=defaults.runs, help="faulty report runs")
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=defaults.fault_rate,
        help="share of Genesys requests faulted (token requests included)",
    )
    parser.add_argument(
        "--job-fault-rate",
        type=float,
        default=defaults.job_fault_rate,
        help="share of async job submissions that end FAILED or EXPIRED",
    )
    parser.add_argument(
        "--s3-fault-rate",
        type=float,
        default=defaults.s3_fault_rate,
        help="share of S3 requests the proxy fails, resets or stalls",
    )
    parser.add_argument(
        "--s3-scope",
        choices=["all", "signed"],
        default=defaults.s3_scope,
        help="S3 requests that may be faulted: all, or only the signed API calls",
    )
    parser.add_argument(
        "--mix",
        choices=["random", "harsh"],
        default=defaults.mix,
        help="random: --fault-rate spread over every kind; harsh: 429 on 1/3 of the requests, "
        "503 on 1/5, resets and truncations on 5 %% each, 3 s tokens",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--lanes", type=int, default=defaults.lanes, help="runs at once")
    parser.add_argument("--days", type=int, default=defaults.days)
    parser.add_argument("--reports", type=int, default=defaults.reports)
    parser.add_argument("--page-size", type=int, default=defaults.page_size)
    parser.add_argument("--peak-per-hour", type=int, default=defaults.peak_per_hour)
    parser.add_argument("--work-dir", type=Path, help="keep every run's files here")
    parser.add_argument("--quiet", action="store_true", help="no line per run")
    parser.add_argument(
        "--log-level", default="CRITICAL", help="the application's log level (CRITICAL)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s %(message)s")
    return SoakOptions(
        runs=args.runs,
        fault_rate=args.fault_rate,
        job_fault_rate=args.job_fault_rate,
        s3_fault_rate=args.s3_fault_rate,
        s3_scope=args.s3_scope,
        mix=args.mix,
        seed=args.seed,
        lanes=args.lanes,
        days=args.days,
        reports=args.reports,
        page_size=args.page_size,
        peak_per_hour=args.peak_per_hour,
        work_dir=args.work_dir,
        progress=None if args.quiet else lambda text: print(text, flush=True),
    )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        options = _arguments(argv)
        options.check()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with session_server() as server:
        target = prepare_s3(server)
        result = asyncio.run(run_soak(options, target))
    print(result.summary(), flush=True)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
