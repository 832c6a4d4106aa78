"""The sandbox over real sockets: every endpoint, its errors, paging, rate limits and faults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from app.sandbox.org import WRAP_UP_TIMEOUT
from app.sandbox.server import RunningSandbox
from tests.examples import official_clause_example, official_queue_example
from tests.sandbox.api import JOBS, QUERY, basic, call, get_token, query_all_pages
from tests.sandbox.conftest import NOW, StartSandbox

DAY = datetime(2024, 5, 1, tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _interval(start: datetime, end: datetime) -> str:
    return f"{_iso(start)}/{_iso(end)}"


def _ms(text: str) -> int:
    return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


# --- OAuth and bearer tokens ---------------------------------------------------------------


async def test_token_with_basic_auth(sandbox: RunningSandbox, http: aiohttp.ClientSession) -> None:
    async with http.post(
        f"{sandbox.base_url}/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic(sandbox.client_id, sandbox.client_secret),
    ) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/json")
        body = await response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 86_400
    status, info, _ = await call(http, sandbox, "GET", "/api/v2/tokens/me", body["access_token"])
    assert status == 200 and info["OAuthClient"]["id"] == sandbox.client_id


@pytest.mark.parametrize(
    ("auth", "form", "status", "error"),
    [
        (("sandbox-client", "wrong"), {"grant_type": "client_credentials"}, 401, "invalid_client"),
        (("nobody", "sandbox-secret"), {"grant_type": "client_credentials"}, 401, "invalid_client"),
        (None, {"grant_type": "client_credentials"}, 401, "invalid_client"),
        (("sandbox-client", "sandbox-secret"), {"grant_type": "password"}, 400, "unsupported"),
    ],
)
async def test_token_errors(
    sandbox: RunningSandbox,
    http: aiohttp.ClientSession,
    auth: tuple[str, str] | None,
    form: dict[str, str],
    status: int,
    error: str,
) -> None:
    async with http.post(
        f"{sandbox.base_url}/oauth/token",
        data=form,
        headers=basic(*auth) if auth else None,
    ) as response:
        assert response.status == status
        body = await response.json()
    assert body["error"].startswith(error)
    if error == "invalid_client":
        assert body == {
            "error": "invalid_client",
            "description": "authentication failed",
            "error_description": "authentication failed",
        }


async def test_token_lifetime_is_configurable(
    start_sandbox: StartSandbox, http: aiohttp.ClientSession
) -> None:
    running = await start_sandbox(token_lifetime="PT5M")
    async with http.post(
        f"{running.base_url}/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic(running.client_id, running.client_secret),
    ) as response:
        assert (await response.json())["expires_in"] == 300


async def test_bearer_checks(sandbox: RunningSandbox, http: aiohttp.ClientSession) -> None:
    body = {"interval": _interval(DAY, DAY + timedelta(hours=1))}
    status, payload, headers = await call(http, sandbox, "POST", QUERY, None, json=body)
    assert status == 401 and payload["code"] == "authentication.required"
    assert payload["message"] == "No authentication bearer token specified in authorization header."
    assert payload["contextId"] == headers["ININ-Correlation-Id"]
    status, payload, _ = await call(http, sandbox, "POST", QUERY, "not-a-token", json=body)
    assert status == 401
    assert payload == {
        "message": "Invalid login credentials.",
        "code": "bad.credentials",
        "status": 401,
        "contextId": payload["contextId"],
        "details": [],
        "errors": [],
    }


async def test_expired_and_revoked_tokens(
    sandbox: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    body = {"interval": _interval(DAY, DAY + timedelta(hours=1))}
    token = await get_token(http, sandbox)
    assert (await call(http, sandbox, "POST", QUERY, token, json=body))[0] == 200
    sandbox.sandbox.tokens.expire_all()
    status, payload, _ = await call(http, sandbox, "POST", QUERY, token, json=body)
    assert (status, payload["code"]) == (401, "bad.credentials")

    token = await get_token(http, sandbox)
    status, _, _ = await call(http, sandbox, "DELETE", "/api/v2/tokens/me", token)
    assert status == 204
    status, payload, _ = await call(http, sandbox, "GET", "/api/v2/tokens/me", token)
    assert (status, payload["code"]) == (401, "bad.credentials")


# --- the detail query ----------------------------------------------------------------------


async def test_official_nested_clause_example_returns_conversations(
    sandbox: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    token = await get_token(http, sandbox)
    body = official_clause_example(_interval(DAY + timedelta(hours=9), DAY + timedelta(hours=10)))
    status, payload, _ = await call(http, sandbox, "POST", QUERY, token, json=body)
    assert status == 200
    assert payload["totalHits"] > 0 and payload["conversations"]
    for conversation in payload["conversations"]:
        assert any(
            participant["purpose"] == "acd"
            and any(session["mediaType"] == "voice" for session in participant["sessions"])
            for participant in conversation["participants"]
        )
        assert all("attributes" not in p for p in conversation["participants"])
    starts = [c["conversationStart"] for c in payload["conversations"]]
    assert starts == sorted(starts)


async def test_official_waiting_in_queue_example(
    sandbox: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    """The §4.2 example finds calls still waiting in a queue (open acd segment, no end)."""
    now = sandbox.sandbox.now_ms()
    waiting = [
        (record["conversationId"], segment["queueId"])
        for record in sandbox.sandbox.ground_truth(now - 3_600_000, now)
        for participant in record["participants"]
        if participant["purpose"] == "acd"
        for session in participant["sessions"]
        for segment in session["segments"]
        if "segmentEnd" not in segment and "conversationEnd" not in record
    ]
    assert waiting, "the sandbox should have someone waiting in a queue at 10:30 on a weekday"
    conversation_id, queue_id = waiting[0]
    token = await get_token(http, sandbox)
    body = official_queue_example(_interval(NOW - timedelta(hours=2), NOW), queue_id)
    status, payload, _ = await call(http, sandbox, "POST", QUERY, token, json=body)
    assert status == 200, payload
    found = {c["conversationId"] for c in payload["conversations"]}
    assert conversation_id in found
    assert all("conversationEnd" not in c for c in payload["conversations"])


async def test_metric_range_example(sandbox: RunningSandbox, http: aiohttp.ClientSession) -> None:
    token = await get_token(http, sandbox)
    body = {
        "interval": _interval(DAY + timedelta(hours=14), DAY + timedelta(hours=15)),
        "conversationFilters": [
            {
                "type": "and",
                "predicates": [{"type": "metric", "metric": "tAnswered", "range": {"gte": 1}}],
            }
        ],
    }
    conversations, _ = await query_all_pages(http, sandbox, token, body)
    assert conversations
    for conversation in conversations:
        values = [
            metric["value"]
            for participant in conversation["participants"]
            for session in participant["sessions"]
            for metric in session.get("metrics", [])
            if metric["name"] == "tAnswered"
        ]
        assert values and max(values) >= 1


@pytest.mark.parametrize(
    ("body", "status", "code", "fragment"),
    [
        ({"interval": "2024-05-01T00:00:00Z"}, 400, "invalid.date", "2024-05-01T00:00:00Z"),
        ({"interval": "2024-05-01T02:00:00Z/2024-05-01T01:00:00Z"}, 400, "bad.request", ""),
        ({"interval": "2024-03-01T00:00:00Z/2024-05-01T00:00:00Z"}, 400, "bad.request", "7 days"),
        (
            {
                "interval": "2024-03-01T00:00:00Z/2024-05-01T00:00:00Z",
                "segmentFilters": [
                    {"type": "and", "predicates": [{"dimension": "purpose", "value": "acd"}]}
                ],
            },
            400,
            "bad.request",
            "31 days",
        ),
        (
            {
                "interval": "2024-05-01T00:00:00Z/2024-05-01T01:00:00Z",
                "paging": {"pageSize": 101, "pageNumber": 1},
            },
            400,
            "bad.request",
            "100",
        ),
        (
            {"interval": "2024-05-01T00:00:00Z/2024-05-01T01:00:00Z", "order": "ascending"},
            400,
            "invalid.value",
            "ascending",
        ),
        (
            {
                "interval": "2024-05-01T00:00:00Z/2024-05-01T01:00:00Z",
                "segmentFilters": [
                    {"type": "and", "predicates": [{"dimension": "queueID", "value": "x"}]}
                ],
            },
            400,
            "invalid.value",
            "queueID",
        ),
        (
            {
                "interval": "2024-05-01T00:00:00Z/2024-05-01T01:00:00Z",
                "segmentFilters": [
                    {"type": "and", "predicates": [{"dimension": "mediaType", "value": "phone"}]}
                ],
            },
            400,
            "invalid.value",
            "phone",
        ),
        (
            {
                "interval": "2024-05-01T00:00:00Z/2024-05-01T01:00:00Z",
                "paging": {"pageSize": 100, "pageNumber": 1001},
            },
            400,
            "bad.request",
            "100000",
        ),
        (
            {
                "query": {"type": "conversation"},
                "timeRange": {"from": "2024-05-01", "to": "2024-05-02"},
                "filter": [{"type": "dimension", "path": "queueId", "value": "x"}],
            },
            400,
            "bad.request",
            "timeRange",
        ),
    ],
)
async def test_query_validation_errors(
    sandbox: RunningSandbox,
    http: aiohttp.ClientSession,
    body: dict[str, Any],
    status: int,
    code: str,
    fragment: str,
) -> None:
    token = await get_token(http, sandbox)
    got_status, payload, headers = await call(http, sandbox, "POST", QUERY, token, json=body)
    assert got_status == status
    assert payload["code"] == code and payload["status"] == status
    assert fragment in payload["message"]
    assert payload["contextId"] == headers["ININ-Correlation-Id"]


async def test_the_unfiltered_interval_cap_is_a_setting(
    start_sandbox: StartSandbox, http: aiohttp.ClientSession
) -> None:
    running = await start_sandbox(limits={"max_unfiltered_interval_days": 0.5})
    token = await get_token(http, running)
    twelve_hours = _interval(DAY, DAY + timedelta(hours=12))
    status, payload, _ = await call(
        http, running, "POST", QUERY, token, json={"interval": twelve_hours}
    )
    assert status == 200, payload
    longer = _interval(DAY, DAY + timedelta(hours=13))
    status, payload, _ = await call(http, running, "POST", QUERY, token, json={"interval": longer})
    assert status == 400 and "maximum of 0.5 days" in payload["message"], payload


async def test_an_unfiltered_query_spans_at_most_seven_days(
    sandbox: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    token = await get_token(http, sandbox)
    end = DAY + timedelta(days=1)
    longer = f"2024-04-24T23:59:59.999Z/{_iso(end)}"  # a week and a millisecond
    status, payload, headers = await call(
        http, sandbox, "POST", QUERY, token, json={"interval": longer}
    )
    assert status == 400
    # Genesys' ErrorBody, worded like the sandbox's other 400s.
    assert payload == {
        "message": payload["message"],
        "code": "bad.request",
        "status": 400,
        "contextId": headers["ININ-Correlation-Id"],
        "details": [],
        "errors": [],
    }
    assert payload["message"].startswith("interval: ") and "maximum of 7 days" in payload["message"]
    # Exactly a week is allowed, and so is a longer interval with any filter (here one the
    # sandbox does not apply, which keeps the test from rendering a week of records).
    week = _interval(end - timedelta(days=7), end)
    status, payload, _ = await call(http, sandbox, "POST", QUERY, token, json={"interval": week})
    assert status == 200 and payload["totalHits"] > 0
    stats = [{"type": "and", "predicates": [{"dimension": "minMos", "range": {"lt": 5}}]}]
    body = {"interval": longer, "mediaEndpointStatFilters": stats}
    status, payload, _ = await call(http, sandbox, "POST", QUERY, token, json=body)
    assert status == 200 and payload["totalHits"] > 0
    # Async jobs are not bound by the week.
    status, payload, _ = await call(http, sandbox, "POST", JOBS, token, json={"interval": longer})
    assert status == 202 and payload["jobId"]


async def test_media_endpoint_stat_filters_do_not_filter(
    sandbox: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    token = await get_token(http, sandbox)
    hour = _interval(DAY + timedelta(hours=10), DAY + timedelta(hours=11))
    stats = [{"type": "and", "predicates": [{"dimension": "codec", "value": "no-such-codec"}]}]
    plain, _ = await query_all_pages(http, sandbox, token, {"interval": hour})
    stated, _ = await query_all_pages(
        http, sandbox, token, {"interval": hour, "mediaEndpointStatFilters": stats}
    )
    assert plain and stated == plain
    bad = [{"type": "and", "predicates": [{"dimension": "mos", "value": "4"}]}]
    body = {"interval": hour, "mediaEndpointStatFilters": bad}
    status, payload, _ = await call(http, sandbox, "POST", QUERY, token, json=body)
    assert (status, payload["code"]) == (400, "invalid.value") and "[mos]" in payload["message"]


async def test_non_json_body_is_rejected(
    sandbox: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    token = await get_token(http, sandbox)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with http.post(f"{sandbox.base_url}{QUERY}", data=b"{not json", headers=headers) as r:
        assert r.status == 400 and (await r.json())["code"] == "bad.request"
    headers["Content-Type"] = "text/plain"
    async with http.post(f"{sandbox.base_url}{QUERY}", data=b"{}", headers=headers) as r:
        assert r.status == 415 and (await r.json())["code"] == "unsupported.media.type"


async def test_paging_past_the_end_omits_conversations(
    sandbox: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    token = await get_token(http, sandbox)
    interval = _interval(DAY + timedelta(hours=3), DAY + timedelta(hours=4))
    status, first, _ = await call(http, sandbox, "POST", QUERY, token, json={"interval": interval})
    assert status == 200 and len(first["conversations"]) == min(25, first["totalHits"])
    beyond = first["totalHits"] // 25 + 2
    body = {"interval": interval, "paging": {"pageSize": 25, "pageNumber": beyond}}
    status, payload, _ = await call(http, sandbox, "POST", QUERY, token, json=body)
    assert status == 200 and payload == {"totalHits": first["totalHits"]}


async def test_selection_follows_the_day_touching_rule(
    sandbox: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    """A window returns conversations active in it that started on a UTC day it touches:
    one that began the previous day is never returned, even while still active."""
    token = await get_token(http, sandbox)
    truth = sandbox.sandbox.ground_truth(
        _ms(_iso(DAY - timedelta(days=1))), _ms(_iso(DAY + timedelta(days=1)))
    )
    for hour in (0, 9, 23):
        start, end = DAY + timedelta(hours=hour), DAY + timedelta(hours=hour + 1)
        got, _ = await query_all_pages(http, sandbox, token, {"interval": _interval(start, end)})
        expected = {
            r["conversationId"]
            for r in truth
            if _ms(_iso(DAY)) <= _ms(r["conversationStart"]) < _ms(_iso(end))
            and _ms(r.get("conversationEnd", _iso(NOW))) > _ms(_iso(start))
        }
        ids = [c["conversationId"] for c in got]
        assert len(ids) == len(set(ids))
        assert set(ids) == expected
        if hour == 0:
            crossing = [
                r
                for r in truth
                if _ms(r["conversationStart"]) < _ms(_iso(DAY))
                and _ms(r.get("conversationEnd", _iso(NOW))) > _ms(_iso(DAY))
            ]
            assert crossing, "the data should hold a conversation crossing midnight"
            assert not {r["conversationId"] for r in crossing} & set(ids)


async def test_a_whole_day_hour_by_hour_equals_the_ground_truth(
    sandbox: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    token = await get_token(http, sandbox)
    day_start, day_end = _ms(_iso(DAY)), _ms(_iso(DAY + timedelta(days=1)))
    union: dict[str, dict[str, Any]] = {}
    repeats = 0
    for hour in range(24):
        window = _interval(DAY + timedelta(hours=hour), DAY + timedelta(hours=hour + 1))
        got, totals = await query_all_pages(http, sandbox, token, {"interval": window})
        assert len({c["conversationId"] for c in got}) == len(got) == totals[0]
        for conversation in got:
            repeats += conversation["conversationId"] in union
            union[conversation["conversationId"]] = conversation
    truth = sandbox.sandbox.ground_truth(day_start, day_end)
    inside = {
        cid: c for cid, c in union.items() if day_start <= _ms(c["conversationStart"]) < day_end
    }
    assert set(inside) == {r["conversationId"] for r in truth}
    assert len(truth) > 1000
    assert inside == {r["conversationId"]: r for r in truth}  # identical records, not just ids
    assert repeats > 0, "conversations spanning an hour boundary come back from two windows"


async def test_descending_order_and_conversation_end_order(
    sandbox: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    token = await get_token(http, sandbox)
    interval = _interval(DAY + timedelta(hours=11), DAY + timedelta(hours=12))
    desc, _ = await query_all_pages(http, sandbox, token, {"interval": interval, "order": "desc"})
    starts = [c["conversationStart"] for c in desc]
    assert starts == sorted(starts, reverse=True)
    by_end, _ = await query_all_pages(
        http, sandbox, token, {"interval": interval, "orderBy": "conversationEnd"}
    )
    ends = [c["conversationEnd"] for c in by_end if "conversationEnd" in c]
    assert ends == sorted(ends)
    assert {c["conversationId"] for c in by_end} == {c["conversationId"] for c in desc}


async def test_ongoing_conversations_appear_without_an_end(
    sandbox: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    token = await get_token(http, sandbox)
    recent = _interval(NOW - timedelta(minutes=10), NOW)
    got, _ = await query_all_pages(http, sandbox, token, {"interval": recent})
    ongoing = [c for c in got if "conversationEnd" not in c]
    assert ongoing
    for conversation in ongoing:
        open_segments = [
            s
            for p in conversation["participants"]
            for session in p["sessions"]
            for s in session["segments"]
            if "segmentEnd" not in s
        ]
        assert open_segments


async def test_same_seed_same_data_other_seed_other_data(
    start_sandbox: StartSandbox, http: aiohttp.ClientSession
) -> None:
    first, second, other = (
        await start_sandbox(seed=11),
        await start_sandbox(seed=11),
        await start_sandbox(seed=12),
    )
    body = {"interval": _interval(DAY + timedelta(hours=10), DAY + timedelta(hours=11))}
    results = []
    for running in (first, second, other):
        token = await get_token(http, running)
        conversations, _ = await query_all_pages(http, running, token, body)
        results.append(conversations)
    assert results[0] == results[1]
    assert {c["conversationId"] for c in results[0]}.isdisjoint(
        {c["conversationId"] for c in results[2]}
    )


# --- rate limits ---------------------------------------------------------------------------


async def test_rate_limit_headers_and_429(
    start_sandbox: StartSandbox, http: aiohttp.ClientSession
) -> None:
    running = await start_sandbox(rate_limit_per_minute=3)
    token = await get_token(http, running)
    body = {"interval": _interval(DAY, DAY + timedelta(minutes=5))}
    for count in (1, 2, 3):
        status, _, headers = await call(http, running, "POST", QUERY, token, json=body)
        assert status == 200
        assert headers["inin-ratelimit-allowed"] == "3"
        assert headers["inin-ratelimit-count"] == str(count)
        assert 1 <= int(headers["inin-ratelimit-reset"]) <= 60
    status, payload, headers = await call(http, running, "POST", QUERY, token, json=body)
    assert status == 429
    retry_after = int(headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert payload["code"] == "too.many.requests.retry.after"
    assert payload["message"] == (
        f"Rate limit exceeded the maximum. Retry the request in [{retry_after}] seconds"
    )
    assert payload["contextId"] == headers["ININ-Correlation-Id"]
    # The budget is per token: a new token starts afresh.
    fresh = await get_token(http, running)
    assert (await call(http, running, "POST", QUERY, fresh, json=body))[0] == 200


# --- faults --------------------------------------------------------------------------------


async def test_scripted_faults_in_order(
    start_sandbox: StartSandbox, http: aiohttp.ClientSession
) -> None:
    running = await start_sandbox(
        faults=[
            {
                "endpoint": "details_query",
                "script": ["503", "ok", "504", "500", "502", "429", "429_no_retry_after"],
                "retry_after_seconds": 7,
            }
        ]
    )
    token = await get_token(http, running)
    body = {"interval": _interval(DAY, DAY + timedelta(minutes=5))}
    seen = []
    for _ in range(8):
        status, payload, headers = await call(http, running, "POST", QUERY, token, json=body)
        seen.append((status, payload.get("code"), headers.get("Retry-After")))
    assert seen == [
        (503, "service.unavailable", None),
        (200, None, None),
        (504, "request.timeout", None),
        (500, "internal.server.error", None),
        (502, "bad.gateway", None),
        (429, "too.many.requests.retry.after", "7"),
        (429, "too.many.requests", None),
        (200, None, None),
    ]
    faults = [r.fault for r in running.sandbox.requests("details_query")]
    assert faults == ["503", None, "504", "500", "502", "429", "429_no_retry_after", None]
    # Other endpoints are untouched by a rule for details_query.
    assert (await call(http, running, "GET", "/api/v2/routing/queues", token))[0] == 200


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("reset", (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError)),
        ("truncated", (aiohttp.ClientPayloadError,)),
    ],
)
async def test_connection_faults(
    start_sandbox: StartSandbox,
    http: aiohttp.ClientSession,
    kind: str,
    error: tuple[type[Exception], ...],
) -> None:
    running = await start_sandbox(faults=[{"endpoint": "details_query", "script": [kind]}])
    token = await get_token(http, running)
    body = {"interval": _interval(DAY + timedelta(hours=10), DAY + timedelta(hours=11))}
    with pytest.raises(error):
        await call(http, running, "POST", QUERY, token, json=body)
    assert (await call(http, running, "POST", QUERY, token, json=body))[0] == 200


async def test_bad_json_with_200(start_sandbox: StartSandbox, http: aiohttp.ClientSession) -> None:
    running = await start_sandbox(faults=[{"endpoint": "details_query", "script": ["bad_json"]}])
    token = await get_token(http, running)
    body = {"interval": _interval(DAY + timedelta(hours=10), DAY + timedelta(hours=11))}
    async with http.post(
        f"{running.base_url}{QUERY}", json=body, headers={"Authorization": f"Bearer {token}"}
    ) as response:
        assert response.status == 200
        text = await response.text()
    with pytest.raises(ValueError):
        __import__("json").loads(text)


async def test_slow_response_outlasts_a_client_timeout(
    start_sandbox: StartSandbox, http: aiohttp.ClientSession
) -> None:
    running = await start_sandbox(
        faults=[{"endpoint": "queues", "script": ["slow"], "slow_seconds": 60}]
    )
    token = await get_token(http, running)
    with pytest.raises(TimeoutError):
        async with http.get(
            f"{running.base_url}/api/v2/routing/queues",
            headers={"Authorization": f"Bearer {token}"},
            timeout=aiohttp.ClientTimeout(total=0.5),
        ):
            pass
    assert running.sandbox.requests("queues")[0].fault == "slow"


async def test_token_revoked_mid_run(
    start_sandbox: StartSandbox, http: aiohttp.ClientSession
) -> None:
    running = await start_sandbox(
        faults=[{"endpoint": "details_query", "script": ["ok", "revoke_token"]}]
    )
    token = await get_token(http, running)
    body = {"interval": _interval(DAY, DAY + timedelta(minutes=5))}
    assert (await call(http, running, "POST", QUERY, token, json=body))[0] == 200
    status, payload, _ = await call(http, running, "POST", QUERY, token, json=body)
    assert (status, payload["code"]) == (401, "bad.credentials")
    status, _, _ = await call(http, running, "POST", QUERY, token, json=body)
    assert status == 401  # the token stays revoked
    assert (await call(http, running, "POST", QUERY, await get_token(http, running), json=body))[
        0
    ] == 200


async def test_faults_by_probability_are_reproducible(
    start_sandbox: StartSandbox, http: aiohttp.ClientSession
) -> None:
    outcomes = []
    for _ in range(2):
        running = await start_sandbox(
            faults=[{"endpoint": "queues", "kind": "503", "probability": 0.3}]
        )
        token = await get_token(http, running)
        statuses = [
            (await call(http, running, "GET", "/api/v2/routing/queues", token))[0]
            for _ in range(40)
        ]
        outcomes.append(statuses)
    assert outcomes[0] == outcomes[1]
    assert 3 <= outcomes[0].count(503) <= 25 and outcomes[0].count(200) >= 15


async def test_faults_can_be_replaced_at_run_time(
    sandbox: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    from app.settings import FaultSettings

    token = await get_token(http, sandbox)
    sandbox.sandbox.set_faults([FaultSettings(endpoint="users", script=["504"])])
    assert (await call(http, sandbox, "GET", "/api/v2/users", token))[0] == 504
    assert (await call(http, sandbox, "GET", "/api/v2/users", token))[0] == 200


# --- async jobs ----------------------------------------------------------------------------


async def _wait_for_state(
    http: aiohttp.ClientSession, running: RunningSandbox, token: str, job_id: str
) -> list[str]:
    """Poll until a terminal state; the sandbox's job delay is 0 in these tests, so the first
    answer is already terminal (the bound only turns a bug into a failure, not a hang)."""
    states: list[str] = []
    while not states or states[-1] in {"QUEUED", "PENDING"}:
        assert len(states) < 50, states
        status, payload, _ = await call(http, running, "GET", f"{JOBS}/{job_id}", token)
        assert status == 200
        states.append(payload["state"])
    return states


async def test_job_lifecycle_and_cursor_paging(
    start_sandbox: StartSandbox, http: aiohttp.ClientSession
) -> None:
    running = await start_sandbox(jobs={"delay": "PT0S", "availability_lag": "PT12H"})
    token = await get_token(http, running)
    start, end = DAY + timedelta(hours=8), DAY + timedelta(hours=10)
    status, payload, _ = await call(
        http, running, "POST", JOBS, token, json={"interval": _interval(start, end)}
    )
    assert status == 202 and set(payload) == {"jobId"}
    job_id = payload["jobId"]
    assert await _wait_for_state(http, running, token, job_id) == ["FULFILLED"]
    _, job_status, _ = await call(http, running, "GET", f"{JOBS}/{job_id}", token)
    assert {"submissionDate", "completionDate", "expirationDate"} <= set(job_status)

    collected: list[dict[str, Any]] = []
    cursors: list[str] = []
    params: dict[str, str] = {"pageSize": "250"}
    while True:
        status, page, _ = await call(
            http, running, "GET", f"{JOBS}/{job_id}/results", token, params=params
        )
        assert status == 200
        collected.extend(page["conversations"])
        assert "dataAvailabilityDate" in page
        if "cursor" not in page:
            break
        cursors.append(page["cursor"])
        params = {"pageSize": "250", "cursor": page["cursor"]}
    assert len(cursors) == len(set(cursors)) >= 2
    ids = [c["conversationId"] for c in collected]
    assert len(ids) == len(set(ids))
    assert all("attributes" in p for c in collected for p in c["participants"])
    # Jobs select on activity alone: conversations overlapping [start, end), whatever day
    # (the sandbox looks back one day for conversations still active at the start).
    truth = running.sandbox.ground_truth(_ms(_iso(start - timedelta(days=1))), _ms(_iso(end)))
    expected = {
        r["conversationId"]
        for r in truth
        if _ms(r.get("conversationEnd", _iso(NOW))) > _ms(_iso(start))
    }
    assert set(ids) == expected

    assert (await call(http, running, "DELETE", f"{JOBS}/{job_id}", token))[0] == 204
    status, payload, _ = await call(http, running, "GET", f"{JOBS}/{job_id}", token)
    assert (status, payload["code"]) == (404, "not.found")


async def test_jobs_see_data_only_up_to_the_watermark(
    start_sandbox: StartSandbox, http: aiohttp.ClientSession
) -> None:
    running = await start_sandbox(jobs={"delay": "PT0S", "availability_lag": "PT2H"})
    token = await get_token(http, running)
    status, payload, _ = await call(http, running, "GET", f"{JOBS}/availability", token)
    assert status == 200
    watermark = _ms(payload["dataAvailabilityDate"])
    assert watermark == pytest.approx(_ms(_iso(NOW - timedelta(hours=2))), abs=60_000)
    status, payload, _ = await call(
        http,
        running,
        "POST",
        JOBS,
        token,
        json={"interval": _interval(NOW - timedelta(hours=4), NOW)},
    )
    job_id = payload["jobId"]
    await _wait_for_state(http, running, token, job_id)
    status, page, _ = await call(
        http, running, "GET", f"{JOBS}/{job_id}/results", token, params={"pageSize": "10000"}
    )
    assert page["conversations"]
    job_watermark = _ms(page["dataAvailabilityDate"])
    assert job_watermark >= watermark
    assert max(_ms(c["conversationStart"]) for c in page["conversations"]) < job_watermark
    # Records are shown as of the watermark: nothing ended after it.
    ends = [_ms(c["conversationEnd"]) for c in page["conversations"] if "conversationEnd" in c]
    assert max(ends) <= job_watermark


@pytest.mark.parametrize(("kind", "state"), [("job_failed", "FAILED"), ("job_expired", "EXPIRED")])
async def test_injected_job_failures(
    start_sandbox: StartSandbox, http: aiohttp.ClientSession, kind: str, state: str
) -> None:
    running = await start_sandbox(
        jobs={"delay": "PT0S"}, faults=[{"endpoint": "jobs_submit", "script": [kind]}]
    )
    token = await get_token(http, running)
    body = {"interval": _interval(DAY, DAY + timedelta(hours=1))}
    _, payload, _ = await call(http, running, "POST", JOBS, token, json=body)
    states = await _wait_for_state(http, running, token, payload["jobId"])
    assert states[-1] == state
    _, job_status, _ = await call(http, running, "GET", f"{JOBS}/{payload['jobId']}", token)
    assert ("errorMessage" in job_status) == (state == "FAILED")
    status, error, _ = await call(http, running, "GET", f"{JOBS}/{payload['jobId']}/results", token)
    assert status == 400 and state in error["message"]


async def test_job_errors(start_sandbox: StartSandbox, http: aiohttp.ClientSession) -> None:
    running = await start_sandbox(jobs={"delay": "PT0S"})
    token = await get_token(http, running)
    status, payload, _ = await call(http, running, "GET", f"{JOBS}/no-such-job", token)
    assert (status, payload["code"]) == (404, "not.found")
    paged = {
        "interval": _interval(DAY, DAY + timedelta(hours=1)),
        "paging": {"pageSize": 1, "pageNumber": 1},
    }
    status, payload, _ = await call(http, running, "POST", JOBS, token, json=paged)
    assert status == 400 and "paging" in payload["message"]
    _, submitted, _ = await call(
        http,
        running,
        "POST",
        JOBS,
        token,
        json={"interval": _interval(DAY, DAY + timedelta(hours=1))},
    )
    job = f"{JOBS}/{submitted['jobId']}/results"
    status, payload, _ = await call(http, running, "GET", job, token, params={"cursor": "bogus"})
    assert status == 400 and "cursor" in payload["message"]
    status, payload, _ = await call(http, running, "GET", job, token, params={"pageSize": "10001"})
    assert status == 400 and "10000" in payload["message"]


def test_job_state_machine_over_time() -> None:
    import time

    from app.sandbox.jobs import Job
    from app.sandbox.query_body import ParsedQuery

    job = Job(
        job_id="j",
        query=ParsedQuery(start_ms=0, end_ms=1, page_size=0, page_number=0),
        submitted_ms=0,
        submitted_at=time.monotonic(),
        delay_seconds=30,
        expiry_seconds=60,
    )
    assert job.state() == "QUEUED"
    job.submitted_at = time.monotonic() - 15
    assert job.state() == "PENDING"
    job.submitted_at = time.monotonic() - 31
    assert job.state() == "FULFILLED"
    job.submitted_at = time.monotonic() - 95
    assert job.state() == "EXPIRED"


# --- look-ups ------------------------------------------------------------------------------


# Each look-up's path and the organisation's collection it serves.
LOOKUPS = [
    ("/api/v2/routing/queues", "queues"),
    ("/api/v2/users", "users"),
    ("/api/v2/routing/wrapupcodes", "wrapup_codes"),
    ("/api/v2/authorization/divisions", "divisions"),
]


@pytest.mark.parametrize(("path", "collection"), LOOKUPS)
async def test_lookups_are_paged(
    sandbox: RunningSandbox, http: aiohttp.ClientSession, path: str, collection: str
) -> None:
    token = await get_token(http, sandbox)
    entities = getattr(sandbox.sandbox.org, collection)
    seen: list[dict[str, Any]] = []
    page = 1
    while True:
        status, payload, _ = await call(
            http, sandbox, "GET", path, token, params={"pageSize": "3", "pageNumber": str(page)}
        )
        assert status == 200
        assert payload["total"] == len(entities)
        assert payload["pageCount"] == -(-len(entities) // 3)
        assert payload["pageSize"] == 3 and payload["pageNumber"] == page
        seen.extend(payload["entities"])
        if page >= payload["pageCount"]:
            assert "nextUri" not in payload
            break
        page += 1
    assert {e["id"]: e["name"] for e in seen} == {e.id: e.name for e in entities}


@pytest.mark.parametrize(("path", "collection"), LOOKUPS)
async def test_an_id_list_filters_repeated_or_comma_joined(
    sandbox: RunningSandbox, http: aiohttp.ClientSession, path: str, collection: str
) -> None:
    # The official SDK sends a list as one comma-joined value (?id=a,b); our client repeats it.
    token = await get_token(http, sandbox)
    entities = getattr(sandbox.sandbox.org, collection)
    wanted = sorted(e.id for e in entities[:3])
    shapes: dict[str, list[tuple[str, str]]] = {
        "repeated": [("id", wanted[0]), ("id", wanted[1]), ("id", wanted[2])],
        "comma-joined": [("id", ",".join(wanted))],
        "both": [("id", f"{wanted[0]},{wanted[1]}"), ("id", wanted[2])],
    }
    for shape, params in shapes.items():
        status, payload, _ = await call(http, sandbox, "GET", path, token, params=params)
        assert status == 200, shape
        assert sorted(e["id"] for e in payload["entities"]) == wanted, shape
        assert payload["total"] == 3, shape


async def test_lookup_by_id_and_bad_paging(
    sandbox: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    token = await get_token(http, sandbox)
    queue = sandbox.sandbox.org.queues[2]
    status, payload, _ = await call(
        http, sandbox, "GET", "/api/v2/routing/queues", token, params={"id": queue.id}
    )
    assert status == 200 and [e["name"] for e in payload["entities"]] == [queue.name]
    assert payload["entities"][0]["division"]["id"] == queue.division_id
    status, payload, _ = await call(
        http, sandbox, "GET", "/api/v2/users", token, params={"pageSize": "501"}
    )
    assert status == 400 and "500" in payload["message"]
    status, payload, _ = await call(
        http, sandbox, "GET", "/api/v2/users", token, params={"pageNumber": "x"}
    )
    assert status == 400 and "pageNumber" in payload["message"]


async def test_queues_carry_their_media_settings(
    sandbox: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    token = await get_token(http, sandbox)
    status, payload, _ = await call(
        http, sandbox, "GET", "/api/v2/routing/queues", token, params={"pageSize": "100"}
    )
    assert status == 200
    org = sandbox.sandbox.org
    served = {e["id"]: e["mediaSettings"] for e in payload["entities"]}
    assert set(served) == {q.id for q in org.queues}
    media_served = 0
    for queue in org.queues:
        settings = served[queue.id]
        # The SDK's QueueMediaSettings shape, with the organisation's own values.
        assert settings == {
            medium: {
                "alertingTimeoutSeconds": setting.alerting_timeout_seconds,
                "serviceLevel": {
                    "percentage": setting.service_level.percentage,
                    "durationMs": setting.service_level.duration_ms,
                },
            }
            for medium, setting in org.media_settings[queue.id].items()
        }
        media_served += len(settings)
        for entry in settings.values():
            level = entry["serviceLevel"]
            assert isinstance(level["durationMs"], int) and isinstance(level["percentage"], float)
    assert 0 < media_served < 5 * len(org.queues)  # some queue lacks a medium
    targets = {(e["call"]["serviceLevel"]["durationMs"]) for e in served.values() if "call" in e}
    assert len(targets) > 1
    # Only queues carry media settings.
    status, payload, _ = await call(http, sandbox, "GET", "/api/v2/users", token)
    assert status == 200 and all("mediaSettings" not in e for e in payload["entities"])


async def test_records_refer_to_known_entities_or_to_departed_ones(
    sandbox: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    token = await get_token(http, sandbox)
    known: set[str] = set()
    for path in (
        "/api/v2/routing/queues",
        "/api/v2/users",
        "/api/v2/routing/wrapupcodes",
        "/api/v2/authorization/divisions",
    ):
        _, payload, _ = await call(http, sandbox, "GET", path, token, params={"pageSize": "500"})
        known |= {e["id"] for e in payload["entities"]}
    truth = sandbox.sandbox.ground_truth(_ms(_iso(DAY)), _ms(_iso(DAY + timedelta(hours=12))))
    referenced = set()
    for record in truth:
        referenced.update(record["divisionIds"])
        for participant in record["participants"]:
            if "userId" in participant:
                referenced.add(participant["userId"])
            for session in participant["sessions"]:
                for segment in session["segments"]:
                    referenced.update(
                        segment[key] for key in ("queueId", "wrapUpCode") if key in segment
                    )
    org = sandbox.sandbox.org
    gone = {e.id for e in (*org.departed_users, *org.deleted_queues)}
    # The system wrap-up code is no entity of the org: the look-up does not list it.
    unknown = gone | {WRAP_UP_TIMEOUT}
    assert referenced and referenced <= known | unknown
    # Some ids no look-up resolves (agents who left, a deleted queue, the wrap-up timeout):
    # reports keep the id.
    assert referenced & gone and WRAP_UP_TIMEOUT in referenced and not unknown & known


# --- the sandbox's own endpoints and its request log ---------------------------------------


async def test_ground_truth_endpoint(sandbox: RunningSandbox, http: aiohttp.ClientSession) -> None:
    params = {"start": _iso(DAY + timedelta(hours=10)), "end": _iso(DAY + timedelta(hours=11))}
    url = f"{sandbox.base_url}/sandbox/conversations"
    async with http.get(url, params=params) as response:
        assert response.status == 401
    auth = basic(sandbox.client_id, sandbox.client_secret)
    async with http.get(url, params=params, headers=auth) as response:
        assert response.status == 200
        payload = await response.json()
    expected = sandbox.sandbox.ground_truth(_ms(params["start"]), _ms(params["end"]))
    assert payload["conversations"] == expected and expected


async def test_request_log_never_holds_tokens(
    sandbox: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    token = await get_token(http, sandbox)
    await call(http, sandbox, "GET", "/api/v2/users", token)
    auth = basic(sandbox.client_id, sandbox.client_secret)
    async with http.get(f"{sandbox.base_url}/sandbox/requests", headers=auth) as response:
        text = await response.text()
    assert token not in text and sandbox.client_secret not in text
    log = sandbox.sandbox.requests()
    assert [r.endpoint for r in log[:2]] == ["token", "users"]
    assert log[1].token == "t1" and log[1].status == 200


# --- review findings: shapes, headers and limits -------------------------------------------


async def test_unknown_paths_and_methods_answer_like_genesys(
    sandbox: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    token = await get_token(http, sandbox)
    status, payload, headers = await call(http, sandbox, "GET", "/api/v2/nothing/here", token)
    assert (status, payload["code"]) == (404, "not.found")
    assert payload["contextId"] == headers["ININ-Correlation-Id"]
    status, payload, _ = await call(http, sandbox, "PUT", "/api/v2/users", token)
    assert (status, payload["code"]) == (405, "method.not.allowed")


async def test_head_tokens_me(sandbox: RunningSandbox, http: aiohttp.ClientSession) -> None:
    token = await get_token(http, sandbox)
    headers = {"Authorization": f"Bearer {token}"}
    async with http.head(f"{sandbox.base_url}/api/v2/tokens/me", headers=headers) as response:
        assert response.status == 200
    async with http.head(f"{sandbox.base_url}/api/v2/tokens/me") as response:
        assert response.status == 401


async def test_intervals_outside_the_served_years(
    sandbox: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    token = await get_token(http, sandbox)
    body = {"interval": "0001-01-01T00:00:00Z/0001-01-01T01:00:00Z"}
    status, payload, _ = await call(http, sandbox, "POST", QUERY, token, json=body)
    assert (status, payload["code"]) == (400, "invalid.date")


async def test_injected_429_carries_rate_limit_headers_and_the_documented_message(
    start_sandbox: StartSandbox, http: aiohttp.ClientSession
) -> None:
    running = await start_sandbox(
        rate_limit_per_minute=180,
        faults=[{"endpoint": "users", "script": ["429", "429_no_retry_after"]}],
    )
    token = await get_token(http, running)
    status, payload, headers = await call(http, running, "GET", "/api/v2/users", token)
    assert status == 429 and headers["Retry-After"] == "1"
    assert headers["inin-ratelimit-allowed"] == "180" and "inin-ratelimit-reset" in headers
    status, payload, headers = await call(http, running, "GET", "/api/v2/users", token)
    assert status == 429 and "Retry-After" not in headers
    assert payload["code"] == "too.many.requests"
    assert (
        payload["message"] == "Rate limit exceeded the maximum [180] requests within [60] seconds"
    )


async def test_configured_limits_reach_the_server(
    start_sandbox: StartSandbox, http: aiohttp.ClientSession
) -> None:
    running = await start_sandbox(
        limits={
            "max_page_size": 50,
            "default_page_size": 10,
            "max_interval_days": 2,
            "max_results": 200,
        }
    )
    token = await get_token(http, running)
    hour = _interval(DAY + timedelta(hours=10), DAY + timedelta(hours=11))
    status, payload, _ = await call(http, running, "POST", QUERY, token, json={"interval": hour})
    assert status == 200 and len(payload["conversations"]) == 10
    for body, fragment in [
        ({"interval": hour, "paging": {"pageSize": 51, "pageNumber": 1}}, "50"),
        ({"interval": hour, "paging": {"pageSize": 50, "pageNumber": 5}}, "200"),
        ({"interval": _interval(DAY, DAY + timedelta(days=3))}, "2"),
    ]:
        status, payload, _ = await call(http, running, "POST", QUERY, token, json=body)
        assert status == 400 and fragment in payload["message"], payload


async def test_job_states_progress_over_http(
    start_sandbox: StartSandbox, http: aiohttp.ClientSession
) -> None:
    import time

    running = await start_sandbox(jobs={"delay": "PT30S"})
    token = await get_token(http, running)
    body = {"interval": _interval(DAY, DAY + timedelta(hours=1))}
    _, submitted, _ = await call(http, running, "POST", JOBS, token, json=body)
    path = f"{JOBS}/{submitted['jobId']}"
    job = running.sandbox.jobs.get(submitted["jobId"])
    assert job is not None
    states = []
    for elapsed in (0, 15, 31):
        job.submitted_at = time.monotonic() - elapsed  # move the job's clock, not the test's
        states.append((await call(http, running, "GET", path, token))[1]["state"])
    assert states == ["QUEUED", "PENDING", "FULFILLED"]
    status, payload, _ = await call(http, running, "GET", f"{path}/results", token)
    assert status == 200 and payload["conversations"]


async def test_a_slow_response_does_arrive(
    start_sandbox: StartSandbox, http: aiohttp.ClientSession
) -> None:
    running = await start_sandbox(
        faults=[{"endpoint": "users", "script": ["slow"], "slow_seconds": 0.2}]
    )
    token = await get_token(http, running)
    status, payload, _ = await call(http, running, "GET", "/api/v2/users", token)
    assert status == 200 and payload["entities"]


async def test_revoke_token_without_a_token(
    start_sandbox: StartSandbox, http: aiohttp.ClientSession
) -> None:
    running = await start_sandbox(faults=[{"endpoint": "users", "script": ["revoke_token"]}])
    status, payload, _ = await call(http, running, "GET", "/api/v2/users", None)
    assert (status, payload["code"]) == (401, "authentication.required")


def test_rate_limit_window_resets() -> None:
    from app.sandbox.ratelimit import RateLimiter

    now = [100.0]
    limiter = RateLimiter(limit=2, window_seconds=60, clock=lambda: now[0])
    assert [limiter.take("t1").allowed for _ in range(3)] == [True, True, False]
    assert limiter.take("t2").allowed  # budgets are per token
    now[0] += 59.5
    refused = limiter.take("t1")
    assert not refused.allowed and refused.reset_seconds == 1
    now[0] += 0.5
    fresh = limiter.take("t1")
    assert fresh.allowed and fresh.count == 1 and fresh.reset_seconds == 60
