"""The detail query as a client of the SDK pages through it, shared by the query tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tests.conformance.model_check import outdated
from tests.conformance.oracle import genesys, wire

START, END = "2024-05-01T09:00:00.000Z", "2024-05-01T10:00:00.000Z"
INTERVAL = f"{START}/{END}"
Record = dict[str, Any]


def query_all(
    sdk: Any, page_size: int = 100, interval: str = INTERVAL, pages: int = 0, **fields: Any
) -> tuple[list[Any], list[Any]]:
    """Every page of one query (or its first ``pages``): the SDK's conversations and each
    page's wire body."""
    api = genesys().AnalyticsApi(sdk)
    conversations: list[Any] = []
    bodies: list[Any] = []
    page = 1
    while True:
        body = genesys().ConversationQuery()
        body.interval = interval
        body.paging = genesys().PagingSpec()
        body.paging.page_size, body.paging.page_number = page_size, page
        for name, value in fields.items():
            setattr(body, name, value)
        answer = api.post_analytics_conversations_details_query(body)
        bodies.append(wire(sdk))
        assert outdated(answer) == []
        got = answer.conversations or []
        conversations.extend(got)
        if page == pages:
            return conversations, bodies
        if len(got) < page_size:
            total = answer.total_hits
            assert total == len(conversations), "totalHits is the number the pages add up to"
            return conversations, bodies
        page += 1


def sessions(record: Record) -> Iterator[tuple[Record, Record]]:
    for participant in record["participants"]:
        for session in participant["sessions"]:
            yield participant, session


def predicate(
    family: str,
    name: str,
    value: str | None = None,
    operator: str = "matches",
    kind: str = "dimension",
) -> Any:
    """A ``{family}DetailQueryPredicate`` of the SDK on the dimension or metric ``name``."""
    made = getattr(genesys(), f"{family}DetailQueryPredicate")()
    made.type, made.operator = kind, operator
    setattr(made, kind, name)
    if value is not None:
        made.value = value
    return made


def detail_filter(
    model: str, kind: str, predicates: list[Any], clauses: list[Any] | None = None
) -> Any:
    spec = getattr(genesys(), model)()
    spec.type, spec.predicates = kind, predicates
    if clauses:
        spec.clauses = clauses
    return spec
