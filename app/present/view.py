"""What a report shows people, gathered once per run: the CSV's columns and rows, the headline
figures, the series behind the charts and what the manifest says about the run.

``ReportView`` holds only values already computed by the pipeline (rows, rollups of the same
groups, the reconciliation); the HTML and Excel writers format them and never recompute."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.pipeline.buckets import BUCKETS
from app.pipeline.metrics import NAME_KINDS, rounded
from app.present.headline import headline_values
from app.settings import GROUP_COLUMNS, ReportSettings

__all__ = ["TIME_DIMENSIONS", "ReportView", "Series", "group_label", "reconciliation_text"]

TIME_DIMENSIONS = frozenset(BUCKETS)
# The metric a per-group bar chart shows, first one the report lists.
_GROUP_CHART_METRICS = (
    "avg_handle_seconds",
    "service_level",
    "offered",
    "answered",
    "handled",
    "conversations",
)


@dataclass(frozen=True, slots=True)
class Series:
    """Rolled-up metrics per time bucket (``dimensions`` are the report's time dimensions)."""

    dimensions: tuple[str, ...]
    buckets: list[str]
    values: list[dict[str, Any]]

    def of(self, metric: str) -> list[Any]:
        return [rounded(metric, v.get(metric)) for v in self.values]


@dataclass(frozen=True, slots=True)
class ReportView:
    report: ReportSettings
    period: Mapping[str, str]  # period_document: local start/end with offsets, zone, label
    generated_at: datetime
    columns: list[str]
    rows: list[dict[str, Any]]
    headline: dict[str, Any]
    series: Series | None = None
    # Each row's queue service-level target percentage, when the row is one queue and medium.
    row_targets: list[float | None] = field(default_factory=list)
    reconciliation: Mapping[str, Any] | None = None
    completeness: str = "final"
    counts: Mapping[str, Any] = field(default_factory=dict)

    @property
    def group_columns(self) -> list[str]:
        return [c for d in self.report.group_by for c in GROUP_COLUMNS[d]]

    @property
    def chart_metric(self) -> str | None:
        """The metric of the per-group bar chart (a report without a time dimension)."""
        listed = [*self.report.metrics, *self.report.custom_metrics]
        return next((m for m in _GROUP_CHART_METRICS if m in listed), None) or next(
            (c for c in self.columns if c not in self.group_columns and _numeric(self.rows, c)),
            None,
        )


def build_view(
    report: ReportSettings,
    period: Mapping[str, str],
    generated_at: datetime,
    columns: list[str],
    rows: list[dict[str, Any]],
    rollup: Any,
    *,
    row_targets: list[float | None] | None = None,
    reconciliation: Mapping[str, Any] | None = None,
    completeness: str = "final",
    counts: Mapping[str, Any] | None = None,
) -> ReportView:
    """``rollup(keep)`` is the aggregator's (with the queues' targets already bound)."""
    ((_, whole),) = rollup(())
    times = tuple(d for d in report.group_by if d in TIME_DIMENSIONS)
    series = None
    if times:
        rolled = rollup(times)
        series = Series(
            times, [" ".join(str(v) for v in key) for key, _ in rolled], [v for _, v in rolled]
        )
    return ReportView(
        report=report,
        period=period,
        generated_at=generated_at,
        columns=columns,
        rows=rows,
        headline=headline_values(whole),
        series=series,
        row_targets=row_targets or [],
        reconciliation=reconciliation,
        completeness=completeness,
        counts=counts or {},
    )


def group_label(row: Mapping[str, Any], group_by: Sequence[str]) -> str:
    """A row's group as people name it: names over ids, dimensions joined (``Sales · voice``)."""
    parts = []
    for dimension in group_by:
        column = GROUP_COLUMNS[dimension][-1] if dimension in NAME_KINDS else dimension
        value = row.get(column)
        parts.append("(none)" if value is None else str(value))
    return " · ".join(parts) or "All"


def reconciliation_text(document: Mapping[str, Any] | None) -> str | None:
    """The reconciliation in one sentence ("412 of 412 values equal Genesys'")."""
    if not document:
        return None
    status = document.get("status")
    if status == "skipped":
        return f"Not compared with Genesys' aggregates: {document.get('reason')}"
    compared, equal = document.get("compared", 0), document.get("equal", 0)
    text = f"{equal:,} of {compared:,} values equal Genesys'"
    if status == "different":
        text += f" ({document.get('different', 0):,} different: see the manifest)"
    return text


def _numeric(rows: Sequence[Mapping[str, Any]], column: str) -> bool:
    values = [row.get(column) for row in rows if row.get(column) is not None]
    return bool(values) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    )
