"""Typed settings: ``settings.yaml`` read with the safe loader (aliases bounded), ``${VAR}``
interpolated from the environment, then validated once by frozen pydantic models with
``extra="forbid"``.

Every problem is collected and reported with its dotted key (``reports[1].schedule: ...``), so a
user fixes a file in one pass instead of one error per run.
"""

from __future__ import annotations

import ast
import difflib
import os
import re
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from app import vocabulary
from app.cron import parse_cron
from app.delivery.keys import template_fields
from app.durations import parse_duration
from app.errors import ConfigError
from app.genesys.filters import ConversationFilter, SegmentFilter
from app.regions import SANDBOX, normalise_environment
from app.urls import checked_url


def is_number(value: object) -> bool:
    """An int or a float, and not a bool (which Python counts as an int)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


CONFIG_ENV_VAR = "GENESYS_REPORTS_CONFIG"
DEFAULT_CONFIG = "settings.yaml"

CALENDAR_PERIODS = ("previous_hour", "previous_day", "previous_week", "previous_month")
# Facts a report can group by (report-semantics §2): the categorical ones, not the durations.
GroupByFact = Literal[
    "queue_id",
    "agent_id",
    "wrapup_code",
    "division_id",
    "media_type",
    "direction",
    "offered",
    "answered",
    "abandoned",
    "transferred",
    "half_hour",
    "hour",
    "day",
    "week",
    "month",
]
GROUP_BY_FACTS: tuple[str, ...] = get_args(GroupByFact)
# The export columns of each group dimension: ids come with their resolved names.
GROUP_COLUMNS: dict[str, tuple[str, ...]] = {fact: (fact,) for fact in GROUP_BY_FACTS} | {
    "queue_id": ("queue_id", "queue_name"),
    "agent_id": ("agent_id", "agent_name"),
    "wrapup_code": ("wrapup_code_id", "wrapup_code_name"),
    "division_id": ("division_id", "division_name"),
}
# Built-in metrics (report-semantics §3), in the order reports show them.
MetricName = Literal[
    "conversations",
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "flowouts",
    "transferred",
    "handled",
    "abandon_rate",
    "answer_rate",
    "service_level",
    "service_level_target_pct",
    "avg_speed_of_answer_seconds",
    "avg_wait_seconds",
    "avg_abandon_seconds",
    "avg_duration_seconds",
    "avg_talk_seconds",
    "avg_hold_seconds",
    "avg_acw_seconds",
    "avg_handle_seconds",
    "p50_handle_seconds",
    "p90_handle_seconds",
    "talk_ratio",
    "hold_ratio",
    "efficiency_score",
    "wrapup_codes",
]
METRICS: tuple[str, ...] = get_args(MetricName)
Grain = Literal["interval", "conversation"]
# What one grain cannot compute (report-semantics §2, §4): an event has no flags, and the
# per-event metrics have no per-conversation reading (and the other way round).
GRAIN_ONLY_METRICS: dict[str, frozenset[str]] = {
    "interval": frozenset(
        {"short_abandoned", "flowouts", "avg_abandon_seconds", "service_level_target_pct"}
    ),
    "conversation": frozenset({"avg_duration_seconds"}),
}
FLAG_DIMENSIONS = frozenset({"offered", "answered", "abandoned", "transferred"})


def grain_metrics(grain: str) -> tuple[str, ...]:
    """The built-in metrics a report of ``grain`` can show, in column order."""
    other = "conversation" if grain == "interval" else "interval"
    return tuple(name for name in METRICS if name not in GRAIN_ONLY_METRICS[other])


MAX_LOOKBACK = timedelta(days=31)
DEFAULT_METRICS: tuple[MetricName, ...] = (
    "conversations",
    "offered",
    "answered",
    "abandoned",
    "abandon_rate",
    "service_level",
    "avg_speed_of_answer_seconds",
    "avg_handle_seconds",
)
_MAX_EXPRESSION = 1000  # characters: a report metric is a formula, not a program
# Functions a custom metric expression may call.
EXPRESSION_FUNCTIONS = ("min", "max", "abs", "round")
# html: a page with headline figures, charts and the table; xlsx: an Excel workbook.
ExportFormat = Literal["csv", "json", "ndjson", "csv.gz", "json.gz", "ndjson.gz", "html", "xlsx"]
FORMATS: tuple[str, ...] = get_args(ExportFormat)
FaultKind = Literal[
    "429",
    "429_no_retry_after",
    "500",
    "502",
    "503",
    "504",
    "reset",
    "slow",
    "truncated",
    "bad_json",
    "revoke_token",
    "job_failed",
    "job_expired",
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
FaultEndpoint = Literal[
    "*",
    "token",
    "details_query",
    "jobs_submit",
    "jobs_status",
    "jobs_results",
    "jobs_delete",
    "availability",
    "queues",
    "users",
    "wrapupcodes",
    "divisions",
    "tokens_me",
    "aggregates_query",
]
FAULT_ENDPOINTS: tuple[str, ...] = get_args(FaultEndpoint)
_REPORT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class KeyedProblems(ValueError):
    """Problems of several entries of one mapping, each reported under its own key."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{key}: {problem}" for key, problem in problems.items()))
        self.problems = dict(problems)


