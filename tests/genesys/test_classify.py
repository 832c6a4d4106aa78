"""Response classification, as a table (STYLE practice 6)."""

from __future__ import annotations

import pytest

from app.genesys.classify import classify, retry_after_seconds


@pytest.mark.parametrize(
    ("status", "headers", "verdict", "cause", "retry_after"),
    [
        (200, {}, "ok", "200", None),
        (202, {}, "ok", "202", None),
        (204, {}, "ok", "204", None),
        (429, {"Retry-After": "42"}, "retry", "429", 42.0),
        (429, {}, "retry", "429", None),
        (429, {"Retry-After": "3600"}, "too_long", "429", 3600.0),
        (429, {"Retry-After": "soon"}, "retry", "429", None),
        (500, {}, "retry", "500", None),
        (502, {}, "retry", "502", None),
        (503, {"Retry-After": "5"}, "retry", "503", 5.0),
        (504, {}, "retry", "504", None),
        (501, {}, "fail", "501", None),
        (400, {}, "fail", "400", None),
        (403, {}, "fail", "403", None),
        (404, {}, "fail", "404", None),
        (408, {}, "fail", "408", None),
        (401, {}, "renew_token", "401", None),
    ],
)
def test_classification(
    status: int, headers: dict[str, str], verdict: str, cause: str, retry_after: float | None
) -> None:
    result = classify(status, headers, max_retry_after=180)
    assert (result.verdict, result.cause, result.retry_after) == (verdict, cause, retry_after)


def test_retry_after_is_read_case_insensitively_from_plain_dicts() -> None:
    assert retry_after_seconds({"retry-after": "7"}) == 7.0
    assert retry_after_seconds({"Retry-After": "-3"}) == 0.0
