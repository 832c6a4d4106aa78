"""The oracle the conformance suite compares the API's answers with, and the wire bodies."""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

CLIENT_ID = "conformance-client"
CLIENT_SECRET = "conformance-secret-0123456789"


@dataclass(frozen=True)
class Sandbox:
    base_url: str
    process: subprocess.Popen[str]


def genesys() -> Any:
    """The official SDK's package, imported on first use (170 MB: seconds to import)."""
    import PureCloudPlatformClientV2

    return PureCloudPlatformClientV2


def wire(sdk: Any) -> Any:
    """The body of the SDK's last response as it crossed the wire (``ApiClient.last_response``
    is the SDK's own record of it), for comparing key by key with the model."""
    return json.loads(sdk.last_response.data)


def ground_truth(
    sandbox: Sandbox, start: str, end: str, *, same_day: bool = True
) -> list[dict[str, Any]]:
    """What a query for ``[start, end)`` selects, from the sandbox's own record of every
    conversation (its admin endpoint, outside the API): the oracle the API's answers are
    compared with. Reference §4.3: a conversation whose activity overlaps the interval and, for
    the synchronous query (``same_day``), that started on a UTC day the interval touches; an
    async job (§5.1) takes any conversation active in the interval, so the oracle looks back
    one day, which is longer than any sandbox conversation lasts."""
    low, high = datetime.fromisoformat(start), datetime.fromisoformat(end)
    since = low.replace(hour=0, minute=0, second=0, microsecond=0)
    if not same_day:
        since = low - timedelta(days=1)
    query = urllib.parse.urlencode({"start": since.isoformat(), "end": end})
    request = urllib.request.Request(  # noqa: S310 - loopback only
        f"{sandbox.base_url}/sandbox/conversations?{query}",
        headers={"Authorization": _basic(CLIENT_ID, CLIENT_SECRET)},
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        records: list[dict[str, Any]] = json.loads(response.read())["conversations"]
    return [
        r
        for r in records
        if datetime.fromisoformat(r["conversationStart"]) < high
        and ("conversationEnd" not in r or datetime.fromisoformat(r["conversationEnd"]) > low)
    ]


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