# --- field types --------------------------------------------------------------------------


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return timedelta(seconds=value)
        if isinstance(value, str):
            return parse_duration(value)
    except OverflowError:
        raise ValueError(f"{value!r} is too long a duration") from None
    raise ValueError("expected an ISO-8601 duration such as PT1H, or a number of seconds")


def _positive(delta: timedelta) -> timedelta:
    if delta <= timedelta(0):
        raise ValueError("must be longer than zero")
    return delta


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a directory
        raise ValueError(f"'{value}' is not an IANA time zone such as Europe/Berlin") from None
    return value


def _genesys_id(value: str) -> str:
    if not re.fullmatch(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", value):
        raise ValueError(f"'{value}' is not a Genesys id (a UUID such as 3f1c...-...)")
    return value.lower()


def _sigv4_bounds(value: timedelta) -> timedelta:
    if not timedelta(seconds=1) <= value <= timedelta(days=7):
        raise ValueError("SigV4 presigned URLs last from 1 second to 7 days (P7D)")
    return value


def _readable_secret_file(value: Path | None) -> Path | None:
    if value is not None:
        try:
            content = value.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"cannot read {value}: {exc.strerror}") from None
        if not content:
            raise ValueError(f"{value} is empty")
    return value


def _check_urls(section: BaseModel, names: tuple[str, ...]) -> None:
    """https:// unless loopback or the section's ``allow_insecure_http``; each problem under
    its own key."""
    allow = bool(getattr(section, "allow_insecure_http", False))
    problems = {}
    for name in names:
        value = getattr(section, name)
        if value is None:
            continue
        try:
            checked_url(value, allow_insecure_http=allow)
        except ValueError as exc:
            problems[name] = f"'{value}' {exc}"
    if problems:
        raise KeyedProblems(problems)


