"""The one seam to the Genesys Cloud API: every call goes through ``GenesysClient.request``.

Each attempt (retries included) takes from the process's rate budget, then a place under the
concurrency cap, then a token. Failures are sorted by ``classify``: retryable ones are retried by
tenacity, bounded by attempts (429s do not count: throttling is not failure) and by total time,
waiting ``Retry-After`` when the API says so and a jittered exponential backoff otherwise; a 401
renews the token once; anything else fails at once with the Genesys ``code``, ``message`` and
``contextId``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import orjson
from pydantic import SecretStr
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_before_delay,
    wait_random_exponential,
)

from app.errors import (
    GenesysApiError,
    GenesysAuthError,
    GenesysProtocolError,
    GenesysRateLimitError,
    GenesysUnavailableError,
)
from app.genesys import stats as request_stats
from app.genesys.auth import TokenManager
from app.genesys.budget import RateBudget
from app.genesys.classify import classify
from app.genesys.stats import RequestStats
from app.redact import REDACTOR
from app.settings import GenesysSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

_CAUSES = {
    "timeout": "no answer within the request timeout",
    "connection": "connection failed or was reset",
    "truncated": "the response body was cut short",
    "bad_json": "the response body is not valid JSON",
    "429": "rate limited (429)",
    "401": "token refused (401)",
    "bad_response": "the response is not valid HTTP",
}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 6
    max_time: float = 300.0
    backoff: float = 0.5  # first backoff's upper bound, seconds; doubles per attempt
    backoff_max: float = 30.0
    max_retry_after: float = 180.0

    @classmethod
    def from_settings(cls, settings: GenesysSettings) -> RetryPolicy:
        return cls(
            attempts=settings.retry_attempts,
            max_time=settings.retry_max_time.total_seconds(),
            backoff=settings.retry_backoff.total_seconds(),
            backoff_max=settings.retry_backoff_max.total_seconds(),
            max_retry_after=settings.max_retry_after.total_seconds(),
        )


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: Any  # parsed JSON, or None for an empty body
    headers: Mapping[str, str]


class _Retryable(Exception):
    """One attempt failed in a way another attempt may not."""

    def __init__(self, cause: str, detail: str, retry_after: float | None = None) -> None:
        self.cause = cause
        self.detail = detail
        self.retry_after = retry_after
        super().__init__(f"{cause}: {detail}")


class GenesysClient:
    """Create with ``open_client`` inside the running loop; share one per process."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_url: str,
        login_url: str,
        environment: str,
        client_id: str,
        client_secret: SecretStr,
        budget: RateBudget,
        max_concurrency: int,
        timeout: float,
        policy: RetryPolicy,
        max_response_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self._session = session
        self.api_url = api_url.rstrip("/")
        self.login_url = login_url.rstrip("/")
        self._client_id = client_id
        self._secret = client_secret
        REDACTOR.add(client_secret.get_secret_value())
        self.budget = budget
        self._slots = asyncio.Semaphore(max_concurrency)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.policy = policy
        self._max_body = max_response_bytes
        self.stats = RequestStats()
        self.tokens = TokenManager(
            self._token_request,
            environment=environment,
            client_id=client_id,
            login_url=self.login_url,
        )

    # --- counters ---------------------------------------------------------------------------

    def _count(self, update: Callable[[RequestStats], None]) -> None:
        update(self.stats)
        run = request_stats.current()
        if run is not None:
            update(run)

    # --- the retry loop -------------------------------------------------------------------

    async def _with_retries(self, attempt: Callable[[], Awaitable[T]], what: str) -> T:
        policy = self.policy
        backoff = wait_random_exponential(multiplier=policy.backoff, max=policy.backoff_max)

        def wait(state: RetryCallState) -> float:
            failure = state.outcome.exception() if state.outcome else None
            if isinstance(failure, _Retryable) and failure.retry_after is not None:
                return failure.retry_after
            return float(backoff(state))

        def before_sleep(state: RetryCallState) -> None:
            failure = state.outcome.exception() if state.outcome else None
            if isinstance(failure, _Retryable):
                self._count(lambda s: s.retries.update([failure.cause]))
                delay = state.upcoming_sleep
                log.warning(
                    "%s: %s; retry %d in %.1f s",
                    what,
                    REDACTOR(failure.detail),
                    state.attempt_number,
                    delay,
                )

        # A 429 is the API asking us to wait, not a failure: like the official SDKs, only
        # real failures (5xx, resets, timeouts, bad bodies, refused tokens) use up
        # retry_attempts, while throttling is bounded by retry_max_time (and each wait by
        # max_retry_after, which classify enforces).
        failures = 0
        out_of_time = stop_before_delay(policy.max_time)

        def stop(state: RetryCallState) -> bool:
            nonlocal failures
            failure = state.outcome.exception() if state.outcome else None
            if not (isinstance(failure, _Retryable) and failure.cause == "429"):
                failures += 1
            return failures >= policy.attempts or bool(out_of_time(state))

        started = time.monotonic()
        retrying = AsyncRetrying(
            stop=stop,
            wait=wait,
            retry=retry_if_exception_type(_Retryable),
            before_sleep=before_sleep,
            reraise=True,
        )
        attempts = 0
        try:
            async for state in retrying:
                with state:
                    attempts = state.retry_state.attempt_number
                    return await attempt()
        except _Retryable as failure:
            elapsed = time.monotonic() - started
            throttled = attempts - failures
            of_them = f" ({throttled} of them rate limited)" if throttled else ""
            raise GenesysUnavailableError(
                f"gave up after {attempts} attempts{of_them} in {elapsed:.1f} s; last failure: "
                f"{REDACTOR(failure.detail)}",
                cause=failure.cause,
                attempts=attempts,
                what=what,
            ) from None
        raise AssertionError("tenacity returned without a result")  # pragma: no cover

    # --- one attempt ----------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        token: Callable[[], Awaitable[str]] | None = None,
        json: Any = None,
        data: Any = None,
        params: Mapping[str, str | list[str]] | None = None,
    ) -> tuple[int, bytes, Mapping[str, str], str | None]:
        """Send once; network trouble becomes ``_Retryable``.

        API calls take a place under the concurrency cap, then from the budget, and only then a
        token, so a request that queued for long never goes out with a token that expired while
        it waited. Token requests (``token`` is None) skip the cap: they are single-flight, and
        an API call holding a place may be the one waiting for the token.
        """
        label = f"{method} {url.split('?')[0]}"
        async with self._slots if token is not None else contextlib.nullcontext():
            await self.budget.acquire()
            bearer = await token() if token is not None else None
            if bearer is not None:
                headers = {**headers, "Authorization": f"Bearer {bearer}"}
            if token is not None:  # token requests have their own counter
                self._count(lambda s: setattr(s, "requests", s.requests + 1))
            try:
                async with self._session.request(
                    method,
                    url,
                    headers=headers,
                    data=orjson.dumps(json) if json is not None else data,
                    params=_params(params),
                    timeout=self._timeout,
                ) as response:
                    raw = await self._read_bounded(response, label)
                    status, response_headers = response.status, response.headers
            except TimeoutError:
                raise _Retryable("timeout", f"{_CAUSES['timeout']} from {label}") from None
            except aiohttp.ClientPayloadError as exc:
                raise _Retryable(
                    "truncated", f"{_CAUSES['truncated']} from {label} ({exc})"
                ) from None
            except aiohttp.ClientConnectionError as exc:
                raise _Retryable(
                    "connection", f"{_CAUSES['connection']} at {label} ({exc})"
                ) from None
            except aiohttp.ClientError as exc:
                # Anything else aiohttp raises (a malformed status line or header, ...) is a
                # garbled answer like a bad body: classified, never escaping unnamed.
                raise _Retryable(
                    "bad_response",
                    f"{_CAUSES['bad_response']} from {label} ({type(exc).__name__})",
                ) from None
        self._count(lambda s: setattr(s, "bytes_received", s.bytes_received + len(raw)))
        await self.budget.observe(response_headers)
        return status, raw, response_headers, bearer

    async def _read_bounded(self, response: aiohttp.ClientResponse, label: str) -> bytes:
        """The body, refused (finally, not retried) once it passes ``max_response_bytes``."""
        limit = self._max_body
        if response.content_length is not None and response.content_length > limit:
            raise self._too_big(response.content_length, label)
        body = bytearray()
        async for chunk in response.content.iter_chunked(1 << 16):
            body += chunk
            if len(body) > limit:
                raise self._too_big(len(body), label)
        return bytes(body)

    def _too_big(self, size: int, label: str) -> GenesysProtocolError:
        return GenesysProtocolError(
            f"{label} answered with more than {self._max_body} bytes ({size} so far; "
            "genesys.max_response_bytes); a smaller page size asks for less",
            what=label,
        )

    async def _token_request(self) -> tuple[int, bytes]:
        """The token endpoint with the same retries; its 4xx answers go back to the caller."""
        url = f"{self.login_url}/oauth/token"
        auth = aiohttp.encode_basic_auth(self._client_id, self._secret.get_secret_value())
        headers = {"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"}

        async def attempt() -> tuple[int, bytes]:
            self._count(lambda s: setattr(s, "token_requests", s.token_requests + 1))
            status, raw, response_headers, _ = await self._send(
                "POST", url, headers=headers, data="grant_type=client_credentials"
            )
            verdict = classify(status, response_headers, self.policy.max_retry_after)
            if verdict.verdict == "retry":
                self._on_throttle(verdict.cause, verdict.retry_after)
                raise _Retryable(
                    verdict.cause,
                    f"{_CAUSES.get(verdict.cause, f'HTTP {status}')} from POST {url}",
                    verdict.retry_after,
                )
            if status == 200 and not _holds_a_token(raw):
                # A cut or garbled 200 is a transport fault, like on the API host.
                raise _Retryable("bad_json", f"{_CAUSES['bad_json']} from POST {url}")
            return status, raw

        try:
            return await self._with_retries(attempt, "token request")
        except GenesysUnavailableError as exc:
            raise GenesysAuthError(str(exc)) from None

    def _on_throttle(self, cause: str, retry_after: float | None) -> None:
        if cause == "429":
            self._count(lambda s: setattr(s, "throttled", s.throttled + 1))
            if retry_after:
                self.budget.pause(retry_after)

    async def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        json: Any = None,
        params: Mapping[str, str | list[str]] | None = None,
    ) -> Response:
        """Call the API; returns a 2xx response or raises a ``GenesysError`` naming ``what``."""
        url = f"{self.api_url}{path}"
        label = f"{method} {path}"
        refused: set[str] = set()

        async def attempt() -> Response:
            headers = {"Accept": "application/json"}
            if json is not None:
                headers["Content-Type"] = "application/json"
            status, raw, response_headers, token = await self._send(
                method, url, headers=headers, token=self.tokens.get, json=json, params=params
            )
            verdict = classify(status, response_headers, self.policy.max_retry_after)
            if verdict.verdict == "ok":
                return Response(status, _parse_ok(raw, label), response_headers)
            # Renew once per refused token: a second refusal of the same token is final, but a
            # token revoked after a renewal is renewed again (within retry_attempts).
            if verdict.verdict == "renew_token" and token is not None and token not in refused:
                refused.add(token)
                self.tokens.invalidate(token)
                raise _Retryable("401", f"{_CAUSES['401']} at {label}; renewing it", 0.0)
            if verdict.verdict == "retry":
                self._on_throttle(verdict.cause, verdict.retry_after)
                description = _CAUSES.get(verdict.cause, f"HTTP {status}")
                raise _Retryable(
                    verdict.cause,
                    f"{description} from {label}{_error_suffix(raw)}",
                    verdict.retry_after,
                )
            if verdict.verdict == "too_long":
                self._count(lambda s: setattr(s, "throttled", s.throttled + 1))
                raise GenesysRateLimitError(
                    f"{label} was rate limited with Retry-After {verdict.retry_after:.0f} s, "
                    f"more than genesys.max_retry_after ({self.policy.max_retry_after:.0f} s); "
                    "a daily quota is probably exhausted",
                    what=what,
                )
            raise _api_error(status, raw, label, what)

        return await self._with_retries(attempt, what)


