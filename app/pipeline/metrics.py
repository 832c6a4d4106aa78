"""Metric arithmetic shared by both grains (report-semantics §3, §4, §5) and the rows it fills.

Pure and I/O-free. Values are computed unrounded and rounded once, at output, so a custom metric
sees the same values the built-in ones were derived from. A ratio or average over nothing is
``None`` (null), never 0 and never an error.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, Self, TypeVar

from simpleeval import SimpleEval  # type: ignore[import-untyped]  # ships no type information

from app.settings import GROUP_COLUMNS, METRICS, is_number

__all__ = [
    "NAME_KINDS",
    "RATIO_METRICS",
    "CustomMetric",
    "chosen_metrics",
    "efficiency_score",
    "group_ids",
    "operand_names",
    "percentile",
    "ratio",
    "rollup",
    "rounded",
    "seconds",
    "seconds_per",
    "table_columns",
    "table_rows",
    "whole_milliseconds",
]

# Group dimensions whose values are ids with a name to look up (§6), by look-up kind.
NAME_KINDS: dict[str, str] = {
    "queue_id": "queues",
    "agent_id": "users",
    "wrapup_code": "wrapupcodes",
    "division_id": "divisions",
}
WRAPUP_KIND = NAME_KINDS["wrapup_code"]

# Output precision; counts are ints and wrapup_codes a list, both left as they are.
RATIO_METRICS = frozenset(
    (
        "abandon_rate",
        "answer_rate",
        "service_level",
        "service_level_target_pct",
        "talk_ratio",
        "hold_ratio",
    )
)
_DECIMALS: dict[str, int] = {
    **{name: 2 for name in METRICS if name.endswith("_seconds")},
    **dict.fromkeys(RATIO_METRICS, 4),
    "efficiency_score": 2,
}
_CUSTOM_DECIMALS = 4


def whole_milliseconds(seconds: float) -> int:
    # Durations in records are whole milliseconds, so "value <= threshold" only needs the
    # whole part of the threshold; rounding first undoes binary noise (1.001 * 1000 is
    # 1000.999..., which would otherwise turn away an answer at exactly 1001 ms).
    return math.floor(round(seconds * 1000, 6))


# --- the table: group columns, then metrics ---------------------------------------------


def chosen_metrics(metrics: Sequence[str]) -> list[str]:
    """The chosen built-in metrics in the order of ``METRICS``."""
    unknown = [name for name in metrics if name not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics: {', '.join(unknown)}")
    chosen = set(metrics)
    return [name for name in METRICS if name in chosen]


def table_columns(
    group_by: Sequence[str], metrics: Sequence[str], custom_metrics: Mapping[str, str]
) -> list[str]:
    """Group columns in ``group_by`` order, then the chosen built-in metrics in the order of
    ``METRICS``, then the custom metrics in their mapping order."""
    columns: list[str] = []
    for dimension in group_by:
        columns.extend(GROUP_COLUMNS[dimension])
    columns += chosen_metrics(metrics)
    columns += custom_metrics
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise ValueError(f"column names used twice: {', '.join(repeated)}")
    return columns


def table_rows(
    group_by: Sequence[str],
    groups: Iterable[tuple[tuple[Any, ...], Mapping[str, Any]]],
    metrics: Sequence[str],
    custom_metrics: Mapping[str, str],
    names: Mapping[str, Mapping[str, str]],
) -> list[dict[str, Any]]:
    """One row per ``(group key, unrounded metric values)``, sorted by the group values (None
    first); custom metrics evaluated in order, each seeing the ones before it (§5)."""
    table_columns(group_by, metrics, custom_metrics)  # the same checks as the header gets
    chosen = chosen_metrics(metrics)
    custom = [(name, CustomMetric(expression)) for name, expression in custom_metrics.items()]
    rows = []
    for key, values in sorted(groups, key=lambda item: _sort_key(item[0])):
        row = _group_columns(group_by, key, names)
        for metric in chosen:
            row[metric] = rounded(metric, values[metric])
        known = dict(values)
        for name, expression in custom:
            known[name] = value = expression.evaluate(known)
            row[name] = expression.output(value)
        rows.append(row)
    return rows


class Mergeable(Protocol):
    def merge(self, other: Self) -> None: ...


G = TypeVar("G", bound=Mergeable)


def rollup(
    group_by: Sequence[str],
    groups: Mapping[tuple[Any, ...], G],
    keep: Sequence[str],
    new_group: Callable[[], G],
    values: Callable[[G], dict[str, Any]],
) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """``groups`` merged into one per value of the ``keep`` dimensions, each with its metric
    values, sorted as rows are. Reports and their charts and headline figures then come from
    the same running sums through the same arithmetic."""
    missing = [name for name in keep if name not in group_by]
    if missing:
        raise ValueError(f"cannot roll up by {', '.join(missing)}: not grouped by")
    indexes = [group_by.index(name) for name in keep]
    merged: dict[tuple[Any, ...], G] = {}
    for key, group in groups.items():
        kept = tuple(key[i] for i in indexes)
        target = merged.get(kept)
        if target is None:
            target = merged[kept] = new_group()
        target.merge(group)
    if not merged and not keep:
        merged[()] = new_group()  # the whole period always has its figures, zero or not
    return [
        (key, values(group)) for key, group in sorted(merged.items(), key=lambda i: _sort_key(i[0]))
    ]


def group_ids(group_by: Sequence[str], keys: Iterable[tuple[Any, ...]]) -> dict[str, set[str]]:
    """The ids in the group keys whose names the rows show, by look-up kind (§6)."""
    wanted: dict[str, set[str]] = {}
    keys = list(keys)
    for index, dimension in enumerate(group_by):
        kind = NAME_KINDS.get(dimension)
        if kind is not None:
            wanted.setdefault(kind, set()).update(
                key[index] for key in keys if key[index] is not None
            )
    return wanted


def _group_columns(
    group_by: Sequence[str], key: tuple[Any, ...], names: Mapping[str, Mapping[str, str]]
) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for dimension, value in zip(group_by, key, strict=True):
        if dimension not in NAME_KINDS:
            row[dimension] = value
            continue
        id_column, name_column = GROUP_COLUMNS[dimension]
        row[id_column] = value
        row[name_column] = display_name(value, names.get(NAME_KINDS[dimension], {}))
    return row


def _sort_key(key: tuple[Any, ...]) -> tuple[tuple[int, Any], ...]:
    # None first, then the values themselves: a dimension's values share one type (str or
    # int), so they compare naturally (0 < 1, "2024-05-09" < "2024-05-10").
    return tuple((0, 0) if value is None else (1, value) for value in key)


def display_name(identifier: str | None, names: Mapping[str, str]) -> str | None:
    # §6: an id that cannot be resolved keeps its id in the name column.
    return None if identifier is None else names.get(identifier, identifier)


# --- arithmetic ---------------------------------------------------------------------------


def ratio(numerator: float, denominator: float) -> float | None:
    # §3: a ratio over nothing is unknown (null), never 0 and never an error.
    return None if denominator == 0 else numerator / denominator


def seconds_per(milliseconds: int, count: int) -> float | None:
    # One division (count * 1000 is exact) rounds once, where "/ count / 1000" would twice.
    return None if count == 0 else milliseconds / (count * 1000)


def efficiency_score(hold_ms: int, total_ms: int) -> float | None:
    # max(0, 100 - hold_ratio * 50) as one division of integers, (100 d - 50 h) / d: exact up
    # to that single rounding, so a score that is exactly half-way at the second decimal is
    # not pushed either way by the float error of hold_ratio.
    # The ratio's denominator is the duration (conversation grain) or the handle time
    # (interval grain).
    if total_ms == 0:
        return None
    return max(0, 100 * total_ms - 50 * hold_ms) / total_ms


def seconds(milliseconds: float | None) -> float | None:
    return None if milliseconds is None else milliseconds / 1000


def percentile(ordered: Sequence[int], fraction: float) -> float | None:
    """numpy's default ("linear") percentile of ascending values: interpolation between the
    two closest ranks, written as numpy writes it so both give the same float."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * fraction
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    weight = position - below
    low, high = ordered[below], ordered[above]
    step = high - low
    # numpy's _lerp counts from the nearer end, so a weight near 1 lands exactly on ``high``.
    return high - step * (1 - weight) if weight >= 0.5 else low + step * weight


