"""A reverse proxy on 127.0.0.1 in front of the S3 test server that fails or stalls requests.

Requests are forwarded verbatim: the method, the raw path and query (never re-quoted), every
header but the hop-by-hop ones (``Host`` included, so a SigV4 signature made for the proxy's
host:port is still valid upstream), and the body. Responses come back the same way. So the
delivery signs for the proxy (``storage.s3.endpoint_url`` points at it) and ministack checks
those signatures as usual.

At a configurable rate a request is instead answered with an S3 error or disturbed:

- ``slowdown``: 503 ``SlowDown`` (S3's throttling answer), not forwarded;
- ``internal``: 500 ``InternalError``, not forwarded;
- ``reset``: the connection is reset (TCP RST) before anything is forwarded;
- ``reset_after``: the request is forwarded and applied upstream, then the connection is reset
  instead of answering (the client cannot tell whether it happened);
- ``stall``: the request waits ``stall_seconds`` before it is forwarded.

Faults are drawn from a seeded generator in arrival order; ``scope`` says which requests may be
faulted: ``all`` of them, or only ``signed`` ones (the S3 API calls, signed in their
``Authorization`` header), leaving presigned links and anonymous requests alone. A ``script``
guarantees faults: for each class of request (``request_class``: the method of a signed call,
``presigned`` or ``anonymous``) a list of kinds (or ``ok``) consumed one per request of that class
before any random draw. A request carrying ``BYPASS_HEADER`` is never faulted nor counted (the
soak reads objects back through it).

Retries are counted here, where they are visible whoever makes them (botocore, or aiohttp
re-sending on a fresh connection after a reset): a request for the same method and path as an
earlier faulted one, which nothing answered successfully in between, is a retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from app.sandbox.server import reset_connection

S3FaultKind = Literal["slowdown", "internal", "reset", "reset_after", "stall"]
S3_FAULT_KINDS: tuple[S3FaultKind, ...] = ("slowdown", "internal", "reset", "reset_after", "stall")
Scope = Literal["all", "signed"]
BYPASS_HEADER = "X-Chaos-No-Fault"

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",  # aiohttp answers 100-continue itself; botocore never signs it
        "content-length",  # recomputed from the (identical) body
        BYPASS_HEADER.lower(),
    }
)
_MAX_BODY = 256 * 1024 * 1024


@dataclass(slots=True)
class S3FaultSettings:
    rate: float = 0.0
    weights: Mapping[S3FaultKind, float] = field(
        default_factory=lambda: dict.fromkeys(S3_FAULT_KINDS, 1.0)
    )
    stall_seconds: float = 0.3
    scope: Scope = "all"
    # Faults consumed in order by the requests of a class ("PUT", "presigned", ...) before any
    # random draw; "ok" lets one through. Scripts are not limited by ``scope``.
    script: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"the S3 fault rate must be within [0, 1], not {self.rate}")
        named = {str(kind) for kind in self.weights}
        named |= {step for steps in self.script.values() for step in steps}
        unknown = named - {*S3_FAULT_KINDS, "ok"}
        if unknown:
            raise ValueError(f"unknown S3 fault kinds: {', '.join(sorted(unknown))}")
        if self.rate > 0 and sum(self.weights.values()) <= 0:
            raise ValueError("a non-zero S3 fault rate needs a kind with a positive weight")


def request_class(request: web.BaseRequest) -> str:
    """``presigned`` (a link), ``anonymous`` (no signature at all), or the method of a call
    signed in its headers (``PUT``, ``GET``, ``HEAD``, ``DELETE``, ``POST``)."""
    if "X-Amz-Signature" in request.query:
        return "presigned"
    if "Authorization" not in request.headers:
        return "anonymous"
    return request.method


def _error_body(code: str, message: str, request_id: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{request_id}</RequestId><HostId>chaos-proxy</HostId></Error>"
    ).encode()


_ERRORS: dict[str, tuple[int, str, str]] = {
    "slowdown": (503, "SlowDown", "Please reduce your request rate."),
    "internal": (500, "InternalError", "We encountered an internal error. Please try again."),
}


class FaultyS3Proxy:
    """Serve with ``serving()`` (or ``running_proxy``). ``reset(seed)`` starts a fresh fault
    sequence, script and counters (the soak does so for every run)."""

    def __init__(self, upstream: str, settings: S3FaultSettings, *, seed: str | int = 0) -> None:
        self.upstream = upstream.rstrip("/")
        self.settings = settings
        self.base_url = ""
        self._kinds = [kind for kind, weight in settings.weights.items() if weight > 0]
        self._weights = [settings.weights[kind] for kind in self._kinds]
        self._rng = random.Random()
        self._session: aiohttp.ClientSession | None = None
        self.reset(seed)

    def reset(self, seed: str | int) -> None:
        """A fresh fault sequence, script and counters."""
        self._rng.seed(f"s3-faults:{seed}")
        self._script = {name: list(steps) for name, steps in self.settings.script.items()}
        self._failed: Counter[tuple[str, str]] = Counter()  # faulted, not yet re-sent
        self.requests = 0  # requests that arrived (the bypassing ones aside)
        self.retries = 0  # re-sends of a faulted request
        self.injected: Counter[str] = Counter()
        # (class, method, path, time.monotonic() on arrival, fault or None) for each request
        self.arrivals: list[tuple[str, str, str, float, str | None]] = []

    # --- choosing -------------------------------------------------------------------------

    def _choose(self, kind_of_request: str) -> str | None:
        steps = self._script.get(kind_of_request)
        if steps:
            step = steps.pop(0)
            return None if step == "ok" else step
        if self.settings.rate <= 0:
            return None
        if self.settings.scope == "signed" and kind_of_request in {"presigned", "anonymous"}:
            return None
        if self._rng.random() >= self.settings.rate:
            return None
        return self._rng.choices(self._kinds, weights=self._weights)[0]

    # --- serving --------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        body = await request.read()  # always read, so the client is not left mid-upload
        if BYPASS_HEADER in request.headers:
            return await self._forward(request, body)
        self.requests += 1
        kind_of_request = request_class(request)
        key = (request.method, request.path)
        if self._failed[key] > 0:
            self._failed[key] -= 1
            self.retries += 1
        fault = self._choose(kind_of_request)
        self.arrivals.append((kind_of_request, request.method, request.path, arrived, fault))
        if fault is None:
            return await self._forward(request, body)
        self.injected[fault] += 1
        if fault != "stall":
            self._failed[key] += 1
        if fault in _ERRORS:
            status, code, message = _ERRORS[fault]
            request_id = uuid.uuid4().hex[:16].upper()
            return web.Response(
                status=status,
                body=_error_body(code, message, request_id),
                headers={"Content-Type": "application/xml", "x-amz-request-id": request_id},
            )
        if fault == "reset":
            return _reset(request)
        if fault == "stall":
            await asyncio.sleep(self.settings.stall_seconds)
            return await self._forward(request, body)
        await self._forward(request, body)  # reset_after: applied upstream, answer lost
        return _reset(request)

    async def _forward(self, request: web.Request, body: bytes) -> web.Response:
        assert self._session is not None, "serve the proxy with serving()"
        headers = CIMultiDict(
            (name, value)
            for name, value in request.headers.items()
            if name.lower() not in _HOP_BY_HOP
        )
        url = URL(self.upstream + request.raw_path, encoded=True)
        async with self._session.request(
            request.method,
            url,
            headers=headers,
            # A file object: aiohttp warns (a ResourceWarning, which the soak counts as a file
            # left open) when given more than 1 MiB of raw bytes.
            data=io.BytesIO(body) if body or request.method in {"PUT", "POST"} else None,
            allow_redirects=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        ) as upstream:
            payload = await upstream.read()
            out = CIMultiDict(
                (name, value)
                for name, value in upstream.headers.items()
                if name.lower() not in _HOP_BY_HOP
                or (name.lower() == "content-length" and request.method == "HEAD")
            )
            return web.Response(
                status=upstream.status,
                reason=upstream.reason,
                body=payload if request.method != "HEAD" else None,
                headers=out,
            )

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[FaultyS3Proxy]:
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=32), auto_decompress=False, trust_env=False
        )
        try:
            await site.start()
            host, port = runner.addresses[0][:2]
            self.base_url = f"http://{host}:{port}"
            yield self
        finally:
            await runner.cleanup()
            await self._session.close()
            self._session = None


def _reset(request: web.Request) -> web.Response:
    """Close the client's connection with a TCP RST. The response returned is never sent
    (aiohttp finds the transport closed and drops it quietly)."""
    reset_connection(request)
    return web.Response(status=502)


@contextlib.asynccontextmanager
async def running_proxy(
    upstream: str, settings: S3FaultSettings, *, seed: str | int = 0
) -> AsyncIterator[FaultyS3Proxy]:
    """A proxy for ``upstream`` serving on a free 127.0.0.1 port for the block."""
    async with FaultyS3Proxy(upstream, settings, seed=seed).serving() as proxy:
        yield proxy