def _params(params: Mapping[str, str | list[str]] | None) -> list[tuple[str, str]] | None:
    if params is None:
        return None
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        values = value if isinstance(value, list) else [value]
        pairs.extend((key, item) for item in values)
    return pairs


def _parse_ok(raw: bytes, label: str) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _Retryable("bad_json", f"{_CAUSES['bad_json']} from {label}") from None


def _holds_a_token(raw: bytes) -> bool:
    """A cut body may still contain the words "access_token": parse it to be sure."""
    return "access_token" in _genesys_error(raw)


def _genesys_error(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_suffix(raw: bytes) -> str:
    body = _genesys_error(raw)
    code = body.get("code")
    return f" ({code})" if code else ""


def _api_error(status: int, raw: bytes, label: str, what: str) -> GenesysApiError:
    body = _genesys_error(raw)
    text = raw[:200].decode("utf-8", "replace")
    message = str(body.get("message") or text or "no message")
    return GenesysApiError(
        status=status,
        code=str(body.get("code") or "unknown"),
        message=REDACTOR(f"{message} [{label}]"),
        context_id=str(body.get("contextId") or ""),
        what=what,
    )


@contextlib.asynccontextmanager
async def open_client(
    settings: GenesysSettings,
    *,
    api_url: str,
    login_url: str,
    client_id: str,
    client_secret: SecretStr,
) -> AsyncIterator[GenesysClient]:
    """The process's client: one ``aiohttp.ClientSession`` and one budget, made in this loop."""
    connector = aiohttp.TCPConnector(limit=settings.max_concurrency + 2)
    async with aiohttp.ClientSession(connector=connector, raise_for_status=False) as session:
        yield GenesysClient(
            session,
            api_url=api_url,
            login_url=login_url,
            environment=settings.environment,
            client_id=client_id,
            client_secret=client_secret,
            budget=RateBudget(
                settings.requests_per_minute,
                headroom=settings.max_concurrency,
                max_pause=settings.max_retry_after.total_seconds(),
            ),
            max_concurrency=settings.max_concurrency,
            timeout=settings.request_timeout.total_seconds(),
            policy=RetryPolicy.from_settings(settings),
            max_response_bytes=settings.max_response_bytes,
        )
