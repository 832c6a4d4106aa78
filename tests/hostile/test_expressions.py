"""Hostile custom metrics (issue 7, item 2: expressions).

A custom metric is arithmetic over metric names and ``min``/``max``/``abs``/``round``. It must
not reach attributes, imports, dunder names, subscripts, lambdas or comprehensions, and must
not run away (exponent bombs, huge integers or strings, deep nesting). Two layers are checked:

* ``check-config`` (``parse_settings``): a forbidden construct is a ``ConfigError`` under
  ``reports[0].custom_metrics.<name>``; nothing else may escape, however deep the nesting;
* the evaluator itself (``Aggregator.rows``, bypassing settings validation): whatever the
  expression, a group's value is ``None`` or a finite number both exports can write.

Runaway big-integer operations hold the interpreter inside one C call, which no in-process
timeout can interrupt; the hang guards therefore evaluate in child processes (started
together, each given at most ``HANG_GUARD_SECONDS``) and fail instead of hanging the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.errors import ConfigError
from app.settings import METRICS, parse_settings
from tests.genesys.conftest import Connect
from tests.hostile.evaluate import assert_exportable, evaluate
from tests.hostile.fuzz import FUZZ
from tests.hostile.harness import start

REPO = Path(__file__).resolve().parents[2]
HANG_GUARD_SECONDS = 10.0
DEEP = 5000


def _check_config(expression: str) -> ConfigError | None:
    """None when check-config accepts the expression; its ConfigError otherwise."""
    try:
        parse_settings(
            {"reports": [{"name": "r", "custom_metrics": {"x": expression}}]}, environ={}
        )
    except ConfigError as error:
        return error
    return None


def _assert_refused(expression: str) -> None:
    error = _check_config(expression)
    assert error is not None, f"check-config accepted {expression[:80]!r}"
    assert any(p.startswith("reports[0].custom_metrics.x: ") for p in error.problems), (
        error.problems
    )


# Constructs check-config must refuse, and the evaluator must turn into None.
FORBIDDEN = {
    "attribute": "answered.real",
    "dunder attribute": "().__class__",
    "class walk": "answered.__class__.__mro__[-1].__subclasses__()",
    "import": "__import__('os').system('true')",
    "builtins": "__builtins__",
    "open": "open('/etc/passwd')",
    "getattr": "getattr(answered, 'real')",
    "type": "type(answered)",
    "eval": "eval('1')",
    "globals": "globals()",
    "subscript": "wrapup_codes[0]",
    "slice": "wrapup_codes[0:1]",
    "lambda": "(lambda: 1)()",
    "list comprehension": "[x for x in (1, 2)]",
    "generator": "sum(x for x in (1, 2))",
    "dict comprehension": "{x: x for x in (1,)}",
    "walrus": "(y := answered)",
    "f-string": "f'{answered}'",
    "keyword argument": "round(answered, ndigits=2)",
    "starred": "max(*[answered, offered])",
    "list literal": "[answered]",
    "dict literal": "{'a': answered}",
    "tuple": "(answered, offered)",
    "unknown name": "answred + 1",
    "await": "await answered",
    "yield": "(yield answered)",
    "statement": "answered; import os",
    "null byte": "answered\x00",
    "empty": "",
    "deep parentheses": "(" * DEEP + "answered" + ")" * DEEP,
    "deep calls": "abs(" * DEEP + "answered" + ")" * DEEP,
}
# Syntax check-config may accept; the evaluator must give None or an exportable number.
ACCEPTABLE_OR_REFUSED = {
    "power tower": "9**9**9",
    "exponent bomb": "answered ** 10**8",
    "shift bomb": "1 << 10**9",
    "string repetition": "'a' * 10**6",
    "string doubling": "('a' * 99999) * 2",
    "string concatenation": "'a' * 99999 + 'b' * 99999",
    "bytes repetition": "b'a' * 10**6",
    "huge string literal": "'" + "a" * 1_000_000 + "'",
    "matrix product": "answered @ offered",
    "complex": "1j ** 2",
    "string result": "'answered'",
    "comparison chain": "0 < answered < offered",
    "division by zero": "answered / (offered - offered)",
    "modulo by zero": "answered % 0",
    "float overflow": "1e308 * 10",
    "inf literal": "1e309 - answered",
    "ellipsis": "...",
    "None": "None",
    "null operand": "avg_talk_seconds * 0 + p90_handle_seconds",
    "round with huge ndigits": "round(answered, 10**9)",
    "wide addition": " + ".join(["answered"] * 20_000),
    "wide comparison": " < ".join(["answered"] * DEEP),
    "wide and": " and ".join(["answered"] * DEEP),
    "deep conditional": "1 if answered else " * 1000 + "0",
    # Results too large for any export: a 64-bit integer is the most orjson writes, 4300
    # digits the most str() of an int gives.
    "googol": "10 ** 100",
    "2^63": "2 ** 63",
    "5001 digits": "10 ** 5000",
    "a million bits": "1000 ** 100000",
    "big product": "(1 << 10000) * (1 << 10000)",
    "big max": "max(2 ** 100, answered)",
    "big abs": "abs(-(10 ** 30))",
}
# Deep nesting that the parser itself cannot build (RecursionError, MemoryError).
TOO_DEEP = {
    "5000 unary minus": "-" * DEEP + "answered",
    "5000 not": "not " * DEEP + "answered",
    "5000-high power tower": "1 ** " * DEEP + "1",
    "100,000 additions": " + ".join(["1"] * 100_000),
}


# Issue 13, item 9: printf-style formatting and other text built from string constants.
STRING_CONSTANTS = {
    "printf width": "'%0400000000d' % conversations",
    "printf of a metric": "'%s' % answered",
    "string times metric": "'a' * answered",
    "bool constant": "True + answered",
    "None constant": "None if answered else 1",
}


@pytest.mark.parametrize("expression", list(STRING_CONSTANTS.values()), ids=list(STRING_CONSTANTS))
def test_constants_other_than_numbers_are_refused_everywhere(expression: str) -> None:
    error = _check_config(expression)
    assert error is not None and "only numbers may be written as constants" in str(error)
    assert evaluate(expression) is None  # the evaluator alone refuses them too


def test_modulo_takes_numbers_only_and_still_works_on_them() -> None:
    assert evaluate("conversations % 2") == 0
    assert evaluate("7.5 % 2") == 1.5


@pytest.mark.parametrize("expression", list(FORBIDDEN.values()), ids=list(FORBIDDEN))
def test_forbidden_constructs_are_refused_by_check_config(expression: str) -> None:
    _assert_refused(expression)


@pytest.mark.parametrize("expression", list(TOO_DEEP.values()), ids=list(TOO_DEEP))
def test_nesting_too_deep_to_parse_is_a_config_error(expression: str) -> None:
    _assert_refused(expression)


@pytest.mark.parametrize(
    "expression", list(ACCEPTABLE_OR_REFUSED.values()), ids=list(ACCEPTABLE_OR_REFUSED)
)
def test_check_config_refuses_with_the_key_or_accepts(expression: str) -> None:
    error = _check_config(expression)
    if error is not None:
        assert all(p.startswith("reports[0].custom_metrics.x: ") for p in error.problems)


ALL_CHEAP = {**FORBIDDEN, **ACCEPTABLE_OR_REFUSED, **TOO_DEEP}


@pytest.mark.parametrize("expression", list(ALL_CHEAP.values()), ids=list(ALL_CHEAP))
def test_the_evaluator_gives_none_or_an_exportable_number(expression: str) -> None:
    """The evaluator on its own, without settings validation in front of it."""
    value = evaluate(expression)
    assert_exportable(value)
    if expression in FORBIDDEN.values() or expression in TOO_DEEP.values():
        assert value is None


def test_ordinary_expressions_still_work() -> None:
    """Not vacuous: the metrics of the group are there, and so is the arithmetic."""
    assert evaluate("conversations") == 2
    assert evaluate("answered / offered") == 0.5
    assert evaluate("max(answered, abandoned) + abs(-1)") == 2
    assert evaluate("round(avg_handle_seconds)") == 240
    assert evaluate("1 if answer_rate < 1 else 0") == 1
    assert evaluate("answered > offered") == 0
    assert evaluate("avg_talk_seconds / 0") is None
    assert _check_config("answered / offered * 100") is None


expression_atoms = st.one_of(
    st.sampled_from([*METRICS, "__class__", "x", "_", "__import__", "open"]),
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["1e308", "0.0", "-0", "1j", "'s'", "None", "True", "..."]),
)
expression_parts = st.sampled_from(
    [
        *(" + ", " - ", " * ", " / ", " // ", " % ", " ** ", " << ", " >> ", " & ", " | "),
        *(" ^ ", " < ", " == ", " and ", " or ", " if ", " else ", " not ", "-", "~"),
        *("(", ")", ".", "[", "]", ",", "min(", "max(", "abs(", "round("),
    ]
)


@FUZZ
@given(st.lists(st.one_of(expression_atoms, expression_parts), min_size=1, max_size=12))
def test_random_token_soup(tokens: list[str]) -> None:
    """Random expressions: check-config refuses with the key or accepts, and the evaluator
    gives None or an exportable number, never an exception."""
    expression = "".join(tokens)
    error = _check_config(expression)
    if error is not None:
        assert all(p.startswith("reports[0].custom_metrics.x: ") for p in error.problems)
    assert_exportable(evaluate(expression))


# --- hang guards ---------------------------------------------------------------------------

RUNAWAY = {
    # simpleeval allows a base and an exponent up to 4,000,000 each: 88 million bits,
    # about 25 s of CPU in one C call.
    "largest power simpleeval allows": "4000000 ** 4000000",
    # int.__round__ with a negative ndigits computes 10 ** -ndigits: a billion digits.
    "round to a billion digits": "round(answered, -10**9)",
    "a product of large powers": "(4000000 ** 1000000) * (4000000 ** 1000000)",
}


@pytest.fixture(scope="module")
def runaway_children() -> Iterator[tuple[float, dict[str, subprocess.Popen[str]]]]:
    """Every runaway expression evaluated in its own child process, all started at once."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    children = {
        expression: subprocess.Popen(
            [sys.executable, "-m", "tests.hostile.evaluate", expression],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for expression in RUNAWAY.values()
    }
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    try:
        yield deadline, children
    finally:
        for child in children.values():
            if child.poll() is None:
                child.kill()
            child.communicate()


