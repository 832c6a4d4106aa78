"""The S3 test server for the chaos tests (see tests/s3server.py: $GR_S3_ENDPOINT, or one of
our own), and a delivery bucket with an IAM user allowed only what delivery needs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chaos.soak import S3Target, prepare_s3
from tests.s3server import S3Server, session_server


@pytest.fixture(scope="session")
def chaos_s3_server() -> Iterator[S3Server]:
    with session_server() as server:
        yield server


@pytest.fixture(scope="session")
def s3_target(chaos_s3_server: S3Server) -> S3Target:
    return prepare_s3(chaos_s3_server)
