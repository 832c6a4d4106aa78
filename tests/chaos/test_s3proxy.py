"""The chaos soak's S3 proxy: requests pass verbatim (an IAM user's SigV4 signatures, made for
the proxy's host:port, still verify upstream), and its faults are what S3 would answer."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import aioboto3
import aiohttp
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from app.delivery.s3 import client_config
from tests.chaos.s3proxy import FaultyS3Proxy, S3FaultSettings, running_proxy
from tests.chaos.soak import S3Target

KEY = "chaos/a+b c/Zürich (1).csv"  # a "+", a space, non-ASCII, parentheses
BODY = b"queue,conversations\r\nSales,12\r\n"


async def _client(proxy: FaultyS3Proxy, target: S3Target, **config: Any) -> Any:
    return aioboto3.Session().client(
        "s3",
        region_name=target.server.region,
        endpoint_url=proxy.base_url,
        aws_access_key_id=target.user.access_key_id,
        aws_secret_access_key=target.user.secret_access_key,
        config=config.get("config", client_config()),
    )


@pytest.fixture
async def proxy(s3_target: S3Target) -> AsyncIterator[FaultyS3Proxy]:
    async with running_proxy(s3_target.server.endpoint, S3FaultSettings()) as running:
        yield running


async def test_requests_pass_verbatim(proxy: FaultyS3Proxy, s3_target: S3Target) -> None:
    async with await _client(proxy, s3_target) as s3:
        await s3.put_object(
            Bucket=s3_target.bucket,
            Key=KEY,
            Body=BODY,
            ContentType="text/csv",
            ChecksumAlgorithm="SHA256",
        )
        head = await s3.head_object(Bucket=s3_target.bucket, Key=KEY)
        assert head["ContentLength"] == len(BODY)
        got = await s3.get_object(Bucket=s3_target.bucket, Key=KEY)
        async with got["Body"] as stream:
            assert await stream.read() == BODY
        url = await s3.generate_presigned_url(
            "get_object", Params={"Bucket": s3_target.bucket, "Key": KEY}, ExpiresIn=60
        )
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as response:
            assert response.status == 200
            assert hashlib.sha256(await response.read()).digest() == hashlib.sha256(BODY).digest()
        async with http.get(url.replace("X-Amz-Expires=60", "X-Amz-Expires=61")) as response:
            assert response.status == 403  # the signature is still checked behind the proxy
    assert proxy.requests == 5 and not proxy.injected and proxy.retries == 0


async def test_faults_are_s3_errors_and_counted(s3_target: S3Target) -> None:
    script = {"PUT": ("slowdown", "internal", "reset", "reset_after"), "HEAD": ("stall",)}
    settings = S3FaultSettings(script=script, stall_seconds=0.01)
    no_retries = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"total_max_attempts": 1, "mode": "standard"},
    )
    async with running_proxy(s3_target.server.endpoint, settings) as proxy:
        async with await _client(proxy, s3_target, config=no_retries) as s3:
            codes = []
            for _ in range(2):
                with pytest.raises(ClientError) as caught:
                    await s3.put_object(Bucket=s3_target.bucket, Key=KEY, Body=BODY)
                codes.append(caught.value.response["Error"]["Code"])
            assert codes == ["SlowDown", "InternalError"]
        # botocore's standard retries get through the resets (the second one after the upload
        # was applied upstream), and the stalled HEAD is only late.
        async with await _client(proxy, s3_target) as s3:
            await s3.put_object(Bucket=s3_target.bucket, Key=KEY, Body=BODY)
            head = await s3.head_object(Bucket=s3_target.bucket, Key=KEY)
            assert head["ContentLength"] == len(BODY)
    assert proxy.injected == {
        "slowdown": 1,
        "internal": 1,
        "reset": 1,
        "reset_after": 1,
        "stall": 1,
    }
    assert proxy.retries >= 3
