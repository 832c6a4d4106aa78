"""The two grains behind one surface (report-semantics §1): which conversations a report reads,
the aggregator that counts them, and how one merged record is counted.

Pure and I/O-free; ``run.py`` composes it with fetching and exporting, and the hand-built cases
in the tests go through it the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from app.models import Period, Window
from app.periods import lookback_windows
from app.pipeline.aggregate import Aggregator
from app.pipeline.facts import conversation_facts
from app.pipeline.interval import IntervalAggregator
from app.settings import ReportSettings

__all__ = [
    "Grouped",
    "count_record",
    "lookback_probes",
    "new_aggregator",
    "new_tallies",
    "selection_ms",
    "selection_start",
]

Grouped = Aggregator | IntervalAggregator


def new_aggregator(report: ReportSettings, period: Period) -> Grouped:
    """The report's grain's aggregator over ``period``."""
    if report.grain == "conversation":
        return Aggregator(
            report.group_by,
            service_level=report.service_level,
            include_ongoing=report.include_ongoing,
        )
    return IntervalAggregator(
        report.group_by,
        zone=ZoneInfo(report.timezone),
        start_ms=ms(period.start),
        end_ms=ms(period.end),
        filters=report.filters,
        service_level=report.service_level,
    )


def selection_start(report: ReportSettings, period: Period) -> datetime:
    """The earliest conversationStart a report reads (§1): the look-back's start in the
    interval grain, the period's start in the conversation grain."""
    return period.start - report.lookback if report.grain == "interval" else period.start


def ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def lookback_probes(report: ReportSettings, period: Period) -> list[Window]:
    """The query windows before the period that the interval grain's look-back needs (jobs need
    none: they return every conversation active in their interval)."""
    return lookback_windows(period, report.lookback) if report.grain == "interval" else []


def selection_ms(report: ReportSettings, period: Period) -> tuple[int, int]:
    """``[start, end)`` of the conversationStarts a report reads, in epoch ms."""
    return ms(selection_start(report, period)), ms(period.end)


def new_tallies() -> dict[str, int]:
    return {
        "conversations": 0,
        "events_counted": 0,
        "ongoing_counted": 0,
        "ongoing_skipped": 0,
        "malformed_skipped": 0,
    }


def count_record(
    aggregator: Grouped,
    record: Mapping[str, Any],
    report: ReportSettings,
    zone: ZoneInfo,
    tallies: dict[str, int],
) -> list[dict[str, Any]]:
    """Count one merged record in the report's grain; returns what it added (the counted
    events, or the conversation's facts) as JSON-ready rows. Raises ``MalformedRecord``."""
    ongoing = record.get("conversationEnd") is None
    if ongoing and report.filters.exclude_ongoing:
        # The API was asked to leave these out; a copy it sent anyway does not count either.
        return []
    if isinstance(aggregator, IntervalAggregator):
        events = list(aggregator.events(record))
        for event in events:
            aggregator.add(event)
        if events:
            tallies["conversations"] += 1
            tallies["events_counted"] += len(events)
            tallies["ongoing_counted"] += ongoing
        return [event._asdict() for event in events]
    facts = conversation_facts(record, zone)
    if not facts.ended and not report.include_ongoing:
        tallies["ongoing_skipped"] += 1
        return []
    tallies["conversations"] += 1
    aggregator.add(facts)
    return [facts.as_dict()]
