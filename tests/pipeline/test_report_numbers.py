"""Acceptance (issues 4 and 11): every number of a report, in both grains, equals an independent
computation.

Each scenario starts a sandbox (a seed, a pinned ``now``), runs one or more reports over one
period end to end with ``run_report`` (windows fetched concurrently over 127.0.0.1, spooled,
merged, aggregated, exported), and compares the JSON export's rows, exactly, with what
``tests/pipeline/oracle.py`` computes from the sandbox's ground truth. The oracle shares no code
with ``app.pipeline``.

The sandbox's data clock runs on from its pinned ``now`` in real time, so a conversation in
progress could end between the pipeline's fetch and the ground-truth read; each test therefore
stops that clock at the pinned ``now``, making "what the API shows" one fixed state that both the
pipeline and the oracle see (and the data of every run the same).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.models import Period
from app.periods import explicit_period, previous_period
from app.pipeline.run import run_report
from app.sandbox.aggregates import DEFAULT_TARGET_MS
from app.sandbox.org import Organisation
from app.settings import FLAG_DIMENSIONS, ReportSettings, Settings, grain_metrics
from tests.genesys import conftest as genesys_fixtures
from tests.genesys.conftest import Connect
from tests.pipeline.oracle import Expected, OracleReport, expected_columns, expected_report

BERLIN = "Europe/Berlin"
# Every metric of the report's grain (each report below runs in both grains).
ALL_METRICS = "all"
GRAINS = ("interval", "conversation")
CUSTOM_METRICS = {
    # None where answered is 0 (avg_talk_seconds is null then): a null operand.
    "talk_minutes": "avg_talk_seconds * answered / 60",
    # Division by zero where nothing was offered.
    "unanswered_share": "(offered - answered) / offered",
    # An integer result, with a function call.
    "unresolved": "max(0, offered - answered - abandoned)",
    # Uses metrics the report may not list, and a conditional over a comparison.
    "long_tail": "1 if p90_handle_seconds > 2 * avg_handle_seconds else 0",
}
# The sandbox-and-client fixture of the client tests (conftest.py files are per directory).
connect = genesys_fixtures.connect

GENESYS: dict[str, Any] = {
    "max_concurrency": 8,
    "requests_per_minute": 100_000,
    "page_size": 100,
    "job_poll_interval": "PT0.05S",
}


@dataclass(frozen=True)
class Scenario:
    """One sandbox, one period, several reports over it."""

    id: str
    seed: int
    now: datetime
    timezone: str
    period: str | tuple[str, str]  # a calendar unit, or an explicit (start, end)
    reports: list[dict[str, Any]]
    peak_per_hour: int = 60
    expect_ongoing: bool = False
    hours: float | None = None  # the period's length, when the scenario is about it
    crosses_utc_midnight: bool = False
    # Interval grain: some counted events must come from conversations started before the
    # period (busy enough at the period's start for that to be certain).
    expect_carried_over: bool = False
    sandbox: dict[str, Any] = field(default_factory=dict)

    def make_period(self) -> Period:
        if isinstance(self.period, str):
            return previous_period(self.period, self.now, self.timezone)
        start, end = (datetime.fromisoformat(t) for t in self.period)
        return explicit_period(start, end, self.timezone)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


SCENARIOS = [
    Scenario(
        id="berlin-2024-03-31-23h-seed7",
        seed=7,
        now=_at("2024-04-01T09:15:00+02:00"),
        timezone=BERLIN,
        period="previous_day",
        hours=23,
        reports=[
            {
                "group_by": ["queue_id"],
                "metrics": ALL_METRICS,
                "custom_metrics": CUSTOM_METRICS,
                "fetch": "query",  # 23 hourly windows fetched concurrently, overlaps merged
            },
            {"group_by": ["hour"], "metrics": ALL_METRICS},  # auto: the async jobs API
            # 02:00-03:00 does not exist on the wall clock: no half hour bucket there.
            {"group_by": ["half_hour"], "metrics": ALL_METRICS, "fetch": "query"},
        ],
    ),
    Scenario(
        id="berlin-2024-10-27-25h-seed3",
        seed=3,
        now=_at("2024-10-28T09:15:00+01:00"),
        timezone=BERLIN,
        period="previous_day",
        hours=25,
        reports=[
            # 02:00-03:00 happens twice on the wall clock: one local hour bucket, two real hours.
            {
                "group_by": ["hour"],
                "metrics": ALL_METRICS,
                "custom_metrics": CUSTOM_METRICS,
                "fetch": "query",
            },
            {"group_by": ["agent_id", "media_type"], "metrics": ALL_METRICS},
            # 02:00-03:00 twice: each of its half-hour buckets holds two real half hours.
            {"group_by": ["half_hour", "queue_id"], "metrics": ALL_METRICS},
        ],
    ),
    Scenario(
        id="utc-2024-05-01-seed11",
        seed=11,
        now=_at("2024-05-02T10:30:00Z"),
        timezone="UTC",
        period="previous_day",
        hours=24,
        reports=[
            {"group_by": [], "metrics": ALL_METRICS, "custom_metrics": CUSTOM_METRICS},
            {"group_by": ["agent_id", "media_type"], "metrics": ALL_METRICS, "fetch": "query"},
            {"group_by": ["wrapup_code"], "metrics": ALL_METRICS},
            {
                "group_by": ["media_type"],
                "metrics": ALL_METRICS,
                "filters": {"media_types": ["voice"]},
                "fetch": "query",
            },
        ],
    ),
    Scenario(
        id="utc-midnight-crossing-20h-04h-seed3",
        seed=3,
        now=_at("2024-05-02T12:00:00Z"),
        timezone="UTC",
        period=("2024-05-01T20:00:00Z", "2024-05-02T04:00:00Z"),
        hours=8,
        crosses_utc_midnight=True,
        peak_per_hour=200,  # the night is quiet: about 0.7 x peak conversations in 8 hours
        reports=[
            {"group_by": ["wrapup_code"], "metrics": ALL_METRICS, "fetch": "query"},
            {"group_by": ["hour"], "metrics": ALL_METRICS, "custom_metrics": CUSTOM_METRICS},
            {"group_by": ["day"], "metrics": ALL_METRICS, "window": "PT3H", "fetch": "query"},
        ],
    ),
    Scenario(
        id="berlin-2024-05-01-crosses-utc-midnight-seed11",
        seed=11,
        now=_at("2024-05-02T10:30:00Z"),
        timezone=BERLIN,
        period="previous_day",
        hours=24,
        crosses_utc_midnight=True,  # 2024-04-30T22:00Z to 2024-05-01T22:00Z
        reports=[
            {"group_by": ["division_id", "direction"], "metrics": ALL_METRICS, "fetch": "query"},
            {
                "group_by": ["queue_id"],
                "metrics": ALL_METRICS,
                "service_level": {"default_seconds": 30},
                "custom_metrics": CUSTOM_METRICS,
            },
            {"group_by": ["hour"], "metrics": ALL_METRICS},
            # A flag as a dimension: its column is the flag, so the metric of that name is left
            # out (a group column and a metric column cannot share a name).
            {"group_by": ["abandoned", "transferred"], "metrics": ALL_METRICS},
        ],
    ),
    Scenario(
        id="berlin-previous-week-2024-W18-seed3",
        seed=3,
        now=_at("2024-05-06T14:00:00+02:00"),
        timezone=BERLIN,
        period="previous_week",
        hours=7 * 24,
        peak_per_hour=20,
        # Whole-day windows over a finished week: fetch "auto" picks the async jobs API.
        reports=[
            {"group_by": ["week"], "metrics": ALL_METRICS, "window": "P1D"},
            {"group_by": ["day"], "metrics": ALL_METRICS, "window": "P1D"},
            # The ISO week of 29 April to 5 May 2024 spans April and May.
            {
                "group_by": ["month"],
                "metrics": ALL_METRICS,
                "custom_metrics": CUSTOM_METRICS,
                "window": "P1D",
                "fetch": "query",
            },
        ],
    ),
    Scenario(
        id="lookback-busy-morning-same-utc-day-seed7",
        seed=7,
        now=_at("2024-05-02T10:30:00Z"),
        timezone="UTC",
        period=("2024-05-01T10:00:00Z", "2024-05-01T12:00:00Z"),
        hours=2,
        expect_carried_over=True,
        reports=[
            # No UTC midnight in the look-back: the period's first window finds them.
            {"group_by": ["half_hour"], "metrics": ALL_METRICS, "fetch": "query"},
            {"group_by": ["queue_id"], "metrics": ALL_METRICS, "lookback": "PT30M"},
            {"group_by": ["agent_id"], "metrics": ALL_METRICS, "lookback": "PT0S"},
        ],
    ),
    Scenario(
        id="lookback-probe-across-utc-midnight-seed5",
        seed=5,
        now=_at("2024-05-02T10:30:00Z"),
        timezone="UTC",
        period=("2024-05-02T00:00:00Z", "2024-05-02T03:00:00Z"),
        hours=3,
        peak_per_hour=600,  # busy enough that conversations are in progress at midnight
        expect_carried_over=True,
        reports=[
            # Conversations of 1 May still active at midnight come from one probe window.
            {"group_by": ["half_hour"], "metrics": ALL_METRICS, "fetch": "query"},
            {
                "group_by": ["queue_id", "media_type"],
                "metrics": ALL_METRICS,
                "fetch": "query",
                "lookback": "PT2H",
            },
        ],
    ),
    Scenario(
        id="ongoing-now-inside-period-seed7",
        seed=7,
        # 10:30 UTC: the period's last one and a half hours have not happened yet, and what
        # started in the last minutes is still in progress.
        now=_at("2024-05-02T10:30:00Z"),
        timezone="UTC",
        period=("2024-05-02T00:00:00Z", "2024-05-02T12:00:00Z"),
        expect_ongoing=True,
        reports=[
            {"group_by": [], "metrics": ALL_METRICS, "include_ongoing": False},
            {
                "group_by": [],
                "metrics": ALL_METRICS,
                "include_ongoing": True,
                "custom_metrics": CUSTOM_METRICS,
            },
            {"group_by": ["queue_id"], "metrics": ALL_METRICS, "include_ongoing": True},
            {"group_by": ["agent_id", "media_type"], "metrics": ALL_METRICS},
        ],
    ),
    Scenario(
        id="ongoing-berlin-day-in-progress-seed3",
        seed=3,
        now=_at("2024-05-02T16:45:00+02:00"),
        timezone=BERLIN,
        period=("2024-05-02T00:00:00+02:00", "2024-05-03T00:00:00+02:00"),
        expect_ongoing=True,
        reports=[
            {"group_by": ["hour"], "metrics": ALL_METRICS, "include_ongoing": True},
            {"group_by": ["media_type"], "metrics": ALL_METRICS, "include_ongoing": False},
            {
                "group_by": ["media_type", "direction"],
                "metrics": ALL_METRICS,
                "include_ongoing": True,
                "filters": {"media_types": ["voice"]},
            },
        ],
    ),
]


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _names(org: Organisation) -> dict[str, dict[str, str]]:
    """What the look-up endpoints serve: departed users and deleted queues are absent, so
    their ids stay as their names."""
    return {
        "queues": {e.id: e.name for e in org.queues},
        "users": {e.id: e.name for e in org.users},
        "wrapupcodes": {e.id: e.name for e in org.wrapup_codes},
        "divisions": {e.id: e.name for e in org.divisions},
    }


def _in_grain(report: dict[str, Any], grain: str) -> dict[str, Any] | None:
    """A scenario's report in one grain, or None where the grain cannot show it."""
    if grain == "interval" and FLAG_DIMENSIONS & set(report["group_by"]):
        return None  # an event has no flags
    adapted = {**report, "grain": grain}
    if adapted["metrics"] == ALL_METRICS:
        # A flag's column is the flag, so the metric of that name is left out (a group column
        # and a metric column cannot share a name).
        adapted["metrics"] = [m for m in grain_metrics(grain) if m not in report["group_by"]]
    if grain == "interval":
        adapted.pop("include_ongoing", None)  # the interval grain counts what has happened
    else:
        adapted.pop("lookback", None)  # the conversation grain reads the period's starts
    return adapted


