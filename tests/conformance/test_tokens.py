"""Conformance (issue 16): the token through the SDK's own login, ``GET``/``HEAD``
/api/v2/tokens/me, and revoking a token with ``DELETE``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conformance.model_check import outdated, problems
from tests.conformance.oracle import CLIENT_ID, CLIENT_SECRET, Sandbox, genesys, wire


def test_tokens_me_fits_token_info(sdk: Any) -> None:
    api = genesys().TokensApi(sdk)
    info = api.get_tokens_me()
    assert problems(wire(sdk), "TokenInfo") == []
    assert outdated(info) == []
    assert info.o_auth_client.id == CLIENT_ID
    assert info.organization.id and info.home_organization.id == info.organization.id
    assert api.head_tokens_me() is None  # 200, no body


def test_a_revoked_token_is_refused_and_others_are_not(sdk: Any, sandbox_process: Sandbox) -> None:
    client = genesys().api_client.ApiClient(host=sandbox_process.base_url)
    other = client.get_client_credentials_token(CLIENT_ID, CLIENT_SECRET)
    assert other.access_token != sdk.access_token
    genesys().TokensApi(other).delete_tokens_me()
    with pytest.raises(genesys().rest.ApiException) as refused:
        genesys().TokensApi(other).get_tokens_me()
    assert refused.value.status == 401
    body = json.loads(refused.value.body)
    assert problems(body, "ErrorBody") == [] and body["code"] == "bad.credentials"
    # The session's own token still works.
    assert genesys().TokensApi(sdk).get_tokens_me().o_auth_client.id == CLIENT_ID


def test_a_wrong_secret_gets_no_token(sandbox_process: Sandbox) -> None:
    client = genesys().api_client.ApiClient(host=sandbox_process.base_url)
    with pytest.raises(genesys().rest.ApiException) as refused:
        client.get_client_credentials_token(CLIENT_ID, "not-the-secret")
    # An OAuth error (RFC 6749 §5.2), not an ErrorBody: the login host answers as OAuth does.
    assert refused.value.status == 401
    assert json.loads(refused.value.body)["error"] == "invalid_client"
    assert "not-the-secret" not in refused.value.body