Duration = Annotated[timedelta, BeforeValidator(_duration)]
GenesysId = Annotated[str, AfterValidator(_genesys_id)]
PositiveDuration = Annotated[timedelta, BeforeValidator(_duration), AfterValidator(_positive)]
TimeZoneName = Annotated[str, AfterValidator(_timezone)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- genesys ------------------------------------------------------------------------------


class GenesysSettings(Strict):
    environment: str = SANDBOX
    api_url: str | None = None
    login_url: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    client_secret_file: Path | None = None
    requests_per_minute: int = Field(default=300, ge=1, le=100_000)
    max_concurrency: int = Field(default=8, ge=1, le=256)
    page_size: int = Field(default=100, ge=1, le=1000)
    request_timeout: PositiveDuration = timedelta(seconds=60)
    max_retry_after: PositiveDuration = timedelta(seconds=180)
    retry_attempts: int = Field(default=6, ge=1, le=100)
    retry_max_time: PositiveDuration = timedelta(minutes=5)
    retry_backoff: PositiveDuration = timedelta(seconds=0.5)
    retry_backoff_max: PositiveDuration = timedelta(seconds=30)
    job_poll_interval: PositiveDuration = timedelta(seconds=1)
    job_timeout: PositiveDuration = timedelta(minutes=30)
    job_page_size: int = Field(default=1000, ge=1, le=10_000)
    # Genesys limits concurrent detail jobs per org and their submission rate
    # (lmt.an.cnvr.details.jobs.concurrent.access.max, ...jobs.rate.per.second): a backfill
    # keeps this many jobs open at once and submits at most this many a second.
    max_concurrent_jobs: int = Field(default=2, ge=1, le=100)
    job_submissions_per_second: float = Field(default=1.0, gt=0, le=100)
    # Results one detail query pages through before its window is split (Genesys does not say
    # where paging ends; the sandbox's limits.max_results is the same 100,000).
    max_query_results: int = Field(default=100_000, ge=1)
    # The largest response body read: a job results page of 10,000 conversations is tens of
    # MiB; a body beyond this is an error, not gigabytes of memory.
    max_response_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    # http:// to a host that is not loopback (a test rig's container name): tokens in clear.
    allow_insecure_http: bool = False

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: str) -> str:
        return normalise_environment(value)

    @field_validator("api_url", "login_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"'{value}' is not an http(s) URL")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _secure_urls(self) -> GenesysSettings:
        _check_urls(self, ("api_url", "login_url"))
        return self

    @field_validator("client_secret_file")
    @classmethod
    def _secret_file(cls, value: Path | None) -> Path | None:
        return _readable_secret_file(value)

    @model_validator(mode="after")
    def _credentials(self) -> GenesysSettings:
        if self.client_secret is not None and self.client_secret_file is not None:
            raise ValueError("set client_secret or client_secret_file, not both")
        if self.environment != SANDBOX:
            missing = [
                name
                for name, value in (
                    ("client_id", self.client_id),
                    ("client_secret", self.client_secret or self.client_secret_file),
                )
                if not value
            ]
            if missing:
                raise ValueError(
                    f"environment {self.environment} needs {' and '.join(missing)} "
                    "(or client_secret_file)"
                )
        return self

    def secret(self) -> SecretStr | None:
        """The client secret, read from its file when given as one."""
        if self.client_secret_file is not None:
            return SecretStr(self.client_secret_file.read_text(encoding="utf-8").strip())
        return self.client_secret


# --- sandbox ------------------------------------------------------------------------------


class FaultSettings(Strict):
    """Faults the sandbox injects: a scripted sequence, or a kind with a probability."""

    endpoint: FaultEndpoint = "*"
    kind: FaultKind | None = None
    probability: float = Field(default=1.0, ge=0.0, le=1.0)
    script: list[FaultKind | Literal["ok"]] = []
    retry_after_seconds: int = Field(default=1, ge=0, le=86_400)
    slow_seconds: float = Field(default=300.0, gt=0)

    @model_validator(mode="after")
    def _one_mode(self) -> FaultSettings:
        if (self.kind is None) == (not self.script):
            raise ValueError("give either kind (with probability) or script, not both or neither")
        kinds = {str(kind) for kind in (self.kind, *self.script) if kind not in (None, "ok")}
        job_kinds = kinds & {"job_failed", "job_expired"}
        if job_kinds and self.endpoint != "jobs_submit":
            raise ValueError(
                f"{', '.join(sorted(job_kinds))} act on job submissions: use endpoint jobs_submit"
            )
        if "revoke_token" in kinds and self.endpoint == "token":
            raise ValueError("revoke_token acts on API requests, not on the token endpoint")
        return self


class VolumeSettings(Strict):
    peak_per_hour: int = Field(default=300, ge=0, le=100_000)
    timezone: TimeZoneName = "Europe/Berlin"
    weekend_factor: float = Field(default=0.4, ge=0.0, le=10.0)
    stuck_fraction: float = Field(default=0.003, ge=0.0, le=1.0)


class SandboxLimits(Strict):
    max_page_size: int = Field(default=100, ge=1)
    default_page_size: int = Field(default=25, ge=1)
    max_interval_days: float = Field(default=31.0, gt=0)
    # Genesys refuses an unfiltered detail query over 7 days (genesys-api.md §13); a filtered
    # one is bound by max_interval_days, and so is an unfiltered one when that is shorter.
    max_unfiltered_interval_days: float = Field(default=7.0, gt=0)
    max_results: int = Field(default=100_000, ge=1)
    lookup_max_page_size: int = Field(default=500, ge=1)
    # The aggregates query: Genesys publishes neither cap (genesys-api.md §6.2), so both are
    # settings; a longer interval or more buckets is a 400.
    max_aggregate_interval_days: float = Field(default=31.0, gt=0)
    max_aggregate_buckets: int = Field(default=10_000, ge=1)

    @model_validator(mode="after")
    def _defaults_within_caps(self) -> SandboxLimits:
        if self.default_page_size > self.max_page_size:
            raise ValueError("default_page_size is larger than max_page_size")
        return self


class JobSettings(Strict):
    delay: Duration = timedelta(seconds=2)
    expiry: PositiveDuration = timedelta(hours=1)
    availability_lag: Duration = timedelta(hours=2)
    default_page_size: int = Field(default=1000, ge=1)
    max_page_size: int = Field(default=10_000, ge=1)
    # Jobs QUEUED or PENDING at once before a submission is answered 429, as Genesys does
    # (lmt.an.cnvr.details.jobs.concurrent.access.max; its real value is not published).
    max_concurrent: int = Field(default=5, ge=1)

    @model_validator(mode="after")
    def _default_within_cap(self) -> JobSettings:
        if self.default_page_size > self.max_page_size:
            raise ValueError("default_page_size is larger than max_page_size")
        return self


class OrgServiceLevel(Strict):
    """The organisation's service-level calculation options (Admin > Service Level
    Calculation), which the sandbox's aggregates query applies to ``oServiceLevel``."""

    exclude_short_abandons: bool = False
    include_flowouts: bool = False


class SandboxSettings(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65_535)
    seed: int = 7
    client_id: str = "sandbox-client"
    client_secret: SecretStr = SecretStr("sandbox-secret")
    token_lifetime: PositiveDuration = timedelta(hours=24)
    volume: VolumeSettings = VolumeSettings()
    latency_ms: float = Field(default=0.0, ge=0)
    latency_jitter_ms: float = Field(default=0.0, ge=0)
    rate_limit_per_minute: int = Field(default=300, ge=1)
    rate_limit_window: PositiveDuration = timedelta(seconds=60)
    limits: SandboxLimits = SandboxLimits()
    jobs: JobSettings = JobSettings()
    faults: list[FaultSettings] = []
    now: datetime | None = None
    service_level: OrgServiceLevel = OrgServiceLevel()
    # Permissions the client's role lacks: the endpoints that need one answer 403.
    missing_permissions: list[str] = []

    @field_validator("now")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("needs a UTC offset, e.g. 2024-05-02T06:00:00Z")
        return value


# --- storage ------------------------------------------------------------------------------


class S3Settings(Strict):
    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    prefix: str = ""
    region: str = "us-east-1"
    endpoint_url: str | None = None
    presign_expiry: PositiveDuration = timedelta(days=1)
    # The longest one S3 call (an upload with its retries included) may take.
    call_timeout: PositiveDuration = timedelta(minutes=10)
    key_template: str = "{prefix}{report}/{period}/{file}"
    server_side_encryption: Literal["AES256", "aws:kms"] = "AES256"
    kms_key_id: str | None = None
    access_checks: Literal["error", "warn"] = "error"
    # Credentials: the AWS default chain (environment, profile, instance role) unless given.
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    secret_access_key_file: Path | None = None
    # http:// to an endpoint that is not loopback (a test rig's MinIO by container name).
    allow_insecure_http: bool = False
    # Where the Parquet dataset goes (reports' ``dataset``); unset: ``{prefix}_dataset/``. Report
    # names start with a letter or digit, so no report's keys can meet it.
    dataset_prefix: str | None = None

    @property
    def dataset_key_prefix(self) -> str:
        return self.dataset_prefix if self.dataset_prefix is not None else f"{self.prefix}_dataset/"

    @model_validator(mode="after")
    def _secure_endpoint(self) -> S3Settings:
        _check_urls(self, ("endpoint_url",))
        return self

    @field_validator("secret_access_key_file")
    @classmethod
    def _secret_file(cls, value: Path | None) -> Path | None:
        return _readable_secret_file(value)

    def secret(self) -> SecretStr | None:
        if self.secret_access_key_file is not None:
            return SecretStr(self.secret_access_key_file.read_text(encoding="utf-8").strip())
        return self.secret_access_key

    @field_validator("key_template")
    @classmethod
    def _template(cls, value: str) -> str:
        template_fields(value)
        return value

    @model_validator(mode="after")
    def _kms_key(self) -> S3Settings:
        if (self.server_side_encryption == "aws:kms") != (self.kms_key_id is not None):
            raise ValueError("aws:kms needs kms_key_id, and kms_key_id needs aws:kms")
        return self

    @field_validator("presign_expiry")
    @classmethod
    def _presign_bounds(cls, value: timedelta) -> timedelta:
        return _sigv4_bounds(value)


class StorageSettings(Strict):
    kind: Literal["local", "s3"] = "local"
    directory: Path = Path("reports")
    # Where window spools live during a run (the system temp directory when unset); a
    # container should point it at a volume, not its writable layer or a RAM disk.
    spool_directory: Path | None = None
    # The Parquet dataset (reports' ``dataset``); unset: ``{directory}/_dataset``.
    dataset_directory: Path | None = None
    s3: S3Settings | None = None
    # Report files and manifests: owner read/write, group read, nobody else (reports name
    # agents and carry links). Directories get the matching search bits (0640 -> 0750).
    file_mode: str = "0640"

    @field_validator("file_mode")
    @classmethod
    def _file_mode(cls, value: str) -> str:
        if not re.fullmatch(r"0?[0-7]{3}", value):
            raise ValueError(f"'{value}' is not an octal file mode such as 0640")
        mode = int(value, 8)
        if mode & 0o111:
            raise ValueError(f"'{value}' makes report files executable; use read/write bits only")
        if not mode & 0o600 == 0o600:
            raise ValueError(f"'{value}' must let the owner read and write (0600 at least)")
        return value

    @property
    def dataset_root(self) -> Path:
        return self.dataset_directory or self.directory / "_dataset"

    @property
    def file_mode_bits(self) -> int:
        return int(self.file_mode, 8)

    @property
    def directory_mode_bits(self) -> int:
        """``file_mode`` with search (x) wherever it grants read."""
        mode = self.file_mode_bits
        return mode | ((mode & 0o444) >> 2)

    @model_validator(mode="after")
    def _s3_needed(self) -> StorageSettings:
        if self.kind == "s3" and self.s3 is None:
            raise ValueError("kind is s3 but there is no s3 section (bucket, region, ...)")
        return self


# --- reports ------------------------------------------------------------------------------


class ReportFilters(Strict):
    """Simple forms, turned into Genesys predicates; raw filters are passed through."""

    media_types: list[str] = []
    queue_ids: list[GenesysId] = []
    directions: list[Literal["inbound", "outbound"]] = []
    wrapup_codes: list[GenesysId] = []
    user_ids: list[GenesysId] = []
    exclude_ongoing: bool = False
    segment_filters: list[SegmentFilter] = []
    conversation_filters: list[ConversationFilter] = []

    @field_validator("media_types")
    @classmethod
    def _media_types(cls, value: list[str]) -> list[str]:
        unknown = [item for item in value if item not in vocabulary.MEDIA_TYPES]
        if unknown:
            allowed = ", ".join(sorted(vocabulary.MEDIA_TYPES))
            raise ValueError(f"unknown media type {', '.join(unknown)}; allowed: {allowed}")
        return value


def _check_expression(expression: str) -> str:
    """Reject anything but arithmetic over metric names and a few functions."""
    if len(expression) > _MAX_EXPRESSION:
        raise ValueError(f"longer than {_MAX_EXPRESSION} characters")
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"'{expression}' is not an expression: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise ValueError("nested too deeply") from None
    problems = []
    for node in ast.walk(tree):
        if not isinstance(node, _EXPRESSION_NODES):
            problems.append(f"{type(node).__name__} is not allowed")
        elif isinstance(node, ast.Constant) and not is_number(node.value):
            # A string constant would make "'%0400000000d' % conversations" 400 MB per group.
            problems.append(f"only numbers may be written as constants, not {node.value!r:.40}")
        elif isinstance(node, ast.Call) and not (
            isinstance(node.func, ast.Name) and node.func.id in EXPRESSION_FUNCTIONS
        ):
            problems.append(f"only {', '.join(EXPRESSION_FUNCTIONS)} may be called")
    if problems:
        raise ValueError(f"'{expression}': " + "; ".join(dict.fromkeys(problems)))
    return expression


_EXPRESSION_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Call,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.operator,
    ast.unaryop,
    ast.boolop,
    ast.cmpop,
)
Expression = Annotated[str, AfterValidator(_check_expression)]


