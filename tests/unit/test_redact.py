"""The redactor (issue 13, item 2): every spelling of a known secret, presigned-link signatures,
short secrets, and a bounded set of tokens."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote

import pytest

from app.logs import configure_logging
from app.redact import MASK, Redactor, without_urls

SECRET = 'se"cr\\et/with+odd=chars&more'
LINK = (
    "http://127.0.0.1:9000/reports/queue-daily/2024-05-01/queue-daily_2024-05-01.csv"
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20240501%2Fus-east-1"
    "&X-Amz-Date=20240501T060000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)


@pytest.mark.parametrize(
    "spelling",
    [
        SECRET,
        json.dumps(SECRET)[1:-1],  # inside a JSON document
        repr(SECRET)[1:-1],  # inside repr() of a dict or an exception's args
        quote(SECRET, safe=""),  # in a URL
    ],
)
def test_every_spelling_of_a_known_secret_is_masked(spelling: str) -> None:
    redactor = Redactor()
    redactor.add(SECRET)
    text = f"failed: {{'secret': '{spelling}'}} end"
    assert spelling not in redactor(text)
    assert MASK in redactor(text) and redactor(text).endswith(" end")


def test_presigned_signatures_and_credentials_are_masked_even_when_never_registered() -> None:
    redacted = Redactor()(f"check failed at {LINK} (and encoded: {quote(LINK, safe='')})")
    assert "0123456789abcdef" not in redacted
    assert "AKIAEXAMPLE" not in redacted
    assert "queue-daily_2024-05-01.csv" in redacted  # the key stays: it is what to look for


def test_short_secrets_are_masked_where_they_stand_alone() -> None:
    redactor = Redactor()
    redactor.add("pw42")
    assert redactor("password pw42, again 'pw42'") == f"password {MASK}, again '{MASK}'"
    assert redactor("xpw42y keeps ordinary words whole") == "xpw42y keeps ordinary words whole"


def test_tokens_are_bounded_to_the_most_recent() -> None:
    redactor = Redactor(max_tokens=4)
    redactor.add("a-long-lived-client-secret")
    tokens = [f"token-number-{n:04d}-abcdefgh" for n in range(10)]
    for token in tokens:
        redactor.add_token(token)
    assert redactor.known == 5  # the secret and four tokens
    assert redactor(tokens[-1]) == MASK
    assert redactor("a-long-lived-client-secret") == MASK  # secrets are never dropped
    assert redactor(tokens[0]) == tokens[0]  # long expired, no longer tracked


def test_without_urls_keeps_host_and_path_only() -> None:
    text = without_urls(
        f"Connection timeout to host {LINK}; see https://user:pw@hooks.example/x?k=v"
    )
    assert "X-Amz" not in text and "user" not in text and "pw@" not in text
    assert "http://127.0.0.1:9000/reports/queue-daily/2024-05-01/" in text
    assert "https://hooks.example/x" in text


def test_botocore_debug_is_silenced_when_the_app_logs_at_debug() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("DEBUG", json_lines=True)
        assert not logging.getLogger("botocore.signers").isEnabledFor(logging.DEBUG)
        assert not logging.getLogger("aiobotocore.client").isEnabledFor(logging.DEBUG)
        assert logging.getLogger("app.delivery").isEnabledFor(logging.DEBUG)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name in ("botocore", "aiobotocore", "boto3", "s3transfer", "urllib3"):
            logging.getLogger(name).setLevel(logging.NOTSET)
