"""Keep secrets and tokens out of every log line and error message.

Known secret values are registered with the process's ``Redactor``: the client secret, the S3
secret key and webhook URLs for as long as the process lives (``add``), access tokens as they
are issued (``add_token``, the most recent ``MAX_TOKENS`` only: a token older than that has long
expired, and a set that grew with every renewal would slow each log line of a long ``serve``).
Each is also caught as it appears inside JSON, in a ``repr()`` and URL-encoded. Anything that
looks like a bearer token, an OAuth token field or a presigned link's signature or credential is
scrubbed too, so a secret we never saw (one in an upstream error body) is still caught.
``RedactingFilter`` applies it to every log record, whatever the level; ``without_urls`` is for
error texts that must name a bucket and key, never a link.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from typing import Final
from urllib.parse import quote, quote_plus

import orjson

MASK: Final = "***"
MAX_TOKENS: Final = 32
# Below this a secret is only masked where it stands alone (not inside a longer word), so a
# short value cannot turn every ordinary word containing it into asterisks.
_SHORT = 8
_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/=]+"),
    # Not after a dot: "genesys.client_secret: environment variable X is not set" names a
    # setting, it does not hold one.
    re.compile(
        r"""(?i)(?<![.\w])(["']?(?:access_token|client_secret|password)["']?\s*[:=]\s*["']?)"""
        r"""[^"'\s,&}]+"""
    ),
    # A presigned link's signature and credential (SigV4 and SigV2), also URL-encoded.
    re.compile(
        r"(?i)((?:X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Signature|AWSAccessKeyId)"
        r"(?:=|%3D))[^&\s\"'<>]+"
    ),
)
_URL = re.compile(r"""(?i)\b[a-z][a-z0-9+.-]*://[^\s"'<>]+""")


def without_urls(text: str) -> str:
    """``text`` with every URL cut to its scheme, host and path (no query, no user info)."""

    def shorten(match: re.Match[str]) -> str:
        url = match.group(0)
        scheme, _, rest = url.partition("://")
        rest = rest.split("?", 1)[0].split("#", 1)[0]
        authority, slash, path = rest.partition("/")
        host = authority.rsplit("@", 1)[-1]
        return f"{scheme}://{host}{slash}{path}"

    return _URL.sub(shorten, text)


def _forms(secret: str) -> set[str]:
    """The spellings a secret takes in logs and error texts."""
    return {
        secret,
        orjson.dumps(secret).decode()[1:-1],  # inside a JSON string
        repr(secret)[1:-1],  # inside a repr(), e.g. of a dict or an exception's args
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
    }


class Redactor:
    def __init__(self, max_tokens: int = MAX_TOKENS) -> None:
        self._secrets: set[str] = set()
        self._tokens: OrderedDict[str, None] = OrderedDict()
        self._max_tokens = max_tokens
        self._compiled: re.Pattern[str] | None = None

    def add(self, secret: str | None) -> None:
        """A secret for the life of the process (client secret, S3 key, webhook URL)."""
        if secret and secret not in self._secrets:
            self._secrets.add(secret)
            self._compiled = None

    def add_token(self, token: str | None) -> None:
        """An access token: kept among the ``max_tokens`` most recent."""
        if not token:
            return
        if token in self._tokens:
            self._tokens.move_to_end(token)
            return
        self._tokens[token] = None
        while len(self._tokens) > self._max_tokens:
            self._tokens.popitem(last=False)
        self._compiled = None

    @property
    def known(self) -> int:
        """How many values are masked by name (for tests and diagnostics)."""
        return len(self._secrets) + len(self._tokens)

    def _pattern(self) -> re.Pattern[str] | None:
        if self._compiled is None:
            forms = {form for value in (*self._secrets, *self._tokens) for form in _forms(value)}
            # Longest first, so a secret containing another is masked whole.
            alternatives = [
                re.escape(form)
                if len(form) >= _SHORT
                else rf"(?<![A-Za-z0-9]){re.escape(form)}(?![A-Za-z0-9])"
                for form in sorted(forms, key=len, reverse=True)
                if form
            ]
            self._compiled = re.compile("|".join(alternatives)) if alternatives else None
        return self._compiled

    def __call__(self, text: str) -> str:
        pattern = self._pattern()
        if pattern is not None:
            text = pattern.sub(MASK, text)
        for fixed in _PATTERNS:
            text = fixed.sub(lambda m: m.group(1) + MASK, text)
        return text


REDACTOR: Final = Redactor()


class RedactingFilter(logging.Filter):
    """Render each record's message, redact it, and freeze it (args cleared)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = REDACTOR(record.getMessage())
        record.msg, record.args = message, None
        if record.exc_info and record.exc_info[1] is not None:
            # Formatting the traceback later would bypass us: render and redact it now.
            formatter = logging.Formatter()
            record.exc_text = REDACTOR(formatter.formatException(record.exc_info))
            record.exc_info = None
        return True