def _unknown_names(expression: str, known: Collection[str]) -> list[str]:
    """The names an expression reads that are not in ``known``, each with a hint."""
    tree = ast.parse(expression, mode="eval")
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and id(node) not in called and node.id not in known:
            grain = next((g for g, only in GRAIN_ONLY_METRICS.items() if node.id in only), None)
            hint = difflib.get_close_matches(node.id, known, n=1)
            if grain is not None:
                problems.append(f"metric '{node.id}' is only in grain: {grain}")
            else:
                problems.append(
                    f"unknown metric '{node.id}'"
                    + (f" (did you mean '{hint[0]}'?)" if hint else "")
                )
    return list(dict.fromkeys(problems))


class NotifySettings(Strict):
    """A webhook told when a report is delivered: a JSON summary, a Slack message (Block Kit)
    or a Microsoft Teams message (an Adaptive Card), each with the headline figures."""

    url: SecretStr
    format: Literal["json", "slack", "teams"] = "json"
    attempts: int = Field(default=3, ge=1, le=10)

    @field_validator("url")
    @classmethod
    def _http(cls, value: SecretStr) -> SecretStr:
        # The message never repeats the URL: it is a secret.
        checked_url(value.get_secret_value(), outbound=True)
        return value


class ServiceLevelSettings(Strict):
    """Genesys' service-level calculation (report-semantics §3) and its organisation options.

    ``target_seconds`` unset means each queue's own target for the medium (the queue look-up's
    ``mediaSettings``), with ``default_seconds`` where a queue has none.
    """

    target_seconds: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    default_seconds: float = Field(default=20.0, gt=0, allow_inf_nan=False)
    exclude_short_abandons: bool = False
    include_flowouts: bool = False