@pytest.mark.parametrize("expression", list(RUNAWAY.values()), ids=list(RUNAWAY))
def test_runaway_expressions_are_refused_or_cut_short(
    expression: str, runaway_children: tuple[float, dict[str, subprocess.Popen[str]]]
) -> None:
    error = _check_config(expression)
    if error is not None:  # refused at start-up: fine
        assert all(p.startswith("reports[0].custom_metrics.x: ") for p in error.problems)
        return
    deadline, children = runaway_children
    child = children[expression]
    try:
        out, err = child.communicate(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        pytest.fail(
            f"check-config accepts {expression!r}, and evaluating it for one group was still "
            f"running after {HANG_GUARD_SECONDS:.0f} s (a report with it never finishes)"
        )
    assert child.returncode == 0, err[-2000:]
    assert_exportable(orjson.loads(out))


# --- through a whole report ----------------------------------------------------------------


@pytest.mark.parametrize(
    "expression", ["10 ** 100", "2 ** 63", "10 ** 5000", "-(2 ** 64)", "answered * 10 ** 20"]
)
async def test_a_custom_metric_too_large_to_export_does_not_fail_the_report(
    connect: Connect, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, expression: str
) -> None:
    """check-config accepts these; the report must still be written (the value null or a
    number), not fail in the JSON or CSV writer."""
    assert _check_config(expression) is None
    harness = await start(connect, tmp_path, monkeypatch)
    run = await harness.run(custom_metrics={"big": expression}, formats=["csv", "json"])
    values: list[Any] = [row["big"] for row in run.rows]
    assert values
    for value in values:
        assert_exportable(value)
