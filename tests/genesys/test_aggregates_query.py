"""The aggregates query body (reference §6.1) built from a report's filters, and its answer
(§6.2) read into values: pure, no network."""

from __future__ import annotations

from typing import Any

import pytest

from app.errors import GenesysProtocolError
from app.genesys.aggregates import AggregateValue, aggregate_query, read_aggregates
from app.settings import ReportFilters

Q1 = "a1000000-0000-4000-8000-000000000001"
Q2 = "a2000000-0000-4000-8000-000000000002"
INTERVAL = "2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z"


def test_simple_filter_forms_are_anded_and_their_values_ored() -> None:
    filters = ReportFilters(
        media_types=["voice", "callback"], queue_ids=[Q1, Q2], directions=["inbound"]
    )
    query = aggregate_query(
        filters,
        interval=INTERVAL,
        metrics=["nOffered", "tHandle"],
        group_by=["queueId"],
        granularity="PT30M",
        time_zone="Europe/Berlin",
    )
    assert query.body() == {
        "interval": INTERVAL,
        "metrics": ["nOffered", "tHandle"],
        "granularity": "PT30M",
        "timeZone": "Europe/Berlin",
        "groupBy": ["queueId"],
        "filter": {
            "type": "and",
            "clauses": [
                {
                    "type": "or",
                    "predicates": [
                        {"type": "dimension", "dimension": "mediaType", "value": "voice"},
                        {"type": "dimension", "dimension": "mediaType", "value": "callback"},
                    ],
                },
                {
                    "type": "or",
                    "predicates": [
                        {"type": "dimension", "dimension": "queueId", "value": Q1},
                        {"type": "dimension", "dimension": "queueId", "value": Q2},
                    ],
                },
                {
                    "type": "or",
                    "predicates": [
                        {
                            "type": "dimension",
                            "dimension": "originatingDirection",
                            "value": "inbound",
                        }
                    ],
                },
            ],
        },
    }


def test_no_filters_and_no_grouping_leave_those_fields_out() -> None:
    query = aggregate_query(ReportFilters(), interval=INTERVAL, metrics=["tAnswered"], group_by=[])
    assert query.body() == {"interval": INTERVAL, "metrics": ["tAnswered"]}


@pytest.mark.parametrize(
    "filters",
    [
        ReportFilters(exclude_ongoing=True),
        ReportFilters.model_validate(
            {
                "segment_filters": [
                    {"type": "and", "predicates": [{"dimension": "purpose", "value": "acd"}]}
                ]
            }
        ),
    ],
)
def test_filters_without_an_aggregates_form_are_refused(filters: ReportFilters) -> None:
    with pytest.raises(ValueError, match="no aggregates-query form"):
        aggregate_query(filters, interval=INTERVAL, metrics=["tAnswered"], group_by=[])


def test_the_answer_becomes_one_value_per_group_bucket_and_metric() -> None:
    answer = {
        "results": [
            {
                "group": {"queueId": Q1, "mediaType": "voice"},
                "data": [
                    {
                        "interval": INTERVAL,
                        "metrics": [
                            {"metric": "tHandle", "stats": {"count": 2, "sum": 700, "max": 400}},
                            {"metric": "nOffered", "stats": {"count": 3}},
                        ],
                    }
                ],
            },
            {"group": {}, "data": []},  # a group with nothing counted adds nothing
        ]
    }
    group = (("mediaType", "voice"), ("queueId", Q1))
    assert read_aggregates(answer, what="test") == [
        AggregateValue(group, INTERVAL, "tHandle", {"count": 2, "sum": 700, "max": 400}),
        AggregateValue(group, INTERVAL, "nOffered", {"count": 3}),
    ]
    assert read_aggregates({}, what="test") == []  # no results: nothing was counted


@pytest.mark.parametrize(
    "answer",
    [
        [],
        {"results": {}},
        {"results": [{"group": [], "data": []}]},
        {"results": [{"group": {}, "data": [{"metrics": []}]}]},
        {"results": [{"group": {}, "data": [{"interval": INTERVAL, "metrics": [{"stats": {}}]}]}]},
    ],
)
def test_an_answer_outside_the_contract_fails_naming_the_request(answer: Any) -> None:
    with pytest.raises(GenesysProtocolError, match=r"^reconcile: "):
        read_aggregates(answer, what="reconcile")
