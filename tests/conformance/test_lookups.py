"""Conformance (issue 16): every look-up through the official SDK: paging, id filters as the
SDK sends them (one comma-joined value), and each response key by key against its model."""

from __future__ import annotations

from typing import Any

import pytest

from app.sandbox.org import build_organisation
from tests.conformance.model_check import outdated, problems
from tests.conformance.oracle import genesys, wire

ORG = build_organisation(7)
# (SDK api, method, listing model, the organisation's entities)
LOOKUPS = [
    ("RoutingApi", "get_routing_queues", "QueueEntityListing", ORG.queues),
    ("UsersApi", "get_users", "UserEntityListing", ORG.users),
    ("RoutingApi", "get_routing_wrapupcodes", "WrapupCodeEntityListing", ORG.wrapup_codes),
    (
        "AuthorizationApi",
        "get_authorization_divisions",
        "AuthzDivisionEntityListing",
        ORG.divisions,
    ),
]


def _api(sdk: Any, name: str) -> Any:
    return getattr(genesys(), name)(sdk)


@pytest.mark.parametrize(("api", "method", "model", "entities"), LOOKUPS)
def test_every_page_of_a_look_up_fits_its_model(
    sdk: Any, api: str, method: str, model: str, entities: Any
) -> None:
    call = getattr(_api(sdk, api), method)
    seen: dict[str, str] = {}
    page = 1
    while True:
        listing = call(page_size=5, page_number=page)
        assert outdated(listing) == [] and problems(wire(sdk), model) == []
        # The links between pages, as Genesys sends them: none before the first, none after
        # the last.
        if page == 1:
            assert listing.previous_uri is None
        else:
            assert listing.previous_uri.endswith(f"?pageSize=5&pageNumber={page - 1}")
        following = f"?pageSize=5&pageNumber={page + 1}"
        assert listing.next_uri is None or listing.next_uri.endswith(following)
        seen.update({entity.id: entity.name for entity in listing.entities})
        assert listing.total == len(entities) and listing.page_number == page
        if page >= listing.page_count:
            break
        page += 1
    assert seen == {entity.id: entity.name for entity in entities}


@pytest.mark.parametrize(("api", "method", "model", "entities"), LOOKUPS)
def test_an_id_list_as_the_sdk_sends_it_returns_those_entities(
    sdk: Any, api: str, method: str, model: str, entities: Any
) -> None:
    wanted = sorted(entity.id for entity in entities[:3])
    listing = getattr(_api(sdk, api), method)(id=wanted, page_size=25)
    assert problems(wire(sdk), model) == []
    assert sorted(entity.id for entity in listing.entities) == wanted


@pytest.mark.parametrize(("api", "method", "model", "entities"), LOOKUPS)
def test_look_up_json_keys_are_model_fields(
    sdk: Any, api: str, method: str, model: str, entities: Any
) -> None:
    # The body as it crossed the wire, against the model the SDK deserialises it into.
    getattr(_api(sdk, api), method)(page_size=100)
    body = wire(sdk)
    assert len(body["entities"]) == len(entities)
    assert problems(body, model) == []
