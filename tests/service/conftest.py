"""Service-test fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.service.test_serve import Served


@pytest.fixture
async def stopper() -> AsyncIterator[list[Served]]:
    """Append each started `serve`; whatever still runs at the end of the test is killed."""
    started: list[Served] = []
    yield started
    for served in started:
        if served.process.returncode is None:
            served.process.kill()
            await served.process.wait()
