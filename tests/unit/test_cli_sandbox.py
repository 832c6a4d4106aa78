"""``genesys-reports sandbox`` as a user runs it: a real process on a real port."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from tests.examples import official_clause_example

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def standalone() -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "sandbox",
        "--port",
        str(port),
        "--client-id",
        "a",
        "--client-secret",
        "b",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    banner = []
    while True:  # the banner is the readiness signal
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        assert line, "sandbox exited before it was ready"
        banner.append(line)
        if line.startswith("Press Ctrl-C"):
            break
    text = "".join(banner)
    assert f"http://127.0.0.1:{port}" in text
    assert "client id:     a" in text and "client secret: b" in text
    yield f"http://127.0.0.1:{port}", process
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)


async def test_standalone_sandbox_serves_tokens_and_queries(
    standalone: tuple[str, asyncio.subprocess.Process],
) -> None:
    base_url, process = standalone
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base_url}/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": aiohttp.encode_basic_auth("a", "b")},
        ) as response:
            assert response.status == 200
            token = (await response.json())["access_token"]
        # Yesterday mid-morning: always in the past, never a quiet night hour.
        start = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
        start -= timedelta(days=1)
        interval = f"{start:%Y-%m-%dT%H:%M:%SZ}/{start + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}"
        body = official_clause_example(interval)
        async with http.post(
            f"{base_url}/api/v2/analytics/conversations/details/query",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            assert response.status == 200
            payload = await response.json()
    assert payload["totalHits"] > 0 and payload["conversations"]
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 30) == 0
