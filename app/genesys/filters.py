"""Typed Genesys filter grammar (reference §4.2), checked against the API's names.

Reports may pass raw ``segmentFilters`` / ``conversationFilters`` through; these models check
them at start-up, so a misspelt dimension is a ``check-config`` error rather than a 400 at 2 a.m.
Field names are the API's own (camelCase), so ``model_dump`` is the request body.
"""

from __future__ import annotations

import difflib
from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app import vocabulary

FilterType = Literal["and", "or"]
Operator = Literal["matches", "exists", "notExists"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> Range:
        if self.gt is None and self.gte is None and self.lt is None and self.lte is None:
            raise ValueError("a range needs at least one of gt, gte, lt, lte")
        return self


_DATE_DIMENSIONS = frozenset(
    {
        "conversationStart",
        "conversationEnd",
        "segmentStart",
        "segmentEnd",
        "callbackScheduledTime",
        "eventTime",
        "surveyCompletedDate",
    }
)


def _check_date_value(value: str) -> None:
    """A date dimension matches an ISO-8601 instant or an ``start/end`` interval of them."""
    moments = []
    for part in value.split("/") if value.count("/") == 1 else [value]:
        try:
            moment = datetime.fromisoformat(part.strip().replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise ValueError(
                f"'{value}' is not an ISO-8601 instant with an offset, or an interval of two"
            )
        moments.append(moment)
    if len(moments) == 2 and moments[1] <= moments[0]:
        raise ValueError(f"the interval '{value}' ends before or when it starts")


def _unknown(kind: str, name: str, allowed: frozenset[str]) -> ValueError:
    hint = difflib.get_close_matches(name, sorted(allowed), n=1)
    suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
    return ValueError(f"'{name}' is not a {kind}{suggestion}")


class _Predicate(_Strict):
    _family: ClassVar[str]
    _dimensions: ClassVar[frozenset[str]]
    _metrics: ClassVar[frozenset[str]]
    _properties: ClassVar[bool] = False

    type: Literal["dimension", "property", "metric"] | None = None
    dimension: str | None = None
    metric: str | None = None
    operator: Operator | None = None
    value: str | None = None
    range: Range | None = None

    @model_validator(mode="after")
    def _check(self) -> _Predicate:
        fields = {name: getattr(self, name, None) for name in ("dimension", "metric", "property")}
        given = [name for name, value in fields.items() if value is not None]
        if len(given) != 1:
            raise ValueError("a predicate names exactly one of dimension, metric or property")
        kind = given[0]
        if self.type is not None and self.type != kind:
            raise ValueError(f"type '{self.type}' does not match the {kind} field it names")
        name = str(fields[kind])
        if kind == "dimension" and name not in self._dimensions:
            raise _unknown(f"{self._family} dimension", name, self._dimensions)
        if kind == "metric" and name not in self._metrics:
            raise _unknown(f"{self._family} metric", name, self._metrics)
        operator = self.operator or "matches"
        if operator == "matches" and (self.value is None) == (self.range is None):
            raise ValueError("'matches' needs exactly one of value or range")
        if operator != "matches" and (self.value is not None or self.range is not None):
            raise ValueError(f"'{operator}' takes no value or range")
        if kind == "dimension" and name in _DATE_DIMENSIONS and self.value is not None:
            _check_date_value(self.value)
        allowed = vocabulary.ENUM_DIMENSIONS.get(name) if kind == "dimension" else None
        if allowed is not None and self.value is not None and self.value not in allowed:
            raise _unknown(f"value of {name}", self.value, allowed)
        return self


class SegmentPredicate(_Predicate):
    _family = "segment"
    _dimensions = vocabulary.SEGMENT_DIMENSIONS
    _metrics = vocabulary.SEGMENT_METRICS
    _properties = True

    property: str | None = None
    propertyType: Literal["bool", "integer", "real", "date", "string", "uuid"] | None = None

    @model_validator(mode="after")
    def _property_type(self) -> SegmentPredicate:
        if (self.property is None) != (self.propertyType is None):
            raise ValueError("a property predicate needs both property and propertyType")
        if self.propertyType == "date" and self.value is not None:
            _check_date_value(self.value)
        return self


class ConversationPredicate(_Predicate):
    _family = "conversation"
    _dimensions = vocabulary.CONVERSATION_DIMENSIONS
    _metrics = vocabulary.CONVERSATION_METRICS


class SegmentClause(_Strict):
    type: FilterType
    predicates: list[SegmentPredicate] = Field(min_length=1)


class ConversationClause(_Strict):
    type: FilterType
    predicates: list[ConversationPredicate] = Field(min_length=1)


class SegmentFilter(_Strict):
    type: FilterType
    predicates: list[SegmentPredicate] = []
    clauses: list[SegmentClause] = []

    @model_validator(mode="after")
    def _not_empty(self) -> SegmentFilter:
        if not self.predicates and not self.clauses:
            raise ValueError("a filter needs predicates or clauses")
        return self


class ConversationFilter(_Strict):
    type: FilterType
    predicates: list[ConversationPredicate] = []
    clauses: list[ConversationClause] = []

    @model_validator(mode="after")
    def _not_empty(self) -> ConversationFilter:
        if not self.predicates and not self.clauses:
            raise ValueError("a filter needs predicates or clauses")
        return self


def any_of_segment(dimension: str, values: list[str]) -> SegmentFilter:
    """``dimension`` matches any of ``values`` (an ``or`` filter)."""
    return SegmentFilter(
        type="or",
        predicates=[
            SegmentPredicate(type="dimension", dimension=dimension, operator="matches", value=v)
            for v in values
        ],
    )


def any_of_conversation(dimension: str, values: list[str]) -> ConversationFilter:
    return ConversationFilter(
        type="or",
        predicates=[
            ConversationPredicate(
                type="dimension", dimension=dimension, operator="matches", value=v
            )
            for v in values
        ],
    )
