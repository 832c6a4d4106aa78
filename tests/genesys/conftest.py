"""A sandbox and a real client connected to it over 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import pytest

from app.genesys.client import GenesysClient, open_client
from app.sandbox.server import RunningSandbox, Sandbox, running_sandbox
from app.settings import GenesysSettings, SandboxSettings
from tests.sandbox.conftest import NOW

# Fast retries, so that fault tests take milliseconds of backoff, not seconds.
FAST_RETRIES: dict[str, Any] = {
    "retry_backoff": "PT0.01S",
    "retry_backoff_max": "PT0.05S",
    "request_timeout": "PT5S",
}


@dataclass(frozen=True, slots=True)
class Connected:
    running: RunningSandbox
    client: GenesysClient

    @property
    def sandbox(self) -> Sandbox:
        return self.running.sandbox


Connect = Callable[..., Awaitable[Connected]]


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """``await connect(sandbox={...}, genesys={...})``: a sandbox and a client for it."""
    async with AsyncExitStack() as stack:

        async def start(
            sandbox: dict[str, Any] | None = None, genesys: dict[str, Any] | None = None
        ) -> Connected:
            sandbox_settings = SandboxSettings.model_validate(
                {"now": NOW, "seed": 7, **(sandbox or {})}
            )
            running = await stack.enter_async_context(running_sandbox(sandbox_settings))
            genesys_settings = GenesysSettings.model_validate(
                {"environment": "sandbox", **FAST_RETRIES, **(genesys or {})}
            )
            client = await stack.enter_async_context(
                open_client(
                    genesys_settings,
                    api_url=running.base_url,
                    login_url=running.base_url,
                    client_id=running.client_id,
                    client_secret=sandbox_settings.client_secret,
                )
            )
            return Connected(running, client)

        yield start
