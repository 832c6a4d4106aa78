"""S3 throttling (503 SlowDown) and 500s during delivery: retried with growing, jittered backoff
until the upload lands, and a clean failure naming the cause when S3 never lets up.

The fault proxy of the chaos soak (tests/chaos/s3proxy.py) sits between the delivery and
ministack on 127.0.0.1 and answers scripted PUTs itself; everything else is forwarded, so the
signatures, checksums and links are ministack's real ones."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.delivery.s3 import S3_ATTEMPTS
from app.errors import DeliveryError
from tests.chaos.s3proxy import FaultyS3Proxy, S3FaultSettings, running_proxy
from tests.delivery.test_delivery import _run_and_deliver, _settings
from tests.genesys.conftest import Connect
from tests.s3server import Credentials, S3Server, http_request, sha256_hex

_DELAY = re.compile(r"retrying request after delay of: ([0-9.e-]+)")


@contextlib.asynccontextmanager
async def _delivered_through(
    connect: Connect,
    tmp_path: Path,
    s3_server: S3Server,
    bucket: str,
    user: Credentials,
    put_script: list[str],
) -> AsyncIterator[tuple[FaultyS3Proxy, DeliveryError | None, dict[str, Any] | None]]:
    """Run a report and deliver it through a fault proxy answering PUTs as ``put_script``
    says (then forwarding them); the proxy keeps serving in the block, for the links."""
    faults = S3FaultSettings(script={"PUT": put_script})
    async with running_proxy(s3_server.endpoint, faults) as proxy:
        settings = _settings(tmp_path, s3_server, bucket, user, endpoint_url=proxy.base_url)
        try:
            _, manifest = await _run_and_deliver(connect, settings)
        except DeliveryError as error:
            yield proxy, error, None
        else:
            yield proxy, None, manifest


def _put_arrivals(proxy: FaultyS3Proxy) -> list[tuple[str, float, str | None]]:
    return [(path, at, fault) for cls, _, path, at, fault in proxy.arrivals if cls == "PUT"]


def _logged_delays(caplog: pytest.LogCaptureFixture) -> list[float]:
    return [
        float(match.group(1))
        for record in caplog.records
        if (match := _DELAY.search(record.getMessage()))
    ]


async def test_slowdown_and_500s_are_retried_with_backoff_and_the_report_lands(
    connect: Connect,
    tmp_path: Path,
    s3_server: S3Server,
    s3_bucket: str,
    s3_user: Credentials,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="botocore.retries.standard")
    script = ["slowdown", "slowdown", "internal", "slowdown"]  # the first upload, 4 times
    async with _delivered_through(connect, tmp_path, s3_server, s3_bucket, s3_user, script) as (
        proxy,
        error,
        manifest,
    ):
        assert error is None and manifest is not None
        # What landed is the report: each link downloads the bytes the manifest lists.
        assert len(manifest["files"]) == 2
        for entry in manifest["files"]:
            got = await asyncio.to_thread(http_request, entry["url"])  # the proxy is in this loop
            assert got.status == 200 and sha256_hex(got.body) == entry["sha256"]

    # The first file's key was refused four times, then accepted: five PUTs of one key.
    puts = _put_arrivals(proxy)
    first_key = puts[0][0]
    attempts = [(at, fault) for path, at, fault in puts if path == first_key]
    assert [fault for _, fault in attempts] == [*script, None]
    assert proxy.injected == {"slowdown": 3, "internal": 1} and proxy.retries == 4

    # Backoff: botocore chose a delay before each retry (jittered, under a doubling cap) and the
    # retry reached S3 no sooner than that delay after the refused attempt.
    delays = _logged_delays(caplog)
    assert len(delays) == len(script)
    for number, delay in enumerate(delays, start=1):
        assert 0 < delay <= 2 ** (number - 1)
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(attempts)]
    for gap, delay in zip(gaps, delays, strict=True):
        assert gap >= delay


async def test_s3_that_never_lets_up_fails_the_delivery_cleanly(
    connect: Connect, tmp_path: Path, s3_server: S3Server, s3_bucket: str, s3_user: Credentials
) -> None:
    script = ["slowdown"] * (S3_ATTEMPTS + 4)  # more than the client will ever try
    async with _delivered_through(connect, tmp_path, s3_server, s3_bucket, s3_user, script) as (
        proxy,
        error,
        _,
    ):
        pass
    assert error is not None
    message = str(error)
    assert "SlowDown" in message and "local copies are kept in" in message
    assert f"s3://{s3_bucket}/team/genesys/numbers/" in message  # the object that failed

    # Bounded: the one key was tried exactly S3_ATTEMPTS times, then nothing more was sent.
    puts = _put_arrivals(proxy)
    assert [fault for _, _, fault in puts] == ["slowdown"] * S3_ATTEMPTS
    assert len({path for path, _, _ in puts}) == 1
    # Nothing remote says the period is done; the local data files are kept for a re-run.
    listing = s3_server.client("s3").list_objects_v2(Bucket=s3_bucket).get("Contents", [])
    assert not [o["Key"] for o in listing if o["Key"].endswith("manifest.json")]
    local = sorted(p.name for p in (tmp_path / "reports").rglob("*") if p.is_file())
    assert local and "manifest.json" not in local
