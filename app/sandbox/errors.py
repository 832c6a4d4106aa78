"""Genesys-shaped error responses (reference §3, §8, §9)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from app.sandbox.context import CONTEXT

_MESSAGES = {
    "bad.request": "The request could not be understood by the server due to malformed syntax.",
    "authentication.required": "No authentication bearer token specified in authorization header.",
    "bad.credentials": "Invalid login credentials.",
    "not.found": "The requested resource was not found.",
    "internal.server.error": "The server encountered an unexpected condition.",
    "bad.gateway": "The gateway received an invalid response.",
    "service.unavailable": "The service is currently unavailable.",
    "request.timeout": "The request timed out.",
    "method.not.allowed": "The requested method is not supported for this resource.",
    "request.entity.too.large": "The request is over the size limit.",
}
STATUS_CODES = {
    404: "not.found",
    405: "method.not.allowed",
    413: "request.entity.too.large",
    500: "internal.server.error",
    502: "bad.gateway",
    503: "service.unavailable",
    504: "request.timeout",
}


def json_response(
    payload: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def error_body(status: int, code: str, message: str | None, context_id: str) -> dict[str, Any]:
    return {
        "message": message or _MESSAGES.get(code, code),
        "code": code,
        "status": status,
        "contextId": context_id,
        "details": [],
        "errors": [],
    }


def error_response(
    request: web.Request,
    status: int,
    code: str,
    message: str | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> web.Response:
    context = request.get(CONTEXT)
    context_id = context.correlation_id if context is not None else ""
    return json_response(
        error_body(status, code, message, context_id), status=status, headers=headers
    )


def too_many_requests(
    request: web.Request,
    retry_after: int | None,
    *,
    limit: int,
    window_seconds: int,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """The 429 of reference §8: the normalized one with ``Retry-After``, or (``retry_after``
    None) the older ``too.many.requests`` without it."""
    extra = dict(headers or {})
    if retry_after is None:
        return error_response(
            request,
            429,
            "too.many.requests",
            f"Rate limit exceeded the maximum [{limit}] requests within [{window_seconds}] seconds",
            headers=extra,
        )
    extra["Retry-After"] = str(retry_after)
    return error_response(
        request,
        429,
        "too.many.requests.retry.after",
        f"Rate limit exceeded the maximum. Retry the request in [{retry_after}] seconds",
        headers=extra,
    )
