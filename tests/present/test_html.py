"""The HTML page's contents without a browser: names from Genesys stay text, nothing points
outside the file, equal reports give equal bytes, and the charts follow the report's shape."""

from __future__ import annotations

import html as html_module
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from app.present import html as html_report
from app.present.headline import duration_text, shown
from app.present.html import MAX_BARS, charts, render_html
from app.present.view import ReportView, Series
from tests.present.conftest import PERIOD, make_view

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "Sales & Service",
    "<style>body{background:url(http://x/)}</style>",
]


def test_names_are_escaped_and_the_page_can_fetch_nothing() -> None:
    page = render_html(make_view(HOSTILE)).decode()
    for name in HOSTILE:
        assert name not in page and html_module.escape(name, quote=False) in page
    # Only the page's own markup: no script, no image, and style sheets only the page's own
    # and one per chart (matplotlib's).
    assert "<script" not in page.lower() and "<img" not in page
    assert page.count("<style") == 1 + page.count("<svg") and page.count("<svg") == 1
    # No reference that a browser would fetch: no src or href attribute but the SVGs' links
    # within the page (#id), no url(), no @import.
    assert re.findall(r"\b(?:src|href)\s*=\s*[\"'](?!#)", page) == []
    as_text = page.replace("&lt;style&gt;body{background:url(", "")  # the name, as text
    assert re.findall(r"url\((?!#)", as_text) == [] and "@import" not in page
    assert "default-src 'none'" in page  # and the policy forbids it anyway


def test_equal_reports_give_equal_bytes() -> None:
    assert render_html(make_view(["Sales", "Billing"])) == render_html(
        make_view(["Sales", "Billing"])
    )


def test_a_group_chart_shows_the_highest_groups_and_says_how_many() -> None:
    view = make_view([f"Queue {i:03d}" for i in range(60)])
    (chart,) = charts(view)
    assert chart.title == f"Service level per queue (the {MAX_BARS} highest of 60)"
    assert chart.description.startswith(chart.title + ": Queue 059 59.0 %; Queue 058 58.0 %")
    assert chart.description.count(";") == MAX_BARS - 1
    assert chart.svg.count("<title") == 1 and 'role="img"' in chart.svg


def test_a_time_dimension_charts_offered_and_service_level_against_the_target() -> None:
    base = make_view(["Sales"], group_by=["hour"])
    buckets = [f"2024-05-01T{h:02d}:00" for h in range(24)]
    values = [{"offered": h, "service_level": None if h == 0 else h / 24} for h in range(24)]
    view = ReportView(
        report=base.report,
        period=PERIOD,
        generated_at=datetime(2024, 5, 2, tzinfo=UTC),
        columns=["hour", "offered"],
        rows=[{"hour": b, "offered": v["offered"]} for b, v in zip(buckets, values, strict=True)],
        headline={"offered": 276, "service_level_target_pct": 0.8},
        series=Series(("hour",), buckets, values),
    )
    offered, level = charts(view)
    assert offered.title == "Offered per hour" and level.title == "Service level per hour"
    assert "276 in all" in offered.description and "highest 23 at 2024-05-01T23:00" in (
        offered.description
    )
    assert "Target: 80.0 %" in level.description and "lowest 4.2 %" in level.description


def test_values_read_as_people_read_them() -> None:
    assert shown("offered", 1204) == "1,204"
    assert shown("service_level", 0.8123) == "81.2 %"
    assert shown("avg_handle_seconds", 252.4) == "4 min 12 s"
    assert shown("avg_speed_of_answer_seconds", 18.44) == "18.4 s"
    assert shown("avg_handle_seconds", 59.96) == "1 min 00 s"
    assert duration_text(3725) == "1 h 02 min"
    assert shown("abandon_rate", None) == "\u2013"


def test_the_headline_service_level_names_what_it_is_measured_against() -> None:
    def note(**report: Any) -> str:
        page = render_html(make_view(["Sales"], **report)).decode()
        after = page.split('data-metric="service_level"', 1)[1].split('class="note">')[1]
        return html_module.unescape(after.split("<", 1)[0])

    assert note().startswith("against each queue's own target")
    assert note(service_level={"target_seconds": 30}).startswith("answered within 30 s")
    conversation = note(grain="conversation", service_level={"default_seconds": 15})
    assert conversation.startswith("answered within 15 s")


DOLLARS = ["Collections $$", r"A $\foo$ b", "Pay $5 or $10 now", "$x^2$"]


def test_dollar_signs_in_names_are_drawn_as_written_not_as_formulas() -> None:
    # matplotlib reads $...$ as TeX by default: "$\foo$" would fail the report, "$5 or $10"
    # would be drawn as a formula.
    (chart,) = charts(make_view(DOLLARS))
    for name in DOLLARS:
        assert f">{html_module.escape(name, quote=False)}<" in chart.svg


def test_pages_rendered_in_parallel_threads_equal_the_same_pages_rendered_alone() -> None:
    views = [make_view([f"Queue {i}" for i in range(n)], group_by=["queue_id"]) for n in (3, 7)]
    alone = [render_html(view) for view in views]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(render_html, views * 8))
    assert together == alone * 8


def test_a_chart_that_cannot_be_drawn_leaves_the_page_and_its_numbers(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(view: ReportView) -> list[object]:
        raise RuntimeError("no backend")

    monkeypatch.setattr(html_report, "charts", broken)
    page = render_html(make_view(["Sales", "Billing"])).decode()
    assert "The charts could not be drawn (RuntimeError)" in page and "<svg" not in page
    assert page.count("<tr>") == 3 and ">Billing<" in page
    assert "charts could not be drawn" in caplog.text
