"""Evaluate one custom-metric expression the way a report does, bypassing settings validation.

``python -m tests.hostile.evaluate EXPRESSION`` prints the JSON of the group's value: the hang
guards of ``test_expressions.py`` run it in a child process, since a runaway big-integer
operation holds the interpreter and cannot be interrupted from inside.
"""

from __future__ import annotations

import sys
from typing import Any

import orjson

from app.pipeline.aggregate import Aggregator
from app.pipeline.export import csv_cell
from app.pipeline.facts import Facts


def facts(index: int, *, answered: int = 1) -> Facts:
    """One ended, offered conversation (answered unless told otherwise)."""
    return Facts(
        conversation_id=f"c{index}",
        start_ms=1_714_554_000_000 + index,
        ended=True,
        media_type="voice",
        direction="inbound",
        division_id=None,
        queue_id="q1",
        agent_id="a1" if answered else None,
        wrapup_code="w1" if answered else None,
        offered=1,
        answered=answered,
        abandoned=1 - answered,
        transferred=0,
        handled=answered,
        speed_of_answer_ms=4_000 if answered else None,
        wait_ms=4_000,
        talk_ms=200_000 * answered,
        hold_ms=10_000 * answered,
        acw_ms=30_000 * answered,
        handle_ms=240_000 * answered,
        duration_ms=300_000,
        half_hour="2024-05-01T09:00",
        hour="2024-05-01T09:00",
        day="2024-05-01",
        week="2024-W18",
        month="2024-05",
    )


def evaluate(expression: str) -> Any:
    """The value of ``expression`` for a group of two conversations (one answered)."""
    aggregator = Aggregator([])
    aggregator.add(facts(1))
    aggregator.add(facts(2, answered=0))
    (row,) = aggregator.rows(["conversations"], {"x": expression}, {})
    return row["x"]


def assert_exportable(value: Any) -> None:
    """None, or a finite number both exports can write (orjson: 64-bit integers; CSV: at most
    4300 digits)."""
    assert value is None or (type(value) in (int, float)), f"not a number: {value!r}"
    if isinstance(value, float):
        assert value == value and abs(value) != float("inf"), value
    orjson.dumps(value)
    csv_cell(value)


def main(expression: str) -> None:
    value = evaluate(expression)
    assert_exportable(value)
    sys.stdout.write(orjson.dumps(value).decode() + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
