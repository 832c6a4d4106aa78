"""Unit seams of the client: the token manager, the rate budget, redaction."""

from __future__ import annotations

import asyncio
import logging

import orjson
import pytest

from app.errors import GenesysAuthError
from app.genesys.auth import TokenManager, renewal_margin
from app.genesys.budget import RateBudget
from app.redact import REDACTOR, RedactingFilter


@pytest.mark.parametrize(
    ("lifetime", "margin"),
    [(5, 0.5), (300, 30), (3600, 360), (86_400, 600), (172_800, 600)],
)
def test_renewal_margin_scales_with_the_lifetime(lifetime: float, margin: float) -> None:
    assert renewal_margin(lifetime) == margin


class FakeLogin:
    """The token endpoint as a function: counts calls, answers after a yield point."""

    def __init__(self, lifetime: int = 300, status: int = 200) -> None:
        self.calls = 0
        self.lifetime = lifetime
        self.status = status

    async def __call__(self) -> tuple[int, bytes]:
        self.calls += 1
        await asyncio.sleep(0)  # let every waiting caller pile up on the lock
        if self.status != 200:
            body = {"error": "invalid_client", "error_description": "authentication failed"}
            return self.status, orjson.dumps(body)
        token = f"token-number-{self.calls:04d}"
        return 200, orjson.dumps(
            {"access_token": token, "token_type": "bearer", "expires_in": self.lifetime}
        )


def _manager(login: FakeLogin, clock: list[float]) -> TokenManager:
    return TokenManager(
        login,
        environment="mypurecloud.ie",
        client_id="client-42",
        login_url="https://login.mypurecloud.ie",
        clock=lambda: clock[0],
    )


async def test_single_flight_and_renewal_before_expiry() -> None:
    login, clock = FakeLogin(lifetime=300), [1000.0]
    tokens = _manager(login, clock)
    values = await asyncio.gather(*(tokens.get() for _ in range(100)))
    assert login.calls == 1 and set(values) == {"token-number-0001"}
    clock[0] += 269  # before the renewal point (300 - 30 s)
    assert await tokens.get() == "token-number-0001"
    clock[0] += 2  # past it, though the token is still valid for 29 s
    values = await asyncio.gather(*(tokens.get() for _ in range(20)))
    assert login.calls == 2 and set(values) == {"token-number-0002"}


async def test_invalidate_only_forgets_the_refused_token() -> None:
    login, clock = FakeLogin(), [0.0]
    tokens = _manager(login, clock)
    first = await tokens.get()
    tokens.invalidate("some-older-token")
    assert await tokens.get() == first and login.calls == 1
    tokens.invalidate(first)
    assert await tokens.get() != first and login.calls == 2


async def test_token_errors_name_client_and_environment() -> None:
    tokens = _manager(FakeLogin(status=401), [0.0])
    with pytest.raises(GenesysAuthError) as caught:
        await tokens.get()
    message = str(caught.value)
    assert "client id 'client-42'" in message and "mypurecloud.ie" in message
    assert "invalid_client" in message and "environment" in message


async def test_budget_adapts_down_and_recovers_never_above_the_configured_rate() -> None:
    budget = RateBudget(600)
    await budget.observe({"inin-ratelimit-allowed": "300", "inin-ratelimit-reset": "60"})
    assert budget.rate_per_minute == 300
    # A late reading (few seconds left in the window) never lowers the estimate further.
    await budget.observe({"inin-ratelimit-allowed": "300", "inin-ratelimit-reset": "3"})
    assert budget.rate_per_minute == 300
    await budget.observe({"inin-ratelimit-allowed": "180", "inin-ratelimit-reset": "61"})
    assert budget.rate_per_minute == pytest.approx(180 * 60 / 61)
    await budget.observe({"unrelated": "1"})
    assert budget.rate_per_minute == pytest.approx(180 * 60 / 61)
    # Issue 13, item 5: more allowed again, and we follow, up to what was configured.
    await budget.observe({"inin-ratelimit-allowed": "450", "inin-ratelimit-reset": "61"})
    assert budget.rate_per_minute == pytest.approx(450 * 60 / 61)
    await budget.observe({"inin-ratelimit-allowed": "900", "inin-ratelimit-reset": "61"})
    assert budget.rate_per_minute == 600


async def test_budget_never_goes_below_one_request_a_minute() -> None:
    budget = RateBudget(600)
    await budget.observe({"inin-ratelimit-allowed": "1", "inin-ratelimit-reset": "180"})
    assert budget.rate_per_minute == 1


@pytest.mark.parametrize("value", ["nan", "inf", "-5", "lots"])
async def test_budget_ignores_headers_that_are_not_numbers(value: str) -> None:
    budget = RateBudget(600)
    await budget.observe({"inin-ratelimit-allowed": value, "inin-ratelimit-reset": "60"})
    await budget.observe({"inin-ratelimit-allowed": "300", "inin-ratelimit-reset": value})
    assert budget.rate_per_minute == 600


async def test_budget_allowed_zero_waits_for_the_window_without_stopping_for_ever() -> None:
    budget = RateBudget(600, max_pause=0.2)
    loop = asyncio.get_running_loop()
    await budget.observe({"inin-ratelimit-allowed": "0", "inin-ratelimit-reset": "0.1"})
    assert budget.rate_per_minute == 600  # 0 says nothing about the next window's rate
    started = loop.time()
    await budget.acquire()
    assert loop.time() - started >= 0.1


async def test_budget_pause_is_capped_by_max_pause() -> None:
    """A reset of a day (or a 429's Retry-After of an hour) holds the budget at most max_pause,
    so the retry bounds, not a header, decide when a run gives up."""
    budget = RateBudget(6000, max_pause=0.1)
    loop = asyncio.get_running_loop()
    await budget.observe(
        {
            "inin-ratelimit-allowed": "300",
            "inin-ratelimit-count": "300",
            "inin-ratelimit-reset": "86400",
        }
    )
    started = loop.time()
    await asyncio.wait_for(budget.acquire(), timeout=5)
    assert 0.1 <= loop.time() - started < 5


async def test_budget_pause_holds_every_request() -> None:
    budget = RateBudget(6000)
    loop = asyncio.get_running_loop()
    budget.pause(0.05)
    started = loop.time()
    await budget.acquire()
    assert loop.time() - started >= 0.05


def test_redaction_of_known_secrets_and_token_shapes() -> None:
    REDACTOR.add("client-secret-for-redaction")
    text = (
        "Authorization: Bearer abc.DEF-123 and Basic dXNlcjpwYXNz, "
        '{"access_token": "tok-999", "x": 1} client_secret=client-secret-for-redaction'
    )
    redacted = REDACTOR(text)
    for leaked in ("abc.DEF-123", "dXNlcjpwYXNz", "tok-999", "client-secret-for-redaction"):
        assert leaked not in redacted
    assert "Bearer ***" in redacted and '"x": 1' in redacted


def test_redacting_filter_covers_arguments_and_tracebacks() -> None:
    REDACTOR.add("a-secret-in-a-traceback")
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed: %s", ("Bearer xyz",), None)
    try:
        raise RuntimeError("boom a-secret-in-a-traceback")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    formatted = logging.Formatter().format(record)
    assert "xyz" not in formatted and "a-secret-in-a-traceback" not in formatted
    assert "RuntimeError" in formatted
