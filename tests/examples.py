"""The official request bodies of reference §4.2, shared by the sandbox and client tests."""

from __future__ import annotations

from typing import Any


def official_queue_example(interval: str, queue_id: str) -> dict[str, Any]:
    """Conversations still waiting in a queue ([BLOG-DQ])."""
    return {
        "interval": interval,
        "order": "desc",
        "paging": {"pageSize": 100, "pageNumber": 1},
        "segmentFilters": [
            {
                "type": "and",
                "predicates": [
                    {
                        "type": "dimension",
                        "dimension": "segmentType",
                        "operator": "matches",
                        "value": "interact",
                    },
                    {
                        "type": "dimension",
                        "dimension": "queueId",
                        "operator": "matches",
                        "value": queue_id,
                    },
                    {"type": "dimension", "dimension": "segmentEnd", "operator": "notExists"},
                ],
            }
        ],
        "conversationFilters": [
            {
                "type": "and",
                "predicates": [
                    {"type": "dimension", "dimension": "conversationEnd", "operator": "notExists"}
                ],
            }
        ],
    }


def official_clause_example(interval: str) -> dict[str, Any]:
    """The nested clause form: ACD voice segments ([ODE call_detail_report])."""
    return {
        "interval": interval,
        "order": "asc",
        "orderBy": "conversationStart",
        "paging": {"pageSize": 100, "pageNumber": 1},
        "segmentFilters": [
            {
                "type": "or",
                "clauses": [
                    {
                        "type": "and",
                        "predicates": [
                            {
                                "type": "dimension",
                                "dimension": "purpose",
                                "operator": "matches",
                                "value": "acd",
                            },
                            {
                                "type": "dimension",
                                "dimension": "mediaType",
                                "operator": "matches",
                                "value": "voice",
                            },
                        ],
                    }
                ],
            }
        ],
    }
