"""Rollups (the HTML's headline figures and time-series charts): groups merged over some
dimensions give exactly the metrics of a report grouped by the remaining dimensions only.

One generated sandbox day is counted three times in each grain: grouped finely, grouped by
the time bucket alone and not grouped at all; the fine report's rollups must equal the
coarse reports' rows (the same running sums, through the same arithmetic)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.pipeline.aggregate import Aggregator
from app.pipeline.facts import conversation_facts
from app.pipeline.interval import IntervalAggregator
from app.sandbox.generate import ConversationSource, VolumeProfile
from app.sandbox.lookups import _media_settings
from app.sandbox.org import build_organisation
from app.sandbox.records import MS_PER_HOUR, render
from app.settings import ServiceLevelSettings

ZONE = ZoneInfo("Europe/Berlin")
WEDNESDAY = 19_844 * 24  # hour index of 2024-05-01T00:00Z
START_MS = WEDNESDAY * MS_PER_HOUR
END_MS = START_MS + 24 * MS_PER_HOUR
FINE = ["queue_id", "media_type", "hour"]


@pytest.fixture(scope="module")
def day() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    org = build_organisation(5)
    source = ConversationSource(5, org, VolumeProfile())
    now = END_MS + 12 * MS_PER_HOUR
    records = [
        render(c, now, with_attributes=False)
        for h in range(WEDNESDAY - 2, WEDNESDAY + 24)
        for c in source.hour(h)
    ]
    records.sort(key=lambda r: r["conversationId"])
    media = {q.id: _media_settings(org, q.id) for q in org.queues}
    return records, media


def _interval(group_by: list[str], records: list[dict[str, Any]]) -> IntervalAggregator:
    aggregator = IntervalAggregator(
        group_by,
        zone=ZONE,
        start_ms=START_MS,
        end_ms=END_MS,
        service_level=ServiceLevelSettings(exclude_short_abandons=True),
    )
    for record in records:
        aggregator.add_record(record)
    return aggregator


def _conversation(group_by: list[str], records: list[dict[str, Any]]) -> Aggregator:
    aggregator = Aggregator(group_by)
    for record in records:
        facts = conversation_facts(record, ZONE)
        if START_MS <= facts.start_ms < END_MS:
            aggregator.add(facts)
    return aggregator


def _without_conversations(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in ("conversations", "wrapup_codes")}


def test_interval_rollups_equal_the_coarser_reports(day: Any) -> None:
    records, media = day
    fine = _interval(FINE, records)
    assert fine.group_count > 100  # a real merge, not a relabelling
    (whole,) = _interval([], records).rollup((), media)
    (total,) = fine.rollup((), media)
    assert total[0] == () and total[1]["offered"] > 500
    # Distinct conversations cannot be summed across groups: unknown, never a wrong number.
    assert total[1]["conversations"] is None and whole[1]["conversations"] > 0
    assert _without_conversations(total[1]) == _without_conversations(whole[1])
    hourly = _interval(["hour"], records).rollup(("hour",), media)
    assert len(hourly) == 24
    assert fine.rollup(("hour",), media) == [
        (key, {**values, "conversations": None}) for key, values in hourly
    ]


def test_a_rollup_over_nothing_merged_keeps_the_conversation_count(day: Any) -> None:
    records, media = day
    hourly = _interval(["hour"], records)
    rows = hourly.rows(["conversations", "service_level"], {}, {}, media)
    rolled = hourly.rollup(("hour",), media)
    assert [r["conversations"] for r in rows] == [v["conversations"] for _, v in rolled]
    assert [r["service_level"] for r in rows] == [round(v["service_level"], 4) for _, v in rolled]


def test_conversation_rollups_equal_the_coarser_reports(day: Any) -> None:
    records, _ = day
    fine = _conversation(["queue_id", "direction", "half_hour"], records)
    (whole,) = _conversation([], records).rollup(())
    (total,) = fine.rollup(())
    assert total[1]["conversations"] > 500
    assert total[1] == whole[1]  # each conversation is in one group: everything adds up
    assert fine.rollup(("half_hour",)) == _conversation(["half_hour"], records).rollup(
        ("half_hour",)
    )


def test_an_empty_report_still_has_its_headline_and_no_buckets() -> None:
    empty = IntervalAggregator(["hour"], zone=ZONE, start_ms=START_MS, end_ms=END_MS)
    ((key, values),) = empty.rollup(())
    assert key == () and values["offered"] == 0 and values["service_level"] is None
    assert empty.rollup(("hour",)) == []
    with pytest.raises(ValueError, match="queue_id"):
        empty.rollup(("queue_id",))
