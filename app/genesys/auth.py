"""OAuth client-credentials tokens (reference §1): fetched from the *login* host with Basic auth,
cached, renewed before they expire, and fetched once however many requests need one at a time.

The renewal margin scales with the lifetime (a tenth of it, at most 10 minutes): a fixed 60 s
margin is a fifth of a 5-minute token and a needless sliver of a 48-hour one. There is no
refresh token in this grant; renewing means asking again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson

from app.errors import GenesysAuthError
from app.redact import REDACTOR

log = logging.getLogger(__name__)

MAX_MARGIN_SECONDS = 600.0


def renewal_margin(lifetime_seconds: float) -> float:
    return min(lifetime_seconds * 0.1, MAX_MARGIN_SECONDS)


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    expires_at: float  # time.monotonic()
    renew_at: float


# (status, body, headers) of the token request; the client supplies it with its retries.
TokenRequest = Callable[[], Awaitable[tuple[int, bytes]]]


class TokenManager:
    def __init__(
        self,
        request: TokenRequest,
        *,
        environment: str,
        client_id: str,
        login_url: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._request = request
        self._environment = environment
        self._client_id = client_id
        self._login_url = login_url
        self._clock = clock
        self._token: Token | None = None
        self._lock = asyncio.Lock()
        self.fetched = 0

    def _fresh(self) -> Token | None:
        token = self._token
        return token if token is not None and self._clock() < token.renew_at else None

    async def get(self) -> str:
        """A valid access token; at most one token request is in flight at any time."""
        token = self._fresh()
        if token is not None:
            return token.value
        async with self._lock:
            token = self._fresh()
            if token is None:
                token = await self._fetch()
                self._token = token
            return token.value

    def invalidate(self, value: str) -> None:
        """Forget ``value`` after the API refused it (a 401), unless already replaced."""
        if self._token is not None and self._token.value == value:
            self._token = None

    def _error(self, detail: str) -> GenesysAuthError:
        return GenesysAuthError(
            f"no access token for client id '{self._client_id}' in environment "
            f"{self._environment} ({self._login_url}/oauth/token): {detail}"
        )

    async def _fetch(self) -> Token:
        status, raw = await self._request()
        self.fetched += 1
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        if status != 200 or not isinstance(body, dict) or "access_token" not in body:
            error = body.get("error") if isinstance(body, dict) else None
            description = body.get("error_description") if isinstance(body, dict) else None
            hint = ""
            if error == "invalid_client":
                hint = (
                    "; check the client id and secret, and that the org lives in this "
                    "environment (tokens come from its own login host)"
                )
            detail = f"HTTP {status}" + (f" {error}" if error else "")
            detail += f" ({description})" if description else ""
            raise self._error(REDACTOR(detail + hint))
        value = str(body["access_token"])
        REDACTOR.add_token(value)
        try:
            lifetime = float(body.get("expires_in", 0))
        except (TypeError, ValueError):
            lifetime = 0.0
        if lifetime <= 0:
            raise self._error("the token response has no usable expires_in")
        now = self._clock()
        log.info("access token obtained; valid for %.0f s", lifetime)
        return Token(value, now + lifetime, now + lifetime - renewal_margin(lifetime))
