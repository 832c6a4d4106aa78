"""Detail jobs under Genesys' per-org limits (issue 13, item 7): the sandbox answers a job
submission past its concurrency limit with Genesys' 429, and a 90-day backfill through jobs
keeps within the limit (genesys.max_concurrent_jobs) and completes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from app.genesys.fetch import JOBS_PATH
from app.periods import explicit_period
from app.pipeline.run import run_report
from app.settings import Settings
from tests.genesys.conftest import Connect

BODY = {"interval": "2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z"}


async def test_the_sandbox_refuses_a_job_past_its_concurrency_limit(connect: Connect) -> None:
    connected = await connect(sandbox={"jobs": {"delay": "PT60S", "max_concurrent": 2}})
    token = await connected.client.tokens.get()
    url = f"{connected.running.base_url}{JOBS_PATH}"
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        statuses = []
        for _ in range(3):
            async with http.post(url, json=BODY, headers=headers) as response:
                statuses.append(response.status)
                answer = await response.json()
                retry_after = response.headers.get("Retry-After")
    assert statuses == [202, 202, 429]
    assert answer["code"] == "too.many.requests.retry.after" and retry_after == "1"
    assert "concurrent" in answer["message"]


async def test_a_90_day_backfill_through_jobs_keeps_within_the_limit(
    connect: Connect, tmp_path: Path
) -> None:
    connected = await connect(
        sandbox={
            "volume": {"peak_per_hour": 2},
            "jobs": {"delay": "PT0.05S", "max_concurrent": 2},
        },
        genesys={
            "job_poll_interval": "PT0.02S",
            "max_concurrency": 8,
            "max_concurrent_jobs": 2,
            "job_submissions_per_second": 100,
        },
    )
    settings = Settings.model_validate(
        {
            "storage": {"directory": str(tmp_path / "reports")},
            "reports": [
                {
                    "name": "backfill",
                    "timezone": "UTC",
                    "fetch": "jobs",
                    "group_by": ["queue_id"],
                    "reconcile": "off",
                }
            ],
        }
    )
    period = explicit_period(
        datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 5, 1, tzinfo=UTC), "UTC"
    )
    outcome = await run_report(settings, settings.reports[0], period, connected.client)

    counts = outcome.manifest["counts"]
    # Jobs cover up to 31 days each: three jobs for 90 days, one more than may be open at once.
    assert outcome.manifest["fetch"] == "jobs" and counts["windows_fetched"] == 3
    assert counts["conversations"] > 0 and counts["jobs_resubmitted"] == 0
    log = connected.sandbox.requests()
    submits = [r for r in log if r.endpoint == "jobs_submit"]
    assert [r.status for r in submits] == [202] * 3  # never refused
    # Jobs open at once (submitted, not yet deleted), in the order the sandbox saw them.
    open_jobs, most = 0, 0
    for record in log:
        if record.endpoint == "jobs_submit" and record.status == 202:
            open_jobs += 1
        elif record.endpoint == "jobs_delete" and record.status == 204:
            open_jobs -= 1
        most = max(most, open_jobs)
    assert most <= 2
    assert connected.sandbox.jobs.jobs == {}  # every job deleted
