"""One run per (report, period) across processes and replicas (issue 13, item 8): the lock file
for processes on one host, the S3 lease (conditional PUT, an expiry nobody extends) for
replicas sharing a bucket."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from app.claims import LEASE_MARGIN, Lease, PeriodBusyError, lease_key, local_lock
from app.delivery.s3 import open_s3
from app.pipeline.export import MANIFEST_NAME
from app.pipeline.run import output_directory
from app.runner import resources, run_and_deliver
from app.settings import ServiceSettings
from tests.chaos.s3proxy import FaultyS3Proxy, S3FaultSettings
from tests.delivery.test_delivery import PERIOD, _settings
from tests.s3server import Credentials, S3Server


def test_the_lock_file_refuses_a_second_holder_and_names_the_first(tmp_path: Path) -> None:
    with local_lock(tmp_path, "r", "2024-05-01") as path:
        with pytest.raises(PeriodBusyError) as caught, local_lock(tmp_path, "r", "2024-05-01"):
            pass
        assert "another process on this host" in str(caught.value)
        assert str(path) in str(caught.value) and "pid " in str(caught.value)
        with local_lock(tmp_path, "r", "2024-05-02"):  # another period is free
            pass
    with local_lock(tmp_path, "r", "2024-05-01"):  # released with the block
        pass


async def test_a_second_run_of_the_same_period_is_skipped_while_the_first_runs(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, s3_user: Credentials
) -> None:
    settings = _settings(tmp_path, s3_server, s3_bucket, s3_user)
    settings = settings.model_copy(
        update={"service": ServiceSettings(state_directory=tmp_path / "state")}
    )
    report = settings.reports[0]
    async with resources(settings) as shared:
        first = asyncio.create_task(run_and_deliver(settings, report, PERIOD, shared))
        await asyncio.sleep(0)  # the first takes its claims before it awaits the API
        second = await run_and_deliver(settings, report, PERIOD, shared)
        outcome = await first
    assert outcome.status == "succeeded"
    assert second.status == "skipped" and second.error is not None
    assert "another process on this host" in second.error
    # The lease was released with the run: nothing is left under .leases/.
    listed = s3_server.client("s3").list_objects_v2(
        Bucket=s3_bucket, Prefix="team/genesys/.leases/"
    )
    assert listed.get("KeyCount", 0) == 0


async def test_a_live_lease_of_another_replica_skips_the_run_and_an_expired_one_is_taken_over(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, s3_user: Credentials
) -> None:
    settings = _settings(tmp_path, s3_server, s3_bucket, s3_user)
    report = settings.reports[0]
    assert settings.storage.s3 is not None
    key = lease_key(settings.storage.s3.prefix, report.name, PERIOD.label)
    admin = s3_server.client("s3")

    def leave_lease(expires_at: datetime) -> None:
        body = {"run_id": "other", "host": "replica-2", "pid": 7, "expires_at": expires_at}
        admin.put_object(
            Bucket=s3_bucket, Key=key, Body=orjson.dumps(body), ServerSideEncryption="AES256"
        )

    leave_lease(datetime.now(UTC) + timedelta(minutes=5))
    async with resources(settings) as shared:
        skipped = await run_and_deliver(settings, report, PERIOD, shared)
    assert skipped.status == "skipped" and skipped.error is not None
    assert "leased by run other on replica-2" in skipped.error
    assert not (output_directory(settings, report, PERIOD) / MANIFEST_NAME).exists()

    # A holder that crashed (SIGKILL) left its lease; once it has expired the next run takes it.
    leave_lease(datetime.now(UTC) - timedelta(seconds=1))
    async with resources(settings) as shared:
        taken = await run_and_deliver(settings, report, PERIOD, shared)
    assert taken.status == "succeeded"
    assert admin.list_objects_v2(Bucket=s3_bucket, Prefix=key).get("KeyCount", 0) == 0


async def test_a_lease_lasts_run_timeout_and_a_margin_and_is_never_replaced_while_live(
    s3_server: S3Server, s3_bucket: str, s3_user: Credentials, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, s3_server, s3_bucket, s3_user)
    assert settings.storage.s3 is not None
    async with open_s3(settings.storage.s3) as dest:
        mine = Lease(dest, "leases/x.lease", run_id="a", lifetime=timedelta(hours=4) + LEASE_MARGIN)
        await mine.take()
        body = orjson.loads(
            s3_server.client("s3").get_object(Bucket=s3_bucket, Key=mine.key)["Body"].read()
        )
        left = datetime.fromisoformat(body["expires_at"]) - datetime.now(UTC)
        assert timedelta(hours=4) < left <= timedelta(hours=4) + LEASE_MARGIN
        theirs = Lease(dest, "leases/x.lease", run_id="b", lifetime=timedelta(hours=1))
        with pytest.raises(PeriodBusyError, match="leased by run a"):
            await theirs.take()
        await mine.release()
        await theirs.take()  # free again
        await theirs.release()


async def test_a_lease_put_applied_but_unanswered_is_recognised_as_ours(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, s3_user: Credentials
) -> None:
    """The lease's PUT reaches S3, its answer is lost (reset), botocore sends it again and
    If-None-Match answers 412: the lease found is this run's own, not another replica's."""
    faults = S3FaultSettings(script={"PUT": ["reset_after"]})
    async with FaultyS3Proxy(s3_server.endpoint, faults).serving() as proxy:
        settings = _settings(tmp_path, s3_server, s3_bucket, s3_user, endpoint_url=proxy.base_url)
        settings = settings.model_copy(
            update={"service": ServiceSettings(state_directory=tmp_path / "state")}
        )
        async with resources(settings) as shared:
            outcome = await run_and_deliver(settings, settings.reports[0], PERIOD, shared)
    assert proxy.injected["reset_after"] == 1
    assert outcome.status == "succeeded", outcome.error
