"""Conformance (issue 16): bodies the API refuses, sent as the SDK builds them: each answer is a
Genesys-shaped 400 whose body fits the SDK's ``ErrorBody`` and names the field at fault."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.conformance.model_check import problems
from tests.conformance.oracle import genesys
from tests.conformance.queries import detail_filter, predicate

GOOD_INTERVAL = "2024-05-01T09:00:00.000Z/2024-05-01T10:00:00.000Z"


def _query(interval: str = GOOD_INTERVAL, **fields: Any) -> Any:
    body = genesys().ConversationQuery()
    body.interval = interval
    for name, value in fields.items():
        setattr(body, name, value)
    return body


def _paging(size: int) -> Any:
    paging = genesys().PagingSpec()
    paging.page_size, paging.page_number = size, 1
    return paging


def _segment_filter(dimension: str, value: str) -> list[Any]:
    spec = predicate("Segment", dimension, value)
    return [detail_filter("SegmentDetailQueryFilter", "and", [spec])]


# (what is wrong, the body, the code, words the message must hold)
CASES: list[tuple[str, Callable[[], Any], str, str]] = [
    (
        "the interval ends before it starts",
        lambda: _query("2024-05-01T10:00:00.000Z/2024-05-01T09:00:00.000Z"),
        "bad.request",
        "interval",
    ),
    (
        "an instant that is not a date",
        lambda: _query("2024-13-01T09:00:00.000Z/2024-13-01T10:00:00.000Z"),
        "invalid.date",
        "interval",
    ),
    (
        "eight days without a filter",
        lambda: _query("2024-05-01T00:00:00.000Z/2024-05-09T00:00:00.000Z"),
        "bad.request",
        "interval",
    ),
    (
        "a page larger than the API allows",
        lambda: _query(paging=_paging(1000)),
        "bad.request",
        "paging",
    ),
    (
        # The SDK sends a dimension it does not know as its placeholder, and Genesys refuses it.
        "a dimension the SDK does not know",
        lambda: _query(segment_filters=_segment_filter("queueName", "Sales")),
        "invalid.value",
        "segmentFilters[0].predicates[0].dimension",
    ),
    (
        "a media type that does not exist",
        lambda: _query(segment_filters=_segment_filter("mediaType", "pigeon")),
        "invalid.value",
        "segmentFilters[0].predicates[0].value",
    ),
    (
        "an order the SDK does not know",
        lambda: _query(order="sideways"),
        "invalid.value",
        "order",
    ),
]


@pytest.mark.parametrize(("wrong", "body", "code", "names"), CASES, ids=[c[0] for c in CASES])
def test_a_refused_body_is_a_genesys_400_that_fits_error_body(
    sdk: Any, wrong: str, body: Callable[[], Any], code: str, names: str
) -> None:
    api = genesys().AnalyticsApi(sdk)
    with pytest.raises(genesys().rest.ApiException) as refused:
        api.post_analytics_conversations_details_query(body())
    assert refused.value.status == 400
    answer = json.loads(refused.value.body)
    assert problems(answer, "ErrorBody") == []
    assert answer["code"] == code and answer["status"] == 400
    assert names in answer["message"], answer["message"]
