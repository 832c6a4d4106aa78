"""When the service counts a period as done (and so does not catch it up): its manifest exists,
locally or in S3 when delivering there; with ``rerun_provisional``, only a manifest that does
not say ``provisional`` counts, read from S3 in S3 mode."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from app.delivery.keys import object_key
from app.pipeline.run import output_directory
from app.runner import resources
from app.service.serve import Service
from app.settings import Settings
from tests.delivery.test_delivery import PERIOD, _settings
from tests.s3server import Credentials, S3Server


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
