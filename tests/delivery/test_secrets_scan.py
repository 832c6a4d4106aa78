"""Every command, with faults on, scanned for secrets: the client secret, access tokens and the
AWS secret key must appear in no output, log line or written file. Presigned links are allowed
only where asked for (manifest, --json output)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.s3server import Credentials, S3Server, storage_section

REPO = Path(__file__).resolve().parents[2]
CLIENT_SECRET = "client-secret-that-must-never-leak"
# What a sandbox access token looks like (secrets.token_urlsafe(32)): 43 URL-safe characters.
TOKEN_SHAPE = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")


def _tokens(text: str) -> list[str]:
    """Token-shaped words: 43 URL-safe characters with an upper-case letter and a digit, as
    random ones have (a metric name such as genesys_reports_run_duration_seconds_bucket has
    neither)."""
    return [
        word
        for word in TOKEN_SHAPE.findall(text)
        if any(c.isupper() for c in word) and any(c.isdigit() for c in word)
    ]


def _config(tmp_path: Path, server: S3Server, bucket: str) -> Path:
    document = yaml.safe_load((REPO / "settings.yaml").read_text())
    document["genesys"].update(
        retry_backoff="PT0.01S", retry_backoff_max="PT0.05S", retry_attempts=8
    )
    document["sandbox"].update(
        client_secret=CLIENT_SECRET,
        jobs={"delay": "PT0.2S"},
        faults=[
            {
                "endpoint": "*",
                "kind": kind,
                "probability": 0.04,
                "retry_after_seconds": 0,
            }
            for kind in ("429", "503", "reset", "bad_json", "truncated", "revoke_token")
        ],
    )
    document["storage"] = storage_section(tmp_path / "reports", server, bucket)
    document["service"] = {
        "state_directory": str(tmp_path / "state"),
        "catch_up": "PT0S",
        "listen": "127.0.0.1:0",  # /healthz and /metrics are scanned too
    }
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_no_command_leaks_a_secret(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, s3_user: Credentials
) -> None:
    config = _config(tmp_path, s3_server, s3_bucket)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "GR_TEST_KEY": s3_user.access_key_id,
        "GR_TEST_SECRET": s3_user.secret_access_key,
    }
    outputs: list[str] = []

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "app", *args, "--config", str(config)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=240,
            check=False,
        )
        outputs.append(result.stdout + result.stderr)
        return result

    assert run("check-config").returncode == 0
    assert run("query", "--report", "queue-daily", "--period", "previous_day").returncode == 0
    json_run = run("run", "--json")
    assert json_run.returncode in {0, 1}
    assert run("run", "--report", "agent-hourly").returncode in {0, 1}
    serve = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--run-now", "--config", str(config)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert serve.stderr is not None
    listening = None
    for line in serve.stderr:  # until the start-up run has finished, then stop it
        outputs.append(line)
        if "health and metrics at " in line:
            listening = re.search(r"(http://[0-9.:]+)/healthz", line)
        if "run finished" in line:
            break
    assert listening is not None
    for page in ("healthz", "metrics"):
        url = f"{listening.group(1)}/{page}"  # http on loopback, from the service's own log
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310
            outputs.append(answer.read().decode())
    assert "genesys_reports_runs_total" in outputs[-1]
    serve.send_signal(signal.SIGTERM)
    rest, errors = serve.communicate(timeout=60)
    outputs += [rest, errors]
    run("check")

    written = [
        p.read_bytes().decode("utf-8", "replace")
        for p in tmp_path.rglob("*")
        if p.is_file() and p.suffix != ".gz" and p.name != "settings.yaml"
    ]
    for text in outputs + written:
        assert CLIENT_SECRET not in text
        assert s3_user.secret_access_key not in text
        assert not _tokens(text), _tokens(text)[:3]
    # Links only where asked for: the --json output and the manifests, nowhere else.
    for text, where in [(o, "output") for o in outputs[:2] + outputs[3:]] + [
        (w, "file") for w in written
    ]:
        if "X-Amz-Signature" in text:
            assert where == "file" and '"files"' in text  # a manifest
    assert "X-Amz-Signature" in json_run.stdout


WEBHOOK_PASSWORD = "webhook-password-never-shown"
WEBHOOK_PATH_SECRET = "T000/B000/webhook-path-secret"


async def test_no_channel_leaks_a_secret_with_faults_and_a_failing_link_check(
    tmp_path: Path,
    s3_server: S3Server,
    s3_bucket: str,
    s3_user: Credentials,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 13's acceptance: logs at DEBUG (botocore included), the run's error (what stderr,
    --json, the heartbeat and /healthz show), the --json document, the manifests and the
    webhook bodies, with Genesys faults on, one run whose link check fails (a redirect loop:
    aiohttp's error text holds the whole link) and one that succeeds and notifies."""
    import logging

    from aiohttp import web

    from app.cli import _print_outcome
    from app.logs import configure_logging
    from app.runner import resources, run_and_deliver
    from app.settings import Settings
    from tests.chaos.s3proxy import FaultyS3Proxy, S3FaultSettings, request_class
    from tests.delivery.test_delivery import PERIOD

    bodies: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        bodies.append((await request.read()).decode())
        return web.Response(status=200)

    fail_links = True

    class Proxy(FaultyS3Proxy):
        async def handle(self, request: web.Request) -> web.StreamResponse:
            if fail_links and request_class(request) == "presigned":
                raise web.HTTPTemporaryRedirect(str(request.url))
            return await super().handle(request)

    app = web.Application()
    app.router.add_post("/{tail:.*}", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    webhook = f"http://hooks:{WEBHOOK_PASSWORD}@{host}:{port}/services/{WEBHOOK_PATH_SECRET}"

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("DEBUG", json_lines=True)
    outputs: list[str] = []
    try:
        async with Proxy(s3_server.endpoint, S3FaultSettings()).serving() as proxy:
            settings = Settings.model_validate(
                {
                    "genesys": {"retry_backoff": "PT0.01S", "retry_backoff_max": "PT0.05S"},
                    "sandbox": {
                        "client_secret": CLIENT_SECRET,
                        "now": "2024-05-02T00:00:00Z",
                        "token_lifetime": "PT3S",
                        "faults": [
                            {"endpoint": "*", "kind": kind, "probability": 0.05}
                            for kind in ("429", "503", "reset", "revoke_token")
                        ],
                    },
                    "service": {"state_directory": str(tmp_path / "state")},
                    "storage": {
                        "kind": "s3",
                        "directory": str(tmp_path / "reports"),
                        "s3": {
                            "bucket": s3_bucket,
                            "region": s3_server.region,
                            "endpoint_url": proxy.base_url,
                            "access_key_id": s3_user.access_key_id,
                            "secret_access_key": s3_user.secret_access_key,
                        },
                    },
                    "reports": [
                        {
                            "name": "scan",
                            "group_by": ["queue_id"],
                            "fetch": "query",
                            "notify": [{"url": webhook}, {"url": webhook, "format": "slack"}],
                        }
                    ],
                }
            )
            report = settings.reports[0]
            async with resources(settings) as shared:
                failed = await run_and_deliver(settings, report, PERIOD, shared)
                fail_links = False
                delivered = await run_and_deliver(settings, report, PERIOD, shared)
            for outcome in (failed, delivered):
                _print_outcome(outcome, as_json=True)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        await runner.cleanup()
    captured = capsys.readouterr()
    assert failed.status == "failed" and failed.error is not None
    assert "presigned_link_works" in failed.error
    assert delivered.status == "succeeded" and len(bodies) == 2
    outputs += [captured.err, failed.error, *bodies]
    manifests = [p.read_text() for p in (tmp_path / "reports").rglob("manifest.json")]
    assert manifests
    json_documents = captured.out.splitlines()
    for text in [*outputs, *manifests, *json_documents]:
        for secret in (CLIENT_SECRET, s3_user.secret_access_key, WEBHOOK_PASSWORD):
            assert secret not in text
        assert WEBHOOK_PATH_SECRET not in text
        assert not _tokens(text), _tokens(text)[:3]
    # Links (and so signatures) only in the manifests' and --json's url fields; webhook
    # messages carry them too, by design: they go to the configured, secret URL.
    for text in [captured.err, failed.error]:
        assert "X-Amz-Signature=" not in text.replace("X-Amz-Signature=***", "")
    assert "X-Amz-Signature" in manifests[0] and "X-Amz-Signature" in json_documents[-1]
