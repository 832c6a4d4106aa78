"""The ``html`` format: one self-contained page (inline CSS and SVG, no script, no request)
that a phone or a mail client shows as it is: title, headline figures, charts, the full table.

The table's cells are the CSV's cells (``csv_cell``), and the charts draw the same rows or
rollups of the same groups (``ReportView``), so the page cannot disagree with the files.
Names come from Genesys and are escaped by Jinja2's autoescaping; a Content-Security-Policy
forbids every fetch, so even a missed escape could not load anything.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import jinja2

from app.pipeline.export import csv_cell
from app.pipeline.metrics import NAME_KINDS
from app.present.charts import Chart, bar_chart, column_chart, line_chart
from app.present.headline import HEADLINE, PERCENT_METRICS, label, shown
from app.present.view import ReportView, group_label, reconciliation_text
from app.settings import GROUP_COLUMNS, ReportSettings

__all__ = ["MAX_BARS", "render_html"]

log = logging.getLogger(__name__)

MAX_BARS = 20  # a bar chart of more groups is unreadable on a phone; the table has them all
# Id columns sit beside their name columns: shown shortened (the full id is the cell's title
# and its text, and in the CSV), so a phone shows the names, which wrap rather than being cut.
_ID_COLUMNS = frozenset(GROUP_COLUMNS[d][0] for d in NAME_KINDS)
_NAME_COLUMNS = frozenset(GROUP_COLUMNS[d][1] for d in NAME_KINDS)
_GRAIN_TEXT = {
    "interval": (
        "Interval grain: each event counted in the interval it happened in, as Genesys' "
        "Queue and Agent Performance views count them"
    ),
    "conversation": (
        "Conversation grain: each conversation counted once, in its start interval (the "
        "customer-journey view; it differs from Genesys' views by design)"
    ),
}


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("app.present", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(view: ReportView) -> bytes:
    """The page's bytes (UTF-8). CPU-bound (matplotlib): run it in a worker thread."""
    template = _environment().get_template("report.html.j2")
    report = view.report
    try:
        drawn, chart_problem = charts(view), None
    except Exception as exc:  # a chart is a courtesy: the numbers are in the table regardless
        log.warning("report %s: the HTML page's charts could not be drawn: %r", report.name, exc)
        drawn, chart_problem = [], f"The charts could not be drawn ({type(exc).__name__})"
    text = template.render(
        title=f"{report.name}: {view.period['label']}",
        report=report.name,
        period=_period_text(view.period),
        grain=_GRAIN_TEXT[report.grain],
        generated=_generated_text(view.generated_at),
        filters=_filters_text(report),
        provisional=view.completeness != "final",
        headline=_headline(view.headline, report),
        reconciliation=reconciliation_text(view.reconciliation),
        reconciliation_status=(view.reconciliation or {}).get("status"),
        charts=drawn,
        chart_problem=chart_problem,
        shaded=any(target is not None for target in view.row_targets),
        header=view.columns,
        header_titles=[label(column) for column in view.columns],
        body=_body(view),
        row_count=len(view.rows),
        counts=_counts(view.counts),
    )
    return text.encode("utf-8")


def charts(view: ReportView) -> list[Chart]:
    """Service level and offered per time bucket when the report has a time dimension,
    otherwise its main metric per group; none for a report without rows."""
    if not view.rows:
        return []
    name = view.report.name
    series = view.series
    if series is not None and series.buckets:
        unit = " and ".join(d.replace("_", " ") for d in series.dimensions)
        found = []
        offered = series.of("offered")
        found.append(
            column_chart(
                f"{name}-offered",
                f"Offered per {unit}",
                series.buckets,
                offered,
                _extremes_text(
                    f"Offered per {unit}", "offered", series.buckets, offered, total=True
                ),
            )
        )
        levels = series.of("service_level")
        if any(value is not None for value in levels):
            target = view.headline.get("service_level_target_pct")
            text = _extremes_text(
                f"Service level per {unit}", "service_level", series.buckets, levels
            )
            if target is not None:
                text += f" Target: {shown('service_level_target_pct', target)}."
            found.append(
                line_chart(
                    f"{name}-service-level",
                    f"Service level per {unit}",
                    series.buckets,
                    levels,
                    text,
                    target=target,
                )
            )
        return found
    metric = view.chart_metric
    if metric is None:
        return []
    ranked = sorted(
        (
            (row[metric], group_label(row, view.report.group_by))
            for row in view.rows
            if isinstance(row.get(metric), int | float)
        ),
        key=lambda pair: (-pair[0], pair[1]),
    )
    if not ranked:
        return []
    shown_pairs = ranked[:MAX_BARS]
    groups = " and ".join(d.removesuffix("_id").replace("_", " ") for d in view.report.group_by)
    title = f"{label(metric)} per {groups or 'group'}"
    if len(ranked) > MAX_BARS:
        title += f" (the {MAX_BARS} highest of {len(ranked)})"
    description = f"{title}: " + "; ".join(
        f"{group} {shown(metric, value)}" for value, group in shown_pairs
    )
    return [
        bar_chart(
            f"{name}-{metric}",
            title,
            [group for _, group in shown_pairs],
            [value for value, _ in shown_pairs],
            description + ".",
            percent=metric in PERCENT_METRICS,
            unit="seconds" if metric.endswith("_seconds") else "",
        )
    ]


