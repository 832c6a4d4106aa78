"""A deliberately plain client for the sandbox tests: no retries, no cleverness, so that what a
test sees is what the sandbox sent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from app.sandbox.server import RunningSandbox

QUERY = "/api/v2/analytics/conversations/details/query"
JOBS = "/api/v2/analytics/conversations/details/jobs"


def basic(client_id: str, client_secret: str) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(client_id, client_secret)}


async def get_token(http: aiohttp.ClientSession, running: RunningSandbox) -> str:
    async with http.post(
        f"{running.base_url}/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic(running.client_id, running.client_secret),
    ) as response:
        assert response.status == 200, await response.text()
        body = await response.json()
    return str(body["access_token"])


async def call(
    http: aiohttp.ClientSession,
    running: RunningSandbox,
    method: str,
    path: str,
    token: str | None,
    *,
    json: Any = None,
    # A list of pairs repeats a name (id=a&id=b).
    params: dict[str, str] | list[tuple[str, str]] | None = None,
) -> tuple[int, Any, Mapping[str, str]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.request(
        method, f"{running.base_url}{path}", json=json, params=params, headers=headers
    ) as response:
        body = None if response.status == 204 else await response.json()
        return response.status, body, dict(response.headers)


async def query_all_pages(
    http: aiohttp.ClientSession,
    running: RunningSandbox,
    token: str,
    body: dict[str, Any],
    page_size: int = 100,
) -> tuple[list[dict[str, Any]], list[int]]:
    """Every conversation of a query, page by page until `conversations` is absent."""
    conversations: list[dict[str, Any]] = []
    totals: list[int] = []
    page = 1
    while True:
        paged = {**body, "paging": {"pageSize": page_size, "pageNumber": page}}
        status, payload, _ = await call(http, running, "POST", QUERY, token, json=paged)
        assert status == 200, payload
        totals.append(payload["totalHits"])
        if "conversations" not in payload:
            return conversations, totals
        conversations.extend(payload["conversations"])
        page += 1
