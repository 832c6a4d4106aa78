"""The conformance suite's own checker: it must find what it claims to find, and it must still
read the allowed values out of the SDK version pinned (it takes them from the models' setters,
so a differently generated SDK would otherwise switch the enum check off in silence)."""

from __future__ import annotations

import pytest

from tests.conformance.model_check import allowed_values, problems

FLOW = {"flowId": "f", "flowName": "Main IVR", "flowType": "INBOUNDCALL", "issuedCallback": False}


@pytest.mark.parametrize(
    ("model", "attribute", "value"),
    [
        ("AnalyticsFlow", "flow_type", "INBOUNDCALL"),
        ("AnalyticsSession", "media_type", "voice"),
        ("AnalyticsSession", "used_routing", "Standard"),
        ("AnalyticsConversationSegment", "disconnect_type", "noAnswerTransfer"),
        ("AnalyticsParticipantWithoutAttributes", "purpose", "acd"),
        ("AsyncQueryStatus", "state", "FULFILLED"),
    ],
)
def test_the_enums_of_the_pinned_sdk_are_read(model: str, attribute: str, value: str) -> None:
    allowed = allowed_values(model, attribute)
    assert allowed is not None and value in allowed
    assert allowed_values("AnalyticsFlow", "flow_name") is None  # free text


def test_a_fitting_body_has_no_problems() -> None:
    assert problems(FLOW, "AnalyticsFlow") == []
    assert problems({"outcomes": [{"flowOutcomeValue": "SUCCESS"}]}, "AnalyticsFlow") == []


@pytest.mark.parametrize(
    ("change", "found"),
    [
        ({"flowType": "inboundcall"}, "'inboundcall' is not one of AnalyticsFlow's values"),
        ({"flowKind": "x"}, "$.flowKind: not a field of AnalyticsFlow"),
        ({"issuedCallback": "false"}, "$.issuedCallback: 'false' is not a bool"),
        ({"flowVersion": 3}, "$.flowVersion: 3 is not a str"),
        ({"outcomes": {"flowOutcome": "x"}}, "$.outcomes: a dict where list"),
        (
            {"outcomes": [{"flowOutcomeStartTimestamp": "2024-05-01 09:00"}]},
            "$.outcomes[0].flowOutcomeStartTimestamp: '2024-05-01 09:00' is not a datetime",
        ),
    ],
)
def test_each_kind_of_misfit_is_found(change: dict[str, object], found: str) -> None:
    (problem,) = problems({**FLOW, **change}, "AnalyticsFlow")
    assert problem.startswith(found) or found in problem
