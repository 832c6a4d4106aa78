"""storage.s3.call_timeout (issue 13, item 5): an S3 call that never ends fails the delivery
naming the call, the object and the setting, instead of holding the run for ever."""

from __future__ import annotations

from pathlib import Path

from app.pipeline.export import MANIFEST_NAME
from app.pipeline.run import output_directory
from app.runner import resources, run_and_deliver
from tests.chaos.s3proxy import FaultyS3Proxy, S3FaultSettings
from tests.delivery.test_delivery import PERIOD, _settings
from tests.s3server import Credentials, S3Server


async def test_a_stalled_upload_fails_after_call_timeout(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, s3_user: Credentials
) -> None:
    # The period's lease goes through; the first upload stalls.
    faults = S3FaultSettings(script={"PUT": ["ok", "stall"]}, stall_seconds=60)
    async with FaultyS3Proxy(s3_server.endpoint, faults).serving() as proxy:
        settings = _settings(
            tmp_path,
            s3_server,
            s3_bucket,
            s3_user,
            endpoint_url=proxy.base_url,
            call_timeout="PT1S",
        )
        report = settings.reports[0]
        async with resources(settings) as shared:
            outcome = await run_and_deliver(settings, report, PERIOD, shared)
    assert outcome.status == "failed" and outcome.error is not None
    assert "storage.s3.call_timeout (1 s)" in outcome.error
    assert f"put_object of s3://{s3_bucket}/team/genesys/numbers/" in outcome.error
    assert not (output_directory(settings, report, PERIOD) / MANIFEST_NAME).exists()
