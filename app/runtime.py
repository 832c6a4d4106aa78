"""The process's shared resources, created inside the running loop and owned by one exit stack:
the Genesys client and, with ``environment: sandbox`` and no ``api_url``, the embedded sandbox it
talks to."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from pydantic import SecretStr

from app.errors import ConfigError
from app.genesys.client import GenesysClient, open_client
from app.regions import SANDBOX, hosts_for
from app.settings import Settings

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def genesys_client(settings: Settings) -> AsyncIterator[GenesysClient]:
    genesys = settings.genesys
    async with contextlib.AsyncExitStack() as stack:
        secret = genesys.secret()
        client_id = genesys.client_id
        if genesys.environment == SANDBOX:
            client_id = client_id or settings.sandbox.client_id
            secret = secret or settings.sandbox.client_secret
            if genesys.api_url is None:
                from app.sandbox.server import running_sandbox

                running = await stack.enter_async_context(running_sandbox(settings.sandbox))
                log.info("embedded Genesys Cloud sandbox serving at %s", running.base_url)
                api_url = login_url = running.base_url
            else:
                api_url, login_url = genesys.api_url, genesys.login_url or genesys.api_url
        else:
            hosts = hosts_for(genesys.environment)
            api_url = genesys.api_url or hosts.api_url
            login_url = genesys.login_url or hosts.login_url
        if client_id is None or secret is None:  # the settings validation makes this rare
            raise ConfigError("settings", ["genesys: client_id and client_secret are required"])
        client = await stack.enter_async_context(
            open_client(
                genesys,
                api_url=api_url,
                login_url=login_url,
                client_id=client_id,
                client_secret=SecretStr(secret.get_secret_value()),
            )
        )
        yield client