def rounded(metric: str, value: Any) -> Any:
    decimals = _DECIMALS.get(metric)
    if decimals is None or value is None:
        return value
    return round(value, decimals)


# --- custom metrics -------------------------------------------------------------------------


def _round(number: Any, ndigits: Any = None) -> Any:
    # round(x, -10**9) would build 10**(10**9): keep the digits to what a report can show.
    if ndigits is not None and not -20 <= ndigits <= 20:
        raise ValueError("round() keeps -20 to 20 digits")
    return round(number, ndigits)


_MAX_POWER_BITS = 256


def _power(base: Any, exponent: Any) -> Any:
    # simpleeval caps base and exponent separately (4,000,000 ** 4,000,000 still runs for
    # seconds); bound the size of the result instead.
    if isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1:
        if exponent > 0 and exponent * math.log2(abs(base)) > _MAX_POWER_BITS:
            raise OverflowError("the power is too large")
        return base**exponent
    return math.pow(base, exponent)


def _modulo(left: Any, right: Any) -> Any:
    # Numbers only: with a string on the left, % is printf-style formatting, which builds text
    # of any width ("'%0400000000d' % x" is 400 MB).
    if not (is_number(left) and is_number(right)):
        raise TypeError("% takes numbers only")
    return left % right


def _constant(node: ast.Constant) -> Any:
    if not is_number(node.value):
        raise TypeError("only numbers may be written as constants")
    return node.value


