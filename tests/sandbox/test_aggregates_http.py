"""The aggregates endpoint over HTTP on 127.0.0.1: the sandbox's own day counted from its
ground-truth records, Genesys-shaped refusals, the missing permission, the rate limit and
injected faults, as every other endpoint has them."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import aiohttp

from app.sandbox.server import RunningSandbox
from tests.sandbox.api import call, get_token
from tests.sandbox.conftest import StartSandbox

AGGREGATES = "/api/v2/analytics/conversations/aggregates/query"
DAY = ("2024-05-01T00:00:00Z", "2024-05-02T00:00:00Z")
INTERVAL = "/".join(DAY)


def _ms(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1000)


async def test_a_day_per_media_type_counts_the_ground_truths_events(
    sandbox: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    token = await get_token(http, sandbox)
    body = {
        "interval": INTERVAL,
        "groupBy": ["mediaType"],
        "metrics": ["nOffered", "tAnswered", "tHandle"],
    }
    status, payload, headers = await call(http, sandbox, "POST", AGGREGATES, token, json=body)
    assert status == 200, payload
    assert "inin-ratelimit-count" in headers
    got: Counter[tuple[str, str, str]] = Counter()
    for result in payload["results"]:
        assert set(result["group"]) == {"mediaType"}
        [bucket] = result["data"]
        assert bucket["interval"] == "2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z"
        for entry in bucket["metrics"]:
            for stat in ("count", "sum"):
                if stat in entry["stats"]:
                    got[(result["group"]["mediaType"], entry["metric"], stat)] = entry["stats"][
                        stat
                    ]
    # The same from the records the detail API serves: every event emitted in the day, of
    # conversations started up to the longest conversation before it.
    start, end = _ms(DAY[0]), _ms(DAY[1])
    records = sandbox.sandbox.ground_truth(start - sandbox.sandbox.source.max_duration_ms, end)
    want: Counter[tuple[str, str, str]] = Counter()
    for record in records:
        for participant in record["participants"]:
            for session in participant["sessions"]:
                for metric in session.get("metrics", []):
                    name = metric["name"]
                    if name not in body["metrics"] or not start <= _ms(metric["emitDate"]) < end:
                        continue
                    media = session["mediaType"]
                    if name.startswith("n"):
                        want[(media, name, "count")] += metric["value"]
                    else:
                        want[(media, name, "count")] += 1
                        want[(media, name, "sum")] += metric["value"]
    assert got == want
    assert sum(v for (_, name, stat), v in want.items() if name == "nOffered") > 1000


async def test_refusals_are_genesys_error_bodies(
    sandbox: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    token = await get_token(http, sandbox)
    for body, code, words in (
        ({"interval": INTERVAL, "metrics": ["nOfered"]}, "invalid.value", "[nOfered]"),
        (
            {"interval": INTERVAL, "metrics": ["nOffered"], "groupBy": ["queue"]},
            "invalid.value",
            "groupBy[0]",
        ),
        (
            {"interval": "2024-05-01T00:00:00Z/2024-07-01T00:00:00Z", "metrics": ["nOffered"]},
            "bad.request",
            "31 days",
        ),
    ):
        status, payload, headers = await call(http, sandbox, "POST", AGGREGATES, token, json=body)
        assert status == 400
        assert payload["code"] == code
        assert words in payload["message"]
        assert payload["status"] == 400
        assert payload["contextId"] == headers["ININ-Correlation-Id"]


async def test_a_role_without_the_permission_gets_403(
    start_sandbox: StartSandbox, http: aiohttp.ClientSession
) -> None:
    running = await start_sandbox(missing_permissions=["analytics:conversationAggregate:view"])
    token = await get_token(http, running)
    body = {"interval": INTERVAL, "metrics": ["nOffered"]}
    status, payload, _ = await call(http, running, "POST", AGGREGATES, token, json=body)
    assert status == 403
    assert payload["code"] == "missing.permissions"
    assert "analytics:conversationAggregate:view" in payload["message"]
    # The detail query needs one of two other permissions, which the role still has.
    query = {"interval": INTERVAL, "paging": {"pageSize": 1, "pageNumber": 1}}
    status, _, _ = await call(
        http, running, "POST", "/api/v2/analytics/conversations/details/query", token, json=query
    )
    assert status == 200


async def test_rate_limited_and_faulted_like_every_endpoint(
    start_sandbox: StartSandbox, http: aiohttp.ClientSession
) -> None:
    running = await start_sandbox(
        rate_limit_per_minute=2,
        faults=[{"endpoint": "aggregates_query", "script": ["503", "ok"]}],
    )
    token = await get_token(http, running)
    body = {"interval": INTERVAL, "metrics": ["nOffered"]}
    statuses = [
        (await call(http, running, "POST", AGGREGATES, token, json=body))[0] for _ in "abcd"
    ]
    # The injected 503 answers before the budget is counted, as a load balancer would.
    assert statuses == [503, 200, 200, 429]
    endpoints = [r.endpoint for r in running.sandbox.requests() if r.endpoint != "token"]
    assert endpoints == ["aggregates_query"] * 4
