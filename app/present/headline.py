"""The headline figures of a report (the whole period in one group) and how people read them.

The figures are the report's own metrics computed over every group merged (``rollup(())``), so
they follow report-semantics §3 (interval grain) or §4 (conversation grain) exactly as the rows
do. Formatting is for people only: the files keep the plain numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from app.pipeline.metrics import RATIO_METRICS, rounded

__all__ = ["HEADLINE", "headline_values", "label", "shown"]

# The figures a team lead looks for first, in the order they are shown.
HEADLINE: tuple[tuple[str, str], ...] = (
    ("offered", "Offered"),
    ("answered", "Answered"),
    ("abandon_rate", "Abandon rate"),
    ("service_level", "Service level"),
    ("avg_handle_seconds", "Average handle time"),
    ("avg_speed_of_answer_seconds", "Average speed of answer"),
)
_LABELS = dict(HEADLINE) | {
    "conversations": "Conversations",
    "abandoned": "Abandoned",
    "handled": "Handled",
    "transferred": "Transferred",
    "answer_rate": "Answer rate",
    "service_level_target_pct": "Service-level target",
    "avg_wait_seconds": "Average wait",
    "avg_talk_seconds": "Average talk",
    "avg_hold_seconds": "Average hold",
    "avg_acw_seconds": "Average after-call work",
    "p90_handle_seconds": "90th percentile handle time",
    "efficiency_score": "Efficiency score",
}
# Ratios (0..1) are shown as percentages.
PERCENT_METRICS = RATIO_METRICS
NOT_KNOWN = "\u2013"  # en dash: a ratio or average over nothing (null in the files)


def headline_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The headline metrics of one rolled-up group, rounded as the files round them, plus the
    service-level target when the whole period has one (a single queue and medium)."""
    figures = {metric: rounded(metric, values.get(metric)) for metric, _ in HEADLINE}
    figures["service_level_target_pct"] = rounded(
        "service_level_target_pct", values.get("service_level_target_pct")
    )
    return figures


def label(metric: str) -> str:
    """A metric's name for people (``avg_handle_seconds``: "Average handle time")."""
    return _LABELS.get(metric) or metric.replace("_", " ").capitalize()


def shown(metric: str, value: Any) -> str:
    """A value as a person reads it: ``1,204``, ``82.1 %``, ``4 min 12 s``, an en dash for null."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return NOT_KNOWN
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or NOT_KNOWN
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if metric in PERCENT_METRICS:
        return f"{value * 100:.1f} %"
    if metric.endswith("_seconds"):
        return duration_text(float(value))
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.2f}"


def duration_text(seconds: float) -> str:
    """``18.4 s``, ``4 min 12 s``, ``1 h 02 min``."""
    if seconds < 59.95:  # 59.96 would otherwise show as "60.0 s"
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
