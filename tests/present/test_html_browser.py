"""Acceptance (issue 14): the demo's HTML report as a person sees it, in headless Chromium.

Debian's ``chromium`` (installed by .ci/run when missing) is driven through Playwright with the
browser context offline: every request the page makes is recorded, and the only one allowed is
the file itself. The checks read the rendered DOM: every table cell equals the CSV's, the
charts are inline SVG with text alternatives, and at 360 px wide nothing scrolls sideways. The
screenshots are kept as test artefacts (``test-artifacts/``); with GR_UPDATE_SCREENSHOT=1 the
360 px one also replaces the README's ``docs/html-report.png``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from app.pipeline.export import neutral_text
from tests.present.conftest import ARTIFACTS, REPO, DemoReport, run_demo

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1200, "height": 900}
# What a person on a phone can see of the table: the cells' text, header and body, in order.
READ_TABLE = """() => {
  const table = document.querySelector('table');
  const text = (row) => [...row.querySelectorAll('th, td')].map((cell) => cell.textContent);
  return [...table.querySelectorAll('tr')].map(text);
}"""
READ_CHARTS = """() => [...document.querySelectorAll('figure svg')].map((svg) => {
  const ids = (svg.getAttribute('aria-labelledby') || '').split(' ').filter(Boolean);
  return {
    role: svg.getAttribute('role'),
    labelledBy: ids.map((id) => (document.getElementById(id) || {}).textContent || null),
    title: (svg.querySelector(':scope > title') || {}).textContent || null,
    desc: (svg.querySelector(':scope > desc') || {}).textContent || null,
    width: svg.getBoundingClientRect().width,
    marks: svg.querySelectorAll('path, rect, use').length,
  };
})"""
OVERFLOW = """() => ({
  scrollWidth: document.documentElement.scrollWidth,
  clientWidth: document.documentElement.clientWidth,
  bodyScrollWidth: document.body.scrollWidth,
})"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), (
        f"Chromium is needed at {CHROMIUM}: apt-get install chromium (.ci/run does it)"
    )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-gpu",
            ],
        )
        try:
            yield launched
        finally:
            launched.close()


def _open(browser: Browser, path: Path, viewport: dict[str, int]) -> tuple[Page, list[str]]:
    """The page loaded offline, and every URL it asked for (the file itself included)."""
    context = browser.new_context(offline=True, viewport=viewport)  # type: ignore[arg-type]
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    # Anything but the file itself is refused outright, and recorded above first.
    context.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort(),
    )
    page = context.new_page()
    page.goto(path.as_uri(), wait_until="load")
    return page, requested


def _save(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / name
    page.screenshot(path=str(target), full_page=True)
    return target


def test_the_demo_html_shows_the_csv_with_charts_offline(
    browser: Browser, demo: DemoReport
) -> None:
    html = demo.path("html")
    page, requested = _open(browser, html, PHONE)
    try:
        # Table: the same header and cells as the CSV (which alone neutralises formulas).
        shown = page.evaluate(READ_TABLE)
        csv_rows = demo.csv_rows()
        assert len(shown) == len(csv_rows) > 5
        assert [[neutral_text(cell) for cell in row] for row in shown] == csv_rows
        assert page.locator("table thead th[scope=col]").count() == len(csv_rows[0])
        # Charts: inline SVG, labelled by a title and a description that say something.
        charts: list[dict[str, Any]] = page.evaluate(READ_CHARTS)
        assert charts, "no chart on the page"
        for chart in charts:
            assert chart["role"] == "img"
            assert chart["labelledBy"] == [chart["title"], chart["desc"]]
            assert chart["title"] and len(chart["desc"]) > 40
            assert chart["marks"] > 10 and 200 < chart["width"] <= PHONE["width"]
        # Headline figures and the reconciliation, as the manifest records them.
        manifest = demo.manifest()
        offered = page.locator("[data-metric=offered] dd").inner_text()
        assert offered.replace(",", "") == str(manifest["headline"]["offered"])
        reconciliation = manifest["reconciliation"]
        assert page.locator("#reconciliation").inner_text() == (
            f"{reconciliation['equal']:,} of {reconciliation['compared']:,} values equal Genesys'"
        )
        # Nothing left the page, and nothing scrolls sideways on a phone.
        assert requested == [html.as_uri()]
        overflow = page.evaluate(OVERFLOW)
        assert overflow["scrollWidth"] <= overflow["clientWidth"] == PHONE["width"], overflow
        assert overflow["bodyScrollWidth"] <= PHONE["width"], overflow
        screenshot = _save(page, "html-report-360.png")
        if os.environ.get("GR_UPDATE_SCREENSHOT") == "1":
            shutil.copyfile(screenshot, REPO / "docs" / "html-report.png")
    finally:
        page.context.close()
    page, requested = _open(browser, html, DESKTOP)
    try:
        assert requested == [html.as_uri()]
        assert page.evaluate(OVERFLOW)["scrollWidth"] <= DESKTOP["width"]
        _save(page, "html-report-1200.png")
    finally:
        page.context.close()


def test_a_report_without_rows_says_so_plainly(browser: Browser, tmp_path: Path) -> None:
    # A queue id that does not exist: nothing matches, and the page must say that in words.
    empty = run_demo(
        tmp_path,
        filters={"queue_ids": ["00000000-0000-4000-8000-000000000000"]},
        reconcile="off",
    )
    page, requested = _open(browser, empty.path("html"), PHONE)
    try:
        assert requested == [empty.path("html").as_uri()]
        assert "No conversations matched this report" in page.locator("#no-rows").inner_text()
        assert page.locator("table").count() == 0 and page.locator("figure svg").count() == 0
        assert page.locator("[data-metric=offered] dd").inner_text() == "0"
        assert page.locator("[data-metric=service_level] dd").inner_text().startswith("\u2013")
        _save(page, "html-report-empty-360.png")
    finally:
        page.context.close()
