"""Two `serve` replicas on one S3 bucket (issue 13, item 8): SIGUSR1 to both delivers each
period once; a replica killed with SIGKILL mid-run leaves a lease that the other takes over once
it expires (it is never extended)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from app.periods import parse_instant
from tests.s3server import Credentials, S3Server
from tests.service.conftest import stopper
from tests.service.test_serve import REPO, Served, _start

__all__ = ["stopper"]


def _config(
    tmp_path: Path, name: str, server: S3Server, bucket: str, user: Credentials, **sandbox: Any
) -> Path:
    root = tmp_path / name
    root.mkdir()
    document = {
        "service": {
            "state_directory": str(root / "state"),  # each replica its own host
            "heartbeat_interval": "PT1S",
            "shutdown_grace": "PT2S",
            "catch_up": "PT0S",
            "lease_margin": "PT1S",
        },
        "storage": {
            "kind": "s3",
            "directory": str(root / "reports"),
            "s3": {
                "bucket": bucket,
                "region": server.region,
                "endpoint_url": server.endpoint,
                "access_key_id": user.access_key_id,
                "secret_access_key": user.secret_access_key,
            },
        },
        "sandbox": {"volume": {"peak_per_hour": 60}, **sandbox},
        "reports": [
            {
                "name": "shared",
                "schedule": "0 3 1 1 *",  # not during this test: SIGUSR1 triggers
                "period": "previous_hour",
                "group_by": ["queue_id"],
                "fetch": "query",
                "run_timeout": "PT20S",
            }
        ],
    }
    path = root / "settings.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _finished(served: Served) -> list[str]:
    """The outcome of each run, in order: 'succeeded', 'skipped', 'failed'."""
    return [
        line["message"].rsplit(" ", 1)[-1]
        for line in served.lines
        if line.get("message", "").startswith("run finished: shared")
    ]


async def test_sigusr1_to_two_replicas_delivers_the_period_once(
    tmp_path: Path,
    s3_server: S3Server,
    s3_bucket: str,
    s3_user: Credentials,
    stopper: list[Served],
) -> None:
    configs = [_config(tmp_path, name, s3_server, s3_bucket, s3_user) for name in "ab"]
    # The latest period delivered beforehand (a one-shot run, no trigger), so neither replica
    # has anything to catch up at start: only the SIGUSR1 below makes them run.
    before = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "run",
        "--config",
        str(configs[0]),
        cwd=configs[0].parent,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, errors = await asyncio.wait_for(before.communicate(), 120)
    assert before.returncode == 0, errors.decode()
    replicas = [await _start(config) for config in configs]
    stopper.extend(replicas)
    for served in replicas:
        await served.wait_for("serving 1 reports")
    for served in replicas:
        served.process.send_signal(signal.SIGUSR1)
    for served in replicas:
        await served.wait_for("run finished: shared")
    for served in replicas:
        served.process.send_signal(signal.SIGTERM)
    for served in replicas:
        await asyncio.wait_for(served.drain(), 30)
        assert await served.process.wait() == 0
    outcomes = sorted(outcome for served in replicas for outcome in _finished(served))
    # One SIGUSR1 to each replica: one delivered the period, the other skipped it (the lease
    # was held, or the manifest says this trigger was answered).
    assert outcomes == ["skipped", "succeeded"]
    delivered = [
        line
        for served in replicas
        for line in served.lines
        if line.get("message", "").startswith("delivered ")
    ]
    assert len(delivered) == 1


async def test_a_killed_holders_lease_is_taken_over_once_it_expires(
    tmp_path: Path,
    s3_server: S3Server,
    s3_bucket: str,
    s3_user: Credentials,
    stopper: list[Served],
) -> None:
    # A's detail queries answer after 60 s: it is mid-run, holding the lease, when killed.
    slow = {"faults": [{"endpoint": "details_query", "kind": "slow", "slow_seconds": 60}]}
    holder = await _start(_config(tmp_path, "a", s3_server, s3_bucket, s3_user, **slow))
    stopper.append(holder)
    await holder.wait_for("run started: shared")
    await holder.wait_for("leased until")
    taker_config = _config(tmp_path, "b", s3_server, s3_bucket, s3_user)
    lease = ".leases/shared/"
    admin = s3_server.client("s3")
    listed = admin.list_objects_v2(Bucket=s3_bucket, Prefix=lease)
    assert listed.get("KeyCount", 0) == 1
    holder.process.kill()  # SIGKILL: no clean-up, the lease stays
    await holder.process.wait()
    key = listed["Contents"][0]["Key"]
    body = yaml.safe_load(admin.get_object(Bucket=s3_bucket, Key=key)["Body"].read())
    expires = parse_instant(body["expires_at"])

    taker = await _start(taker_config)
    stopper.append(taker)
    await taker.wait_for("run finished: shared")  # the start-up catch-up meets the lease
    assert _finished(taker) == ["skipped"]
    assert any("leased by run" in line.get("message", "") for line in taker.lines)
    # The lease is not extended by anyone: once its expiry passes, the next trigger runs.
    await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.5)
    taker.process.send_signal(signal.SIGUSR1)
    await taker.wait_for("run finished: shared", occurrence=2, within=90)
    assert _finished(taker) == ["skipped", "succeeded"]
    assert any(
        "taking over a lease that expired" in line.get("message", "") for line in taker.lines
    )
    taker.process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(taker.drain(), 30)
    assert admin.list_objects_v2(Bucket=s3_bucket, Prefix=lease).get("KeyCount", 0) == 0
