"""When the service counts a period as done (and so does not catch it up): its manifest exists,
locally or in S3 when delivering there; with ``rerun_provisional``, only a manifest that does
not say ``provisional`` counts, read from S3 in S3 mode."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from app.delivery.keys import object_key
from app.errors import DeliveryError
from app.models import Period
from app.pipeline.run import output_directory
from app.runner import resources
from app.service.catchup import recent_periods
from app.service.serve import Service
from app.settings import ReportSettings, Settings
from tests.delivery.test_delivery import PERIOD, _settings
from tests.s3server import Credentials, S3Server, bucket_policy, create_user


def _with_rerun(settings: Settings, rerun_provisional: bool) -> Settings:
    service = settings.service.model_copy(update={"rerun_provisional": rerun_provisional})
    return settings.model_copy(update={"service": service})


MANIFESTS = [
    (None, False, False),  # no manifest: not done either way
    (b'{"completeness": "final"}', True, True),
    (b'{"completeness": "provisional"}', True, False),  # done, unless provisional ones re-run
    (b"not json", True, False),  # unreadable: re-run rather than trust it
]


@pytest.mark.parametrize(("body", "done", "done_if_rerunning"), MANIFESTS)
@pytest.mark.parametrize("rerun_provisional", [False, True])
async def test_done_in_s3_mode_reads_the_remote_manifest(
    tmp_path: Path,
    s3_server: S3Server,
    s3_bucket: str,
    s3_user: Credentials,
    body: bytes | None,
    done: bool,
    done_if_rerunning: bool,
    rerun_provisional: bool,
) -> None:
    settings = _with_rerun(_settings(tmp_path, s3_server, s3_bucket, s3_user), rerun_provisional)
    report = settings.reports[0]
    assert settings.storage.s3 is not None
    key = object_key(
        settings.storage.s3.key_template,
        prefix=settings.storage.s3.prefix,
        report=report.name,
        period=PERIOD.label,
        file="manifest.json",
    )
    if body is not None:
        s3_server.client("s3").put_object(Bucket=s3_bucket, Key=key, Body=body)
    # A local manifest saying the opposite must not matter in S3 mode.
    local = output_directory(settings, report, PERIOD) / "manifest.json"
    local.parent.mkdir(parents=True)
    local.write_bytes(orjson.dumps({"completeness": "final"}))

    service = Service(tmp_path / "settings.yaml", settings)
    async with resources(settings) as shared:
        service._shared = shared
        answer = await service._done(report, PERIOD)
    assert answer == (done_if_rerunning if rerun_provisional else done)


@pytest.mark.parametrize(("body", "done", "done_if_rerunning"), MANIFESTS)
@pytest.mark.parametrize("rerun_provisional", [False, True])
async def test_done_in_local_mode_reads_the_local_manifest(
    tmp_path: Path,
    body: bytes | None,
    done: bool,
    done_if_rerunning: bool,
    rerun_provisional: bool,
) -> None:
    settings = _with_rerun(
        Settings.model_validate(
            {"storage": {"directory": str(tmp_path / "reports")}, "reports": [{"name": "r"}]}
        ),
        rerun_provisional,
    )
    report = settings.reports[0]
    if body is not None:
        local = output_directory(settings, report, PERIOD) / "manifest.json"
        local.parent.mkdir(parents=True)
        local.write_bytes(body)
    service = Service(tmp_path / "settings.yaml", settings)
    assert await service._done(report, PERIOD) == (done_if_rerunning if rerun_provisional else done)


async def test_an_s3_that_cannot_be_asked_skips_the_catch_up_not_the_scheduled_run(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    # This identity may upload but not read: asking whether a manifest exists is refused.
    user = create_user(s3_server, bucket_policy(s3_bucket, ["s3:PutObject"]))
    settings = _settings(tmp_path, s3_server, s3_bucket, user)
    report = settings.reports[0]
    service = Service(tmp_path / "settings.yaml", settings)
    ran: list[tuple[str, str]] = []

    async def run(
        report: ReportSettings, period: Period, *, reason: str, answers: datetime | None = None
    ) -> None:
        ran.append((period.label, reason))

    service._run = run  # type: ignore[method-assign]  # which periods would run, not the runs
    periods = recent_periods(report, datetime.now(UTC), settings.service.catch_up)
    assert len(periods) > 2
    async with resources(settings) as shared:
        service._shared = shared
        with pytest.raises(DeliveryError, match="checking s3://"):
            await service._done(report, periods[0])
        await service._catch_up(report, include_latest=True)
        assert ran == [(periods[-1].label, "schedule")]
        ran.clear()
        await service._catch_up(report, include_latest=False)
        assert ran == []
