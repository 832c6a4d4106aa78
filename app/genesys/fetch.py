"""Fetch primitives: the synchronous detail query page by page, and the async job lifecycle.

Pages carry the request that produced them (window, page number or cursor), so a failure or a
surprise can name it. Nothing here keeps more than the pages in flight in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.concurrency import each_bounded
from app.errors import GenesysJobError, GenesysProtocolError, GenesysTooManyResultsError
from app.genesys.client import GenesysClient
from app.genesys.query import AsyncConversationQuery, ConversationQuery
from app.periods import parse_instant

log = logging.getLogger(__name__)

QUERY_PATH = "/api/v2/analytics/conversations/details/query"
JOBS_PATH = "/api/v2/analytics/conversations/details/jobs"
_TERMINAL_FAILURES = {"FAILED", "CANCELLED", "EXPIRED"}
_PAGES_AHEAD = 4  # pages of one window in flight or waiting to be spooled
# Result pages of one async job: with the largest page size, a billion conversations. A job
# whose cursors never end is a broken API, not a big org.
MAX_JOB_PAGES = 100_000
DEFAULT_MAX_RESULTS = 100_000


@dataclass(frozen=True, slots=True)
class Page:
    interval: str
    conversations: list[Any]  # records, as sent (not all of them necessarily objects)
    number: int  # 1-based page number, or the position of a job results page
    total_hits: int | None = None  # sync queries only
    cursor: str | None = None  # job results: the cursor that fetched this page


def _conversations(body: Any, what: str) -> list[Any]:
    """The page's entries as sent: entries that are not records are kept here (and counted as
    malformed when spooled), so that a page with a bad entry still counts as a full page."""
    if not isinstance(body, dict):
        raise GenesysProtocolError("the response is not a JSON object", what=what)
    conversations = body.get("conversations")
    if conversations is None:
        return []
    if not isinstance(conversations, list):
        raise GenesysProtocolError("'conversations' is not a list", what=what)
    return conversations


async def query_page(
    client: GenesysClient, query: ConversationQuery, number: int, size: int, what: str
) -> Page:
    page_what = f"{what} page {number}"
    response = await client.request(
        "POST", QUERY_PATH, json=query.page(number, size).body(), what=page_what
    )
    body = response.body
    total = body.get("totalHits") if isinstance(body, dict) else None
    if not isinstance(total, int):
        raise GenesysProtocolError("the response has no integer totalHits", what=page_what)
    return Page(query.interval, _conversations(body, page_what), number, total_hits=total)


async def query_pages(
    client: GenesysClient,
    query: ConversationQuery,
    *,
    page_size: int,
    what: str,
    max_results: int = DEFAULT_MAX_RESULTS,
) -> AsyncGenerator[Page, None]:
    """Every page of a detail query over one interval.

    Page 1 gives ``totalHits``; the remaining pages are requested concurrently (the client's
    budget and cap pace them) and yielded as they arrive. ``totalHits`` is approximate
    (reference §4.4), so while the last expected page comes back full, the next one is asked
    for too, until a page comes back short or empty. No more than ``max_results`` results are
    paged through: a query claiming or delivering more raises ``GenesysTooManyResultsError``
    (the caller splits the window), so a wild ``totalHits`` cannot make millions of requests.
    """
    first = await query_page(client, query, 1, page_size, what)
    yield first
    if len(first.conversations) < page_size:
        return
    total = first.total_hits or 0
    if total > max_results:
        raise _too_many(total, max_results, what)
    expected = max(1, math.ceil(total / page_size))
    last_full = True
    if expected > 1:
        async with contextlib.aclosing(
            _concurrently(client, query, range(2, expected + 1), page_size, what)
        ) as pages:
            async for page in pages:
                if page.number == expected:
                    last_full = len(page.conversations) == page_size
                yield page
    number = expected
    while last_full:
        number += 1
        if (number - 1) * page_size >= max_results:
            raise _too_many(number * page_size, max_results, what)
        page = await query_page(client, query, number, page_size, what)
        if not page.conversations:
            return
        yield page
        last_full = len(page.conversations) == page_size


def _too_many(count: int, limit: int, what: str) -> GenesysTooManyResultsError:
    return GenesysTooManyResultsError(
        f"the query has {count} or more results, more than one query pages through "
        f"(genesys.max_query_results: {limit})",
        what=what,
    )


async def _concurrently(
    client: GenesysClient, query: ConversationQuery, numbers: range, size: int, what: str
) -> AsyncGenerator[Page, None]:
    """Fetch pages concurrently, yielding each as it completes; a failure cancels the rest.

    ``_PAGES_AHEAD`` workers take the page numbers in turn (never a task per page), and a page
    takes a slot before it is requested and gives it back only once consumed, so at most
    ``_PAGES_AHEAD`` pages of a window are ever held in memory, however many it has."""
    queue: asyncio.Queue[Page] = asyncio.Queue()
    slots = asyncio.Semaphore(_PAGES_AHEAD)

    async def fetch_into(number: int) -> None:
        await slots.acquire()
        await queue.put(await query_page(client, query, number, size, what))

    producer = asyncio.create_task(each_bounded(numbers, fetch_into, _PAGES_AHEAD))
    try:
        for _ in numbers:
            getter = asyncio.ensure_future(queue.get())
            done, _pending = await asyncio.wait(
                {getter, producer}, return_when=asyncio.FIRST_COMPLETED
            )
            if getter in done:
                page = getter.result()
                slots.release()
                yield page
                continue
            getter.cancel()
            await producer  # raises the first failure
            raise GenesysProtocolError("pages went missing", what=what)  # pragma: no cover
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await producer


# --- async jobs ---------------------------------------------------------------------------


async def data_availability(client: GenesysClient) -> datetime:
    """The instant before which async jobs are guaranteed to see all data (reference §5.4)."""
    what = "data availability"
    response = await client.request("GET", f"{JOBS_PATH}/availability", what=what)
    body = response.body
    value = body.get("dataAvailabilityDate") if isinstance(body, dict) else None
    if not isinstance(value, str):
        raise GenesysProtocolError("no dataAvailabilityDate in the response", what=what)
    return parse_instant(value)


async def _job_state(client: GenesysClient, job_id: str, what: str) -> Mapping[str, Any]:
    response = await client.request("GET", f"{JOBS_PATH}/{job_id}", what=f"{what} status")
    if not isinstance(response.body, dict) or "state" not in response.body:
        raise GenesysProtocolError("the job status has no state", what=what)
    return response.body


async def wait_for_job(
    client: GenesysClient, job_id: str, *, poll: float, give_up_after: float, what: str
) -> None:
    """Poll with backoff until FULFILLED; FAILED, CANCELLED, EXPIRED and the timeout raise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + give_up_after
    delay = poll
    while True:
        status = await _job_state(client, job_id, what)
        state = str(status["state"])
        if state == "FULFILLED":
            return
        if state in _TERMINAL_FAILURES:
            reason = status.get("errorMessage") or "no reason given"
            raise GenesysJobError(f"job {job_id} ended {state}: {reason}", what=what, state=state)
        if loop.time() + delay > deadline:
            raise GenesysJobError(
                f"job {job_id} still {state} after {give_up_after:.0f} s (genesys.job_timeout)",
                what=what,
            )
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 30.0)


