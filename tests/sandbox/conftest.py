"""Fixtures that serve a sandbox on 127.0.0.1 and talk to it over real sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from app.sandbox.server import RunningSandbox, running_sandbox
from app.settings import SandboxSettings

# A Thursday; the whole of 1 May 2024 (a Wednesday) lies in the sandbox's past.
NOW = datetime(2024, 5, 2, 10, 30, tzinfo=UTC)

StartSandbox = Callable[..., Awaitable[RunningSandbox]]


@pytest.fixture
async def start_sandbox() -> AsyncIterator[StartSandbox]:
    """Start sandboxes with settings overrides; all are stopped at the end of the test."""
    async with AsyncExitStack() as stack:

        async def start(**overrides: Any) -> RunningSandbox:
            values: dict[str, Any] = {"now": NOW, "seed": 7, **overrides}
            settings = SandboxSettings.model_validate(values)
            return await stack.enter_async_context(running_sandbox(settings))

        yield start


@pytest.fixture
async def sandbox(start_sandbox: StartSandbox) -> RunningSandbox:
    return await start_sandbox()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session
