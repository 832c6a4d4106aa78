"""Fetch a period's windows concurrently into sorted spools.

Every window's pages go through the one client (one rate budget, one concurrency cap). A window
that the API refuses as too large (too many results, too long an interval, a response over the
size limit) or that keeps timing out is split in halves and each half fetched on its own, down
to a floor; the splits are recorded for the manifest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from aiolimiter import AsyncLimiter
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from app.concurrency import each_bounded, first_failure
from app.errors import (
    GenesysApiError,
    GenesysError,
    GenesysJobError,
    GenesysTooManyResultsError,
    GenesysUnavailableError,
)
from app.genesys.client import GenesysClient
from app.genesys.fetch import Page, job_pages, query_pages
from app.genesys.query import details_query, job_query
from app.models import Window
from app.pipeline.spool import WindowSpool
from app.settings import GenesysSettings, ReportSettings

log = logging.getLogger(__name__)

MIN_WINDOW = timedelta(minutes=1)
MAX_TIMEOUT_SPLITS = 2  # halvings allowed for a window that keeps timing out
JOB_RESUBMITS = 2  # fresh jobs after one ended FAILED or EXPIRED
_RESUBMITTABLE = frozenset({"FAILED", "EXPIRED"})
# 400 messages that mean "ask for less": the limits' wording is not documented (reference §4.5),
# so the sandbox's and the platform-wide ones are recognised.
_TOO_LARGE_WORDS = ("interval", "result", "paging", "too large", "size limit", "over the size")


@dataclass(slots=True)
class FetchResult:
    spools: list[Path] = field(default_factory=list)
    windows_fetched: int = 0  # windows and half-windows actually fetched
    splits: list[dict[str, str]] = field(default_factory=list)
    rejected_records: int = 0
    jobs_resubmitted: int = 0


def _resubmittable(error: BaseException) -> bool:
    """A FAILED job is Genesys's own trouble, an EXPIRED one had its results dropped before
    they were read: a fresh job usually works. CANCELLED was someone's decision and a timeout
    would only repeat; neither is submitted again."""
    return isinstance(error, GenesysJobError) and error.state in _RESUBMITTABLE


def _too_large(error: GenesysError) -> bool:
    if isinstance(error, GenesysTooManyResultsError):
        return True
    if isinstance(error, GenesysApiError):
        if error.code in {"response.entity.too.large", "request.entity.too.large"}:
            return True
        message = error.genesys_message.lower()
        return error.status == 400 and any(word in message for word in _TOO_LARGE_WORDS)
    return isinstance(error, GenesysUnavailableError) and error.cause in {"timeout", "504"}


class WindowFetcher:
    def __init__(
        self,
        client: GenesysClient,
        report: ReportSettings,
        genesys: GenesysSettings,
        workdir: Path,
        *,
        on_window_done: Callable[[int], None] | None = None,
    ) -> None:
        self._client = client
        self._report = report
        self._genesys = genesys
        self._workdir = workdir
        self._on_done = on_window_done or (lambda records: None)
        self._count = 0
        self.result = FetchResult()
        # Windows in flight at once: enough to keep the request cap busy, few enough that
        # buffered pages stay small whatever the period's length.
        self._windows_in_flight = asyncio.Semaphore(max(2, genesys.max_concurrency))
        # Genesys' per-org limits on detail jobs: open at once, and submitted per second.
        self._jobs_open = asyncio.Semaphore(genesys.max_concurrent_jobs)
        self._job_submissions = AsyncLimiter(1, 1 / genesys.job_submissions_per_second)

    def _spool(self) -> WindowSpool:
        self._count += 1
        return WindowSpool(self._workdir / f"window-{self._count:06d}.spool")

    async def fetch_all(self, windows: list[Window], *, use_jobs: bool) -> FetchResult:
        fetch = self._fetch_job if use_jobs else self._fetch_split
        # Windows run concurrently; the client's budget and cap pace the actual requests. A
        # failure cancels the other windows (TaskGroup), so nothing partial is kept.
        # At most as many windows as may be in flight are started at a time: a task per window
        # up front would hold a P90D period of 1-minute windows in memory at once.
        await each_bounded(windows, fetch, max(2, self._genesys.max_concurrency))
        return self.result

    async def _fetch_split(self, window: Window, timeouts: int = 0) -> None:
        try:
            await self._fetch_query(window)
        except GenesysError as error:
            timed_out = isinstance(error, GenesysUnavailableError)
            if (
                not _too_large(error)
                or window.end - window.start < 2 * MIN_WINDOW
                # A network that times out for good should fail, not split for hours.
                or (timed_out and timeouts >= MAX_TIMEOUT_SPLITS)
            ):
                raise
            middle = window.start + (window.end - window.start) / 2
            middle = middle.replace(microsecond=middle.microsecond // 1000 * 1000)
            self.result.splits.append({"window": window.interval, "reason": str(error)})
            log.warning("%s: splitting in halves at %s (%s)", window, middle.isoformat(), error)
            depth = timeouts + int(timed_out)
            await first_failure(
                lambda group: [
                    group.create_task(self._fetch_split(Window(window.start, middle), depth)),
                    group.create_task(self._fetch_split(Window(middle, window.end), depth)),
                ]
            )

    async def _fetch_query(self, window: Window) -> None:
        async with self._windows_in_flight:
            await self._fetch_query_now(window)

    async def _fetch_query_now(self, window: Window) -> None:
        what = f"report {self._report.name}, window {window}"
        query = details_query(self._report.filters, window)
        await self._spool_pages(
            query_pages(
                self._client,
                query,
                page_size=self._genesys.page_size,
                what=what,
                max_results=self._genesys.max_query_results,
            )
        )

    async def _fetch_job(self, window: Window) -> None:
        what = f"report {self._report.name}, job for {window}"
        poll = self._genesys.job_poll_interval.total_seconds()

        def resubmitting(state: RetryCallState) -> None:
            self.result.jobs_resubmitted += 1
            error = state.outcome.exception() if state.outcome else None
            log.warning("%s; submitting a new job in %.1f s", error, state.upcoming_sleep)

        retrying = AsyncRetrying(
            retry=retry_if_exception(_resubmittable),
            stop=stop_after_attempt(1 + JOB_RESUBMITS),
            # Jittered: windows whose jobs failed together do not resubmit together.
            wait=wait_exponential_jitter(multiplier=poll, jitter=poll),
            before_sleep=resubmitting,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                # Held from submission to deletion: the job counts against the org's limit
                # until it is deleted.
                async with self._jobs_open:
                    await self._job_submissions.acquire()
                    await self._spool_pages(
                        job_pages(
                            self._client,
                            job_query(self._report.filters, window),
                            page_size=self._genesys.job_page_size,
                            poll=poll,
                            give_up_after=self._genesys.job_timeout.total_seconds(),
                            what=what,
                        )
                    )

    async def _spool_pages(self, pages: AsyncGenerator[Page, None]) -> None:
        """Spool every page of one window; on any failure the partial spool is deleted."""
        spool = self._spool()
        try:
            # Closed here, not whenever the generator is collected: its clean-up (deleting an
            # async job, cancelling page requests) needs the client, which may close soon after.
            async with contextlib.aclosing(pages):
                async for page in pages:
                    await spool.add_page(page.conversations)
            path = await spool.finish()
        except BaseException:
            spool.discard()
            raise
        self.result.spools.append(path)
        self.result.windows_fetched += 1
        self.result.rejected_records += spool.rejected
        self._on_done(spool.records)
