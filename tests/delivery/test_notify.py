"""Webhook notifications: sent with the links, retried, and never fatal."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import yaml
from aiohttp import web

from app.delivery.notify import notify
from app.settings import NotifySettings

REPO = Path(__file__).resolve().parents[2]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MANIFEST: dict[str, Any] = {
    "report": "queue-daily",
    "period": {"label": "2024-05-01"},
    "status": "complete",
    "completeness": "final",
    "counts": {"conversations": 12},
    "files": [
        {
            "name": "queue-daily_2024-05-01.csv",
            "format": "csv",
            "url": "https://bucket.example/x?X-Amz-Signature=abc",
            "url_expires_at": "2024-05-02T06:00:00.000Z",
        }
    ],
}


@contextlib.asynccontextmanager
async def _listening(route: str, hook: Handler) -> AsyncIterator[str]:
    """``hook`` answering POSTs to ``route`` on 127.0.0.1 for the block; yields host:port."""
    app = web.Application()
    app.router.add_post(route, hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"{host}:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[dict[str, Any]], list[int]]]:
    """A webhook on 127.0.0.1 that records bodies and answers a scripted list of statuses."""
    received: list[dict[str, Any]] = []
    statuses: list[int] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=statuses.pop(0) if statuses else 200)

    async with _listening("/hook/{secret}", hook) as address:
        yield f"http://{address}/hook/s3cr3t-token-part", received, statuses


async def test_json_and_slack_notifications(
    receiver: tuple[str, list[dict[str, Any]], list[int]],
) -> None:
    url, received, statuses = receiver
    statuses.extend([500])  # the first attempt fails: retried
    targets = [
        NotifySettings.model_validate({"url": url}),
        NotifySettings.model_validate({"url": url, "format": "slack"}),
    ]
    async with aiohttp.ClientSession() as http:
        results = await notify(http, targets, MANIFEST)
    assert [r["ok"] for r in results] == [True, True]
    assert len(received) == 3
    assert received[1]["report"] == "queue-daily"
    assert received[1]["files"][0]["url"] == MANIFEST["files"][0]["url"]
    assert "queue-daily" in received[2]["text"] and "expires" in received[2]["text"]
    assert all("s3cr3t" not in r["target"] for r in results)


async def test_a_failing_webhook_is_recorded_not_fatal(
    receiver: tuple[str, list[dict[str, Any]], list[int]], caplog: pytest.LogCaptureFixture
) -> None:
    url, received, statuses = receiver
    statuses.extend([503, 503, 503])
    async with aiohttp.ClientSession() as http:
        results = await notify(http, [NotifySettings.model_validate({"url": url})], MANIFEST)
    assert results == [{"target": results[0]["target"], "ok": False, "detail": "HTTP 503"}]
    assert len(received) == 3 and "s3cr3t" not in caplog.text


def test_a_run_with_an_unreachable_webhook_still_succeeds(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    document = yaml.safe_load((REPO / "settings.yaml").read_text())
    document["storage"]["directory"] = str(tmp_path / "reports")
    document["reports"] = [document["reports"][1]]
    document["reports"][0]["notify"] = [{"url": f"http://127.0.0.1:{port}/x", "attempts": 2}]
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump(document))
    result = subprocess.run(
        [sys.executable, "-m", "app", "run", "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    manifest = orjson.loads(result.stdout)["manifest"]
    assert manifest["notifications"][0]["ok"] is False
    on_disk = next((tmp_path / "reports").rglob("manifest.json"))
    assert orjson.loads(on_disk.read_bytes())["notifications"] == manifest["notifications"]


@pytest.fixture
async def redirector() -> AsyncIterator[tuple[str, list[str]]]:
    """A webhook on 127.0.0.1 that answers 307 to another path of itself, and records which
    paths were POSTed to."""
    hits: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        hits.append(request.path)
        if request.path == "/hook":
            raise web.HTTPTemporaryRedirect("/elsewhere")
        return web.Response(status=200)

    async with _listening("/{tail:.*}", hook) as address:
        yield f"http://user:hunter2-password@{address}/hook", hits


async def test_a_redirect_is_not_followed_and_the_target_is_scheme_and_host_only(
    redirector: tuple[str, list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 13, item 3: a 307 would re-POST the links elsewhere; user:password@ stayed in the
    target recorded in the manifest (uploaded to S3)."""
    url, hits = redirector
    target = NotifySettings.model_validate({"url": url, "attempts": 3})
    async with aiohttp.ClientSession() as http:
        results = await notify(http, [target], MANIFEST)
    assert hits == ["/hook"]  # once: a redirect is final, not retried, never followed
    assert results[0]["ok"] is False and "307" in results[0]["detail"]
    port = url.rsplit(":", 1)[1].split("/")[0]
    assert results[0]["target"] == f"http://127.0.0.1:{port}"
    for text in (orjson.dumps(results).decode(), caplog.text):
        assert "hunter2" not in text and "user" not in text and "/hook" not in text


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://hooks.example.com/x", "must use https://"),
        ("https://169.254.169.254/latest/meta-data/", "link-local or cloud metadata"),
        ("https://[fe80::1]/x", "link-local or cloud metadata"),
        ("https://metadata.google.internal/computeMetadata/v1/", "link-local or cloud metadata"),
        ("http://169.254.170.2/v2/credentials", "link-local or cloud metadata"),
        ("https://0.0.0.0/x", "link-local or cloud metadata"),
        ("ftp://hooks.example.com/x", "http(s) URL"),
    ],
)
def test_webhook_urls_are_refused_at_check_config(url: str, words: str) -> None:
    from app.errors import ConfigError
    from app.settings import parse_settings

    document = {"reports": [{"name": "r", "notify": [{"url": url}]}]}
    with pytest.raises(ConfigError) as caught:
        parse_settings(document)
    message = str(caught.value)
    assert "reports[0].notify[0].url" in message and words in message
    assert "meta-data" not in message and "/x" not in message  # the URL is a secret


@pytest.mark.parametrize(
    "url",
    ["https://hooks.slack.com/services/T/B/X", "http://127.0.0.1:8080/x", "http://localhost/x"],
)
def test_webhook_urls_allowed(url: str) -> None:
    assert NotifySettings.model_validate({"url": url}).url.get_secret_value() == url