def _settings(scenario: Scenario, directory: Path) -> Settings:
    reports = [
        {
            "name": f"r{index}-{grain}-{'-'.join(report['group_by']) or 'all'}",
            "timezone": scenario.timezone,
            "formats": ["json"],
            **adapted,
        }
        for index, report in enumerate(scenario.reports)
        for grain in GRAINS
        if (adapted := _in_grain(report, grain)) is not None
    ]
    return Settings.model_validate(
        {
            "genesys": {"environment": "sandbox", **GENESYS},
            "storage": {"directory": str(directory)},
            "reports": reports,
        }
    )


async def _media_settings(connected: Any) -> dict[str, Any]:
    """Each queue's ``mediaSettings`` as the sandbox's queue look-up serves it."""
    settings: dict[str, Any] = {}
    page, pages = 1, 1
    while page <= pages:
        response = await connected.client.request(
            "GET",
            "/api/v2/routing/queues",
            params={"pageSize": "100", "pageNumber": str(page)},
            what="queues for the oracle",
        )
        body = response.body
        settings |= {q["id"]: q["mediaSettings"] for q in body["entities"] if "mediaSettings" in q}
        pages, page = body["pageCount"], page + 1
    return settings


def _key(row: dict[str, Any], columns: list[str]) -> str:
    return ", ".join(f"{c}={row.get(c)!r}" for c in columns)