# The functions app/settings.py lets an expression call (EXPRESSION_FUNCTIONS), by name.
_FUNCTIONS: dict[str, Callable[..., Any]] = {"min": min, "max": max, "abs": abs, "round": _round}
# The syntax the evaluator runs; anything else (attribute access, subscripts, keyword
# arguments, f-strings, comprehensions, lambdas) fails before it is evaluated. This is the
# same list app/settings.py validates expressions against.
_ALLOWED_NODES = (
    ast.Name,
    ast.UnaryOp,
    ast.BinOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Call,
    ast.Constant,
)


class CustomMetric:
    """One custom metric expression, parsed once and evaluated per group.

    §5: a null operand or a division by zero yields null; the result is rounded to 4 decimals
    at output unless the expression rounds it itself (``round(...)`` outermost), and a later
    custom metric reads the unrounded value. Settings validated the expression at start-up;
    this stays defensive anyway: whatever goes wrong in one group (a forbidden construct, a
    number too large) makes that group's value None instead of failing the report.
    """

    __slots__ = ("_evaluator", "_expression", "_names", "_rounds_itself", "_tree", "_values")

    def __init__(self, expression: str) -> None:
        self._expression = expression
        self._values: Mapping[str, Any] = {}
        self._evaluator = _safe_evaluator(self._lookup)
        try:
            self._tree: ast.expr | None = ast.parse(expression.strip(), mode="eval").body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            self._tree = None
        self._names = _operand_names(self._tree)
        self._rounds_itself = (
            isinstance(self._tree, ast.Call)
            and isinstance(self._tree.func, ast.Name)
            and self._tree.func.id == "round"
        )

    def evaluate(self, values: Mapping[str, Any]) -> float | int | None:
        """The unrounded value over ``values``, or None."""
        if self._tree is None or any(values.get(name) is None for name in self._names):
            return None  # a null (or unknown) operand
        self._values = values
        try:
            result = self._evaluator.eval(self._expression, previously_parsed=self._tree)
        except Exception:  # any failure is this group's null, by contract (§5)
            return None
        finally:
            self._values = {}
        return _custom_value(result)

    def output(self, value: float | int | None) -> float | int | None:
        """``value`` as the report shows it."""
        if isinstance(value, float) and not self._rounds_itself:
            return round(value, _CUSTOM_DECIMALS)
        return value

    def _lookup(self, node: ast.Name) -> Any:
        # Only metric names: no True/False/None aliases and no functions used as values.
        # A name that is not a metric raises KeyError, which evaluate turns into None.
        return self._values[node.id]


def operand_names(expression: str) -> frozenset[str]:
    """The metric names an expression reads (not the functions it calls)."""
    try:
        return _operand_names(ast.parse(expression.strip(), mode="eval").body)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return frozenset()


def _operand_names(tree: ast.expr | None) -> frozenset[str]:
    if tree is None:
        return frozenset()
    nodes = list(ast.walk(tree))
    called = {id(node.func) for node in nodes if isinstance(node, ast.Call)}
    return frozenset(n.id for n in nodes if isinstance(n, ast.Name) and id(n) not in called)


def _safe_evaluator(lookup: Callable[[ast.Name], Any]) -> Any:
    # simpleeval's default operators are kept because they carry its limits (a power's
    # exponent, a string's length); its node table is cut down to _ALLOWED_NODES, and names
    # are looked up by ``lookup`` alone.
    evaluator = SimpleEval(functions=dict(_FUNCTIONS), names={})
    evaluator.operators[ast.Pow] = _power
    evaluator.operators[ast.Mod] = _modulo
    evaluator.nodes = {
        kind: handler for kind, handler in evaluator.nodes.items() if kind in _ALLOWED_NODES
    }
    evaluator.nodes[ast.Name] = lookup
    evaluator.nodes[ast.Constant] = _constant
    return evaluator


def _custom_value(result: Any) -> float | int | None:
    # A report column holds numbers: a comparison's bool becomes 1/0 like the flag facts, and
    # anything that is not a finite number (a list, a string, inf, nan) is null.
    if isinstance(result, bool):
        return int(result)
    if isinstance(result, int):
        if -(2**63) <= result < 2**63:
            return result
        result = float(result) if abs(result) < 2**1000 else math.inf
    if isinstance(result, float):
        return result if math.isfinite(result) else None
    return None
