"""The sandbox: an aiohttp application that imitates Genesys Cloud (reference §11 checklist).

One process serves both hosts: ``POST /oauth/token`` (the login host) and ``/api/v2/...`` (the API
host), so a client points both ``login_url`` and ``api_url`` at the sandbox's base URL. Around the
handlers sit, in this order: correlation id and request log, latency, injected faults, the bearer
check and the per-token rate limit. ``/sandbox/...`` are the sandbox's own endpoints (ground truth,
request log), guarded by the client credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import socket
import struct
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from aiohttp import web

from app.errors import SandboxError
from app.sandbox import errors as api_errors
from app.sandbox.aggregates import (
    AggregateLimits,
    ServiceLevelRules,
    aggregate,
    parse_aggregate_query,
)
from app.sandbox.auth import TokenStore, basic_credentials, bearer_token
from app.sandbox.context import CONTEXT, RequestContext, RequestRecord
from app.sandbox.errors import error_response, json_response, too_many_requests
from app.sandbox.faults import FaultPlan
from app.sandbox.generate import ConversationSource, VolumeProfile
from app.sandbox.jobs import Job, JobStore, decode_cursor, encode_cursor, new_job_id
from app.sandbox.lookups import lookup_page
from app.sandbox.org import Organisation, build_organisation
from app.sandbox.query_body import BodyError, ParsedQuery, QueryLimits, matches, parse_query
from app.sandbox.ratelimit import RateLimiter
from app.sandbox.records import MS_PER_DAY, Conversation, iso_ms, render
from app.settings import FaultSettings, SandboxSettings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Parsed = TypeVar("Parsed")
log = logging.getLogger(__name__)
_FILTER_FAMILIES = (
    "conversationFilters",
    "segmentFilters",
    "evaluationFilters",
    "surveyFilters",
    "resolutionFilters",
)
# The permissions an endpoint needs, any one of them (reference §4, §5, §6).
_DETAIL_PERMISSIONS = (
    "analytics:conversationDetail:view",
    "analytics:agentConversationDetail:view",
)
_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "details_query": _DETAIL_PERMISSIONS,
    "jobs_submit": _DETAIL_PERMISSIONS,
    "jobs_status": _DETAIL_PERMISSIONS,
    "jobs_results": _DETAIL_PERMISSIONS,
    "jobs_delete": _DETAIL_PERMISSIONS,
    "aggregates_query": ("analytics:conversationAggregate:view",),
}
_SELECTION_CACHE_SIZE = 256
_LOG_SIZE = 200_000
# Generated hours kept in memory (about 4.5 KB a conversation); evicted hours are regenerated.
_CACHED_HOURS = 24 * 33  # a month-long query (limits.max_interval_days) plus its first day


class Sandbox:
    """State of one emulated Genesys Cloud organisation."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.org: Organisation = build_organisation(settings.seed)
        self.source = ConversationSource(
            settings.seed,
            self.org,
            VolumeProfile(
                peak_per_hour=settings.volume.peak_per_hour,
                timezone=settings.volume.timezone,
                weekend_factor=settings.volume.weekend_factor,
                stuck_fraction=settings.volume.stuck_fraction,
            ),
            cache_hours=_CACHED_HOURS,
        )
        self.tokens = TokenStore(
            client_id=settings.client_id,
            client_secret=settings.client_secret.get_secret_value(),
            lifetime_seconds=settings.token_lifetime.total_seconds(),
        )
        self.limiter = RateLimiter(
            settings.rate_limit_per_minute, settings.rate_limit_window.total_seconds()
        )
        self.faults = FaultPlan(seed=settings.seed)
        self.faults.replace(settings.faults)
        self.jobs = JobStore()
        # Bounded, so a long-running standalone sandbox does not grow without end.
        self.log: deque[RequestRecord] = deque(maxlen=_LOG_SIZE)
        self._seq = 0
        self.limits = QueryLimits(
            max_page_size=settings.limits.max_page_size,
            default_page_size=settings.limits.default_page_size,
            max_interval_days=settings.limits.max_interval_days,
            max_unfiltered_interval_days=settings.limits.max_unfiltered_interval_days,
            max_results=settings.limits.max_results,
        )
        self._latency_rng = random.Random(f"latency:{settings.seed}")
        pinned = settings.now
        self._clock = (
            None if pinned is None else round(pinned.timestamp() * 1000),
            time.monotonic(),
        )
        self._selections: OrderedDict[tuple[Any, ...], list[Conversation]] = OrderedDict()
        self._endpoints: dict[tuple[str, str], str] = {}
        self._window_seconds = max(1, round(settings.rate_limit_window.total_seconds()))
        self.aggregate_limits = AggregateLimits(
            max_interval_days=settings.limits.max_aggregate_interval_days,
            max_buckets=settings.limits.max_aggregate_buckets,
        )
        self.service_level_rules = ServiceLevelRules(
            targets=self.org.service_level,
            exclude_short_abandons=settings.service_level.exclude_short_abandons,
            include_flowouts=settings.service_level.include_flowouts,
        )

    # --- clock and ground truth -----------------------------------------------------------

    def now_ms(self) -> int:
        """The data clock: real time, or a pinned instant that then advances in real time."""
        pinned, origin = self._clock
        if pinned is None:
            return round(time.time() * 1000)
        return pinned + round((time.monotonic() - origin) * 1000)

    def availability_ms(self) -> int:
        """``dataAvailabilityDate``: async jobs see data only up to here."""
        lag = round(self.settings.jobs.availability_lag.total_seconds() * 1000)
        return self.now_ms() - lag

    def ground_truth(self, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        """Every conversation that started in ``[start, end)`` and exists now, as records."""
        now = self.now_ms()
        return [
            render(c, now, with_attributes=False)
            for c in self.source.started_between(start_ms, min(end_ms, now))
        ]

    def requests(self, endpoint: str | None = None) -> list[RequestRecord]:
        return [r for r in self.log if endpoint is None or r.endpoint == endpoint]

    def set_faults(self, rules: list[FaultSettings]) -> None:
        self.faults.replace(rules)

    # --- selection (reference §4.3, §5.1) -------------------------------------------------

    def select_for_query(
        self, query: ParsedQuery, cache_key: tuple[Any, ...]
    ) -> list[Conversation]:
        """The conversations a synchronous query selects, in the order it asked for."""
        now = self.now_ms()
        # Once every conversation that could be selected has ended, the answer cannot change.
        stable = query.end_ms + self.source.max_duration_ms <= now
        if stable and cache_key in self._selections:
            self._selections.move_to_end(cache_key)
            return self._selections[cache_key]
        day_start = query.start_ms - query.start_ms % MS_PER_DAY
        candidates = self.source.started_between(day_start, min(query.end_ms, now + 1))
        selected = [
            c
            for c in candidates
            if c.activity_end_ms(now) > query.start_ms
            and (query.filters.empty or matches(render(c, now, with_attributes=False), query))
        ]
        ordered = _ordered(selected, query, now)
        if stable:
            self._selections[cache_key] = ordered
            if len(self._selections) > _SELECTION_CACHE_SIZE:
                self._selections.popitem(last=False)
        return ordered

    def select_for_job(self, query: ParsedQuery, watermark: int) -> list[Conversation]:
        """What an async job returns: conversations active in the interval, as known at the
        availability ``watermark`` (reference §5.1, §5.4)."""
        # Conversations still active at the interval start can have begun long before it; the
        # sandbox looks back one day or the longest conversation, whichever is longer.
        low = query.start_ms - max(self.source.max_duration_ms, MS_PER_DAY)
        if query.start_of_day_interval_matching:
            low = query.start_ms - query.start_ms % MS_PER_DAY
        selected = [
            c
            for c in self.source.started_between(low, min(query.end_ms, watermark))
            if c.activity_end_ms(watermark) > query.start_ms
            and (query.filters.empty or matches(render(c, watermark, with_attributes=True), query))
        ]
        return selected[: query.limit] if query.limit is not None else selected

    # --- the application ------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        api = "/api/v2"
        jobs = f"{api}/analytics/conversations/details/jobs"
        routes = [
            ("POST", "/oauth/token", self._token, "token"),
            ("GET", f"{api}/tokens/me", self._token_info, "tokens_me"),
            ("HEAD", f"{api}/tokens/me", self._token_check, "tokens_me"),
            ("DELETE", f"{api}/tokens/me", self._token_delete, "tokens_me"),
            ("POST", f"{api}/analytics/conversations/details/query", self._query, "details_query"),
            (
                "POST",
                f"{api}/analytics/conversations/aggregates/query",
                self._aggregates,
                "aggregates_query",
            ),
            ("POST", jobs, self._job_submit, "jobs_submit"),
            ("GET", f"{jobs}/availability", self._availability, "availability"),
            ("GET", f"{jobs}/{{job_id}}", self._job_status, "jobs_status"),
            ("GET", f"{jobs}/{{job_id}}/results", self._job_results, "jobs_results"),
            ("DELETE", f"{jobs}/{{job_id}}", self._job_delete, "jobs_delete"),
            ("GET", f"{api}/routing/queues", self._lookup, "queues"),
            ("GET", f"{api}/users", self._lookup, "users"),
            ("GET", f"{api}/routing/wrapupcodes", self._lookup, "wrapupcodes"),
            ("GET", f"{api}/authorization/divisions", self._lookup, "divisions"),
            ("GET", "/sandbox/conversations", self._admin_conversations, "admin"),
            ("GET", "/sandbox/requests", self._admin_requests, "admin"),
        ]
        for method, path, handler, name in routes:
            app.router.add_route(method, path, handler)
            self._endpoints[(method, path)] = name
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        path = resource.canonical if resource is not None else ""
        endpoint = self._endpoints.get((request.method, path), "unknown")
        correlation_id = str(uuid.uuid4())
        self._seq += 1
        record = RequestRecord(
            seq=self._seq,
            endpoint=endpoint,
            method=request.method,
            path=request.path,
            at=time.monotonic(),
        )
        request[CONTEXT] = RequestContext(correlation_id, record)
        self.log.append(record)
        try:
            response = await self._guarded(request, handler, endpoint, record)
        except web.HTTPException as exc:  # unknown path, wrong method, body too large
            code = api_errors.STATUS_CODES.get(exc.status, "bad.request")
            response = error_response(request, exc.status, code, exc.reason)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception:  # a sandbox bug must still answer like Genesys, and be visible
            log.exception("sandbox error handling %s %s", request.method, request.path)
            response = error_response(request, 500, "internal.server.error")
        if not response.prepared:
            response.headers["ININ-Correlation-Id"] = correlation_id
        record.status = response.status
        return response

    async def _guarded(
        self, request: web.Request, handler: Handler, endpoint: str, record: RequestRecord
    ) -> web.StreamResponse:
        # The fault is chosen on arrival, so scripts follow the order requests were sent in,
        # whatever the latency and body reading do to their order later.
        fault = None if endpoint in {"unknown", "admin"} else self.faults.choose(endpoint)
        record.fault = fault.kind if fault else None
        await self._latency()
        if endpoint in {"unknown", "admin"}:
            return await handler(request)
        if endpoint == "details_query":
            await _note_paging(request, record)
        if fault is not None:
            early = await self._early_fault(request, fault)
            if early is not None:
                return early
        if endpoint != "token":
            denied = self._authorise(request, record) or self._permitted(request, endpoint)
            if denied is not None:
                return denied
        response = await handler(request)
        limit_headers = request[CONTEXT].ratelimit_headers
        if limit_headers and not response.prepared:
            response.headers.update(limit_headers)
        if fault is not None and fault.kind in {"truncated", "bad_json"}:
            return await _mangle(request, response, fault.kind)
        return response

    async def _latency(self) -> None:
        base, jitter = self.settings.latency_ms, self.settings.latency_jitter_ms
        if base or jitter:
            delay = max(0.0, base + self._latency_rng.uniform(-jitter, jitter))
            await asyncio.sleep(delay / 1000)

    async def _early_fault(
        self, request: web.Request, fault: FaultSettings
    ) -> web.StreamResponse | None:
        kind = str(fault.kind)
        if kind in {"429", "429_no_retry_after"}:
            retry_after = fault.retry_after_seconds if kind == "429" else None
            request[CONTEXT].record.detail["retry_after"] = retry_after
            limit = self.settings.rate_limit_per_minute
            # As if the budget were spent: the headers say so, as on a real 429.
            return too_many_requests(
                request,
                retry_after,
                limit=limit,
                window_seconds=self._window_seconds,
                headers={
                    "inin-ratelimit-allowed": str(limit),
                    "inin-ratelimit-count": str(limit),
                    "inin-ratelimit-reset": str(max(1, fault.retry_after_seconds)),
                },
            )
        if kind.isdigit():
            status = int(kind)
            return error_response(request, status, api_errors.STATUS_CODES[status])
        if kind == "reset":
            reset_connection(request)
            raise ConnectionResetError("connection reset by the sandbox (injected)")
        if kind == "slow":
            await asyncio.sleep(fault.slow_seconds)
            return None
        if kind == "revoke_token":
            token = bearer_token(request.headers.get("Authorization"))
            if token is None:
                return error_response(request, 401, "authentication.required")
            self.tokens.revoke(token)
            return error_response(request, 401, "bad.credentials")
        if kind in {"job_failed", "job_expired"}:
            request[CONTEXT].job_outcome = "FAILED" if kind == "job_failed" else "EXPIRED"
        return None

    def _authorise(self, request: web.Request, record: RequestRecord) -> web.Response | None:
        value = bearer_token(request.headers.get("Authorization"))
        if value is None:
            return error_response(request, 401, "authentication.required")
        token = self.tokens.lookup(value)
        if token is None:
            return error_response(request, 401, "bad.credentials")
        record.token = token.label
        request[CONTEXT].token = value
        decision = self.limiter.take(token.label)
        headers = decision.headers()
        if not decision.allowed:
            record.detail["retry_after"] = decision.reset_seconds
            return too_many_requests(
                request,
                decision.reset_seconds,
                limit=decision.limit,
                window_seconds=self._window_seconds,
                headers=headers,
            )
        request[CONTEXT].ratelimit_headers = headers
        return None

    def _permitted(self, request: web.Request, endpoint: str) -> web.Response | None:
        """A 403 when the role lacks every permission that would let it call ``endpoint``."""
        needed = _PERMISSIONS.get(endpoint, ())
        missing = set(self.settings.missing_permissions)
        if not needed or not missing.issuperset(needed):
            return None
        code = "missing.permissions" if len(needed) == 1 else "missing.any.permissions"
        return error_response(
            request,
            403,
            code,
            "You are not authorized to perform the requested action. You must have at least "
            f"one of the following permissions assigned: {', '.join(needed)}",
        )

    # --- OAuth and tokens -----------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        credentials = basic_credentials(request.headers.get("Authorization"))
        if credentials is None and "client_id" in form:
            credentials = (str(form.get("client_id", "")), str(form.get("client_secret", "")))
        grant = form.get("grant_type")
        if grant != "client_credentials":
            return json_response(
                _oauth_error("unsupported_grant_type", "grant_type must be client_credentials"),
                status=400,
            )
        if credentials is None or not self.tokens.check_client(*credentials):
            return json_response(
                _oauth_error("invalid_client", "authentication failed"), status=401
            )
        token = self.tokens.issue()
        request[CONTEXT].record.token = token.label
        lifetime = max(1, math.floor(self.tokens.lifetime_seconds))
        return json_response(
            {"access_token": token.value, "token_type": "bearer", "expires_in": lifetime}
        )

    async def _token_info(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "organization": {"id": self.org.divisions[0].id, "name": "Sandbox Org"},
                "homeOrganization": {"id": self.org.divisions[0].id, "name": "Sandbox Org"},
                "authorizedScope": ["analytics:readonly", "routing:readonly", "users:readonly"],
                "OAuthClient": {"id": self.settings.client_id, "name": "sandbox client"},
            }
        )

    async def _token_check(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def _token_delete(self, request: web.Request) -> web.Response:
        self.tokens.revoke(str(request[CONTEXT].token))
        return web.Response(status=204)

    # --- detail query ---------------------------------------------------------------------

    async def _query(self, request: web.Request) -> web.Response:
        parsed = await _parsed(request, lambda body: parse_query(body, limits=self.limits))
        if isinstance(parsed, web.Response):
            return parsed
        body, query = parsed
        ordered = self.select_for_query(query, _cache_key(body, query))
        first = (query.page_number - 1) * query.page_size
        page = ordered[first : first + query.page_size]
        now = self.now_ms()
        payload: dict[str, Any] = {"totalHits": len(ordered)}
        if page:
            payload["conversations"] = [render(c, now, with_attributes=False) for c in page]
        return json_response(payload)

    # --- aggregates query ----------------------------------------------------------------

    async def _aggregates(self, request: web.Request) -> web.Response:
        parsed = await _parsed(
            request, lambda body: parse_aggregate_query(body, limits=self.aggregate_limits)
        )
        if isinstance(parsed, web.Response):
            return parsed
        body, query = parsed
        request[CONTEXT].record.detail.update(
            interval=body["interval"],
            granularity=body.get("granularity"),
            group_by=list(query.group_by),
        )
        now = self.now_ms()
        # Every conversation that can have emitted an event in the interval.
        conversations = self.source.started_between(
            query.start_ms - self.source.max_duration_ms, min(query.end_ms, now + 1)
        )
        return json_response(
            aggregate(conversations, query, now_ms=now, rules=self.service_level_rules)
        )

    # --- async jobs -----------------------------------------------------------------------

    async def _job_submit(self, request: web.Request) -> web.Response:
        parsed = await _parsed(
            request, lambda body: parse_query(body, limits=self.limits, job=True)
        )
        if isinstance(parsed, web.Response):
            return parsed
        body, query = parsed
        limit = self.settings.jobs.max_concurrent
        if self.jobs.running() >= limit:
            request[CONTEXT].record.detail["refused"] = "concurrent jobs"
            return error_response(
                request,
                429,
                "too.many.requests.retry.after",
                f"The maximum of [{limit}] concurrent analytics detail jobs is reached "
                "(lmt.an.cnvr.details.jobs.concurrent.access.max). Retry the request in [1] "
                "seconds",
                headers={"Retry-After": "1"},
            )
        delay = self.settings.jobs.delay.total_seconds()
        job = Job(
            job_id=new_job_id(),
            query=query,
            submitted_ms=self.now_ms(),
            submitted_at=time.monotonic(),
            delay_seconds=delay,
            expiry_seconds=self.settings.jobs.expiry.total_seconds(),
            outcome=request[CONTEXT].job_outcome,
            # The job sees the data as it stands when it completes.
            availability_ms=self.availability_ms() + round(delay * 1000),
        )
        self.jobs.add(job)
        request[CONTEXT].record.detail.update(interval=body["interval"], job_id=job.job_id)
        return json_response({"jobId": job.job_id}, status=202)

    def _job_or_404(self, request: web.Request) -> Job | web.Response:
        job_id = request.match_info["job_id"]
        request[CONTEXT].record.detail["job_id"] = job_id
        job = self.jobs.get(job_id)
        if job is None:
            return error_response(request, 404, "not.found", f"Job {job_id} was not found.")
        return job

    async def _job_status(self, request: web.Request) -> web.Response:
        job = self._job_or_404(request)
        if isinstance(job, web.Response):
            return job
        return json_response(job.status(iso_ms))

    async def _job_results(self, request: web.Request) -> web.Response:
        job = self._job_or_404(request)
        if isinstance(job, web.Response):
            return job
        state = job.state()
        if state != "FULFILLED":
            return error_response(
                request, 400, "bad.request", f"Job {job.job_id} is {state}, not FULFILLED."
            )
        jobs_settings = self.settings.jobs
        try:
            page_size = _int_param(request, "pageSize", jobs_settings.default_page_size)
        except ValueError as exc:
            return error_response(request, 400, "bad.request", str(exc))
        if not 1 <= page_size <= jobs_settings.max_page_size:
            return error_response(
                request,
                400,
                "bad.request",
                f"pageSize must be between 1 and {jobs_settings.max_page_size}.",
            )
        offset = 0
        cursor = request.query.get("cursor")
        if cursor:
            decoded = decode_cursor(job.job_id, cursor)
            if decoded is None:
                return error_response(request, 400, "bad.request", "The cursor is not valid.")
            offset = decoded
        if job.results is None:
            job.results = self.select_for_job(job.query, job.availability_ms)
        request[CONTEXT].record.detail.update(cursor=cursor, page_size=page_size)
        page = [
            render(c, job.availability_ms, with_attributes=True)
            for c in job.results[offset : offset + page_size]
        ]
        payload: dict[str, Any] = {"conversations": page}
        if offset + page_size < len(job.results):
            payload["cursor"] = encode_cursor(job.job_id, offset + page_size)
        payload["dataAvailabilityDate"] = iso_ms(job.availability_ms)
        return json_response(payload)

    async def _job_delete(self, request: web.Request) -> web.Response:
        job = self._job_or_404(request)
        if isinstance(job, web.Response):
            return job
        self.jobs.delete(job.job_id)
        return web.Response(status=204)

    async def _availability(self, request: web.Request) -> web.Response:
        return json_response({"dataAvailabilityDate": iso_ms(self.availability_ms())})

    # --- look-ups -------------------------------------------------------------------------

    async def _lookup(self, request: web.Request) -> web.Response:
        kind = request[CONTEXT].record.endpoint
        try:
            payload = lookup_page(
                self.org,
                kind,
                page_size=_int_param(request, "pageSize", 25),
                page_number=_int_param(request, "pageNumber", 1),
                ids=_id_list(request),
                max_page_size=self.settings.limits.lookup_max_page_size,
                path=request.path,
            )
        except ValueError as exc:
            return error_response(request, 400, "bad.request", str(exc))
        return json_response(payload)

    # --- the sandbox's own endpoints ------------------------------------------------------

    def _admin_allowed(self, request: web.Request) -> bool:
        credentials = basic_credentials(request.headers.get("Authorization"))
        return credentials is not None and self.tokens.check_client(*credentials)

    async def _admin_conversations(self, request: web.Request) -> web.Response:
        if not self._admin_allowed(request):
            return error_response(request, 401, "authentication.required")
        try:
            start = _instant_ms(request.query["start"])
            end = _instant_ms(request.query["end"])
        except (KeyError, ValueError):
            return error_response(
                request, 400, "bad.request", "start and end are required ISO-8601 instants"
            )
        return json_response({"conversations": self.ground_truth(start, end)})

    async def _admin_requests(self, request: web.Request) -> web.Response:
        if not self._admin_allowed(request):
            return error_response(request, 401, "authentication.required")
        return json_response(
            [
                {
                    "seq": r.seq,
                    "endpoint": r.endpoint,
                    "method": r.method,
                    "path": r.path,
                    "status": r.status,
                    "token": r.token,
                    "fault": r.fault,
                    "detail": r.detail,
                }
                for r in self.log
            ]
        )


# --- helpers ------------------------------------------------------------------------------


async def _note_paging(request: web.Request, record: RequestRecord) -> None:
    """Log which interval and page a query asked for, even when it is refused before the
    handler runs (a 429, a fault): tests follow each page through its retries."""
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return
    if isinstance(body, dict):
        paging = body.get("paging")
        if not isinstance(paging, dict):
            paging = {}
        record.detail.update(
            interval=body.get("interval"),
            page_number=paging.get("pageNumber", 1),
            page_size=paging.get("pageSize"),
        )


def _oauth_error(code: str, description: str) -> dict[str, str]:
    return {"error": code, "description": description, "error_description": description}


def _ordered(selected: list[Conversation], query: ParsedQuery, now: int) -> list[Conversation]:
    if query.order_by in {"conversationEnd", "segmentEnd"}:

        def by_end(c: Conversation) -> tuple[float, str]:
            return (c.end_ms if c.is_ended(now) else math.inf, c.conversation_id)

        ordered = sorted(selected, key=by_end)
    else:
        ordered = sorted(selected, key=lambda c: (c.start_ms, c.conversation_id))
    if query.order == "desc":
        ordered.reverse()
    elif query.order == "unordered":
        # Any order is allowed; a fixed shuffle keeps paging consistent between requests.
        ordered.sort(key=lambda c: c.conversation_id)
    return ordered


def _cache_key(body: dict[str, Any], query: ParsedQuery) -> tuple[Any, ...]:
    filters = orjson.dumps(
        {name: body.get(name) for name in _FILTER_FAMILIES}, option=orjson.OPT_SORT_KEYS
    )
    return (query.start_ms, query.end_ms, query.order, query.order_by, filters)


async def _parsed(
    request: web.Request, parse: Callable[[Any], Parsed]
) -> tuple[Any, Parsed] | web.Response:
    """The JSON body and what ``parse`` made of it, or the Genesys-shaped error response."""
    body, problem = await _json_body(request)
    if problem is not None:
        return problem
    try:
        return body, parse(body)
    except BodyError as exc:
        return error_response(request, exc.status, exc.code, exc.message)


async def _json_body(request: web.Request) -> tuple[Any, web.Response | None]:
    if request.content_type != "application/json":
        return None, error_response(
            request, 415, "unsupported.media.type", "Content-Type must be application/json."
        )
    raw = await request.read()
    try:
        return orjson.loads(raw), None
    except orjson.JSONDecodeError:
        return None, error_response(request, 400, "bad.request", "The body is not valid JSON.")


def _id_list(request: web.Request) -> list[str]:
    """The ``id`` filter of a look-up, given as repeated parameters (``id=a&id=b``) or as one
    comma-joined value (``id=a,b``, as the official SDKs send a list), or both."""
    return [
        part.strip()
        for value in request.query.getall("id", [])
        for part in value.split(",")
        if part.strip()
    ]


def _int_param(request: web.Request, name: str, default: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    if not text.isdigit():
        raise ValueError(f"{name} must be a positive integer, not '{text}'")
    return int(text)


def _instant_ms(text: str) -> int:
    from datetime import datetime

    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("needs an offset")
    return round(moment.timestamp() * 1000)


def reset_connection(request: web.Request) -> None:
    """Close the connection with a TCP RST, as a failing load balancer would."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _mangle(
    request: web.Request, response: web.StreamResponse, kind: str
) -> web.StreamResponse:
    """Cut a finished response: mid-body connection loss, or a short but complete body."""
    if not isinstance(response, web.Response) or not isinstance(response.body, bytes):
        return response
    body = response.body
    cut = body[: max(1, len(body) // 2)]
    if kind == "bad_json":
        mangled = web.Response(body=cut, status=response.status, content_type="application/json")
        mangled.headers.update(
            {k: v for k, v in response.headers.items() if k.lower().startswith("inin-")}
        )
        return mangled
    stream = web.StreamResponse(status=response.status)
    stream.content_type = "application/json"
    stream.content_length = len(body)
    stream.headers["ININ-Correlation-Id"] = request[CONTEXT].correlation_id
    stream.headers.update(request[CONTEXT].ratelimit_headers or {})
    await stream.prepare(request)
    await stream.write(cut)
    reset_connection(request)
    return stream


# --- running it ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunningSandbox:
    sandbox: Sandbox
    base_url: str

    @property
    def client_id(self) -> str:
        return self.sandbox.settings.client_id

    @property
    def client_secret(self) -> str:
        return self.sandbox.settings.client_secret.get_secret_value()


@contextlib.asynccontextmanager
async def running_sandbox(
    settings: SandboxSettings, *, host: str | None = None, port: int | None = None
) -> AsyncIterator[RunningSandbox]:
    """Serve a sandbox on a real socket for the duration of the block."""
    sandbox = Sandbox(settings)
    # In-flight requests (an injected slow response) are cancelled at once when the sandbox stops.
    runner = web.AppRunner(
        sandbox.app(), access_log=None, handle_signals=False, shutdown_timeout=0.1
    )
    await runner.setup()
    bind_host = host or settings.host
    site = web.TCPSite(runner, bind_host, settings.port if port is None else port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise SandboxError(f"cannot listen on {bind_host}:{port}: {exc.strerror}") from exc
    address = runner.addresses[0]
    try:
        yield RunningSandbox(sandbox, f"http://{address[0]}:{address[1]}")
    finally:
        await runner.cleanup()
