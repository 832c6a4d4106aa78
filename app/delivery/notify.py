"""Notifications: a JSON summary of a delivered report POSTed to webhooks.

A notification is a courtesy, not part of the report: a failed one is retried a few times,
logged, and recorded in the manifest, and never fails the run. Webhook URLs often carry a
secret (Slack's do), so they are registered for redaction and never logged whole.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from app.redact import REDACTOR
from app.settings import NotifySettings

log = logging.getLogger(__name__)


class _Failed(Exception):
    pass


def summary(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What a notification says: the report, the period, its links and when they expire."""
    return {
        "report": manifest.get("report"),
        "period": manifest.get("period"),
        "status": manifest.get("status"),
        "completeness": manifest.get("completeness"),
        "conversations": manifest.get("counts", {}).get("conversations"),
        "files": [
            {
                "name": f.get("name"),
                "format": f.get("format"),
                "url": f.get("url"),
                "url_expires_at": f.get("url_expires_at"),
            }
            for f in manifest.get("files", [])
        ],
    }


def slack_text(document: Mapping[str, Any]) -> str:
    period = document.get("period") or {}
    lines = [f"*{document.get('report')}* for {period.get('label')} is ready"]
    for entry in document.get("files", []):
        target = entry.get("url")
        name = entry.get("name")
        lines.append(
            f"• <{target}|{name}> (link expires {entry.get('url_expires_at')})"
            if target
            else f"• {name}"
        )
    return "\n".join(lines)


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…"


async def notify(
    http: aiohttp.ClientSession, targets: list[NotifySettings], manifest: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Send to every target; returns one ``{target, ok, detail}`` record per target."""
    document = summary(manifest)
    results = []
    for target in targets:
        url = target.url.get_secret_value()
        REDACTOR.add(url)
        payload: dict[str, Any] = dict(document)
        if target.format == "slack":
            payload = {"text": slack_text(document)}
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(target.attempts),
                wait=wait_random_exponential(multiplier=0.5, max=10),
                retry=retry_if_exception_type((_Failed, aiohttp.ClientError, TimeoutError)),
                reraise=True,
            ):
                with attempt:
                    async with http.post(
                        url, json=payload, timeout=aiohttp.ClientTimeout(total=15)
                    ) as response:
                        if response.status >= 300:
                            raise _Failed(f"HTTP {response.status}")
            results.append({"target": _where(url), "ok": True, "detail": "delivered"})
        except (_Failed, aiohttp.ClientError, TimeoutError) as exc:
            detail = REDACTOR(str(exc) or type(exc).__name__)
            log.warning("notification to %s failed: %s", _where(url), detail)
            results.append({"target": _where(url), "ok": False, "detail": detail})
    return results
