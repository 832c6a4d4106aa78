"""The aggregates query (reference §6): a typed body built from a report, and its answer read
into plain values, through the client's one budget and retry policy.

Genesys' Queue and Agent Performance views are built on this endpoint, which is why a report's
interval-grain numbers can be reconciled with it (report-semantics §7).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.errors import GenesysProtocolError
from app.genesys.client import GenesysClient
from app.settings import ReportFilters

__all__ = [
    "AGGREGATES_PATH",
    "AggregateFilter",
    "AggregateQuery",
    "AggregateValue",
    "aggregate_query",
    "query_aggregates",
    "read_aggregates",
]

AGGREGATES_PATH = "/api/v2/analytics/conversations/aggregates/query"

# The report's simple filter forms, by the aggregates dimension each one means (§1 of
# report-semantics: the forms are ANDed, the values of one form ORed).
_FORMS = (
    ("media_types", "mediaType"),
    ("queue_ids", "queueId"),
    ("wrapup_codes", "wrapUpCode"),
    ("user_ids", "userId"),
    ("directions", "originatingDirection"),
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AggregatePredicate(_Body):
    type: Literal["dimension"] = "dimension"
    dimension: str
    value: str


class AggregateClause(_Body):
    type: Literal["and", "or"]
    predicates: list[AggregatePredicate] = Field(min_length=1)


class AggregateFilter(_Body):
    """``ConversationAggregateQueryFilter``: the detail query's grammar, dimensions only."""

    type: Literal["and", "or"]
    clauses: list[AggregateClause] = []
    predicates: list[AggregatePredicate] = []


class AggregateQuery(_Body):
    """``ConversationAggregationQuery``, the body of ``AGGREGATES_PATH``."""

    interval: str
    metrics: list[str] = Field(min_length=1)
    granularity: str | None = None
    timeZone: str | None = None
    groupBy: list[str] = []
    filter: AggregateFilter | None = None

    def body(self) -> dict[str, Any]:
        """The JSON body: unset optional fields and empty lists left out."""
        body = self.model_dump(exclude_none=True)
        if not self.groupBy:
            body.pop("groupBy")
        if self.filter is not None:
            body["filter"] = {k: v for k, v in body["filter"].items() if v != []}
        return body


def aggregate_query(
    filters: ReportFilters,
    *,
    interval: str,
    metrics: list[str],
    group_by: list[str],
    granularity: str | None = None,
    time_zone: str | None = None,
) -> AggregateQuery:
    """The aggregates body for a report's simple filters. Raw segment and conversation filters
    and ``exclude_ongoing`` have no aggregates form: a caller must not pretend to compare a
    report that uses them (``ValueError``)."""
    if filters.segment_filters or filters.conversation_filters or filters.exclude_ongoing:
        raise ValueError(
            "the report's segment_filters, conversation_filters or exclude_ongoing have no "
            "aggregates-query form"
        )
    clauses = [
        AggregateClause(
            type="or",
            predicates=[AggregatePredicate(dimension=dimension, value=v) for v in values],
        )
        for name, dimension in _FORMS
        if (values := list(getattr(filters, name)))
    ]
    return AggregateQuery(
        interval=interval,
        metrics=metrics,
        granularity=granularity,
        timeZone=time_zone,
        groupBy=group_by,
        filter=AggregateFilter(type="and", clauses=clauses) if clauses else None,
    )


@dataclass(frozen=True, slots=True)
class AggregateValue:
    """One metric's statistics in one group and bucket of the answer."""

    group: tuple[tuple[str, str], ...]  # (dimension, value), sorted by dimension
    interval: str
    metric: str
    stats: dict[str, float | int]


def read_aggregates(body: Any, *, what: str) -> list[AggregateValue]:
    """The answer's ``results[] {group, data[] {interval, metrics[] {metric, stats}}}`` as
    values; a shape the contract does not allow is a ``GenesysProtocolError`` naming ``what``."""
    if not isinstance(body, dict):
        raise GenesysProtocolError("the aggregates answer is not an object", what=what)
    results = body.get("results", [])  # no results at all: nothing was counted
    if not isinstance(results, list):
        raise GenesysProtocolError("the aggregates answer's results is not a list", what=what)
    values = []
    for result in results:
        group = result.get("group", {}) if isinstance(result, dict) else None
        data = result.get("data", []) if isinstance(result, dict) else None
        if not isinstance(group, dict) or not isinstance(data, list):
            raise GenesysProtocolError("an aggregates result has no group or data", what=what)
        key = tuple(sorted((str(k), str(v)) for k, v in group.items()))
        for bucket in data:
            if not isinstance(bucket, dict) or not isinstance(bucket.get("interval"), str):
                raise GenesysProtocolError("an aggregates bucket has no interval", what=what)
            for entry in bucket.get("metrics") or []:
                values.append(_value(key, bucket["interval"], entry, what))
    return values


def _value(
    group: tuple[tuple[str, str], ...], interval: str, entry: Any, what: str
) -> AggregateValue:
    metric = entry.get("metric") if isinstance(entry, dict) else None
    stats = entry.get("stats") if isinstance(entry, dict) else None
    if not isinstance(metric, str) or not isinstance(stats, dict):
        raise GenesysProtocolError("an aggregates metric has no name or stats", what=what)
    numbers = {
        name: value
        for name, value in stats.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
    return AggregateValue(group, interval, metric, numbers)


async def query_aggregates(
    client: GenesysClient, query: AggregateQuery, *, what: str
) -> list[AggregateValue]:
    """Ask the aggregates API (one request, the client's budget and retries)."""
    response = await client.request("POST", AGGREGATES_PATH, json=query.body(), what=what)
    return read_aggregates(response.body, what=what)