def _differences(
    got: list[dict[str, Any]], expected: Expected, report: ReportSettings, columns: list[str]
) -> list[str]:
    """Cell-by-cell differences, each naming its row by its group columns."""
    group_columns = columns[: len(columns) - len(report.metrics) - len(report.custom_metrics)]
    problems = []
    got_keys = [_key(r, group_columns) for r in got]
    want_keys = [_key(r, group_columns) for r in expected.rows]
    if got_keys != want_keys:
        missing = [k for k in want_keys if k not in got_keys]
        extra = [k for k in got_keys if k not in want_keys]
        problems.append(f"rows differ: missing {missing}, unexpected {extra}, order {got_keys}")
    by_key = dict(zip(got_keys, got, strict=True))
    for key, want in zip(want_keys, expected.rows, strict=True):
        row = by_key.get(key)
        if row is None:
            continue
        if set(row) != set(want):
            problems.append(f"[{key}] keys {sorted(row)} != {sorted(want)}")
        for column, value in want.items():
            actual = row.get(column)
            wrong_type = isinstance(actual, bool) or (
                isinstance(value, int) and not isinstance(actual, int)
            )
            if column not in row or actual != value or wrong_type:
                problems.append(f"[{key}] {column}: report {row.get(column)!r}, oracle {value!r}")
    return problems


