"""Conformance (issue 16): an async detail job through the SDK, from submission to deletion:
its states as the SDK's models spell them, every results page fitted to its model key by key,
the conversations equal to the ground truth's, and a deleted job gone."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.conformance.model_check import outdated, problems
from tests.conformance.oracle import Sandbox, genesys, ground_truth, wire

START, END = "2024-05-01T12:00:00.000Z", "2024-05-01T13:00:00.000Z"
# The sandbox fulfils a job two seconds after it is submitted (settings: sandbox.jobs.delay).
FULFILMENT_DEADLINE_S = 60.0
POLL_S = 0.25


def test_a_job_from_submission_to_deletion(sdk: Any, sandbox_process: Sandbox) -> None:
    api = genesys().AnalyticsApi(sdk)
    availability = api.get_analytics_conversations_details_jobs_availability()
    assert problems(wire(sdk), "DataAvailabilityResponse") == []
    assert availability.data_availability_date.year >= 2026

    query = genesys().AsyncConversationQuery()
    query.interval = f"{START}/{END}"
    submitted = api.post_analytics_conversations_details_jobs(query)
    assert problems(wire(sdk), "AsyncQueryResponse") == []
    job_id = submitted.job_id

    # Polled as a client of the real API polls: the job's own state machine, with a deadline.
    states: list[str] = []
    deadline = time.monotonic() + FULFILMENT_DEADLINE_S
    while not states or states[-1] in ("QUEUED", "PENDING"):
        assert time.monotonic() < deadline, f"job still {states[-1]}"
        status = api.get_analytics_conversations_details_job(job_id)
        assert problems(wire(sdk), "AsyncQueryStatus") == [] and outdated(status) == []
        states.append(status.state)
        if states[-1] in ("QUEUED", "PENDING"):
            time.sleep(POLL_S)
    assert states[0] in ("QUEUED", "PENDING") and states[-1] == "FULFILLED"
    assert status.submission_date <= status.completion_date < status.expiration_date

    conversations: list[Any] = []
    cursor = None
    pages = 0
    while True:
        page = api.get_analytics_conversations_details_job_results(
            job_id, cursor=cursor, page_size=200
        )
        body = wire(sdk)
        assert problems(body, "AnalyticsConversationAsyncQueryResponse") == []
        assert outdated(page) == []
        conversations.extend(page.conversations or [])
        pages += 1
        cursor = page.cursor
        if cursor is None:
            break
    assert pages >= 2
    ids = [c.conversation_id for c in conversations]
    assert len(ids) == len(set(ids))
    truth = ground_truth(sandbox_process, START, END, same_day=False)
    assert set(ids) == {r["conversationId"] for r in truth}
    # Job records are the full model: participants carry their attributes.
    assert all(p.attributes is not None for c in conversations for p in c.participants)

    api.delete_analytics_conversations_details_job(job_id)
    with pytest.raises(genesys().rest.ApiException) as gone:
        api.get_analytics_conversations_details_job(job_id)
    assert gone.value.status == 404
    assert problems(json.loads(gone.value.body), "ErrorBody") == []
