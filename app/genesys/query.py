"""Typed request bodies of the detail query and async jobs (reference §4.1, §5.1), built from a
report's ``filters``.

Simple forms become predicates: several values of one form are ``or``-ed in one filter, and the
forms (and any raw filters) are separate entries, which Genesys combines with ``and``.
"""

from __future__ import annotations

from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from app.genesys.filters import (
    ConversationFilter,
    ConversationPredicate,
    SegmentFilter,
    any_of_conversation,
    any_of_segment,
)
from app.models import Window
from app.settings import ReportFilters


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def body(self) -> dict[str, Any]:
        """The JSON body: unset optional fields and empty lists left out, at every depth."""
        return cast(dict[str, Any], _prune(self.model_dump(exclude_none=True)))


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _prune(v) for k, v in value.items() if v != []}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


class Paging(_Body):
    pageSize: int = Field(ge=1)
    pageNumber: int = Field(ge=1)


class ConversationQuery(_Body):
    """``POST /api/v2/analytics/conversations/details/query``."""

    interval: str
    order: Literal["asc", "desc", "unordered"] = "asc"
    orderBy: Literal["conversationStart", "conversationEnd", "segmentStart", "segmentEnd"] = (
        "conversationStart"
    )
    paging: Paging | None = None
    segmentFilters: list[SegmentFilter] = []
    conversationFilters: list[ConversationFilter] = []

    def page(self, number: int, size: int) -> ConversationQuery:
        return self.model_copy(update={"paging": Paging(pageSize=size, pageNumber=number)})


class AsyncConversationQuery(_Body):
    """``POST /api/v2/analytics/conversations/details/jobs`` (no paging: results use a cursor)."""

    interval: str
    order: Literal["asc", "desc", "unordered"] = "asc"
    orderBy: Literal["conversationStart", "conversationEnd", "segmentStart", "segmentEnd"] = (
        "conversationStart"
    )
    segmentFilters: list[SegmentFilter] = []
    conversationFilters: list[ConversationFilter] = []
    startOfDayIntervalMatching: bool | None = None


def report_filters(
    filters: ReportFilters,
) -> tuple[list[SegmentFilter], list[ConversationFilter]]:
    """Segment and conversation filters for a report's ``filters`` setting."""
    segment: list[SegmentFilter] = []
    conversation: list[ConversationFilter] = []
    for dimension, values in (
        ("mediaType", filters.media_types),
        ("queueId", filters.queue_ids),
        ("wrapUpCode", filters.wrapup_codes),
        ("userId", filters.user_ids),
    ):
        if values:
            segment.append(any_of_segment(dimension, values))
    if filters.directions:
        conversation.append(any_of_conversation("originatingDirection", list(filters.directions)))
    if filters.exclude_ongoing:
        # Genesys' own advice for closed data (reference §10).
        conversation.append(
            ConversationFilter(
                type="and",
                predicates=[
                    ConversationPredicate(
                        type="dimension", dimension="conversationEnd", operator="exists"
                    )
                ],
            )
        )
    return segment + list(filters.segment_filters), conversation + list(
        filters.conversation_filters
    )


def details_query(filters: ReportFilters, window: Window) -> ConversationQuery:
    segment, conversation = report_filters(filters)
    return ConversationQuery(
        interval=window.interval, segmentFilters=segment, conversationFilters=conversation
    )


def job_query(filters: ReportFilters, window: Window) -> AsyncConversationQuery:
    segment, conversation = report_filters(filters)
    return AsyncConversationQuery(
        interval=window.interval, segmentFilters=segment, conversationFilters=conversation
    )