def _extremes_text(
    title: str, metric: str, buckets: Sequence[str], values: Sequence[Any], *, total: bool = False
) -> str:
    known = [
        (value, bucket) for value, bucket in zip(values, buckets, strict=True) if value is not None
    ]
    if not known:
        return f"{title}: no values."
    high = max(known, key=lambda pair: pair[0])
    low = min(known, key=lambda pair: pair[0])
    text = f"{title}, {len(buckets)} buckets"
    if total:
        text += f", {shown(metric, sum(v for v, _ in known))} in all"
    return (
        f"{text}: highest {shown(metric, high[0])} at {high[1]}, "
        f"lowest {shown(metric, low[0])} at {low[1]}."
    )


def _headline(figures: Mapping[str, Any], report: ReportSettings) -> list[dict[str, str]]:
    cards = []
    for metric, name in HEADLINE:
        note = ""
        if metric == "service_level":
            note = _target_text(figures, report)
        value = shown(metric, figures.get(metric))
        cards.append({"metric": metric, "label": name, "value": value, "note": note})
    return cards


def _target_text(figures: Mapping[str, Any], report: ReportSettings) -> str:
    """What the headline service level is measured against (§3 interval, §4 conversation)."""
    fixed = report.service_level.target_seconds
    if report.grain == "conversation" or fixed is not None:
        seconds = fixed if fixed is not None else report.service_level.default_seconds
        return f"answered within {seconds:g} s"
    if figures.get("service_level_target_pct") is not None:
        return f"target {shown('service_level_target_pct', figures['service_level_target_pct'])}"
    return "against each queue's own target"


def _body(view: ReportView) -> list[list[dict[str, str]]]:
    """Each row's cells: the CSV's text, plus a class for numbers and met/missed targets."""
    body = []
    for index, row in enumerate(view.rows):
        target = view.row_targets[index] if index < len(view.row_targets) else None
        cells = []
        for column in view.columns:
            value = row[column]
            css = "num" if isinstance(value, int | float) and not isinstance(value, bool) else ""
            text = csv_cell(value, neutralise_formulas=False)
            note = ""
            if column in _ID_COLUMNS and value is not None:
                css, note = "id", text
            elif column in _NAME_COLUMNS and value is not None:
                css = "name"  # wraps instead of being cut: phones show no tooltips
            if column == "service_level" and target is not None and value is not None:
                met = value >= target
                css += " met" if met else " missed"
                verdict = "meets" if met else "below"
                note = f"{verdict} the target of {shown('service_level_target_pct', target)}"
            cells.append(
                {
                    "text": text,
                    "class": css.strip(),
                    "note": note,
                }
            )
        body.append(cells)
    return body


def _period_text(period: Mapping[str, str]) -> str:
    start = datetime.fromisoformat(period["start"])
    end = datetime.fromisoformat(period["end"])
    offset = start.strftime("%z")
    offset = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
    if end.strftime("%z") != start.strftime("%z"):
        offset += f" to UTC{end.strftime('%z')[:3]}:{end.strftime('%z')[3:]}"
    return (
        f"{start:%a %d %b %Y %H:%M} \u2013 {end:%a %d %b %Y %H:%M} ({period['timezone']}, {offset})"
    )


def _generated_text(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _filters_text(report: ReportSettings) -> list[str]:
    filters = report.filters
    parts = []
    for name, values in (
        ("Media types", filters.media_types),
        ("Directions", filters.directions),
        ("Queues", filters.queue_ids),
        ("Agents", filters.user_ids),
        ("Wrap-up codes", filters.wrapup_codes),
    ):
        if values:
            parts.append(f"{name}: {', '.join(values)}")
    if filters.exclude_ongoing:
        parts.append("ended conversations only")
    raw = len(filters.segment_filters) + len(filters.conversation_filters)
    if raw:
        parts.append(f"{raw} detail filter{'s' if raw > 1 else ''} (see settings)")
    return parts


def _counts(counts: Mapping[str, Any]) -> list[tuple[str, str]]:
    wanted = (
        ("conversations", "Conversations read"),
        ("events_counted", "Events counted"),
        ("groups", "Groups"),
        ("requests", "API requests"),
    )
    return [(name, f"{counts[key]:,}") for key, name in wanted if isinstance(counts.get(key), int)]
