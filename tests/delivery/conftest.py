"""S3 fixtures: a fresh bucket and IAM user for each test, on the session's S3 server
(`s3_server`, tests/conftest.py).

See tests/s3server.py: the server honours GR_S3_ENDPOINT (a server .ci/run started) and
otherwise starts its own on 127.0.0.1. The admin (root) key sets buckets up; tests act with
`s3_user`, whose signatures and policy ministack really checks.
"""

from __future__ import annotations

import pytest

from tests.s3server import (
    DELIVERY_ACTIONS,
    Credentials,
    S3Server,
    bucket_policy,
    create_bucket,
    create_user,
)


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    """A new bucket as every delivery bucket should be: Block Public Access on, AES256."""
    return create_bucket(s3_server)


@pytest.fixture
def s3_open_bucket(s3_server: S3Server) -> str:
    """A new bucket without any Block Public Access configuration (private, but unguarded)."""
    return create_bucket(s3_server, public_access_block=None)


@pytest.fixture
def s3_user(s3_server: S3Server, s3_bucket: str) -> Credentials:
    """A new IAM user allowed DELIVERY_ACTIONS on `s3_bucket` and nothing else."""
    return create_user(s3_server, bucket_policy(s3_bucket, DELIVERY_ACTIONS))


# The delivery tests run reports against the Genesys sandbox too.
from tests.genesys.conftest import connect  # noqa: E402

__all__ = ["connect", "s3_bucket", "s3_open_bucket", "s3_user"]
