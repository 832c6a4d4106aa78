"""Per-request state shared by the sandbox's middleware, handlers and error responses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(slots=True)
class RequestContext:
    """What the middleware learns about a request and the handlers need."""

    correlation_id: str
    record: RequestRecord
    token: str | None = None
    ratelimit_headers: dict[str, str] | None = None
    job_outcome: str = "FULFILLED"


@dataclass(slots=True)
class RequestRecord:
    """One request as the sandbox saw it; tests assert on these, never on wall-clock time."""

    seq: int
    endpoint: str
    method: str
    path: str
    at: float  # time.monotonic() when the request arrived
    token: str | None = None  # the token's label ("t1"), never the token
    status: int = 0  # 0 while in flight, or when the connection was reset
    fault: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


CONTEXT = web.RequestKey("sandbox_context", RequestContext)
