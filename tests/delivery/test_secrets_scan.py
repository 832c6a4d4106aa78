"""Every command, with faults on, scanned for secrets: the client secret, access tokens and the
AWS secret key must appear in no output, log line or written file. Presigned links are allowed
only where asked for (manifest, --json output)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import yaml

from tests.s3server import Credentials, S3Server

REPO = Path(__file__).resolve().parents[2]
CLIENT_SECRET = "client-secret-that-must-never-leak"
# What a sandbox access token looks like (secrets.token_urlsafe(32)): 43 URL-safe characters.
TOKEN_SHAPE = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")


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
    document["storage"] = {
        "kind": "s3",
        "directory": str(tmp_path / "reports"),
        "s3": {
            "bucket": bucket,
            "region": server.region,
            "endpoint_url": server.endpoint,
            "access_key_id": "${GR_TEST_KEY}",
            "secret_access_key": "${GR_TEST_SECRET}",
        },
    }
    document["service"] = {"state_directory": str(tmp_path / "state"), "catch_up": "PT0S"}
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
    for line in serve.stderr:  # until the start-up run has finished, then stop it
        outputs.append(line)
        if "run finished" in line:
            break
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
        assert not TOKEN_SHAPE.findall(text), TOKEN_SHAPE.findall(text)[:3]
    # Links only where asked for: the --json output and the manifests, nowhere else.
    for text, where in [(o, "output") for o in outputs[:2] + outputs[3:]] + [
        (w, "file") for w in written
    ]:
        if "X-Amz-Signature" in text:
            assert where == "file" and '"files"' in text  # a manifest
    assert "X-Amz-Signature" in json_run.stdout