def _json_document(outcome_files: list[Any]) -> dict[str, Any]:
    paths = [path for exported, path in outcome_files if exported.format == "json"]
    assert len(paths) == 1, outcome_files
    document: dict[str, Any] = json.loads(Path(paths[0]).read_text(encoding="utf-8"))
    return document


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
async def test_every_number_equals_the_oracle(
    scenario: Scenario, connect: Connect, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connected = await connect(
        sandbox={
            "seed": scenario.seed,
            "now": scenario.now,
            "volume": {"peak_per_hour": scenario.peak_per_hour},
            "rate_limit_per_minute": 100_000,
            # fetch "auto" uses async jobs for finished periods: keep their delay short.
            "jobs": {"delay": "PT0.1S"},
            **scenario.sandbox,
        },
        genesys=GENESYS,
    )
    sandbox = connected.sandbox
    frozen = _ms(scenario.now)
    monkeypatch.setattr(sandbox, "now_ms", lambda: frozen)

    period = scenario.make_period()
    if scenario.hours is not None:
        assert period.end - period.start == timedelta(hours=scenario.hours)
    if scenario.crosses_utc_midnight:
        assert period.start.date() != (period.end - timedelta(milliseconds=1)).date()
    names = _names(sandbox.org)
    media_settings = await _media_settings(connected)
    settings = _settings(scenario, tmp_path / "reports")

    problems: list[str] = []
    for report in settings.reports:
        outcome = await run_report(settings, report, period, connected.client)
        assert outcome.status == "succeeded"
        document = _json_document(outcome.files)
        # The interval grain reads conversations that started up to the look-back before.
        first = period.start - report.lookback if report.grain == "interval" else period.start
        truth = sandbox.ground_truth(_ms(first), _ms(period.end))
        expected = expected_report(
            truth,
            OracleReport.from_settings(report),
            period,
            names,
            media_settings=media_settings,
        )
        columns = expected_columns(report)

        # The data must exercise what the scenario is about, or the comparison proves little.
        assert expected.conversations > 50
        assert expected.rows
        if scenario.expect_ongoing:
            assert sum(not f.ended for f in expected.facts) > 0
        if report.grain == "interval" and scenario.expect_carried_over and report.lookback:
            # The look-back must matter: some counted events belong to conversations that
            # started before the period (the fetch found them through its probe windows or jobs).
            started = {r["conversationId"]: r["conversationStart"] for r in truth}
            carried = {
                e.conversation_id
                for e in expected.events
                if datetime.fromisoformat(started[e.conversation_id]) < period.start
            }
            assert carried, f"{report.name}: no event of a conversation started before the period"
            if report.fetch == "query":
                # One probe per UTC midnight in (start - lookback, start], none otherwise.
                day = 86_400_000
                last_midnight = _ms(period.start) // day * day
                crossings = len(range(last_midnight, _ms(period.start - report.lookback), -day))
                assert outcome.manifest["counts"]["lookback_windows"] == crossings

        counts = outcome.manifest["counts"]
        label = f"{scenario.id} / {report.name}"
        if report.grain == "interval":
            # Issue 12: the same numbers asked of the sandbox's aggregates API agree, except
            # where the report's filters have no aggregates form (then it says so).
            reconciliation = outcome.manifest["reconciliation"]
            raw_filters = report.filters.segment_filters or report.filters.conversation_filters
            expected_status = (
                "skipped" if raw_filters or report.filters.exclude_ongoing else "equal"
            )
            # A default target other than the sandbox org's 20 s is the report's own choice:
            # only service levels of groups with queue-less events may differ then.
            own_default = report.service_level.default_seconds != DEFAULT_TARGET_MS / 1000
            differing = {d["metric"] for d in reconciliation.get("differences", [])}
            # A look-back shorter than the longest conversation misses events Genesys counts;
            # the manifest says how many conversations that was.
            short = report.lookback < timedelta(milliseconds=sandbox.source.max_duration_ms)
            explained = (own_default and differing == {"oServiceLevel"}) or (
                short and counts["lookback_missed"] > 0
            )
            if reconciliation["status"] != expected_status and not explained:
                problems.append(f"{label}: reconciliation {reconciliation}")
            if reconciliation["status"] != "skipped":
                assert reconciliation["lookback_missed"] == counts["lookback_missed"]
        if counts["conversations"] != expected.conversations:
            problems.append(
                f"{label}: manifest conversations {counts['conversations']}, "
                f"oracle {expected.conversations}"
            )
        grain_count = "events_counted" if report.grain == "interval" else "ongoing_skipped"
        if counts[grain_count] != getattr(expected, grain_count):
            problems.append(
                f"{label}: manifest {grain_count} {counts[grain_count]}, "
                f"oracle {getattr(expected, grain_count)}"
            )
        assert document["grain"] == outcome.manifest["grain"] == report.grain
        if document["columns"] != columns:
            problems.append(f"{label}: columns {document['columns']} != {columns}")
        assert document["group_by"] == list(report.group_by)
        assert document["period"]["timezone"] == scenario.timezone
        assert datetime.fromisoformat(document["period"]["start"]) == period.start
        assert datetime.fromisoformat(document["period"]["end"]) == period.end
        problems += [
            f"{label}: {p}" for p in _differences(document["rows"], expected, report, columns)
        ]
    assert not problems, "\n".join(problems[:60])
