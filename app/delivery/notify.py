"""Notifications: a delivered report's message (messages.py) POSTed to webhooks.

A notification is a courtesy, not part of the report: a failed one is retried a few times,
logged, and recorded in the manifest, and never fails the run. Webhook URLs often carry a
secret (Slack's do), so they are registered for redaction and never logged whole.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import aiohttp
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from app.delivery.messages import MESSAGES
from app.redact import REDACTOR, without_urls
from app.settings import NotifySettings
from app.urls import origin

log = logging.getLogger(__name__)


class _Failed(Exception):
    """Worth another attempt (a 5xx, a 429, a connection failure)."""


class _Refused(Exception):
    """Final: the target answered in a way another attempt will not change."""


def _where(url: str) -> str:
    # Scheme and host only: a user, password, path or query may hold the webhook's secret.
    return origin(url)


async def notify(
    http: aiohttp.ClientSession, targets: list[NotifySettings], manifest: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Send to every target; returns one ``{target, ok, detail}`` record per target."""
    results = []
    for target in targets:
        url = target.url.get_secret_value()
        REDACTOR.add(url)
        payload = MESSAGES[target.format](manifest)
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(target.attempts),
                wait=wait_random_exponential(multiplier=0.5, max=10),
                retry=retry_if_exception_type((_Failed, aiohttp.ClientError, TimeoutError)),
                reraise=True,
            ):
                with attempt:
                    # No redirects: a 307 would re-POST the links to wherever it points.
                    async with http.post(
                        url,
                        json=payload,
                        timeout=aiohttp.ClientTimeout(total=15),
                        allow_redirects=False,
                    ) as response:
                        status = response.status
                    if 300 <= status < 400:
                        raise _Refused(f"HTTP {status}: redirects are not followed")
                    if status >= 500 or status == 429:
                        raise _Failed(f"HTTP {status}")
                    if status >= 400:
                        raise _Refused(f"HTTP {status}")
            results.append({"target": _where(url), "ok": True, "detail": "delivered"})
        except (_Failed, _Refused, aiohttp.ClientError, TimeoutError) as exc:
            detail = REDACTOR(without_urls(str(exc)) or type(exc).__name__)
            log.warning("notification to %s failed: %s", _where(url), detail)
            results.append({"target": _where(url), "ok": False, "detail": detail})
    return results
