"""OAuth client credentials and bearer tokens of the sandbox (reference §1)."""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class Token:
    value: str
    label: str  # "t1", "t2", ...: what the request log shows instead of the token itself
    client_id: str
    issued_at: float  # time.monotonic()
    expires_at: float
    revoked: bool = False

    def valid(self, now: float) -> bool:
        return not self.revoked and now < self.expires_at


@dataclass(slots=True)
class TokenStore:
    client_id: str
    client_secret: str
    lifetime_seconds: float
    _tokens: dict[str, Token] = field(default_factory=dict)
    issued: int = 0

    def check_client(self, client_id: str, client_secret: str) -> bool:
        return secrets.compare_digest(client_id, self.client_id) and secrets.compare_digest(
            client_secret, self.client_secret
        )

    def issue(self) -> Token:
        self.issued += 1
        now = time.monotonic()
        token = Token(
            value=secrets.token_urlsafe(32),
            label=f"t{self.issued}",
            client_id=self.client_id,
            issued_at=now,
            expires_at=now + self.lifetime_seconds,
        )
        self._tokens[token.value] = token
        return token

    def lookup(self, value: str) -> Token | None:
        """The token if it is valid now, else None."""
        token = self._tokens.get(value)
        return token if token is not None and token.valid(time.monotonic()) else None

    def revoke(self, value: str) -> None:
        token = self._tokens.get(value)
        if token is not None:
            token.revoked = True

    def issued_values(self) -> list[str]:
        """Every token ever issued (for tests that prove none leaked into logs)."""
        return list(self._tokens)

    def revoke_all(self) -> None:
        for token in self._tokens.values():
            token.revoked = True

    def expire_all(self) -> None:
        """Make every issued token expired, as if its lifetime had passed."""
        now = time.monotonic()
        for token in self._tokens.values():
            token.expires_at = min(token.expires_at, now)


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(client_id, client_secret) from an ``Authorization: Basic`` header, or None."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, client_secret = decoded.partition(":")
    return (client_id, client_secret) if sep else None


def bearer_token(header: str | None) -> str | None:
    if not header or not header.lower().startswith("bearer "):
        return None
    return header[7:].strip() or None
