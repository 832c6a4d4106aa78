"""The ``xlsx`` format: the report's table as an Excel workbook, through XlsxWriter.

Sheet "Report" holds the CSV's columns and rows with numbers stored as numbers (ratios shown as
percentages, seconds with two decimals, counts with thousands separators, never changing the
stored value), a frozen header row, an autofilter and fitted column widths. Sheet "About" holds
the period, grain, filters, headline figures and the manifest's counts.

Every text cell is written as a string, never through XlsxWriter's guessing ``write()``, so a
name like ``=HYPERLINK(...)`` can never become a formula or a link; with ``neutralise_formulas``
such cells also carry Excel's quote prefix (the apostrophe the CSV shows), so editing the cell
keeps it text. The creation time is the report's generation time: the same report gives the
same bytes.

Two things a workbook cannot hold as the CSV has them: an integer beyond 2**53 (a custom metric;
Excel numbers are doubles) is written as its digits, as text; a text over Excel's 32,767
characters is cut, with a warning.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Mapping
from datetime import UTC
from typing import Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from app.pipeline.export import FORMULA_STARTS, csv_cell
from app.present.headline import HEADLINE, PERCENT_METRICS
from app.present.view import ReportView, reconciliation_text

__all__ = ["render_xlsx"]

log = logging.getLogger(__name__)
_MAX_WIDTH = 48
_EXACT_INT = 2**53  # the largest integer a double (an Excel number) holds exactly
_MAX_TEXT = 32_767  # characters in one Excel cell
_COUNT_FORMAT = "#,##0"
_SECONDS_FORMAT = "#,##0.00"
_PERCENT_FORMAT = "0.00%"
_DECIMAL_FORMAT = "#,##0.00##"


class _Formats:
    def __init__(self, book: xlsxwriter.Workbook) -> None:
        self.header = book.add_format({"bold": True, "bg_color": "#F2F4F7", "bottom": 1})
        self.count = book.add_format({"num_format": _COUNT_FORMAT})
        self.seconds = book.add_format({"num_format": _SECONDS_FORMAT})
        self.percent = book.add_format({"num_format": _PERCENT_FORMAT})
        self.decimal = book.add_format({"num_format": _DECIMAL_FORMAT})
        self.quoted = book.add_format({"quote_prefix": True})
        self.title = book.add_format({"bold": True, "font_size": 13})
        self.section = book.add_format({"bold": True})

    def number(self, column: str, value: float) -> Format:
        if column in PERCENT_METRICS:
            return self.percent
        if column.endswith("_seconds"):
            return self.seconds
        return self.count if isinstance(value, int) else self.decimal


def render_xlsx(view: ReportView) -> bytes:
    """The workbook's bytes. CPU-bound: run it in a worker thread."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    created = view.generated_at.astimezone(UTC).replace(tzinfo=None)
    book.set_properties({"title": f"{view.report.name} {view.period['label']}", "created": created})
    formats = _Formats(book)
    _table(book.add_worksheet("Report"), view, formats)
    _about(book.add_worksheet("About"), view, formats)
    book.close()
    return buffer.getvalue()


def _table(sheet: Worksheet, view: ReportView, formats: _Formats) -> None:
    guard = view.report.neutralise_formulas
    widths = [len(column) for column in view.columns]
    for index, column in enumerate(view.columns):
        sheet.write_string(0, index, column, formats.header)
    for number, row in enumerate(view.rows, start=1):
        for index, column in enumerate(view.columns):
            shown = _cell(sheet, number, index, column, row[column], formats, guard)
            widths[index] = max(widths[index], len(shown))
    sheet.freeze_panes(1, 0)
    if view.columns:
        sheet.autofilter(0, 0, max(len(view.rows), 1), len(view.columns) - 1)
    for index, width in enumerate(widths):
        sheet.set_column(index, index, min(width + 2, _MAX_WIDTH))


def _cell(
    sheet: Worksheet,
    row: int,
    col: int,
    column: str,
    value: Any,
    formats: _Formats,
    guard: bool,
) -> str:
    """Write one value as the CSV would have it (the same number, or the same text without
    the CSV's apostrophe); returns roughly what it shows, for the column width."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        # Formatted like the column's numbers, so a value typed in later reads the same way.
        kind = column in PERCENT_METRICS or column.endswith("_seconds")
        sheet.write_blank(row, col, None, formats.number(column, 0.0) if kind else None)
        return ""
    if isinstance(value, bool):
        sheet.write_boolean(row, col, value)
        return "FALSE"
    text = csv_cell(value, neutralise_formulas=False)
    if isinstance(value, int) and abs(value) > _EXACT_INT:
        # A workbook number is a double: past 2**53 it would not be the CSV's integer.
        sheet.write_string(row, col, text)
        return text
    if isinstance(value, int | float):
        # The CSV's number (at most 10 decimals), not more digits than the CSV has.
        number = value if isinstance(value, int) else float(text)
        sheet.write_number(row, col, number, formats.number(column, value))
        return text + "  "
    if not text:  # an empty list (no wrap-up codes): an empty cell, as in the CSV
        sheet.write_blank(row, col, None)
        return ""
    if len(text) > _MAX_TEXT:
        log.warning("%s: a %d-character cell was cut to Excel's limit", column, len(text))
        text = text[: _MAX_TEXT - 1] + "\u2026"
    if guard and text.startswith(FORMULA_STARTS):
        sheet.write_string(row, col, text, formats.quoted)
    else:
        sheet.write_string(row, col, text)
    return text


def _about(sheet: Worksheet, view: ReportView, formats: _Formats) -> None:
    report, period = view.report, view.period
    lines: list[tuple[str, Any]] = [
        ("Report", report.name),
        ("Period start", period["start"]),
        ("Period end", period["end"]),
        ("Time zone", period["timezone"]),
        ("Period", period["label"]),
        ("Grain", report.grain),
        ("Generated at (UTC)", view.generated_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("Completeness", view.completeness),
        ("Group by", ", ".join(report.group_by) or "(none)"),
        ("Metrics", ", ".join([*report.metrics, *report.custom_metrics])),
    ]
    for name, value in report.filters.model_dump(exclude_defaults=True).items():
        lines.append((f"Filter {name}", _plain(value)))
    reconciled = reconciliation_text(view.reconciliation)
    if reconciled:
        lines.append(("Reconciliation", reconciled))
    sheet.write_string(0, 0, f"{report.name}: {period['label']}", formats.title)
    row = 2
    for name, value in lines:
        sheet.write_string(row, 0, name, formats.section)
        sheet.write_string(row, 1, str(value))
        row += 1
    row += 1
    sheet.write_string(row, 0, "Headline (whole period)", formats.title)
    row += 1
    for metric, _ in HEADLINE:
        sheet.write_string(row, 0, metric, formats.section)
        _cell(sheet, row, 1, metric, view.headline.get(metric), formats, guard=True)
        row += 1
    row += 1
    sheet.write_string(row, 0, "Counts (manifest)", formats.title)
    row += 1
    for name, value in _flat(view.counts):
        sheet.write_string(row, 0, name, formats.section)
        _cell(sheet, row, 1, name, value, formats, guard=True)
        row += 1
    sheet.set_column(0, 0, 30)
    sheet.set_column(1, 1, 60)


def _flat(counts: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in counts.items():
        if isinstance(value, Mapping):
            out.extend(_flat(value, f"{prefix}{key}."))
        else:
            out.append((f"{prefix}{key}", value))
    return out


def _plain(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_plain(item) for item in value)
    if isinstance(value, Mapping):
        return "; ".join(f"{k}={_plain(v)}" for k, v in value.items())
    return str(value)
