"""Groups and metrics (report-semantics §1, §3, §4), pinned with hand-computed values.

Conversations are written as facts directly (``conv``), so each test shows exactly the numbers
its expected metrics come from; one test at the end starts from detail records.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.pipeline.aggregate import NAME_KINDS, Aggregator
from app.pipeline.facts import Facts, conversation_facts
from app.settings import EXPRESSION_FUNCTIONS, ServiceLevelSettings, grain_metrics

METRICS = grain_metrics("conversation")

_BLANK = Facts(
    conversation_id="c",
    start_ms=1_714_554_000_000,
    ended=True,
    media_type="voice",
    direction="inbound",
    division_id=None,
    queue_id=None,
    agent_id=None,
    wrapup_code=None,
    offered=0,
    answered=0,
    abandoned=0,
    transferred=0,
    handled=0,
    speed_of_answer_ms=None,
    wait_ms=0,
    talk_ms=0,
    hold_ms=0,
    acw_ms=0,
    handle_ms=0,
    duration_ms=0,
    half_hour="2024-05-01T11:00",
    hour="2024-05-01T11:00",
    day="2024-05-01",
    week="2024-W18",
    month="2024-05",
)


def conv(**fields: Any) -> Facts:
    """An ended conversation: everything zero or none except ``fields``; one with handle time
    was handled unless it says otherwise."""
    fields.setdefault("handled", int(bool(fields.get("handle_ms"))))
    return replace(_BLANK, **fields)


def ongoing(**fields: Any) -> Facts:
    return replace(_BLANK, ended=False, duration_ms=None, **fields)


def answered_call(handle_ms: int, **fields: Any) -> Facts:
    return conv(offered=1, answered=1, speed_of_answer_ms=1_000, handle_ms=handle_ms, **fields)


def single_row(
    conversations: list[Facts],
    metrics: tuple[str, ...] | list[str] = METRICS,
    custom: dict[str, str] | None = None,
    names: dict[str, dict[str, str]] | None = None,
    **options: Any,
) -> dict[str, Any]:
    aggregator = Aggregator([], **options)
    for facts in conversations:
        aggregator.add(facts)
    rows = aggregator.rows(metrics, custom or {}, names or {})
    assert len(rows) == 1
    return rows[0]


# --- every built-in metric over one group -------------------------------------------------------

# Five ended conversations:
#   c1  offered, answered in 10 s, wait 10 s, talk 100 s, hold 20 s, acw 10 s, handle 130 s,
#       duration 150 s, wrap-up wc-a
#   c2  offered, answered in exactly 20 s (the service level threshold), wait 20 s, talk 200 s,
#       acw 20 s, handle 220 s, duration 250 s, transferred, wrap-up wc-b
#   c3  offered, answered in 30 s, wait 30 s, talk 50 s, hold 10 s, handle 60 s, duration
#       100 s, wrap-up wc-a
#   c4  offered, abandoned after waiting 40 s, duration 40 s
#   c5  outbound, neither offered nor answered, duration 20 s
FIVE = [
    conv(
        conversation_id="c1",
        offered=1,
        answered=1,
        speed_of_answer_ms=10_000,
        wait_ms=10_000,
        talk_ms=100_000,
        hold_ms=20_000,
        acw_ms=10_000,
        handle_ms=130_000,
        duration_ms=150_000,
        wrapup_code="wc-a",
    ),
    conv(
        conversation_id="c2",
        offered=1,
        answered=1,
        transferred=1,
        speed_of_answer_ms=20_000,
        wait_ms=20_000,
        talk_ms=200_000,
        acw_ms=20_000,
        handle_ms=220_000,
        duration_ms=250_000,
        wrapup_code="wc-b",
    ),
    conv(
        conversation_id="c3",
        offered=1,
        answered=1,
        speed_of_answer_ms=30_000,
        wait_ms=30_000,
        talk_ms=50_000,
        hold_ms=10_000,
        handle_ms=60_000,
        duration_ms=100_000,
        wrapup_code="wc-a",
    ),
    conv(conversation_id="c4", offered=1, abandoned=1, wait_ms=40_000, duration_ms=40_000),
    conv(conversation_id="c5", direction="outbound", duration_ms=20_000),
]

FIVE_METRICS = {
    "conversations": 5,
    "offered": 4,
    "answered": 3,
    "abandoned": 1,
    "transferred": 1,
    "handled": 3,  # c1, c2, c3 carry handle time
    "abandon_rate": 0.25,  # 1 / 4
    "answer_rate": 0.75,  # 3 / 4
    "service_level": 0.5,  # c1 (10 s) and c2 (exactly 20 s) of 4 offered
    "avg_speed_of_answer_seconds": 20.0,  # (10 + 20 + 30) / 3
    "avg_wait_seconds": 25.0,  # (10 + 20 + 30 + 40) / 4 offered
    "avg_duration_seconds": 112.0,  # (150 + 250 + 100 + 40 + 20) / 5 = 560 / 5
    "avg_talk_seconds": 116.67,  # (100 + 200 + 50) / 3 handled = 116.666...
    "avg_hold_seconds": 10.0,  # (20 + 0 + 10) / 3
    "avg_acw_seconds": 10.0,  # (10 + 20 + 0) / 3
    "avg_handle_seconds": 136.67,  # (130 + 220 + 60) / 3 = 136.666...
    "p50_handle_seconds": 130.0,  # sorted 60, 130, 220: rank (3-1)*0.5 = 1 -> 130
    "p90_handle_seconds": 202.0,  # rank (3-1)*0.9 = 1.8 -> 130 + 0.8 * (220 - 130)
    "talk_ratio": 0.625,  # 350 / 560
    "hold_ratio": 0.0536,  # 30 / 560 = 0.053571...
    "efficiency_score": 97.32,  # 100 - 0.053571... * 50 = 97.3214...
    "wrapup_codes": ["Sale", "wc-b"],  # wc-a resolves to "Sale", wc-b is unresolved
}


def test_every_builtin_metric_of_one_group() -> None:
    row = single_row(FIVE, names={"wrapupcodes": {"wc-a": "Sale"}})
    assert row == FIVE_METRICS
    assert list(row) == list(METRICS)


def test_counts_are_ints_and_rounded_values_floats() -> None:
    row = single_row(FIVE)
    assert all(type(row[name]) is int for name in list(FIVE_METRICS)[:5])
    assert type(row["avg_wait_seconds"]) is float


def test_ratios_with_a_zero_denominator_are_null() -> None:
    # One ended conversation, neither offered nor answered, of zero duration.
    row = single_row([conv(duration_ms=0)])
    nulls = [name for name, value in row.items() if value is None]
    assert nulls == [
        "abandon_rate",
        "answer_rate",
        "service_level",
        "avg_speed_of_answer_seconds",
        "avg_wait_seconds",
        "avg_talk_seconds",
        "avg_hold_seconds",
        "avg_acw_seconds",
        "avg_handle_seconds",
        "p50_handle_seconds",
        "p90_handle_seconds",
        "talk_ratio",
        "hold_ratio",
        "efficiency_score",
    ]
    # Ended conversations are the denominator of the mean duration: 0 ms / 1 is 0, not null.
    assert row["avg_duration_seconds"] == 0.0
    assert (row["conversations"], row["offered"], row["wrapup_codes"]) == (1, 0, [])


def test_no_grouping_and_no_conversations_is_one_row_of_zeros_and_nulls() -> None:
    counts = ("conversations", "offered", "answered", "abandoned", "transferred", "handled")
    expected: dict[str, Any] = dict.fromkeys(METRICS)  # every other metric null...
    expected |= dict.fromkeys(counts, 0)
    expected["wrapup_codes"] = []  # ...and no wrap-up codes
    assert single_row([]) == expected


def test_answer_rate_and_waits_count_only_offered_conversations() -> None:
    # answer_rate is answered / offered, a plain ratio of the two sums (§3): an outbound call
    # answered without being offered makes it 2 / 1.
    inbound = conv(offered=1, answered=1, speed_of_answer_ms=5_000, wait_ms=8_000)
    outbound = conv(answered=1, speed_of_answer_ms=1_000, wait_ms=2_000, talk_ms=20_000)
    row = single_row([inbound, outbound])
    assert row["answer_rate"] == 2.0
    # Service level counts offered conversations only: the outbound one is fast but not offered.
    assert row["service_level"] == 1.0
    # Wait is summed over all, divided by offered: (8 + 2) / 1.
    assert row["avg_wait_seconds"] == 10.0
    # Speed of answer is over answered conversations: (5 + 1) / 2.
    assert row["avg_speed_of_answer_seconds"] == 3.0


# --- service level ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("threshold_seconds", "speeds_ms", "expected"),
    [
        (20.0, [20_000], 1.0),  # exactly at the threshold counts
        (20.0, [20_001], 0.0),  # one millisecond over does not
        (20.0, [19_999, 20_000, 20_001, 60_000], 0.5),
        (10.5, [10_500, 10_501], 0.5),  # fractional thresholds in seconds
        (1.001, [1_001, 1_002], 0.5),  # 1.001 * 1000 is 1000.9999999999999 in binary floats
    ],
)
def test_service_level_boundary(
    threshold_seconds: float, speeds_ms: list[int], expected: float
) -> None:
    calls = [conv(offered=1, answered=1, speed_of_answer_ms=speed) for speed in speeds_ms]
    options = ServiceLevelSettings(default_seconds=threshold_seconds)
    row = single_row(calls, ["service_level"], service_level=options)
    assert row == {"service_level": expected}


def test_service_level_divides_by_offered_including_unanswered() -> None:
    # 1 answered within 20 s of 3 offered (one abandoned, one answered after 45 s): 1/3.
    calls = [
        conv(offered=1, answered=1, speed_of_answer_ms=5_000),
        conv(offered=1, answered=1, speed_of_answer_ms=45_000),
        conv(offered=1, abandoned=1),
    ]
    assert single_row(calls, ["service_level"]) == {"service_level": 0.3333}


# --- percentiles ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("handles_ms", "p50", "p90"),
    [
        ([42_000], 42.0, 42.0),  # one value is every percentile
        # ranks 0.5 and 0.9 between 10 and 20 s: 10 + 0.5 * 10, 10 + 0.9 * 10
        ([20_000, 10_000], 15.0, 19.0),
        # sorted 1, 2, 4, 8, 16 s: rank 2 -> 4; rank 3.6 -> 8 + 0.6 * (16 - 8) = 12.8
        ([8_000, 1_000, 16_000, 2_000, 4_000], 4.0, 12.8),
        # four values: rank 1.5 -> 2 + 0.5 * (3 - 2); rank 2.7 -> 3 + 0.7 * (10 - 3) = 7.9
        ([1_000, 2_000, 3_000, 10_000], 2.5, 7.9),
        # interpolated in ms, rounded in seconds: 1007.5 ms -> 1.01 s; 1013.5 ms -> 1.01 s
        ([1_000, 1_015], 1.01, 1.01),
    ],
)
def test_handle_percentiles_interpolate_linearly(
    handles_ms: list[int], p50: float, p90: float
) -> None:
    calls = [answered_call(handle) for handle in handles_ms]
    # A conversation that was not handled is not part of the distribution (as a 0 it would
    # pull every percentile down).
    calls.append(conv(offered=1, abandoned=1))
    row = single_row(calls, ["p50_handle_seconds", "p90_handle_seconds"])
    assert row == {"p50_handle_seconds": p50, "p90_handle_seconds": p90}


def test_percentiles_are_null_without_handled_conversations() -> None:
    row = single_row([conv(offered=1, abandoned=1)], ["p50_handle_seconds"])
    assert row == {"p50_handle_seconds": None}


# --- efficiency score -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hold_ms", "duration_ms", "expected"),
    [
        (0, 100_000, 100.0),
        (50_000, 100_000, 75.0),  # 100 - 0.5 * 50
        (200_000, 100_000, 0.0),  # 100 - 2 * 50: exactly zero
        # Hold summed over several agents can exceed the duration: 100 - 3 * 50 = -50 -> 0.
        (300_000, 100_000, 0.0),
        (1, 3_000, 99.98),  # 100 - (1/3000) * 50 = 99.98333...
        # Exactly 100 - 1253/2000 * 50 = 68.675, whose nearest double is 68.67499999999999...:
        # the score is the double nearest the exact value, then rounded (hold_ratio's own
        # float error would have tipped it to 68.68).
        (1_253, 2_000, 68.67),
    ],
)
def test_efficiency_score_is_clamped_at_zero(
    hold_ms: int, duration_ms: int, expected: float
) -> None:
    row = single_row([conv(hold_ms=hold_ms, duration_ms=duration_ms)], ["efficiency_score"])
    assert row == {"efficiency_score": expected}


# --- ongoing conversations (§1) ---------------------------------------------------------------


def test_ongoing_conversations_are_ignored_unless_included() -> None:
    aggregator = Aggregator(["queue_id"])
    aggregator.add(ongoing(queue_id="q-1", offered=1))
    assert aggregator.group_count == 0
    assert aggregator.rows(["conversations"], {}, {}) == []
    row = single_row([ongoing(offered=1), conv(offered=1)], ["conversations", "offered"])
    assert row == {"conversations": 1, "offered": 1}


def test_included_ongoing_conversations_count_in_conversations_only() -> None:
    ended = conv(
        offered=1,
        answered=1,
        speed_of_answer_ms=4_000,
        wait_ms=4_000,
        talk_ms=60_000,
        handle_ms=60_000,
        duration_ms=80_000,
        wrapup_code="wc-done",
    )
    # Still in progress, with partial metrics that must not count anywhere but conversations.
    running = ongoing(
        offered=1,
        answered=1,
        speed_of_answer_ms=50_000,
        wait_ms=50_000,
        talk_ms=5_000,
        handle_ms=5_000,
        wrapup_code="wc-running",
    )
    row = single_row([ended, running], include_ongoing=True)
    assert row == {
        "conversations": 2,
        "offered": 1,
        "answered": 1,
        "abandoned": 0,
        "transferred": 0,
        "handled": 1,  # the ended one; the running one's handle time does not count
        "abandon_rate": 0.0,
        "answer_rate": 1.0,
        "service_level": 1.0,
        "avg_speed_of_answer_seconds": 4.0,
        "avg_wait_seconds": 4.0,
        "avg_duration_seconds": 80.0,  # 80 s over the one ended conversation, not over 2
        "avg_talk_seconds": 60.0,
        "avg_hold_seconds": 0.0,
        "avg_acw_seconds": 0.0,
        "avg_handle_seconds": 60.0,
        "p50_handle_seconds": 60.0,
        "p90_handle_seconds": 60.0,
        "talk_ratio": 0.75,  # 60 / 80
        "hold_ratio": 0.0,
        "efficiency_score": 100.0,
        "wrapup_codes": ["wc-done"],
    }


def test_group_of_only_ongoing_conversations() -> None:
    aggregator = Aggregator(["queue_id"], include_ongoing=True)
    aggregator.add(ongoing(queue_id="q-1", offered=1, wait_ms=9_000))
    [row] = aggregator.rows(["conversations", "offered", "avg_wait_seconds"], {}, {})
    assert row == {
        "queue_id": "q-1",
        "queue_name": "q-1",
        "conversations": 1,
        "offered": 0,
        "avg_wait_seconds": None,
    }


# --- columns, names, row order ----------------------------------------------------------------


def test_columns_for_every_kind_of_dimension() -> None:
    aggregator = Aggregator(
        ["hour", "queue_id", "agent_id", "wrapup_code", "division_id", "media_type", "answered"]
    )
    columns = aggregator.columns(["avg_handle_seconds", "conversations"], {"z": "1", "a": "2"})
    assert columns == [
        "hour",
        "queue_id",
        "queue_name",
        "agent_id",
        "agent_name",
        "wrapup_code_id",
        "wrapup_code_name",
        "division_id",
        "division_name",
        "media_type",
        "answered",
        # Built-in metrics in the order of METRICS, whatever order the report listed them in.
        "conversations",
        "avg_handle_seconds",
        # Custom metrics in mapping order.
        "z",
        "a",
    ]


def test_rows_have_the_columns_as_keys_in_order() -> None:
    aggregator = Aggregator(["queue_id", "day"])
    aggregator.add(conv(queue_id="q-1"))
    custom = {"double": "conversations * 2"}
    columns = aggregator.columns(["answered", "conversations"], custom)
    [row] = aggregator.rows(["answered", "conversations"], custom, {})
    assert list(row) == columns


def test_names_resolved_and_unresolved() -> None:
    names = {
        "queues": {"q-1": "Sales"},
        "users": {"u-1": "Jane Agent"},
        "wrapupcodes": {"wc-1": "Resolved"},
        "divisions": {"d-1": "Home"},
    }
    aggregator = Aggregator(["queue_id", "agent_id", "wrapup_code", "division_id"])
    aggregator.add(conv(queue_id="q-1", agent_id="u-1", wrapup_code="wc-1", division_id="d-1"))
    aggregator.add(conv(queue_id="q-2", agent_id="u-2", wrapup_code="wc-2", division_id="d-2"))
    aggregator.add(conv())
    rows = aggregator.rows(["wrapup_codes"], {}, names)
    assert rows == [
        {
            "queue_id": None,
            "queue_name": None,
            "agent_id": None,
            "agent_name": None,
            "wrapup_code_id": None,
            "wrapup_code_name": None,
            "division_id": None,
            "division_name": None,
            "wrapup_codes": [],
        },
        {
            "queue_id": "q-1",
            "queue_name": "Sales",
            "agent_id": "u-1",
            "agent_name": "Jane Agent",
            "wrapup_code_id": "wc-1",
            "wrapup_code_name": "Resolved",
            "division_id": "d-1",
            "division_name": "Home",
            "wrapup_codes": ["Resolved"],
        },
        {
            # Unresolved ids keep the id in the name column (§4).
            "queue_id": "q-2",
            "queue_name": "q-2",
            "agent_id": "u-2",
            "agent_name": "u-2",
            "wrapup_code_id": "wc-2",
            "wrapup_code_name": "wc-2",
            "division_id": "d-2",
            "division_name": "d-2",
            "wrapup_codes": ["wc-2"],
        },
    ]


def test_wrapup_codes_are_distinct_sorted_display_names() -> None:
    # Two ids with the same name show once; names and unresolved ids sort together.
    calls = [conv(wrapup_code=code) for code in ("wc-3", "wc-1", "wc-2", "wc-1", "wc-9")]
    names = {"wrapupcodes": {"wc-1": "Sale", "wc-2": "Sale", "wc-3": "Callback"}}
    row = single_row(calls, ["wrapup_codes"], names=names)
    assert row == {"wrapup_codes": ["Callback", "Sale", "wc-9"]}


def test_ids_to_resolve() -> None:
    aggregator = Aggregator(["queue_id", "division_id", "media_type"], include_ongoing=True)
    aggregator.add(conv(queue_id="q-1", division_id="d-1", agent_id="u-1", wrapup_code="wc-1"))
    aggregator.add(conv(queue_id="q-2", wrapup_code="wc-2"))
    aggregator.add(conv(queue_id=None, media_type=None))
    # An ongoing conversation's group key needs its name, its wrap-up code does not (it is in
    # no metric).
    aggregator.add(ongoing(queue_id="q-3", wrapup_code="wc-ongoing"))
    assert aggregator.ids_to_resolve() == {
        "queues": {"q-1", "q-2", "q-3"},
        "divisions": {"d-1"},
        # Not grouped by wrap-up code, but the wrapup_codes metric shows names.
        "wrapupcodes": {"wc-1", "wc-2"},
    }


def test_ids_to_resolve_is_empty_without_ids() -> None:
    aggregator = Aggregator(["agent_id", "hour"])
    aggregator.add(conv())
    assert aggregator.ids_to_resolve() == {}
    assert NAME_KINDS == {
        "queue_id": "queues",
        "agent_id": "users",
        "wrapup_code": "wrapupcodes",
        "division_id": "divisions",
    }


def test_rows_are_sorted_by_group_values_with_none_first() -> None:
    aggregator = Aggregator(["queue_id", "answered", "day"])
    # Added out of order. Each dimension sorts by its own values: flags as ints, days as
    # their ISO text (which sorts by date), queue ids as text, with None before any value.
    for queue, answered, day in [
        ("q-b", 1, "2024-05-10"),
        ("q-a", 1, "2024-05-09"),
        (None, 1, "2024-05-10"),
        ("q-a", 0, "2024-05-10"),
        ("q-a", 1, "2024-05-10"),
        (None, 0, "2024-05-09"),
    ]:
        aggregator.add(conv(queue_id=queue, answered=answered, day=day))
    rows = aggregator.rows(["conversations"], {}, {})
    assert [(row["queue_id"], row["answered"], row["day"]) for row in rows] == [
        (None, 0, "2024-05-09"),
        (None, 1, "2024-05-10"),
        ("q-a", 0, "2024-05-10"),
        ("q-a", 1, "2024-05-09"),
        ("q-a", 1, "2024-05-10"),
        ("q-b", 1, "2024-05-10"),
    ]
    assert aggregator.group_count == 6


def test_groups_sum_their_own_conversations() -> None:
    aggregator = Aggregator(["media_type"])
    aggregator.add(answered_call(100_000, media_type="voice"))
    aggregator.add(answered_call(300_000, media_type="voice"))
    aggregator.add(answered_call(40_000, media_type="chat"))
    rows = aggregator.rows(["conversations", "avg_handle_seconds"], {}, {})
    assert rows == [
        {"media_type": "chat", "conversations": 1, "avg_handle_seconds": 40.0},
        # AHT is conversation-weighted: (100 + 300) / 2.
        {"media_type": "voice", "conversations": 2, "avg_handle_seconds": 200.0},
    ]


# --- custom metrics ---------------------------------------------------------------------------


def test_custom_metric_arithmetic_over_unrounded_builtins() -> None:
    custom = {
        "answered_pct": "answered / offered * 100",  # 3 / 4 * 100
        # hold_ratio unrounded is 30/560 = 0.0535714...; rounded first it would give 53.6.
        "hold_permille": "hold_ratio * 1000",
        "handle_minutes": "round(avg_handle_seconds / 60, 1)",  # 136.666... / 60 = 2.2777...
        "functions": "max(abandoned, transferred) + min(1, 2) + abs(-3)",  # 1 + 1 + 3
        "busy": "1 if conversations > 4 else 0",
        "over_target": "avg_wait_seconds > 20",  # a comparison becomes 1/0
        "third": "conversations / 3",  # 1.666... rounded to 4 decimals
    }
    # Only one built-in is shown; every built-in is available to the expressions.
    row = single_row(FIVE, ["conversations"], custom)
    assert row == {
        "conversations": 5,
        "answered_pct": 75.0,
        "hold_permille": 53.5714,
        "handle_minutes": 2.3,
        "functions": 5,
        "busy": 1,
        "over_target": 1,
        "third": 1.6667,
    }
    assert type(row["functions"]) is int


def test_custom_metric_division_by_zero_and_null_operands_are_null() -> None:
    custom = {
        "by_zero": "answered / abandoned",  # abandoned is 0
        "null_operand": "avg_handle_seconds + 1",  # nobody answered: AHT is null
        "null_in_function": "max(answer_rate, 0)",  # answer_rate is null (nothing offered)
        "null_compared": "answer_rate > 0.5",
        "fine": "conversations + 1",
    }
    row = single_row([conv()], ["conversations"], custom)
    assert row == {
        "conversations": 1,
        "by_zero": None,
        "null_operand": None,
        "null_in_function": None,
        "null_compared": None,
        "fine": 2,
    }


def test_custom_metric_evaluation_is_per_group() -> None:
    aggregator = Aggregator(["queue_id"])
    aggregator.add(conv(queue_id="q-1", offered=1, abandoned=1))
    aggregator.add(conv(queue_id="q-2", offered=1, answered=1, speed_of_answer_ms=1_000))
    rows = aggregator.rows(["conversations"], {"answered_per_abandon": "answered / abandoned"}, {})
    # q-1: 0 / 1; q-2: 1 / 0 -> null only in that group.
    assert [row["answered_per_abandon"] for row in rows] == [0.0, None]


def test_every_expression_function_is_available() -> None:
    custom = {
        "min": "min(offered, -2)",
        "max": "max(offered, 7)",
        "abs": "abs(-7)",
        "round": "round(7.46, 1)",
    }
    assert set(custom) == set(EXPRESSION_FUNCTIONS)
    row = single_row([conv()], ["offered"], custom)
    assert row == {"offered": 0, "min": -2, "max": 7, "abs": 7, "round": 7.5}


@pytest.mark.parametrize(
    "expression",
    [
        "conversations.__class__",
        "conversations.real",
        "conversations.bit_length()",
        "wrapup_codes.append('injected')",
        "wrapup_codes.clear()",
        "(1).__class__.__bases__",
        "__import__('os')",
        "open('/etc/passwd')",
        "min",  # a function is not a name an expression can use as a value
        "int('3')",  # only min, max, abs, round
        "undefined_metric + 1",
        "wrapup_codes[0]",
        "round(offered, ndigits=1)",
        "[conversations]",
        "2 ** 99999999",  # simpleeval's power limit
        "'x' * 10 ** 9",  # and its string length limit
        "1e308 * 10",  # inf is not a number a report can carry
        "(",  # not an expression at all
        "",
    ],
)
def test_unsafe_or_invalid_expressions_yield_null(expression: str) -> None:
    row = single_row([conv(wrapup_code="wc-1")], ["wrapup_codes"], {"x": expression})
    # Evaluated after the built-ins: a method that ran would have changed this list.
    assert row == {"wrapup_codes": ["wc-1"], "x": None}


def test_attribute_access_cannot_run(tmp_path: Path) -> None:
    # wrapup_codes is the very list the row shows: had the method call run, the row would
    # show "injected" (and x would be 1).
    expression = "wrapup_codes.append('injected') or 1"
    row = single_row([conv(wrapup_code="wc-1")], ["wrapup_codes"], {"x": expression})
    assert row == {"wrapup_codes": ["wc-1"], "x": None}
    # Nor can anything but min, max, abs and round be called: this would write a file.
    target = tmp_path / "written"
    single_row([conv()], ["conversations"], {"x": f"open({str(target)!r}, 'w').write('x')"})
    assert not target.exists()


# --- argument checks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group_by", "message"),
    [(["queue"], "cannot group by queue"), (["day", "day"], "twice")],
)
def test_unknown_or_repeated_group_dimensions_are_refused(
    group_by: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Aggregator(group_by)


def test_unknown_metrics_and_clashing_columns_are_refused() -> None:
    aggregator = Aggregator(["queue_id", "offered"])
    with pytest.raises(ValueError, match="unknown metrics: aht"):
        aggregator.columns(["aht"], {})
    with pytest.raises(ValueError, match="used twice: queue_name"):
        aggregator.columns(["conversations"], {"queue_name": "1"})
    # Grouping by the offered flag and counting offered would need two "offered" columns.
    with pytest.raises(ValueError, match="used twice: offered"):
        aggregator.rows(["offered"], {}, {})


# --- from detail records ----------------------------------------------------------------------


def test_from_hand_written_records_to_rows() -> None:
    def call(conversation_id: str, start: str, queue: str, handle_ms: int) -> dict[str, Any]:
        return {
            "conversationId": conversation_id,
            "conversationStart": start,
            "conversationEnd": "2024-10-27T03:00:00.000Z",
            "participants": [
                {
                    "purpose": "acd",
                    "sessions": [
                        {
                            "mediaType": "voice",
                            "metrics": [{"name": "nOffered", "value": 1}],
                            "segments": [
                                {"segmentType": "interact", "segmentStart": start, "queueId": queue}
                            ],
                        }
                    ],
                },
                {
                    "purpose": "agent",
                    "userId": "u-1",
                    "sessions": [
                        {
                            "metrics": [
                                {"name": "tAnswered", "value": 2_000},
                                {"name": "tHandle", "value": handle_ms},
                            ],
                            "segments": [{"segmentType": "interact", "segmentStart": start}],
                        }
                    ],
                },
            ],
        }

    berlin = ZoneInfo("Europe/Berlin")
    records = [
        # 00:30Z (CEST) and 01:30Z (CET) are both local 02:00 on the fall-back night.
        call("c-1", "2024-10-27T00:30:00.000Z", "q-1", 100_000),
        call("c-2", "2024-10-27T01:30:00.000Z", "q-1", 200_000),
        call("c-3", "2024-10-27T01:45:00.000Z", "q-2", 50_000),
    ]
    aggregator = Aggregator(["hour", "queue_id"])
    for record in records:
        aggregator.add(conversation_facts(record, berlin))
    rows = aggregator.rows(
        ["conversations", "avg_handle_seconds"], {}, {"queues": {"q-1": "Sales"}}
    )
    assert rows == [
        {
            "hour": "2024-10-27T02:00",
            "queue_id": "q-1",
            "queue_name": "Sales",
            "conversations": 2,
            "avg_handle_seconds": 150.0,  # (100 + 200) / 2
        },
        {
            "hour": "2024-10-27T02:00",
            "queue_id": "q-2",
            "queue_name": "q-2",
            "conversations": 1,
            "avg_handle_seconds": 50.0,
        },
    ]
