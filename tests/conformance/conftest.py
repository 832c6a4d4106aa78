"""The official Genesys Cloud Python SDK (PureCloudPlatformClientV2), unchanged, against the
sandbox served by `genesys-reports sandbox` in its own process over 127.0.0.1.

The SDK is synchronous (urllib3), so the sandbox must not share the test's event loop: it runs
as the CLI command a new user would start, and the SDK is pointed at it the way its
documentation says (``ApiClient(host=...)``; it derives the login host itself)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cli import REPO
from tests.conformance.oracle import CLIENT_ID, CLIENT_SECRET, Sandbox, genesys
from tests.conformance.queries import query_all


@pytest.fixture(scope="session")
def sandbox_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    cwd = tmp_path_factory.mktemp("conformance")
    options = ["--host", "127.0.0.1", "--port", "0", "--seed", "7"]
    credentials = ["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET]
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "sandbox", *options, *credentials],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert process.stdout is not None
    base_url = None
    for line in process.stdout:  # the banner's lines, printed once the port is bound
        found = re.search(r"base URL:\s+(\S+)", line)
        if found:
            base_url = found.group(1)
            break
    assert base_url, "the sandbox did not start"
    try:
        yield Sandbox(base_url, process)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        process.stdout.close()


@pytest.fixture(scope="session")
def sdk(sandbox_process: Sandbox) -> Any:
    """A logged-in ``ApiClient`` of the official SDK."""
    client = genesys().api_client.ApiClient(host=sandbox_process.base_url)
    return client.get_client_credentials_token(CLIENT_ID, CLIENT_SECRET)


@pytest.fixture(scope="session")
def hour_pages(sdk: Any) -> tuple[list[Any], list[Any]]:
    """Every page of the hour's detail query, oldest first: the SDK's conversations and each
    page's wire body (read once, for the query's and the records' tests)."""
    return query_all(sdk, order="asc", order_by="conversationStart")
