"""Conformance (issue 16): the aggregates query through the SDK: the answer fits the SDK's
models key by key, and its counts and sums equal the metric events of the ground truth."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from tests.conformance.model_check import outdated, problems
from tests.conformance.oracle import Sandbox, genesys, ground_truth, wire

START, END = "2024-05-01T09:00:00.000Z", "2024-05-01T11:00:00.000Z"
METRICS = ["nOffered", "tAnswered", "tHandle"]


def _query() -> Any:
    g = genesys()
    predicate = g.ConversationAggregateQueryPredicate()
    predicate.type, predicate.dimension, predicate.value = "dimension", "mediaType", "voice"
    voice = g.ConversationAggregateQueryFilter()
    voice.type, voice.predicates = "and", [predicate]
    query = g.ConversationAggregationQuery()
    query.interval = f"{START}/{END}"
    query.granularity = "PT30M"
    query.group_by = ["queueId"]
    query.metrics = METRICS
    query.filter = voice
    return query


def expected(truth: list[dict[str, Any]]) -> dict[tuple[str | None, str, str], tuple[int, int]]:
    """(queue, bucket start, metric) -> (count, sum) of the voice metric events emitted in the
    interval, each in the half hour of its emitDate, under its session's latest queue."""
    low, high = datetime.fromisoformat(START), datetime.fromisoformat(END)
    found: dict[tuple[str | None, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for record in truth:
        for participant in record["participants"]:
            for session in participant["sessions"]:
                queues = [s["queueId"] for s in session["segments"] if "queueId" in s]
                if session["mediaType"] != "voice":
                    continue
                # An event whose session never queued (an outbound call for nobody's queue)
                # has no queueId: its group lacks the dimension.
                queue = queues[-1] if queues else None
                for metric in session.get("metrics", ()):
                    emitted = datetime.fromisoformat(metric["emitDate"])
                    if metric["name"] not in METRICS or not low <= emitted < high:
                        continue
                    bucket = low + timedelta(minutes=30) * (
                        (emitted - low) // timedelta(minutes=30)
                    )
                    cell = found[(queue, bucket.isoformat(), metric["name"])]
                    cell[0] += metric["value"] if metric["name"].startswith("n") else 1
                    cell[1] += metric["value"]
    return {key: (count, total) for key, (count, total) in found.items()}


def test_aggregates_fit_the_model_and_equal_the_events(sdk: Any, sandbox_process: Sandbox) -> None:
    answer = genesys().AnalyticsApi(sdk).post_analytics_conversations_aggregates_query(_query())
    assert problems(wire(sdk), "ConversationAggregateQueryResponse") == []
    assert outdated(answer) == []
    got: dict[tuple[str | None, str, str], tuple[int, int]] = {}
    for result in answer.results:
        assert set(result.group) <= {"queueId"}
        for bucket in result.data:
            start = datetime.fromisoformat(bucket.interval.split("/")[0]).isoformat()
            for metric in bucket.metrics:
                stats = metric.stats
                total = stats.count if metric.metric.startswith("n") else stats.sum
                got[(result.group.get("queueId"), start, metric.metric)] = (stats.count, total)
    # Events of conversations that began the day before count too: look back a day.
    truth = ground_truth(sandbox_process, START, END, same_day=False)
    want = expected(truth)
    assert len(want) > 20
    assert got == want
