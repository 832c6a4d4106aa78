"""Request bodies: built from report filters, and valid per reference §4 as `query` prints them."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from app import vocabulary
from app.genesys.query import details_query, job_query
from app.models import Window
from app.sandbox.query_body import QueryLimits, parse_query
from app.settings import ReportFilters

REPO = Path(__file__).resolve().parents[2]
WINDOW = Window(datetime(2024, 5, 1, 9, tzinfo=UTC), datetime(2024, 5, 1, 10, tzinfo=UTC))
QUEUE = "7d2e5a8c-1b34-4c9f-9a51-2f0e6b7c8d90"
USER = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"


def _predicates(filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for entry in filters:
        out.extend(entry.get("predicates", []))
        for clause in entry.get("clauses", []):
            out.extend(clause["predicates"])
    return out


def test_simple_forms_become_predicates() -> None:
    filters = ReportFilters(
        media_types=["voice", "chat"],
        queue_ids=[QUEUE],
        directions=["inbound"],
        user_ids=[USER],
        exclude_ongoing=True,
    )
    body = details_query(filters, WINDOW).page(1, 100).body()
    assert body["interval"] == "2024-05-01T09:00:00.000Z/2024-05-01T10:00:00.000Z"
    assert body["paging"] == {"pageSize": 100, "pageNumber": 1}
    segment = body["segmentFilters"]
    assert [f["type"] for f in segment] == ["or", "or", "or"]
    assert [[p["value"] for p in f["predicates"]] for f in segment] == [
        ["voice", "chat"],
        [QUEUE],
        [USER],
    ]
    conversation = body["conversationFilters"]
    assert conversation == [
        {
            "type": "or",
            "predicates": [
                {
                    "type": "dimension",
                    "dimension": "originatingDirection",
                    "operator": "matches",
                    "value": "inbound",
                }
            ],
        },
        {
            "type": "and",
            "predicates": [
                {"type": "dimension", "dimension": "conversationEnd", "operator": "exists"}
            ],
        },
    ]


def test_raw_filters_pass_through_after_the_simple_forms() -> None:
    raw = {
        "type": "or",
        "clauses": [
            {
                "type": "and",
                "predicates": [
                    {"dimension": "purpose", "value": "acd"},
                    {"type": "metric", "metric": "tSegmentDuration", "range": {"gte": 1000}},
                ],
            }
        ],
    }
    filters = ReportFilters.model_validate({"media_types": ["voice"], "segment_filters": [raw]})
    body = details_query(filters, WINDOW).body()
    assert len(body["segmentFilters"]) == 2
    assert body["segmentFilters"][1] == raw  # nothing added, nothing lost
    assert "paging" not in body and "conversationFilters" not in body


def test_no_filters_is_just_the_interval() -> None:
    assert job_query(ReportFilters(), WINDOW).body() == {
        "interval": WINDOW.interval,
        "order": "asc",
        "orderBy": "conversationStart",
    }


def _run_query(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "query", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("report", ["queue-daily", "agent-hourly"])
def test_query_output_for_the_committed_settings_is_valid(report: str) -> None:
    result = _run_query(
        "--report", report, "--start", "2024-10-27T00:00+02:00", "--end", "2024-10-28T00:00+01:00"
    )
    assert result.returncode == 0, result.stderr
    bodies = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert len(bodies) == 25  # the Berlin day the clocks went back has 25 hours
    previous_end = None
    for body in bodies:
        assert set(body) <= vocabulary.QUERY_FIELDS
        start, end = body["interval"].split("/")
        assert start.endswith("Z") and end.endswith("Z")
        assert previous_end is None or start == previous_end  # windows tile the period
        previous_end = end
        assert body["paging"]["pageNumber"] == 1 and 1 <= body["paging"]["pageSize"] <= 100
        for family in ("segmentFilters", "conversationFilters"):
            for predicate in _predicates(body.get(family, [])):
                assert "path" not in predicate
                assert {"dimension", "metric", "property"} & set(predicate)
        # An independent reading of §4: the sandbox's own validator accepts every body.
        parse_query(body, limits=QueryLimits())
    assert bodies[0]["interval"].startswith("2024-10-26T22:00:00.000Z")
    assert bodies[-1]["interval"].endswith("2024-10-27T23:00:00.000Z")


def test_query_prints_the_look_back_probe_before_the_period_windows() -> None:
    # A UTC day starts at a UTC midnight: conversations of the previous UTC day still active
    # then are found by one one-millisecond window just before it.
    result = _run_query(
        "--report", "agent-hourly", "--start", "2024-05-01T00:00Z", "--end", "2024-05-01T03:00Z"
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    intervals = [orjson.loads(line)["interval"] for line in result.stdout.splitlines()]
    assert intervals == [
        "2024-04-30T23:59:59.999Z/2024-05-01T00:00:00.000Z",
        "2024-05-01T00:00:00.000Z/2024-05-01T01:00:00.000Z",
        "2024-05-01T01:00:00.000Z/2024-05-01T02:00:00.000Z",
        "2024-05-01T02:00:00.000Z/2024-05-01T03:00:00.000Z",
    ]


def test_query_with_a_calendar_period_needs_no_credentials(tmp_path: Path) -> None:
    secret = "query-secret-value-123"
    config = tmp_path / "real.yaml"
    config.write_text(
        "genesys:\n  environment: mypurecloud.ie\n  client_id: abc\n"
        "  client_secret: ${GR_SECRET}\n"
        # No look-back: whether a Dublin day starts at a UTC midnight (and so needs a probe
        # window, pinned below) depends on the season of today's date.
        "reports:\n  - name: r\n    timezone: Europe/Dublin\n    window: PT6H\n"
        "    lookback: PT0S\n"
    )
    result = _run_query(
        "--config", str(config), "--report", "r", "--period", "previous_day",
        env={"GR_SECRET": secret},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 4
    assert secret not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--report", "nope", "--period", "previous_day"], "no report named 'nope'"),
        (["--report", "queue-daily", "--period", "yesterday"], "'yesterday' is neither"),
        (["--report", "queue-daily", "--start", "2024-05-01T00:00"], "--start needs --end"),
        (
            ["--report", "queue-daily", "--start", "2024-05-01T00:00", "--end", "2024-05-02"],
            "no UTC offset",
        ),
    ],
)
def test_query_usage_errors(args: list[str], fragment: str) -> None:
    result = _run_query(*args)
    assert result.returncode == 2
    assert fragment in result.stderr
