"""A run cancelled (SIGTERM, shutdown grace over) while its report is being uploaded: the
local manifest, committed before the upload, must not be left saying the period is done."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import web

from app.pipeline.export import MANIFEST_NAME
from app.pipeline.run import output_directory
from app.runner import resources, run_and_deliver
from tests.chaos.s3proxy import FaultyS3Proxy, S3FaultSettings
from tests.delivery.test_delivery import PERIOD, _settings
from tests.s3server import Credentials, S3Server


class _PutWatcher(FaultyS3Proxy):
    """Sets ``put_arrived`` when the first signed PUT of an upload reaches the proxy."""

    def __init__(self, upstream: str, settings: S3FaultSettings) -> None:
        super().__init__(upstream, settings)
        self.put_arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        # The period's lease (a PUT too) comes before the report's first upload.
        upload = "/.leases/" not in request.path
        if request.method == "PUT" and "Authorization" in request.headers and upload:
            self.put_arrived.set()
        return await super().handle(request)


async def test_a_run_cancelled_mid_upload_leaves_the_period_not_done(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, s3_user: Credentials
) -> None:
    # The first upload stalls far longer than the test waits: the cancellation comes first.
    # The lease's PUT goes through; the upload after it stalls.
    faults = S3FaultSettings(script={"PUT": ["ok", "stall"]}, stall_seconds=120)
    proxy = _PutWatcher(s3_server.endpoint, faults)
    async with proxy.serving():
        settings = _settings(tmp_path, s3_server, s3_bucket, s3_user, endpoint_url=proxy.base_url)
        report = settings.reports[0]
        manifest = output_directory(settings, report, PERIOD) / MANIFEST_NAME
        async with resources(settings) as shared:
            run = asyncio.create_task(run_and_deliver(settings, report, PERIOD, shared))
            await proxy.put_arrived.wait()
            assert manifest.is_file()  # committed locally, the upload under way
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run

    assert not manifest.exists()
    kept = sorted(p.name for p in manifest.parent.iterdir())
    assert [name.rsplit(".", 1)[-1] for name in kept] == ["csv", "gz"]  # data files kept
    listing = s3_server.client("s3").list_objects_v2(Bucket=s3_bucket).get("Contents", [])
    assert not [o["Key"] for o in listing if o["Key"].endswith(MANIFEST_NAME)]