# v1 keys that a v2 report must spell differently: each named with its replacement.
_REPLACED_REPORT_KEYS = {
    "service_level_seconds": (
        "was replaced by service_level.target_seconds (one fixed target) or "
        "service_level.default_seconds (the target where a queue has none); "
        "see README 'Service level'"
    ),
}


# The Parquet dataset's tables (app/dataset/schema.py defines their columns).
DATASET_TABLES = ("events", "conversations")


class DatasetSettings(Strict):
    """Which Parquet tables a report's runs add to the dataset (README "The dataset")."""

    # One row per metric event the interval grain counts.
    events: bool = False
    # One row of facts (report-semantics §2/§4) per conversation that started in the period.
    conversations: bool = False

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(name for name in DATASET_TABLES if getattr(self, name))


class ReportSettings(Strict):
    name: str
    schedule: str = "0 6 * * *"
    timezone: TimeZoneName = "UTC"
    period: str = "previous_day"
    delay: Duration = timedelta(0)
    window: PositiveDuration = timedelta(hours=1)
    fetch: Literal["auto", "query", "jobs"] = "auto"
    # Declared before the keys whose meaning depends on it: their validators read it.
    grain: Grain = "interval"
    lookback: Duration = timedelta(hours=6)
    filters: ReportFilters = ReportFilters()
    group_by: list[GroupByFact] = []
    metrics: list[MetricName] = list(DEFAULT_METRICS)
    custom_metrics: dict[str, Expression] = {}
    service_level: ServiceLevelSettings = ServiceLevelSettings()
    include_ongoing: bool = False
    # Interval grain: compare with Genesys' aggregates API (report-semantics §7); strict fails
    # the run on a difference.
    reconcile: Literal["off", "on", "strict"] = "on"
    formats: list[ExportFormat] = ["csv", "json"]
    # A name like "=HYPERLINK(...)" from Genesys must not run as a formula in a spreadsheet.
    neutralise_formulas: bool = True
    link_expiry: PositiveDuration | None = None  # overrides storage.s3.presign_expiry
    # A run still going after this is cancelled cleanly, as SIGTERM would: nothing partial is
    # kept, and the period stays open for the next run or catch-up.
    run_timeout: PositiveDuration = timedelta(hours=4)
    notify: list[NotifySettings] = []
    dataset: DatasetSettings = DatasetSettings()

    @property
    def reconcile_mode(self) -> Literal["off", "on", "strict"]:
        """``reconcile`` as it applies: a conversation-grain report never reconciles."""
        return self.reconcile if self.grain == "interval" else "off"

    @model_validator(mode="before")
    @classmethod
    def _replaced_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            old = {key: _REPLACED_REPORT_KEYS[key] for key in _REPLACED_REPORT_KEYS if key in data}
            if old:
                raise KeyedProblems(old)
        return data

    # Field validators run only on keys the report sets, so these refuse a key that was written
    # for a grain that has no use for it (and leave the defaults alone).
    @field_validator("lookback")
    @classmethod
    def _lookback(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        if info.data.get("grain") == "conversation":
            raise ValueError(
                "only in grain: interval (a conversation-grain report counts conversations "
                "that started in the period)"
            )
        if value < timedelta(0) or value > MAX_LOOKBACK:
            raise ValueError("must be from PT0S to P31D")
        return value

    @field_validator("reconcile")
    @classmethod
    def _reconcile_grain(cls, value: str, info: ValidationInfo) -> str:
        if value != "off" and info.data.get("grain") == "conversation":
            raise ValueError(
                "only in grain: interval (the conversation grain's numbers are not Genesys' "
                "metrics, so there is nothing to reconcile them with)"
            )
        return value

    @field_validator("service_level")
    @classmethod
    def _service_level_grain(
        cls, value: ServiceLevelSettings, info: ValidationInfo
    ) -> ServiceLevelSettings:
        if info.data.get("grain") == "conversation":
            options = {
                key: (
                    "only in grain: interval (the conversation grain's service level is "
                    "answered within target over offered conversations)"
                )
                for key in ("exclude_short_abandons", "include_flowouts")
                if getattr(value, key)
            }
            if options:
                raise KeyedProblems(options)
        return value

    @field_validator("group_by")
    @classmethod
    def _grain_dimensions(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if info.data.get("grain") == "interval":
            flags = [name for name in value if name in FLAG_DIMENSIONS]
            if flags:
                raise ValueError(
                    f"{', '.join(flags)}: a conversation flag, and an event has no flags "
                    "(grain: interval); use grain: conversation to group by it"
                )
        return value

    @field_validator("metrics")
    @classmethod
    def _grain_metrics(cls, value: list[str], info: ValidationInfo) -> list[str]:
        grain = info.data.get("grain")
        other = "conversation" if grain == "interval" else "interval"
        wrong = [name for name in value if name in GRAIN_ONLY_METRICS[other]]
        if grain is not None and wrong:
            raise ValueError(
                f"{', '.join(wrong)}: only in grain: {other} (this report has grain: {grain})"
            )
        return value

    @field_validator("include_ongoing")
    @classmethod
    def _ongoing_grain(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("grain") == "interval":
            raise ValueError(
                "only in grain: conversation; the interval grain always counts the events an "
                "ongoing conversation has emitted"
            )
        return value

    @field_validator("link_expiry")
    @classmethod
    def _link_bounds(cls, value: timedelta | None) -> timedelta | None:
        if value is not None:
            _sigv4_bounds(value)
        return value

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not _REPORT_NAME.fullmatch(value):
            raise ValueError(
                f"'{value}' must be 1-64 characters of letters, digits, '.', '_' or '-', "
                "starting with a letter or digit (it becomes a directory and key name)"
            )
        return value

    @field_validator("period")
    @classmethod
    def _period(cls, value: str) -> str:
        if value in CALENDAR_PERIODS:
            return value
        try:
            _positive(parse_duration(value))
        except ValueError:
            raise ValueError(
                f"'{value}' is neither one of {', '.join(CALENDAR_PERIODS)} "
                "nor a look-back duration such as PT6H"
            ) from None
        return value

    @field_validator("window")
    @classmethod
    def _window(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=1):
            raise ValueError("windows shorter than one minute (PT1M) only multiply requests")
        return value

    @field_validator("group_by", "metrics", "formats")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        repeated = sorted({item for item in value if value.count(item) > 1})
        if repeated:
            raise ValueError(f"listed more than once: {', '.join(repeated)}")
        return value

    @field_validator("metrics")
    @classmethod
    def _some_metrics(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("a report needs at least one metric")
        return value

    @field_validator("custom_metrics")
    @classmethod
    def _custom_names(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        bad = [name for name in value if not name.isidentifier() or name in METRICS]
        if bad:
            raise ValueError(
                f"custom metric names must be identifiers that are not built-in metric names: "
                f"{', '.join(bad)}"
            )
        # §5: the grain's metrics, and the custom metrics defined before this one.
        grain = info.data.get("grain")
        # An invalid grain has its own error; then any metric of either grain is a known name.
        known = list(grain_metrics(grain) if grain is not None else METRICS)
        problems = {}
        for name, expression in value.items():
            unknown = _unknown_names(expression, known)
            if unknown:
                problems[name] = "; ".join(unknown)
            known.append(name)
        if problems:
            raise KeyedProblems(problems)
        return value

    @model_validator(mode="after")
    def _dataset_grain(self) -> ReportSettings:
        if self.dataset.events and self.grain != "interval":
            raise KeyedProblems(
                {
                    "dataset.events": "needs grain: interval (the events of conversations that "
                    "started before the period are read through its lookback)"
                }
            )
        return self

    @model_validator(mode="after")
    def _distinct_columns(self) -> ReportSettings:
        # Every group dimension, metric and custom metric becomes a column; two of one name
        # would make the CSV ambiguous.
        group_columns = [c for dimension in self.group_by for c in GROUP_COLUMNS[dimension]]
        clashes = sorted(
            (set(group_columns) & set(self.metrics))
            | (set(group_columns) & set(self.custom_metrics))
        )
        if clashes:
            raise ValueError(
                f"{', '.join(clashes)} would be both a group column and a metric column; "
                "drop one of them"
            )
        return self

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        parse_cron(value, "UTC")
        return value


class ServiceSettings(Strict):
    """The always-on scheduler (``genesys-reports serve``)."""

    state_directory: Path = Path("state")
    heartbeat_interval: PositiveDuration = timedelta(seconds=15)
    shutdown_grace: PositiveDuration = timedelta(seconds=60)
    misfire_grace: PositiveDuration = timedelta(minutes=10)
    catch_up: Duration = timedelta(days=7)
    rerun_provisional: bool = False
    # A period's S3 lease lasts the report's run_timeout and this much more (claims.py).
    lease_margin: PositiveDuration = timedelta(minutes=10)
    # host:port for GET /healthz and /metrics (Prometheus); unset, no HTTP listener.
    listen: str | None = None

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        if value is not None:
            listen_address(value)
        return value

    def listen_address(self) -> tuple[str, int] | None:
        return listen_address(self.listen) if self.listen is not None else None


def listen_address(value: str) -> tuple[str, int]:
    """``host:port`` (``[::]:9464`` for IPv6) as (host, port); port 0 picks a free one."""
    host, sep, port = value.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    host = host[1:-1] if bracketed else host
    if (
        not sep
        or not host
        or not (port.isascii() and port.isdigit())
        or int(port) > 65535
        or "[" in host
        or "]" in host
        or (":" in host and not bracketed)  # an IPv6 address needs its brackets
    ):
        raise ValueError(f"'{value}' is not host:port (e.g. 0.0.0.0:9464 or 127.0.0.1:9464)")
    return host, int(port)


class Settings(Strict):
    genesys: GenesysSettings = GenesysSettings()
    service: ServiceSettings = ServiceSettings()
    sandbox: SandboxSettings = SandboxSettings()
    storage: StorageSettings = StorageSettings()
    reports: list[ReportSettings] = Field(min_length=1)

    def report(self, name: str) -> ReportSettings:
        for report in self.reports:
            if report.name == name:
                return report
        names = ", ".join(r.name for r in self.reports)
        raise KeyError(f"no report named '{name}' (reports: {names})")


# --- loading ------------------------------------------------------------------------------

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _interpolate(
    node: Any,
    path: str,
    environ: Mapping[str, str],
    problems: dict[str, str],
    seen: frozenset[int] = frozenset(),
) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string; ``$$`` is a literal ``$``."""
    if isinstance(node, dict | list):
        if id(node) in seen:  # a YAML anchor that contains itself
            problems[path or "(top level)"] = "refers to itself (a YAML anchor loop)"
            return None
        seen = seen | {id(node)}
    if isinstance(node, dict):
        return {
            key: _interpolate(value, _join(path, str(key)), environ, problems, seen)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [
            _interpolate(value, f"{path}[{index}]", environ, problems, seen)
            for index, value in enumerate(node)
        ]
    if not isinstance(node, str):
        return node
    try:
        node.encode("utf-8")
    except UnicodeEncodeError:
        problems[path or "(top level)"] = "contains text that is not valid Unicode"
        return ""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        problems[path] = f"environment variable {name} is not set"
        return match.group(0)

    return _VAR.sub(substitute, node)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        # pydantic names the member of a union it tried ("literal['a','b']"); keys never have
        # brackets, so such parts are dropped.
        if isinstance(part, str) and "[" in part:
            continue
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The settings model that owns the key at ``loc`` (for listing allowed keys)."""
    model: Any = Settings
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = field.annotation
        while get_origin(model) is not None:
            args = [a for a in get_args(model) if a is not type(None)]
            if not args:
                return None
            model = args[-1] if get_origin(model) is dict else args[0]
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _describe_all(error: Mapping[str, Any]) -> list[tuple[str, str]]:
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, KeyedProblems):
        where = _dotted(tuple(error["loc"]))
        return [(_join(where, key), problem) for key, problem in cause.problems.items()]
    return [_describe(error)]


def _describe(error: Mapping[str, Any]) -> tuple[str, str]:
    """Turn one pydantic error into (dotted key, message)."""
    loc = tuple(error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        owner = _model_at(loc[:-1])
        allowed = sorted(owner.model_fields) if owner else []
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        message = "unknown key" + (f" (did you mean '{hint[0]}'?)" if hint else "")
        if allowed:
            message += f"; allowed: {', '.join(allowed)}"
        # The unknown key is the user's own text: name it as written, brackets and all.
        return _join(_dotted(loc[:-1]), str(loc[-1])), message
    if error["type"] == "missing":
        message = "required"
    elif error["type"] == "literal_error":
        message = f"{error['input']!r} is not allowed; {message.removeprefix('Input should be ')}"
    return _dotted(loc), message


def _duplicate_report_names(reports: Any) -> list[str]:
    # Checked on the raw document so that it is reported even when other keys are invalid.
    if not isinstance(reports, list):
        return []
    seen: set[str] = set()
    problems = []
    for index, report in enumerate(reports):
        name = report.get("name") if isinstance(report, dict) else None
        if isinstance(name, str) and name in seen:
            problems.append(f"reports[{index}].name: '{name}' is used by another report")
        if isinstance(name, str):
            seen.add(name)
    return problems


def parse_settings(
    raw: Any, *, source: str = "settings", environ: Mapping[str, str] | None = None
) -> Settings:
    """Validate an already-parsed YAML document; raise ConfigError listing every problem."""
    env = os.environ if environ is None else environ
    if not isinstance(raw, dict):
        raise ConfigError(source, ["(top level): expected a mapping of sections"])
    interpolation_problems: dict[str, str] = {}
    document = _interpolate(raw, "", env, interpolation_problems)
    problems = [f"{key}: {message}" for key, message in interpolation_problems.items()]
    problems += _duplicate_report_names(document.get("reports"))
    try:
        settings = Settings.model_validate(document)
    except ValidationError as exc:
        for error in exc.errors():
            for key, message in _describe_all(error):
                # A value that could not be interpolated already has its own problem line.
                if any(
                    key == bad or key.startswith(bad + ".") or key.startswith(bad + "[")
                    for bad in interpolation_problems
                ):
                    continue
                problems.append(f"{key or '(top level)'}: {message}")
        raise ConfigError(source, problems) from None
    if problems:
        raise ConfigError(source, problems)
    return settings


def resolve_config_path(cli_value: str | None, environ: Mapping[str, str] | None = None) -> Path:
    """``--config`` first, then ``$GENESYS_REPORTS_CONFIG``, then ``./settings.yaml``."""
    env = os.environ if environ is None else environ
    return Path(cli_value or env.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG)


# Values a settings file may expand to once its aliases are followed: a real file has hundreds;
# a "billion laughs" file of a few hundred bytes has billions.
MAX_YAML_VALUES = 100_000


def _bounded_yaml(text: str, source: str) -> Any:
    """``yaml.safe_load``, but the node graph is measured before it is built into Python
    objects, so nested aliases cannot expand a small file into gigabytes of lists."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        sizes: dict[int, int] = {}

        def size(item: yaml.Node) -> int:
            known = sizes.get(id(item))
            if known is not None:
                return known
            total = 1
            if isinstance(item, yaml.SequenceNode):
                total += sum(size(child) for child in item.value)
            elif isinstance(item, yaml.MappingNode):
                total += sum(size(key) + size(value) for key, value in item.value)
            sizes[id(item)] = total = min(total, MAX_YAML_VALUES + 1)
            return total

        if size(node) > MAX_YAML_VALUES:
            raise ConfigError(
                source,
                [
                    f"(file): expands to more than {MAX_YAML_VALUES} values once its aliases "
                    "are followed; a settings file needs far fewer (are anchors nested?)"
                ],
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, interpolate and validate a settings file."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [f"(file): cannot read: {exc.strerror}"]) from None
    try:
        raw = _bounded_yaml(text, source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, [f"{where}: not valid YAML: {reason}"]) from None
    except (ValueError, TypeError, AttributeError, RecursionError) as exc:
        # PyYAML's constructors fail this way on some tagged or malformed scalars
        # (!!timestamp x, 2024-13-45) and on very deep nesting.
        raise ConfigError(
            source, [f"(file): not valid YAML: {type(exc).__name__}: {exc}"]
        ) from None
    return parse_settings(raw, source=source, environ=environ)
