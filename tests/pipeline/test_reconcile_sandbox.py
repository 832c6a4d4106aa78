"""Acceptance (issue 12): a report's interval-grain numbers reconcile with the aggregates API.

Each run goes end to end (``run_report`` over 127.0.0.1: fetch, merge, aggregate, export), then
asks the sandbox's aggregates endpoint (``app/sandbox/aggregates.py``, which shares no code with
``app.pipeline``) for the same period, groups and filters, and compares every value. The data
clock is stopped at the pinned ``now``, so the detail records and the aggregates describe one
state of the world.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.errors import ReportsError
from app.periods import explicit_period
from app.pipeline import interval
from app.pipeline.run import run_report
from app.settings import Settings
from tests.genesys import conftest as genesys_fixtures
from tests.genesys.conftest import Connect, Connected

connect = genesys_fixtures.connect
BERLIN = "Europe/Berlin"
NOW = datetime(2024, 10, 29, 9, 0, tzinfo=UTC)
# Three Berlin days: an ordinary one and both 2024 DST days (23 and 25 hours).
DAYS = {
    "2024-05-01": ("2024-05-01T00:00:00+02:00", "2024-05-02T00:00:00+02:00"),
    "2024-03-31": ("2024-03-31T00:00:00+01:00", "2024-04-01T00:00:00+02:00"),
    "2024-10-27": ("2024-10-27T00:00:00+02:00", "2024-10-28T00:00:00+01:00"),
}
GROUP_BYS = [
    ["queue_id"],
    ["agent_id"],
    ["media_type", "direction"],
    ["wrapup_code"],
    ["queue_id", "half_hour"],
    ["division_id", "day"],
]
METRICS = ["offered", "answered", "abandoned", "handled", "service_level", "avg_handle_seconds"]
GENESYS: dict[str, Any] = {
    "max_concurrency": 8,
    "requests_per_minute": 100_000,
    "job_poll_interval": "PT0.05S",
}


async def _connect(connect: Connect, monkeypatch: pytest.MonkeyPatch, **sandbox: Any) -> Connected:
    connected = await connect(
        sandbox={
            "seed": 7,
            "now": NOW,
            "volume": {"peak_per_hour": 60},
            "rate_limit_per_minute": 100_000,
            "jobs": {"delay": "PT0.1S"},
            **sandbox,
        },
        genesys=GENESYS,
    )
    frozen = round(NOW.timestamp() * 1000)
    monkeypatch.setattr(connected.sandbox, "now_ms", lambda: frozen)
    return connected


def _settings(directory: Path, *reports: dict[str, Any]) -> Settings:
    return Settings.model_validate(
        {
            "genesys": {"environment": "sandbox", **GENESYS},
            "storage": {"directory": str(directory)},
            "reports": [
                {"timezone": BERLIN, "formats": ["json"], "metrics": METRICS, **report}
                for report in reports
            ],
        }
    )


def _period(day: str) -> Any:
    start, end = (datetime.fromisoformat(t) for t in DAYS[day])
    return explicit_period(start, end, BERLIN)


@pytest.mark.parametrize("day", list(DAYS))
async def test_every_comparable_value_equals_genesys(
    day: str, connect: Connect, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    connected = await _connect(connect, monkeypatch)
    settings = _settings(
        tmp_path,
        *({"name": "by-" + "-".join(g).replace("_", "-"), "group_by": g} for g in GROUP_BYS),
    )
    period = _period(day)
    figures = []
    for report in settings.reports:
        outcome = await run_report(settings, report, period, connected.client)
        document = outcome.manifest["reconciliation"]
        assert document["status"] == "equal", (report.name, document)
        assert document["different"] == 0
        assert document["differences"] == []
        assert document["equal"] == document["compared"]
        assert document["requests"] == 1
        # Most stats of one group at least (of 2 counts, 9 times' count and sum, service level:
        # a metric nobody emitted is not compared); division is summed out, so division_id +
        # day compares the day's totals.
        assert document["compared"] >= 15, (report.name, document["compared"])
        figures.append(f"{report.name} {document['compared']}")
    print(f"{day}: " + ", ".join(figures))  # the closing note's counts (pytest -s)


async def test_an_org_option_the_report_does_not_share_shows_on_exactly_the_flowout_queues(
    connect: Connect, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    connected = await _connect(connect, monkeypatch, service_level={"include_flowouts": True})
    report_settings = {"name": "queues", "group_by": ["queue_id"]}
    settings = _settings(tmp_path, report_settings)
    assert settings.reports[0].service_level.include_flowouts is False
    period = _period("2024-05-01")
    outcome = await run_report(settings, settings.reports[0], period, connected.client)
    result = outcome.reconciliation
    assert result is not None and outcome.manifest["reconciliation"]["status"] == "different"
    assert {d.metric for d in result.differences} == {"oServiceLevel"}
    differing = {d.group["queue_id"] for d in result.differences}

    # The queues that had a flow-out in the period, read from the detail records themselves.
    sandbox = connected.sandbox
    start, end = (round(t.timestamp() * 1000) for t in (period.start, period.end))
    flowed_out = set()
    for record in sandbox.ground_truth(start - sandbox.source.max_duration_ms, end):
        for participant in record["participants"]:
            for session in participant["sessions"]:
                emitted = [
                    m
                    for m in session.get("metrics", [])
                    if m["name"] == "tFlowOut"
                    and start <= datetime.fromisoformat(m["emitDate"]).timestamp() * 1000 < end
                ]
                if emitted:
                    flowed_out |= {s["queueId"] for s in session["segments"] if "queueId" in s}
    queues = {q.id for q in sandbox.org.queues}
    assert flowed_out and queues - flowed_out, "the data must have queues with and without"
    assert differing == flowed_out
    # Everything else still agrees.
    assert result.equal == result.compared - len(result.differences)


def _answered_counted_as_handled(monkeypatch: pytest.MonkeyPatch) -> None:
    """A deliberately wrong aggregation: AHT over answered instead of handled events (the
    handle count follows tAnswered events, the handle time still sums tHandle)."""
    add = interval._Group.add
    handle = interval._SLOTS["tHandle"]

    def wrong(self: Any, event: Any) -> None:
        add(self, event)
        if event.name == "tHandle":
            self.counts[handle] -= 1
        elif event.name == "tAnswered":
            self.counts[handle] += 1

    monkeypatch.setattr(interval._Group, "add", wrong)


async def test_a_wrong_aggregation_differs_and_strict_delivers_nothing(
    connect: Connect, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    connected = await _connect(connect, monkeypatch)
    _answered_counted_as_handled(monkeypatch)
    period = _period("2024-05-01")
    settings = _settings(tmp_path / "on", {"name": "agents", "group_by": ["agent_id"]})
    outcome = await run_report(settings, settings.reports[0], period, connected.client)
    document = outcome.manifest["reconciliation"]
    assert document["status"] == "different"
    assert document["different"] > 0
    assert {(d["metric"], d["stat"]) for d in document["differences"]} == {("tHandle", "count")}
    assert len(document["differences"]) == min(20, document["different"])

    strict = _settings(
        tmp_path / "strict", {"name": "agents", "group_by": ["agent_id"], "reconcile": "strict"}
    )
    with pytest.raises(ReportsError, match=r"tHandle count .*reconcile: strict, nothing delivered"):
        await run_report(strict, strict.reports[0], period, connected.client)
    assert [p for p in (tmp_path / "strict").rglob("*") if p.is_file()] == []


async def test_without_the_permission_it_is_skipped_and_the_report_delivered(
    connect: Connect, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    connected = await _connect(
        connect, monkeypatch, missing_permissions=["analytics:conversationAggregate:view"]
    )
    settings = _settings(
        tmp_path, {"name": "queues", "group_by": ["queue_id"], "reconcile": "strict"}
    )
    outcome = await run_report(
        settings, settings.reports[0], _period("2024-05-01"), connected.client
    )
    assert outcome.status == "succeeded" and outcome.files
    document = outcome.manifest["reconciliation"]
    assert document["status"] == "skipped"
    assert "403" in document["reason"]
    assert "analytics:conversationAggregate:view" in document["reason"]


async def test_throttled_it_waits_through_the_client_budget_and_counts_its_requests(
    connect: Connect, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    connected = await _connect(
        connect,
        monkeypatch,
        faults=[
            {
                "endpoint": "aggregates_query",
                "script": ["429", "503", "ok"],
                "retry_after_seconds": 0,
            }
        ],
    )
    settings = _settings(tmp_path, {"name": "queues", "group_by": ["queue_id"]})
    outcome = await run_report(
        settings, settings.reports[0], _period("2024-05-01"), connected.client
    )
    document = outcome.manifest["reconciliation"]
    assert document["status"] == "equal"
    assert document["requests"] == 3
    statuses = [r.status for r in connected.sandbox.requests("aggregates_query")]
    assert statuses == [429, 503, 200]


async def test_a_short_lookback_misses_what_genesys_counts_and_says_how_many(
    connect: Connect, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    connected = await _connect(connect, monkeypatch)
    settings = _settings(
        tmp_path,
        # Async jobs return every conversation active in the period, however old.
        {"name": "no-lookback", "group_by": ["queue_id"], "lookback": "PT0S", "fetch": "jobs"},
    )
    start, end = (
        datetime.fromisoformat(t)
        for t in ("2024-05-01T10:00:00+02:00", "2024-05-01T12:00:00+02:00")
    )
    period = explicit_period(start, end, BERLIN)
    outcome = await run_report(settings, settings.reports[0], period, connected.client)

    # From the records themselves: conversations that started before the period and emitted
    # an event inside it.
    sandbox = connected.sandbox
    start_ms, end_ms = (round(t.timestamp() * 1000) for t in (start, end))
    older = sandbox.ground_truth(start_ms - sandbox.source.max_duration_ms, start_ms)
    expected = {
        record["conversationId"]
        for record in older
        for participant in record["participants"]
        for session in participant["sessions"]
        for metric in session.get("metrics", [])
        if start_ms <= datetime.fromisoformat(metric["emitDate"]).timestamp() * 1000 < end_ms
    }
    assert len(expected) > 10
    assert outcome.manifest["counts"]["lookback_missed"] == len(expected)
    document = outcome.manifest["reconciliation"]
    assert document["status"] == "different"
    assert document["lookback_missed"] == len(expected)
    # Genesys counted the missed conversations' events too: never fewer than ours.
    assert all(d["genesys"] >= d["ours"] for d in document["differences"] if d["stat"] != "ratio")
