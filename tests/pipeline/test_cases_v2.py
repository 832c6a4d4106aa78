"""The pipeline against hand arithmetic (issue 11): every case of ``cases_v2`` goes through the
pipeline's own path — settings validated as check-config validates them, records spooled as the
fetch spools them, merged and de-duplicated by ``unique_records``, counted by the report's grain
(``app.pipeline.grains``) — and must give exactly the hand-computed rows.

``test_oracle_v2`` checks the independent oracle against the same rows, so the two readings of
report-semantics v2 are tied to one piece of hand arithmetic.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.models import Period
from app.pipeline.grains import count_record, new_aggregator, new_tallies, selection_ms
from app.pipeline.merge import MergeCounts, unique_records
from app.pipeline.spool import spool_line
from app.settings import ReportSettings
from tests.pipeline.cases_v2 import CASES, Case, same_value


def _pipeline(case: Case) -> tuple[ReportSettings, list[dict[str, Any]], dict[str, int]]:
    report = ReportSettings.model_validate(case.report)
    start, end = case.instants()
    period = Period(start, end, case.period[2], "case")
    lines = sorted(entry for entry in map(spool_line, case.records) if entry is not None)
    aggregator = new_aggregator(report, period)
    tallies = new_tallies()
    zone = ZoneInfo(report.timezone)
    for record in unique_records(
        (line for _, line in lines), *selection_ms(report, period), MergeCounts()
    ):
        count_record(aggregator, record, report, zone, tallies)
    rows = aggregator.rows(report.metrics, report.custom_metrics, case.names, case.media_settings)
    return report, rows, tallies


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_pipeline_gives_the_hand_computed_rows(case: Case) -> None:
    report, rows, tallies = _pipeline(case)
    problems = []
    if len(rows) != len(case.expected_rows):
        problems.append(f"{len(rows)} rows, expected {len(case.expected_rows)}")
    for index, (got, want) in enumerate(zip(rows, case.expected_rows, strict=False)):
        if list(got) != list(want):
            problems.append(f"row {index}: columns {list(got)}, the case pins {list(want)}")
        for column, value in want.items():
            if column not in got or not same_value(got[column], value):
                problems.append(
                    f"row {index} {column}: pipeline {got.get(column)!r}, hand {value!r}"
                )
    counted = {
        "events_counted": tallies["events_counted"] if report.grain == "interval" else None,
        "conversations": tallies["conversations"],
        "ongoing_skipped": tallies["ongoing_skipped"],
    }
    for name, hand in (
        ("events_counted", case.expected_events_counted),
        ("conversations", case.expected_conversations),
        ("ongoing_skipped", case.expected_ongoing_skipped),
    ):
        if hand is not None and counted[name] != hand:
            problems.append(f"{name}: pipeline {counted[name]}, hand {hand}")
    assert not problems, "\n".join(problems)
