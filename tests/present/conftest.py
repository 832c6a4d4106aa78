"""The demo's own report (settings.yaml's queue-daily, which lists html and xlsx), run once per
session through the CLI on the embedded sandbox, for the tests that read its files."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from app.present.view import ReportView
from app.settings import ReportSettings
from tests.cli import genesys_reports

REPO = Path(__file__).resolve().parents[2]
# A fixed past day, so the report (and the README's screenshot) is the same on every run.
START, END = "2024-05-01T00:00+02:00", "2024-05-02T00:00+02:00"
# Test artefacts (screenshots) land here; CI keeps the directory.
ARTIFACTS = Path(os.environ.get("GR_TEST_ARTIFACTS", REPO / "test-artifacts"))


@dataclass(frozen=True)
class DemoReport:
    directory: Path
    name: str

    def path(self, fmt: str) -> Path:
        return self.directory / f"{self.name}_{self.directory.name}.{fmt}"

    def csv_rows(self) -> list[list[str]]:
        with self.path("csv").open(newline="", encoding="utf-8") as handle:
            return list(csv.reader(handle))

    def json(self) -> dict[str, Any]:
        document: dict[str, Any] = orjson.loads(self.path("json").read_bytes())
        return document

    def manifest(self) -> dict[str, Any]:
        document: dict[str, Any] = orjson.loads((self.directory / "manifest.json").read_bytes())
        return document


def run_demo(tmp: Path, report: str = "queue-daily", **changes: Any) -> DemoReport:
    document = yaml.safe_load((REPO / "settings.yaml").read_text())
    document["storage"]["directory"] = str(tmp / "reports")
    document["service"]["state_directory"] = str(tmp / "state")
    for entry in document["reports"]:
        if entry["name"] == report:
            entry.update(changes)
    config = tmp / "settings.yaml"
    config.write_text(yaml.safe_dump(document))
    period = ("--start", START, "--end", END)
    result = genesys_reports("run", "--config", config, "--report", report, *period, cwd=tmp)
    assert result.returncode == 0, result.stderr[-3000:]
    (directory,) = (tmp / "reports" / report).iterdir()  # named by the period's label
    return DemoReport(directory, report)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoReport:
    return run_demo(tmp_path_factory.mktemp("demo"))


PERIOD = {
    "start": "2024-05-01T00:00:00+02:00",
    "end": "2024-05-02T00:00:00+02:00",
    "timezone": "Europe/Berlin",
    "label": "2024-05-01",
}


def make_view(names: list[str], *, neutralise: bool = True, **report: Any) -> ReportView:
    """A small per-queue view whose queue names are ``names`` (offered 0, 1, ..., service
    level 0 %, 1 %, ...)."""
    settings = ReportSettings.model_validate(
        {
            "name": "hostile",
            "group_by": ["queue_id"],
            "metrics": ["offered", "service_level"],
            "neutralise_formulas": neutralise,
            **report,
        }
    )
    rows = [
        {"queue_id": f"q{i}", "queue_name": name, "offered": i, "service_level": i / 100}
        for i, name in enumerate(names)
    ]
    return ReportView(
        report=settings,
        period=PERIOD,
        generated_at=datetime(2024, 5, 2, 6, 15, tzinfo=UTC),
        columns=["queue_id", "queue_name", "offered", "service_level"],
        rows=rows,
        headline={"offered": sum(range(len(names)))},
    )
