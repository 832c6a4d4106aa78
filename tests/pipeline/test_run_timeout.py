"""run_timeout (issue 13, item 5): a run still going after it is cancelled cleanly, like a
SIGTERM: a failed outcome naming the setting, nothing in the final place, no spool left."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from app.periods import explicit_period
from app.pipeline.run import output_directory
from app.runner import resources, run_and_deliver
from app.settings import Settings

PERIOD = explicit_period(
    datetime(2024, 5, 1, 8, tzinfo=UTC), datetime(2024, 5, 1, 10, tzinfo=UTC), "UTC"
)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


async def test_a_run_past_its_run_timeout_is_cancelled_cleanly(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    settings = Settings.model_validate(
        {
            "genesys": {"request_timeout": "PT60S"},
            "sandbox": {
                "now": "2024-05-02T00:00:00Z",
                # Every detail query answers after 30 s: the run cannot finish in 1 s.
                "faults": [{"endpoint": "details_query", "kind": "slow", "slow_seconds": 30}],
            },
            "storage": {"directory": str(tmp_path / "reports"), "spool_directory": str(spool)},
            "reports": [
                {"name": "slow", "fetch": "query", "run_timeout": "PT1S", "reconcile": "off"}
            ],
        }
    )
    report = settings.reports[0]
    async with resources(settings) as shared:
        outcome = await run_and_deliver(settings, report, PERIOD, shared)
    assert outcome.status == "failed" and outcome.error is not None
    assert "run_timeout (PT1S)" in outcome.error
    assert not output_directory(settings, report, PERIOD).exists()
    reports = tmp_path / "reports"
    assert not reports.exists() or _files(reports) == []
    assert _files(spool) == []
