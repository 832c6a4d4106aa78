"""A link check that fails (issue 13, item 2): the run fails naming bucket and key, never the
link (a presigned URL is a credential), and the objects it uploaded do not stay behind."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from app.logs import configure_logging
from app.pipeline.export import MANIFEST_NAME
from app.pipeline.run import output_directory
from app.runner import resources, run_and_deliver
from tests.chaos.s3proxy import FaultyS3Proxy, S3FaultSettings, request_class
from tests.delivery.test_delivery import PERIOD, _settings
from tests.s3server import Credentials, S3Server


@pytest.fixture
def app_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], str]]:
    """The application's own logging at DEBUG (botocore included), as ``serve`` sets it up;
    call the fixture's value for what it wrote to stderr so far."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("DEBUG", json_lines=True)
    try:
        yield lambda: capsys.readouterr().err
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


class _RedirectingLinks(FaultyS3Proxy):
    """Answers every presigned GET with a redirect to itself: a client that follows redirects
    gives up with aiohttp's ``TooManyRedirects``, whose text holds the whole link."""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request_class(request) == "presigned":
            raise web.HTTPTemporaryRedirect(str(request.url))
        return await super().handle(request)


@pytest.mark.parametrize("failure", ["redirect_loop", "reset"])
async def test_a_failing_link_check_names_the_key_not_the_link_and_removes_the_objects(
    failure: str,
    tmp_path: Path,
    s3_server: S3Server,
    s3_bucket: str,
    s3_user: Credentials,
    app_logs: Callable[[], str],
) -> None:
    if failure == "reset":
        proxy = FaultyS3Proxy(
            s3_server.endpoint, S3FaultSettings(script={"presigned": ["reset"] * 100})
        )
    else:
        proxy = _RedirectingLinks(s3_server.endpoint, S3FaultSettings())
    async with proxy.serving():
        settings = _settings(tmp_path, s3_server, s3_bucket, s3_user, endpoint_url=proxy.base_url)
        report = settings.reports[0]
        async with resources(settings) as shared:
            outcome = await run_and_deliver(settings, report, PERIOD, shared)

    assert outcome.status == "failed" and outcome.error is not None
    assert "presigned_link_works" in outcome.error
    assert f"s3://{s3_bucket}/team/genesys/numbers/" in outcome.error  # bucket and key
    logs = app_logs()
    assert "presigned_link_works" in logs  # the failure was logged, at DEBUG level
    for text in (outcome.error, logs):
        assert "X-Amz-Signature" not in text and "X-Amz-Credential" not in text
        assert s3_user.access_key_id not in text and s3_user.secret_access_key not in text
    listed = s3_server.client("s3").list_objects_v2(Bucket=s3_bucket)
    assert listed.get("KeyCount", 0) == 0  # nothing unchecked stayed behind
    manifest = output_directory(settings, report, PERIOD) / MANIFEST_NAME
    assert not manifest.exists()  # the period is not done
