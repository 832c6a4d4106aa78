"""Names for ids: queues, users, wrap-up codes and divisions (report-semantics §4).

Queues and users are looked up by id (the API takes up to 100 ``id`` parameters a call), since an
org may have thousands; wrap-up codes and divisions are few and are listed whole. Every answer is
cached for the life of the resolver, which is one report run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any, Literal

from app.errors import GenesysProtocolError
from app.genesys.client import GenesysClient

Kind = Literal["queues", "users", "wrapupcodes", "divisions"]
PATHS: dict[Kind, str] = {
    "queues": "/api/v2/routing/queues",
    "users": "/api/v2/users",
    "wrapupcodes": "/api/v2/routing/wrapupcodes",
    "divisions": "/api/v2/authorization/divisions",
}
_BY_ID: frozenset[Kind] = frozenset({"queues", "users"})
_IDS_PER_CALL = 100
_PAGE_SIZE = 100
# A million entities of one kind: far beyond any org, well short of a pageCount of 10^9.
MAX_LOOKUP_PAGES = 10_000
_ID = re.compile(r"[0-9A-Za-z-]{1,64}")


class NameResolver:
    def __init__(self, client: GenesysClient) -> None:
        self._client = client
        self._names: dict[Kind, dict[str, str]] = {kind: {} for kind in PATHS}
        self._listed: set[Kind] = set()
        # Each queue's ``mediaSettings`` (service-level targets per medium), kept from the same
        # answers that give the names.
        self._media_settings: dict[str, dict[str, Any]] = {}

    async def names(self, kind: Kind, ids: Iterable[str]) -> dict[str, str]:
        """``{id: name}`` for the ids that exist; unknown ids are simply absent."""
        # Only id-shaped values are worth a request (a garbage id in a record must not make
        # the look-up URL too long and fail the run); others simply keep their id as name.
        wanted = {i for i in ids if i and _ID.fullmatch(i)}
        known = self._names[kind]
        missing = wanted - known.keys()
        if missing and kind not in self._listed:
            if kind in _BY_ID:
                ordered = sorted(missing)
                for first in range(0, len(ordered), _IDS_PER_CALL):
                    await self._page_through(kind, ordered[first : first + _IDS_PER_CALL])
                # Ids asked for and not returned do not exist: do not ask again this run.
                known.update({i: "" for i in missing if i not in known})
            else:
                await self._page_through(kind, None)
                self._listed.add(kind)
        return {i: known[i] for i in wanted if known.get(i)}

    async def media_settings(self, queue_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """``{queue id: mediaSettings}`` for the queues that exist and carry settings."""
        wanted = set(queue_ids)
        await self.names("queues", wanted)
        return {i: self._media_settings[i] for i in wanted if i in self._media_settings}

    async def _page_through(self, kind: Kind, ids: list[str] | None) -> None:
        page, pages = 1, 1
        while page <= pages:
            params: dict[str, str | list[str]] = {
                "pageSize": str(_PAGE_SIZE),
                "pageNumber": str(page),
            }
            if ids:
                params["id"] = ids
            what = f"{kind} look-up page {page}"
            if page > MAX_LOOKUP_PAGES:
                raise GenesysProtocolError(
                    f"the look-up claims more than {MAX_LOOKUP_PAGES} pages; refusing to go on",
                    what=what,
                )
            response = await self._client.request("GET", PATHS[kind], params=params, what=what)
            body: Any = response.body
            if not isinstance(body, dict) or not isinstance(body.get("entities"), list):
                raise GenesysProtocolError("the look-up has no entities list", what=what)
            if not body["entities"]:
                return  # an empty page ends the listing, whatever pageCount claimed
            for entity in body["entities"]:
                if isinstance(entity, dict) and entity.get("id") and entity.get("name"):
                    self._names[kind][str(entity["id"])] = str(entity["name"])
                    settings = entity.get("mediaSettings")
                    if kind == "queues" and isinstance(settings, dict):
                        self._media_settings[str(entity["id"])] = settings
            page_count = body.get("pageCount")
            total = body.get("total")
            if isinstance(page_count, int):
                pages = page_count
            elif isinstance(total, int):
                pages = math.ceil(total / _PAGE_SIZE)
            page += 1
