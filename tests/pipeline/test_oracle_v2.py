"""The oracle against hand arithmetic (issue 11): every case of ``cases_v2`` pins report rows
worked out by hand from a few hand-built records; the oracle must produce exactly those rows.

This is what lets ``test_report_numbers`` trust the oracle: it compares the pipeline with the
oracle over thousands of synthetic conversations, and this file ties the oracle to the contract
(report-semantics v2) one rule at a time.

``case.report`` holds ReportSettings keyword arguments. Until ReportSettings has the v2 fields,
these tests read them with ``OracleReport.from_dict``, which refuses what check-config would
refuse for the contract's sake (unknown keys, metrics of the other grain, flags in the interval
grain, ids that are not Genesys ids); ``test_report_numbers`` builds the same object from a real
ReportSettings with ``OracleReport.from_settings``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from tests.pipeline.cases_v2 import CASES, Case, same_value
from tests.pipeline.oracle import (
    DIMENSIONS,
    METRICS_V2,
    OracleReport,
    ServiceLevel,
    expected_columns,
    expected_report,
)


@dataclass(frozen=True)
class _Period:
    start: datetime
    end: datetime


def _run(case: Case) -> tuple[OracleReport, Any]:
    report = OracleReport.from_dict(case.report)
    start, end = case.instants()
    expected = expected_report(
        case.records,
        report,
        _Period(start, end),
        case.names,
        media_settings=case.media_settings,
    )
    return report, expected


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_oracle_gives_the_hand_computed_rows(case: Case) -> None:
    report, expected = _run(case)
    columns = expected_columns(report)

    problems = []
    if len(expected.rows) != len(case.expected_rows):
        problems.append(f"{len(expected.rows)} rows, expected {len(case.expected_rows)}")
    for index, (got, want) in enumerate(zip(expected.rows, case.expected_rows, strict=False)):
        if list(want) != [c for c in columns if c in want] or set(want) != set(columns):
            problems.append(f"row {index}: the case pins {list(want)}, the report has {columns}")
        for column, value in want.items():
            if column not in got or not same_value(got[column], value):
                problems.append(f"row {index} {column}: oracle {got.get(column)!r}, hand {value!r}")
    for name, got_count, hand in (
        ("events_counted", expected.events_counted, case.expected_events_counted),
        ("conversations", expected.conversations, case.expected_conversations),
        ("ongoing_skipped", expected.ongoing_skipped, case.expected_ongoing_skipped),
    ):
        if hand is not None and got_count != hand:
            problems.append(f"{name}: oracle {got_count}, hand {hand}")
    assert not problems, "\n".join(problems)


def test_events_counted_belongs_to_the_interval_grain() -> None:
    for case in CASES:
        _, expected = _run(case)
        if case.report.get("grain", "interval") == "interval":
            assert expected.events_counted == len(expected.events), case.id
            assert expected.ongoing_skipped == 0, case.id
        else:
            assert expected.events_counted is None, case.id
            assert expected.events == [], case.id


# --- the cases themselves --------------------------------------------------------------------


def test_cases_are_well_formed() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
    names = [case.report["name"] for case in CASES]
    assert len(names) == len(set(names))
    for case in CASES:
        # ReportSettings' rule for a report name (it becomes a directory and key name).
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", case.report["name"]), case.id
        assert case.report["timezone"] == case.period[2], case.id
        start, end = case.instants()
        assert start.tzinfo is not None and start < end, case.id
        assert case.expected_rows, case.id
        # Records are JSON, as the API sends them.
        assert json.loads(json.dumps(case.records)) == case.records, case.id


def test_the_cases_cover_every_metric_and_dimension() -> None:
    metrics = {m for case in CASES for m in case.report["metrics"]}
    dimensions = {d for case in CASES for d in case.report.get("group_by", [])}
    assert set(METRICS_V2) - metrics == set()
    assert set(DIMENSIONS) - dimensions == set()
    grains = {case.report.get("grain", "interval") for case in CASES}
    assert grains == {"interval", "conversation"}


# --- OracleReport: the report as the oracle reads it ---------------------------------------------


def test_from_settings_reads_reportsettings_attribute_names() -> None:
    """A stand-in with exactly the attribute names ReportSettings will have (v2)."""
    settings = SimpleNamespace(
        name="r",
        timezone="Europe/Berlin",
        grain="interval",
        group_by=["queue_id", "half_hour"],
        metrics=["offered", "service_level"],
        custom_metrics={"unanswered": "offered - answered"},
        lookback=timedelta(hours=2),
        include_ongoing=False,
        service_level=SimpleNamespace(
            target_seconds=None,
            default_seconds=25.0,
            exclude_short_abandons=True,
            include_flowouts=False,
        ),
        filters=SimpleNamespace(
            media_types=["voice"],
            queue_ids=["a1000000-0000-4000-8000-000000000001"],
            user_ids=[],
            wrapup_codes=[],
            directions=["inbound"],
            exclude_ongoing=False,
            segment_filters=[],
            conversation_filters=[],
        ),
        schedule="0 6 * * *",  # delivery settings are not the oracle's business
    )
    assert OracleReport.from_settings(settings) == OracleReport.from_dict(
        {
            "name": "r",
            "timezone": "Europe/Berlin",
            "grain": "interval",
            "group_by": ["queue_id", "half_hour"],
            "metrics": ["offered", "service_level"],
            "custom_metrics": {"unanswered": "offered - answered"},
            "lookback": "PT2H",
            "service_level": {"default_seconds": 25.0, "exclude_short_abandons": True},
            "filters": {
                "media_types": ["voice"],
                "queue_ids": ["a1000000-0000-4000-8000-000000000001"],
                "directions": ["inbound"],
            },
            "schedule": "0 6 * * *",
        }
    )
    del settings.grain
    with pytest.raises(AttributeError):
        OracleReport.from_settings(settings)  # no silent default for a missing v2 field


def test_report_defaults_follow_the_contract() -> None:
    report = OracleReport.from_dict({"name": "r", "metrics": ["offered"]})
    assert report.grain == "interval"
    assert report.lookback == timedelta(hours=6)
    assert report.service_level == ServiceLevel(
        target_seconds=None,
        default_seconds=20,
        exclude_short_abandons=False,
        include_flowouts=False,
    )
    # P1D is 24 hours, whatever the clocks do that day.
    assert OracleReport.from_dict(
        {"name": "r", "metrics": ["offered"], "lookback": "P1D"}
    ).lookback == timedelta(hours=24)


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"grain": "conversation", "metrics": ["short_abandoned"]}, "conversation grain"),
        ({"grain": "conversation", "metrics": ["flowouts"]}, "conversation grain"),
        ({"grain": "conversation", "metrics": ["avg_abandon_seconds"]}, "conversation grain"),
        ({"grain": "conversation", "metrics": ["service_level_target_pct"]}, "conversation grain"),
        ({"metrics": ["avg_duration_seconds"]}, "interval grain"),
        ({"metrics": ["conversations"], "group_by": ["transferred"]}, "interval grain"),
        ({"metrics": ["conversations"], "grain": "hourly"}, "grain"),
        ({"metrics": ["conversations"], "lookback": "P32D"}, "lookback"),
        ({"metrics": ["conversations"], "service_level_seconds": 20}, "unknown report keys"),
        ({"metrics": ["conversations"], "filters": {"queue_ids": ["Sales"]}}, "Genesys ids"),
        (
            {"grain": "conversation", "metrics": ["answered"], "group_by": ["answered"]},
            "group column",
        ),
        ({"metrics": ["offered"], "custom_metrics": {"offered": "answered"}}, "custom metric"),
    ],
)
def test_report_refuses_what_check_config_refuses(settings: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        OracleReport.from_dict({"name": "r", **settings})
