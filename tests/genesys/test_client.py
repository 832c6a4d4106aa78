"""The Genesys client against the sandbox over real sockets.

Assertions come from the sandbox's request log and from what the client returned, never from
wall-clock timing taken by the test.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from app.errors import (
    GenesysApiError,
    GenesysAuthError,
    GenesysJobError,
    GenesysProtocolError,
    GenesysRateLimitError,
    GenesysUnavailableError,
)
from app.genesys import stats as request_stats
from app.genesys.fetch import (
    QUERY_PATH,
    Page,
    data_availability,
    job_pages,
    query_page,
    query_pages,
)
from app.genesys.lookups import NameResolver
from app.genesys.query import AsyncConversationQuery, ConversationQuery
from app.models import Window
from tests.genesys.conftest import Connect, Connected

DAY = datetime(2024, 5, 1, tzinfo=UTC)


def _window(hour: int, hours: int = 1) -> Window:
    return Window(DAY + timedelta(hours=hour), DAY + timedelta(hours=hour + hours))


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _expected_ids(connected: Connected, window: Window) -> set[str]:
    """What the sandbox selects for a window, computed from its ground truth (§4.3 rule)."""
    day_start = window.start.replace(hour=0, minute=0, second=0, microsecond=0)
    now = connected.sandbox.now_ms()
    truth = connected.sandbox.ground_truth(_ms(day_start), _ms(window.end))
    selected = set()
    for record in truth:
        end = record.get("conversationEnd")
        end_ms = _ms(datetime.fromisoformat(end.replace("Z", "+00:00"))) if end else now
        if end_ms > _ms(window.start):
            selected.add(record["conversationId"])
    return selected


async def _collect(connected: Connected, window: Window, page_size: int = 25) -> list[Page]:
    query = ConversationQuery(interval=window.interval)
    return [
        page
        async for page in query_pages(
            connected.client, query, page_size=page_size, what=f"window {window}"
        )
    ]


def _ids(pages: list[Page]) -> list[str]:
    return [c["conversationId"] for page in pages for c in page.conversations]


async def _drain_job(
    connected: Connected, window: Window, *, give_up_after: float = 10
) -> list[Page]:
    return [
        page
        async for page in job_pages(
            connected.client,
            AsyncConversationQuery(interval=window.interval),
            page_size=100,
            poll=0.05,
            give_up_after=give_up_after,
            what="jobs",
        )
    ]


# --- tokens --------------------------------------------------------------------------------


async def test_fifty_concurrent_requests_cause_one_token_request(connect: Connect) -> None:
    connected = await connect()
    client, sandbox = connected.client, connected.sandbox

    async def one() -> None:
        await client.request("GET", "/api/v2/routing/queues", what="queues")

    await asyncio.gather(*(one() for _ in range(50)))  # no token yet
    assert len(sandbox.requests("token")) == 1
    sandbox.tokens.expire_all()  # the cached token is now refused: every request gets a 401
    await asyncio.gather(*(one() for _ in range(50)))
    assert len(sandbox.requests("token")) == 2
    assert len([r for r in sandbox.requests("queues") if r.status == 200]) == 100


async def test_token_renewed_during_a_long_fetch(connect: Connect) -> None:
    """Tokens live 5 s; a fetch taking over 20 s completes, renewing them on the way."""
    connected = await connect(
        sandbox={"token_lifetime": "PT5S", "latency_ms": 250},
        genesys={"max_concurrency": 1},
    )
    window = _window(9, hours=6)
    pages = await _collect(connected, window, page_size=20)
    log = connected.sandbox.requests()
    assert log[-1].at - log[0].at > 20  # the sandbox's own clock, not the test's
    tokens = connected.sandbox.requests("token")
    assert len(tokens) >= 4
    assert set(_ids(pages)) == _expected_ids(connected, window)


async def test_a_401_renews_the_token_once_and_retries(connect: Connect) -> None:
    connected = await connect(
        sandbox={"faults": [{"endpoint": "details_query", "script": ["revoke_token"]}]}
    )
    page = await query_page(
        connected.client, ConversationQuery(interval=_window(10).interval), 1, 25, "w"
    )
    assert page.conversations
    assert len(connected.sandbox.requests("token")) == 2
    assert [r.status for r in connected.sandbox.requests("details_query")] == [401, 200]


async def test_each_refused_token_is_renewed_once(connect: Connect) -> None:
    connected = await connect(
        sandbox={
            "faults": [{"endpoint": "details_query", "script": ["revoke_token", "revoke_token"]}]
        }
    )
    page = await query_page(
        connected.client, ConversationQuery(interval=_window(10).interval), 1, 25, "w"
    )
    assert page.conversations
    assert len(connected.sandbox.requests("token")) == 3  # a fresh token after each revocation


async def test_garbled_and_failing_token_answers_are_retried(connect: Connect) -> None:
    """A 200 cut short still reads "access_token" (bad_json halves the body): not a token."""
    connected = await connect(
        sandbox={
            "faults": [
                {
                    "endpoint": "token",
                    "script": ["bad_json", "truncated", "503", "429"],
                    "retry_after_seconds": 0,
                }
            ]
        },
        genesys={"retry_attempts": 5},
    )
    page = await query_page(
        connected.client, ConversationQuery(interval=_window(10).interval), 1, 25, "w"
    )
    assert page.conversations
    tokens = connected.sandbox.requests("token")
    assert [r.fault for r in tokens] == ["bad_json", "truncated", "503", "429", None]
    assert tokens[0].status == 200 and tokens[-1].status == 200
    assert connected.client.tokens.fetched == 1  # only the good answer became a token


async def test_tokens_refused_for_ever_fail_within_the_bounds(connect: Connect) -> None:
    connected = await connect(
        sandbox={"faults": [{"endpoint": "details_query", "kind": "revoke_token"}]},
        genesys={"retry_attempts": 4},
    )
    with pytest.raises(GenesysUnavailableError) as caught:
        await query_page(
            connected.client, ConversationQuery(interval=_window(10).interval), 1, 25, "w"
        )
    assert caught.value.cause == "401" and caught.value.attempts == 4


async def test_bad_credentials_name_client_and_environment_not_the_secret(
    connect: Connect,
) -> None:
    connected = await connect(sandbox={"client_secret": "the-real-secret-value"})
    # A client holding the wrong secret: swap it in through a second connection.
    from app.genesys.client import open_client
    from app.settings import GenesysSettings

    async with open_client(
        GenesysSettings(environment="sandbox"),
        api_url=connected.running.base_url,
        login_url=connected.running.base_url,
        client_id="sandbox-client",
        client_secret=__import__("pydantic").SecretStr("a-wrong-secret-value"),
    ) as wrong:
        with pytest.raises(GenesysAuthError) as caught:
            await wrong.request("GET", "/api/v2/users", what="users")
    message = str(caught.value)
    assert "client id 'sandbox-client'" in message and "environment sandbox" in message
    assert "invalid_client" in message and "/oauth/token" in message
    assert "a-wrong-secret-value" not in message and "the-real-secret-value" not in message


# --- rate limits ---------------------------------------------------------------------------


async def test_429_storm_every_page_once_and_retry_after_honoured(connect: Connect) -> None:
    """The sandbox allows 4 requests a second and throttles 40% of queries besides (a limit
    the client is not told about, as when other clients share the org's budget)."""
    connected = await connect(
        sandbox={
            "rate_limit_per_minute": 4,
            "rate_limit_window": "PT1S",
            "faults": [
                {
                    "endpoint": "details_query",
                    "kind": "429",
                    "probability": 0.4,
                    "retry_after_seconds": 1,
                }
            ],
        },
        genesys={"requests_per_minute": 6000, "max_concurrency": 8, "retry_attempts": 20},
    )
    window = _window(10)
    with request_stats.measure() as stats:
        pages = await _collect(connected, window, page_size=25)
    ids = _ids(pages)
    assert len(ids) == len(set(ids))
    assert set(ids) == _expected_ids(connected, window)
    log = connected.sandbox.requests("details_query")
    refused = [r for r in log if r.status == 429]
    assert len(refused) >= 3 and stats.throttled == len(refused)
    served = [r.detail["page_number"] for r in log if r.status == 200]
    assert sorted(served) == sorted(set(served))  # each page fetched exactly once
    for rejection in refused:
        page = rejection.detail["page_number"]
        retry = next(r for r in log if r.seq > rejection.seq and r.detail["page_number"] == page)
        assert retry.at >= rejection.at + rejection.detail["retry_after"]
    # The budget adapted to what the sandbox advertises (4 per second).
    assert connected.client.budget.rate_per_minute <= 240


async def test_budget_adapts_to_the_advertised_limit(connect: Connect) -> None:
    connected = await connect(
        sandbox={"rate_limit_per_minute": 120}, genesys={"requests_per_minute": 600}
    )
    await connected.client.request("GET", "/api/v2/users", what="users")
    assert connected.client.budget.rate_per_minute == pytest.approx(120, rel=0.02)


async def test_retry_after_beyond_the_maximum_fails_at_once(connect: Connect) -> None:
    connected = await connect(
        sandbox={
            "faults": [
                {"endpoint": "details_query", "script": ["429"], "retry_after_seconds": 3600}
            ]
        }
    )
    with pytest.raises(GenesysRateLimitError, match="3600"):
        await query_page(
            connected.client, ConversationQuery(interval=_window(3).interval), 1, 25, "w 03"
        )
    assert len(connected.sandbox.requests("details_query")) == 1


# --- retries -------------------------------------------------------------------------------


async def test_scripted_faults_are_recovered(connect: Connect) -> None:
    script = ["503", "504", "reset", "slow", "bad_json", "truncated", "502", "500"]
    connected = await connect(
        sandbox={"faults": [{"endpoint": "details_query", "script": script, "slow_seconds": 30}]},
        # Every page, not only the slow one, must answer within the timeout: the sandbox shares
        # the test's event loop, so on a busy 2-core machine a healthy page can take over a second.
        genesys={"retry_attempts": 9, "request_timeout": "PT3S"},
    )
    window = _window(10)
    with request_stats.measure() as stats:
        pages = await _collect(connected, window)
    assert set(_ids(pages)) == _expected_ids(connected, window)
    assert dict(stats.retries) == {
        "503": 1,
        "504": 1,
        "connection": 1,
        "timeout": 1,
        "bad_json": 1,
        "truncated": 1,
        "502": 1,
        "500": 1,
    }
    faults = [r.fault for r in connected.sandbox.requests("details_query")][: len(script)]
    assert faults == script


@pytest.mark.parametrize(
    ("kind", "cause", "words"),
    [
        ("503", "503", "HTTP 503"),
        ("504", "504", "HTTP 504"),
        ("reset", "connection", "connection failed or was reset"),
        ("slow", "timeout", "no answer within the request timeout"),
        ("truncated", "truncated", "cut short"),
        ("bad_json", "bad_json", "not valid JSON"),
    ],
)
async def test_faults_past_the_bounds_fail_clearly(
    connect: Connect, kind: str, cause: str, words: str
) -> None:
    connected = await connect(
        sandbox={"faults": [{"endpoint": "details_query", "kind": kind, "slow_seconds": 30}]},
        # A short timeout only where every answer is slow: elsewhere a busy machine could turn
        # the injected fault into a timeout.
        genesys={"retry_attempts": 3, "request_timeout": "PT0.3S" if kind == "slow" else "PT5S"},
    )
    window = _window(10)
    with pytest.raises(GenesysUnavailableError) as caught:
        await _collect(connected, window)
    error = caught.value
    assert error.cause == cause and error.attempts == 3
    text = str(error)
    assert words in text
    assert QUERY_PATH in text and window.interval in text and "gave up after 3 attempts" in text
    assert len(connected.sandbox.requests("details_query")) == 3


@pytest.mark.parametrize("kind", ["429", "429_no_retry_after"])
async def test_throttling_does_not_use_up_the_attempts(connect: Connect, kind: str) -> None:
    """Issue 13, item 6: five 429s in a row, with retry_attempts 3, then an answer."""
    connected = await connect(
        sandbox={
            "faults": [
                {"endpoint": "users", "script": [kind] * 5 + ["ok"], "retry_after_seconds": 0}
            ]
        },
        genesys={"retry_attempts": 3, "retry_backoff": "PT0.01S", "retry_backoff_max": "PT0.01S"},
    )
    with request_stats.measure() as stats:
        response = await connected.client.request("GET", "/api/v2/users", what="users")
    assert response.status == 200
    assert [r.status for r in connected.sandbox.requests("users")] == [429] * 5 + [200]
    assert stats.throttled == 5


async def test_real_failures_between_429s_still_use_up_the_attempts(connect: Connect) -> None:
    connected = await connect(
        sandbox={
            "faults": [
                {
                    "endpoint": "users",
                    "script": ["429", "503", "429", "429", "503", "429", "503", "ok"],
                    "retry_after_seconds": 0,
                }
            ]
        },
        genesys={"retry_attempts": 3},
    )
    with pytest.raises(GenesysUnavailableError) as caught:
        await connected.client.request("GET", "/api/v2/users", what="users")
    assert caught.value.cause == "503" and caught.value.attempts == 7
    assert "gave up after 7 attempts (4 of them rate limited)" in str(caught.value)


async def test_throttling_for_ever_is_bounded_by_retry_max_time(connect: Connect) -> None:
    connected = await connect(
        sandbox={"faults": [{"endpoint": "users", "kind": "429", "retry_after_seconds": 0}]},
        genesys={
            "retry_attempts": 2,
            # Each 429 also says the window is spent (reset 1 s), which pauses the budget.
            "retry_max_time": "PT1.5S",
            "retry_backoff": "PT0.05S",
            "retry_backoff_max": "PT0.05S",
        },
    )
    with pytest.raises(GenesysUnavailableError) as caught:
        await connected.client.request("GET", "/api/v2/users", what="users")
    assert caught.value.cause == "429" and caught.value.attempts > 2
    assert "rate limited" in str(caught.value)
    log = connected.sandbox.requests("users")
    assert log[-1].at - log[0].at < 3.0


async def test_retries_are_bounded_in_time(connect: Connect) -> None:
    connected = await connect(
        sandbox={"faults": [{"endpoint": "users", "kind": "503"}]},
        genesys={
            "retry_attempts": 100,
            "retry_max_time": "PT0.3S",
            "retry_backoff": "PT0.1S",
            "retry_backoff_max": "PT0.1S",
        },
    )
    with pytest.raises(GenesysUnavailableError) as caught:
        await connected.client.request("GET", "/api/v2/users", what="users")
    assert caught.value.attempts < 100
    log = connected.sandbox.requests("users")
    assert log[-1].at - log[0].at < 1.0


async def test_a_failing_page_fails_the_whole_window(connect: Connect) -> None:
    """No partial result: page 3 failing for good makes the fetch raise, not return less."""
    connected = await connect(genesys={"retry_attempts": 2})
    window = _window(10)
    first = await query_page(
        connected.client, ConversationQuery(interval=window.interval), 1, 25, "w"
    )
    assert first.total_hits is not None and first.total_hits > 75
    from app.settings import FaultSettings

    # Two pages go through, then every query fails: some pages can never be fetched.
    connected.sandbox.set_faults(
        [
            FaultSettings(endpoint="details_query", script=["ok", "ok"]),
            FaultSettings(endpoint="details_query", kind="503"),
        ]
    )
    received: list[Page] = []
    with pytest.raises(GenesysUnavailableError):
        async for page in query_pages(
            connected.client, ConversationQuery(interval=window.interval), page_size=25, what="w"
        ):
            received.append(page)
    assert len(received) < -(-first.total_hits // 25)


async def test_a_bad_filter_fails_at_once_with_the_genesys_error(connect: Connect) -> None:
    connected = await connect()
    body = {
        "interval": _window(10).interval,
        "segmentFilters": [{"type": "and", "predicates": [{"dimension": "queueID", "value": "q"}]}],
    }
    with request_stats.measure() as stats, pytest.raises(GenesysApiError) as caught:
        await connected.client.request("POST", QUERY_PATH, json=body, what="window 10:00")
    error = caught.value
    assert error.status == 400 and error.code == "invalid.value"
    assert "queueID" in error.genesys_message
    logged = connected.sandbox.requests("details_query")
    assert len(logged) == 1 and error.context_id and error.context_id in str(error)
    assert sum(stats.retries.values()) == 0 and stats.requests == 1


# --- pages ---------------------------------------------------------------------------------


async def test_pages_of_a_window_are_complete_and_distinct(connect: Connect) -> None:
    connected = await connect()
    window = _window(14)
    pages = await _collect(connected, window, page_size=25)
    ids = _ids(pages)
    assert len(ids) == len(set(ids)) == pages[0].total_hits
    assert sorted(p.number for p in pages) == list(range(1, len(pages) + 1))
    assert set(ids) == _expected_ids(connected, window)


async def test_an_empty_window_is_one_page(connect: Connect) -> None:
    connected = await connect()
    future = Window(datetime(2030, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, 1, tzinfo=UTC))
    pages = await _collect(connected, future)
    assert [(p.number, p.total_hits, p.conversations) for p in pages] == [(1, 0, [])]


# --- async jobs ----------------------------------------------------------------------------


async def test_job_lifecycle(connect: Connect) -> None:
    connected = await connect(sandbox={"jobs": {"delay": "PT0.2S", "availability_lag": "PT12H"}})
    pages = await _drain_job(connected, _window(8, hours=2))
    ids = _ids(pages)
    assert len(pages) >= 2 and len(ids) == len(set(ids))
    statuses = [r.status for r in connected.sandbox.requests("jobs_status")]
    assert statuses and all(s == 200 for s in statuses)
    assert [r.status for r in connected.sandbox.requests("jobs_delete")] == [204]
    assert not connected.sandbox.jobs.jobs
    cursors = [r.detail.get("cursor") for r in connected.sandbox.requests("jobs_results")]
    assert cursors[0] is None and len(set(cursors)) == len(cursors)


@pytest.mark.parametrize(("kind", "state"), [("job_failed", "FAILED"), ("job_expired", "EXPIRED")])
async def test_failed_and_expired_jobs_raise_and_are_deleted(
    connect: Connect, kind: str, state: str
) -> None:
    connected = await connect(
        sandbox={
            "jobs": {"delay": "PT0S"},
            "faults": [{"endpoint": "jobs_submit", "script": [kind]}],
        }
    )
    with pytest.raises(GenesysJobError, match=f"ended {state}"):
        await _drain_job(connected, _window(8))
    assert [r.status for r in connected.sandbox.requests("jobs_delete")] == [204]


async def test_a_job_that_never_finishes_times_out_and_is_deleted(connect: Connect) -> None:
    connected = await connect(sandbox={"jobs": {"delay": "PT1H"}})
    with pytest.raises(GenesysJobError, match="still"):
        await _drain_job(connected, _window(8), give_up_after=0.2)
    assert [r.status for r in connected.sandbox.requests("jobs_delete")] == [204]


async def test_a_repeated_cursor_is_refused(
    connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.sandbox.server as server

    # A misbehaving server: every results page points at the same cursor.
    monkeypatch.setattr(server, "encode_cursor", lambda job_id, offset: "same")
    monkeypatch.setattr(server, "decode_cursor", lambda job_id, cursor: 100)
    connected = await connect(sandbox={"jobs": {"delay": "PT0S", "availability_lag": "PT12H"}})
    with pytest.raises(GenesysProtocolError, match="cursor repeated"):
        await _drain_job(connected, _window(8, hours=4))
    assert [r.status for r in connected.sandbox.requests("jobs_delete")] == [204]


async def test_data_availability(connect: Connect) -> None:
    connected = await connect(sandbox={"jobs": {"availability_lag": "PT3H"}})
    watermark = await data_availability(connected.client)
    expected = connected.sandbox.availability_ms()
    assert abs(_ms(watermark) - expected) < 5_000


# --- look-ups ------------------------------------------------------------------------------


async def test_names_are_resolved_and_cached(connect: Connect) -> None:
    connected = await connect()
    org = connected.sandbox.org
    resolver = NameResolver(connected.client)
    queue_ids = [q.id for q in org.queues[:3]] + ["00000000-0000-4000-8000-000000000000"]
    names = await resolver.names("queues", queue_ids)
    assert names == {q.id: q.name for q in org.queues[:3]}
    users = await resolver.names("users", [u.id for u in org.users])
    assert users == {u.id: u.name for u in org.users}
    codes = await resolver.names("wrapupcodes", [c.id for c in org.wrapup_codes[:2]])
    assert codes == {c.id: c.name for c in org.wrapup_codes[:2]}
    divisions = await resolver.names("divisions", [d.id for d in org.divisions])
    assert divisions == {d.id: d.name for d in org.divisions}
    before = len(connected.sandbox.log)
    again = await resolver.names("queues", queue_ids)
    await resolver.names("wrapupcodes", [c.id for c in org.wrapup_codes])
    assert again == names and len(connected.sandbox.log) == before  # all from the cache


# --- secrets -------------------------------------------------------------------------------


async def test_no_secret_or_token_in_logs_or_errors(
    connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "sandbox-secret-long-enough"
    connected = await connect(
        sandbox={
            "client_secret": secret,
            "faults": [
                {
                    "endpoint": "details_query",
                    "script": ["revoke_token", "429", "503", "bad_json", "reset", "truncated"],
                    "retry_after_seconds": 0,
                },
                {"endpoint": "users", "kind": "503"},
            ],
        },
        genesys={"retry_attempts": 8},
    )
    errors: list[str] = []
    await _collect(connected, _window(10))
    try:
        await connected.client.request("GET", "/api/v2/users", what="users")
    except GenesysUnavailableError as exc:
        errors.append(str(exc))
        errors.append(repr(exc))
    assert errors
    tokens = connected.sandbox.tokens.issued_values()
    assert len(tokens) >= 2
    haystack = caplog.text + "\n".join(errors)
    assert "retry" in caplog.text  # the faults were logged...
    for needle in [secret, *tokens]:
        assert needle not in haystack  # ...without the secret or any token
