"""Keep secrets and tokens out of every log line and error message.

Known secret values (the client secret, each access token as it is issued) are registered with
the process's ``Redactor``; anything that looks like a bearer token or an OAuth token field is
scrubbed too, so a secret we never saw (one in an upstream error body) is still caught.
``RedactingFilter`` applies it to every log record, whatever the level.
"""

from __future__ import annotations

import logging
import re
from typing import Final

MASK: Final = "***"
_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/=]+"),
    re.compile(
        r"""(?i)(["']?(?:access_token|client_secret|password)["']?\s*[:=]\s*["']?)[^"'\s,&}]+"""
    ),
)


class Redactor:
    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, secret: str | None) -> None:
        # Very short values would mask ordinary words; real secrets and tokens are long.
        if secret and len(secret) >= 6:
            self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
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
