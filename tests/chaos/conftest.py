"""A delivery bucket on the S3 test server with an IAM user allowed only what delivery needs."""

from __future__ import annotations

import pytest

from tests.chaos.soak import S3Target, prepare_s3
from tests.s3server import S3Server


@pytest.fixture(scope="session")
def s3_target(s3_server: S3Server) -> S3Target:
    return prepare_s3(s3_server)
