"""Fixtures shared by more than one test folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.s3server import S3Server, session_server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """The S3 test server (see tests/s3server.py: $GR_S3_ENDPOINT, or one of our own), one per
    test session whichever folders use it."""
    with session_server() as server:
        yield server
