"""Look-ups against a misbehaving API (issue 13, item 4): a wild pageCount ends at the first
empty page, and a listing that never ends is refused. The client is a unit-level stand-in: the
thing under test is the resolver's paging."""

from __future__ import annotations

from typing import Any

import pytest

from app.errors import GenesysProtocolError
from app.genesys import lookups
from app.genesys.client import Response
from app.genesys.lookups import NameResolver


class _Answers:
    def __init__(self, entities_on: int) -> None:
        self.pages: list[int] = []
        self._entities_on = entities_on

    async def request(self, method: str, path: str, **kwargs: Any) -> Response:
        page = int(kwargs["params"]["pageNumber"])
        self.pages.append(page)
        entities = (
            [{"id": f"d{page}", "name": f"Division {page}"}] if page <= self._entities_on else []
        )
        return Response(200, {"entities": entities, "pageCount": 10**9}, {})


async def test_a_page_count_of_a_billion_ends_at_the_first_empty_page() -> None:
    client = _Answers(entities_on=3)
    names = await NameResolver(client).names("divisions", ["d1", "d3"])  # type: ignore[arg-type]
    assert names == {"d1": "Division 1", "d3": "Division 3"}
    assert client.pages == [1, 2, 3, 4]


async def test_a_listing_that_never_ends_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lookups, "MAX_LOOKUP_PAGES", 50)
    client = _Answers(entities_on=10**9)
    with pytest.raises(GenesysProtocolError, match="more than 50 pages"):
        await NameResolver(client).names("divisions", ["x"])  # type: ignore[arg-type]
    assert len(client.pages) == 50
