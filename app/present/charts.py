"""Charts as static, inline SVG, drawn by matplotlib at build time.

matplotlib's object API (a ``Figure`` per chart, no pyplot state) is used, but its settings
(rcParams) are global: charts are drawn one at a time under a lock, so reports rendering in
several worker threads at once cannot switch each other's settings mid-chart. Names are never
read as TeX (``text.parse_math``: off), so a queue called ``Pay $5 or $10`` is drawn as it is
written and ``$$`` cannot fail a report. Text stays text (``svg.fonttype: none``): smaller,
searchable, read by screen readers, and drawn in the reader's sans-serif font, so no font is
embedded or fetched. A fixed hash salt and no date make identical charts identical bytes.
"""

from __future__ import annotations

import html
import io
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

__all__ = ["Chart", "bar_chart", "column_chart", "line_chart"]

_STYLE: dict[str, Any] = {
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.family": "sans-serif",
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#888888",
    "axes.titlesize": 10,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#e3e3e3",
    "grid.linewidth": 0.6,
}
ACCENT = "#1f6feb"
TARGET = "#b35900"
# Narrow enough that a phone (360 px) shows the labels at about the size of the text.
WIDTH_IN = 4.6
_SVG_START = re.compile(r"<svg\b[^>]*>", re.S)


@dataclass(frozen=True, slots=True)
class Chart:
    """One chart: its SVG markup (inline-ready, with a title and description) and caption."""

    key: str
    svg: str
    title: str
    description: str


def column_chart(
    key: str, title: str, buckets: Sequence[str], values: Sequence[float | None], description: str
) -> Chart:
    """Vertical bars over time buckets (offered per hour)."""
    with _style(key):
        figure, axes = _figure(2.6)
        heights = [0 if v is None else v for v in values]
        axes.bar(range(len(buckets)), heights, color=ACCENT, width=0.8)
        _bucket_axis(axes, buckets)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
        axes.grid(axis="x", visible=False)
        return _finish(figure, key, title, description)


def line_chart(
    key: str,
    title: str,
    buckets: Sequence[str],
    values: Sequence[float | None],
    description: str,
    *,
    target: float | None = None,
) -> Chart:
    """A ratio over time buckets (service level), 0-100 %, with the target when known."""
    with _style(key):
        figure, axes = _figure(2.6)
        points = [float("nan") if v is None else v for v in values]
        axes.plot(
            range(len(buckets)), points, color=ACCENT, marker="o", markersize=3, linewidth=1.5
        )
        if target is not None:
            axes.axhline(target, color=TARGET, linestyle="--", linewidth=1, label="target")
            axes.legend(loc="lower right", frameon=False)
        axes.set_ylim(0, 1.02)
        axes.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        _bucket_axis(axes, buckets)
        return _finish(figure, key, title, description)


def bar_chart(
    key: str,
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    description: str,
    *,
    percent: bool = False,
    unit: str = "",
) -> Chart:
    """Horizontal bars, one per group, largest first (AHT per queue)."""
    with _style(key):
        figure, axes = _figure(0.8 + 0.26 * max(len(labels), 1))
        positions = range(len(labels))
        axes.barh(positions, values, color=ACCENT, height=0.7)
        axes.set_yticks(list(positions), [_short(text) for text in labels])
        axes.invert_yaxis()
        axes.grid(axis="y", visible=False)
        if percent:
            axes.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        else:
            axes.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
        if unit:
            axes.set_xlabel(unit)
        return _finish(figure, key, title, description)


_DRAWING = threading.Lock()


@contextmanager
def _style(key: str) -> Iterator[None]:
    # rcParams are read both when artists are made and when the SVG is written; the salt makes
    # the ids of one chart's clip paths its own, so several charts can share a page.
    style: Any = _STYLE | {"svg.hashsalt": key}
    with _DRAWING, mpl.rc_context(style):
        yield


def _figure(height_in: float) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(WIDTH_IN, height_in), layout="constrained")
    return figure, figure.add_subplot()


def _bucket_axis(axes: Axes, buckets: Sequence[str]) -> None:
    # At most about 12 labels: a day of half hours would otherwise print 48 on top of each other.
    step = max(1, -(-len(buckets) // 12))
    shown = list(range(0, len(buckets), step))
    one_day = len({bucket.split("T", 1)[0] for bucket in buckets}) == 1
    labels = [_tick(buckets[i]) if one_day else buckets[i].replace("T", " ") for i in shown]
    axes.set_xticks(shown, labels, rotation=45, ha="right")
    axes.set_xlim(-0.6, len(buckets) - 0.4)


def _tick(bucket: str) -> str:
    # "2024-05-01T10:30" -> "10:30" when every bucket is on one day; dates stay dates.
    return bucket.split("T", 1)[1] if "T" in bucket else bucket


def _short(text: str, limit: int = 32) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _finish(figure: Figure, key: str, title: str, description: str) -> Chart:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]  # the XML declaration and DOCTYPE do not belong inline
    title_id, description_id = f"{key}-title", f"{key}-desc"
    opening = (
        f'<svg class="chart" role="img" aria-labelledby="{title_id} {description_id}" '
        f'viewBox="{_view_box(svg)}" xmlns="http://www.w3.org/2000/svg" '
        f'preserveAspectRatio="xMinYMin meet">'
        f'<title id="{title_id}">{html.escape(title)}</title>'
        f'<desc id="{description_id}">{html.escape(description)}</desc>'
    )
    svg = _SVG_START.sub(lambda _: opening, svg, count=1)
    return Chart(key=key, svg=svg, title=title, description=description)


def _view_box(svg: str) -> str:
    match = re.search(r'viewBox="([^"]+)"', svg)
    if match is None:
        raise ValueError("matplotlib wrote an SVG without a viewBox")
    return match.group(1)