async def job_pages(
    client: GenesysClient,
    query: AsyncConversationQuery,
    *,
    page_size: int,
    poll: float,
    give_up_after: float,
    what: str,
) -> AsyncGenerator[Page, None]:
    """Submit a job, wait for it, page its results by cursor, and always delete it."""
    response = await client.request(
        "POST", JOBS_PATH, json=query.body(), what=f"{what} job submission"
    )
    job_id = response.body.get("jobId") if isinstance(response.body, dict) else None
    if not isinstance(job_id, str):
        raise GenesysProtocolError("the job submission returned no jobId", what=what)
    try:
        await wait_for_job(client, job_id, poll=poll, give_up_after=give_up_after, what=what)
        seen: set[str] = set()
        cursor: str | None = None
        number = 0
        while True:
            number += 1
            if number > MAX_JOB_PAGES:
                raise GenesysProtocolError(
                    f"job {job_id} is still handing out cursors after {MAX_JOB_PAGES} pages; "
                    "refusing to go on",
                    what=what,
                )
            params = {"pageSize": str(page_size)}
            if cursor:
                params["cursor"] = cursor
            page_what = f"{what} job {job_id} results page {number}"
            result = await client.request(
                "GET", f"{JOBS_PATH}/{job_id}/results", params=params, what=page_what
            )
            yield Page(
                query.interval, _conversations(result.body, page_what), number, cursor=cursor
            )
            following = result.body.get("cursor") if isinstance(result.body, dict) else None
            if not following:
                return
            if following in seen:
                raise GenesysProtocolError(
                    f"the cursor repeated on page {number}; refusing to loop", what=page_what
                )
            seen.add(following)
            cursor = str(following)
    finally:
        await _delete_job(client, job_id, what)


async def _delete_job(client: GenesysClient, job_id: str, what: str) -> None:
    """Best effort, and done even when the run is being cancelled."""
    try:
        await asyncio.shield(
            client.request("DELETE", f"{JOBS_PATH}/{job_id}", what=f"{what} job deletion")
        )
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the results are in hand (or lost anyway): report and go on
        log.warning("%s: could not delete job %s: %s", what, job_id, exc)
