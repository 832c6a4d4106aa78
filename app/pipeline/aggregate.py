"""Groups of conversations and their metrics (report-semantics §1, §3, §4).

Pure and I/O-free. ``Aggregator.add`` takes one conversation's facts at a time and keeps
running sums per group, so memory grows with the number of groups, not of conversations; the
one exception is the handle times of answered conversations, which percentiles need whole and
which are kept as 8-byte integers. Everything is computed unrounded and rounded once, at
output, so a custom metric sees the same values the built-in ones were derived from.
"""

from __future__ import annotations

import ast
import math
from array import array
from collections.abc import Callable, Mapping, Sequence
from operator import attrgetter
from typing import Any

from simpleeval import SimpleEval  # type: ignore[import-untyped]  # ships no type information

from app.pipeline.facts import Facts
from app.settings import GROUP_BY_FACTS, GROUP_COLUMNS, METRICS

__all__ = ["NAME_KINDS", "Aggregator"]

# Group dimensions whose values are ids with a name to look up (§4), by look-up kind.
NAME_KINDS: dict[str, str] = {
    "queue_id": "queues",
    "agent_id": "users",
    "wrapup_code": "wrapupcodes",
    "division_id": "divisions",
}
_WRAPUP_KIND = NAME_KINDS["wrapup_code"]

# Output precision (§3); counts are ints and wrapup_codes a list, both left as they are.
_RATIOS = frozenset(("abandon_rate", "answer_rate", "service_level", "talk_ratio", "hold_ratio"))
_DECIMALS: dict[str, int] = {
    **{name: 2 for name in METRICS if name.endswith("_seconds")},
    **dict.fromkeys(_RATIOS, 4),
    "efficiency_score": 2,
}
_CUSTOM_DECIMALS = 4


class _Group:
    """Running sums of one group; ``add_ended`` takes the facts of an ended conversation."""

    __slots__ = (
        "abandoned",
        "acw_ms",
        "answer_ms",
        "answered",
        "conversations",
        "duration_ms",
        "ended",
        "handle_ms",
        "handle_values",
        "hold_ms",
        "offered",
        "speed_count",
        "talk_ms",
        "transferred",
        "wait_ms",
        "within_service_level",
        "wrapup_codes",
    )

    def __init__(self) -> None:
        self.conversations = 0
        self.ended = 0
        self.offered = 0
        self.answered = 0
        self.abandoned = 0
        self.transferred = 0
        self.within_service_level = 0
        self.answer_ms = 0  # sum of speed_of_answer_ms
        self.speed_count = 0  # answered conversations that carry a speed of answer
        self.wait_ms = 0
        self.duration_ms = 0
        self.talk_ms = 0
        self.hold_ms = 0
        self.acw_ms = 0
        self.handle_ms = 0
        # Signed 64-bit: 8 bytes per answered conversation instead of a 28-byte int object.
        self.handle_values = array("q")
        self.wrapup_codes: set[str] = set()

    def add_ended(self, facts: Facts, service_level_ms: int) -> None:
        self.ended += 1
        self.offered += facts.offered
        self.answered += facts.answered
        self.abandoned += facts.abandoned
        self.transferred += facts.transferred
        speed = facts.speed_of_answer_ms
        if facts.answered and speed is not None:
            self.answer_ms += speed
            self.speed_count += 1
            if facts.offered and speed <= service_level_ms:
                self.within_service_level += 1
        if facts.answered:
            self.handle_values.append(facts.handle_ms)
        self.wait_ms += facts.wait_ms
        self.talk_ms += facts.talk_ms
        self.hold_ms += facts.hold_ms
        self.acw_ms += facts.acw_ms
        self.handle_ms += facts.handle_ms
        if facts.duration_ms is not None:
            self.duration_ms += facts.duration_ms
        if facts.wrapup_code is not None:
            self.wrapup_codes.add(facts.wrapup_code)


class Aggregator:
    """Conversations grouped by ``group_by`` facts, with the §3 metrics of every group."""

    def __init__(
        self,
        group_by: Sequence[str],
        *,
        service_level_seconds: float = 20.0,
        include_ongoing: bool = False,
    ) -> None:
        unknown = [name for name in group_by if name not in GROUP_BY_FACTS]
        if unknown:
            raise ValueError(f"cannot group by {', '.join(unknown)}")
        if len(set(group_by)) != len(group_by):
            raise ValueError(f"group_by lists a dimension twice: {', '.join(group_by)}")
        self._group_by = tuple(group_by)
        self._key = _key_function(self._group_by)
        self._service_level_ms = _whole_milliseconds(service_level_seconds)
        self._include_ongoing = include_ongoing
        self._groups: dict[tuple[Any, ...], _Group] = {}

    def add(self, facts: Facts) -> None:
        """Count one conversation. Ongoing ones count only in ``conversations`` (§1), and only
        when the report includes them."""
        if not facts.ended and not self._include_ongoing:
            return
        key = self._key(facts)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group()
        group.conversations += 1
        if facts.ended:
            group.add_ended(facts, self._service_level_ms)

    @property
    def group_count(self) -> int:
        return len(self._groups)

    def ids_to_resolve(self) -> dict[str, set[str]]:
        """Ids to look up names for, by look-up kind; kinds with no ids are left out."""
        wanted: dict[str, set[str]] = {}
        for index, dimension in enumerate(self._group_by):
            kind = NAME_KINDS.get(dimension)
            if kind is not None:
                ids = {key[index] for key in self._groups if key[index] is not None}
                wanted.setdefault(kind, set()).update(ids)
        # The wrapup_codes metric shows names too, whatever the grouping.
        codes = set[str]().union(*(group.wrapup_codes for group in self._groups.values()))
        wanted.setdefault(_WRAPUP_KIND, set()).update(codes)
        return {kind: ids for kind, ids in wanted.items() if ids}

    def columns(self, metrics: Sequence[str], custom_metrics: Mapping[str, str]) -> list[str]:
        """Group columns in ``group_by`` order, then the chosen built-in metrics in the order
        of ``METRICS``, then the custom metrics in their mapping order."""
        columns: list[str] = []
        for dimension in self._group_by:
            columns.extend(GROUP_COLUMNS[dimension])
        columns += _chosen_metrics(metrics)
        columns += custom_metrics
        repeated = sorted({name for name in columns if columns.count(name) > 1})
        if repeated:
            raise ValueError(f"column names used twice: {', '.join(repeated)}")
        return columns

    def rows(
        self,
        metrics: Sequence[str],
        custom_metrics: Mapping[str, str],
        names: Mapping[str, Mapping[str, str]],
    ) -> list[dict[str, Any]]:
        """One row per group, sorted by the group values (None first); keys as ``columns``.

        ``names`` maps a look-up kind to ``{id: name}``; an id without a name shows itself.
        """
        self.columns(metrics, custom_metrics)  # the same checks as the header gets
        chosen = _chosen_metrics(metrics)
        custom = [(name, _CustomMetric(expression)) for name, expression in custom_metrics.items()]
        wrapup_names = names.get(_WRAPUP_KIND, {})
        groups = self._groups
        if not self._group_by and not groups:
            # A report without grouping always has its one row, even over no conversations.
            groups = {(): _Group()}
        rows = []
        for key in sorted(groups, key=_sort_key):
            row = self._group_columns(key, names)
            values = _metric_values(groups[key], wrapup_names)
            for metric in chosen:
                row[metric] = _rounded(metric, values[metric])
            for name, expression in custom:
                row[name] = expression.evaluate(values)
            rows.append(row)
        return rows

    def _group_columns(
        self, key: tuple[Any, ...], names: Mapping[str, Mapping[str, str]]
    ) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for dimension, value in zip(self._group_by, key, strict=True):
            if dimension not in NAME_KINDS:
                row[dimension] = value
                continue
            id_column, name_column = GROUP_COLUMNS[dimension]
            row[id_column] = value
            row[name_column] = _display_name(value, names.get(NAME_KINDS[dimension], {}))
        return row


def _whole_milliseconds(seconds: float) -> int:
    # Speeds of answer are whole milliseconds, so "speed <= threshold" only needs the whole
    # part of the threshold; rounding first undoes binary noise (1.001 * 1000 is 1000.999...,
    # which would otherwise turn away an answer at exactly 1001 ms).
    return math.floor(round(seconds * 1000, 6))


def _key_function(group_by: tuple[str, ...]) -> Callable[[Facts], tuple[Any, ...]]:
    # attrgetter with one name returns the bare value, with several a tuple: keys are always
    # tuples so that rows and ids_to_resolve can index them alike.
    if not group_by:
        return lambda facts: ()
    if len(group_by) == 1:
        single = attrgetter(group_by[0])
        return lambda facts: (single(facts),)
    several: Callable[[Facts], tuple[Any, ...]] = attrgetter(*group_by)
    return several


def _sort_key(key: tuple[Any, ...]) -> tuple[tuple[int, Any], ...]:
    # None first, then the values themselves: a dimension's values share one type (str or
    # int), so they compare naturally (0 < 1, "2024-05-09" < "2024-05-10").
    return tuple((0, 0) if value is None else (1, value) for value in key)


def _chosen_metrics(metrics: Sequence[str]) -> list[str]:
    unknown = [name for name in metrics if name not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics: {', '.join(unknown)}")
    chosen = set(metrics)
    return [name for name in METRICS if name in chosen]


def _display_name(identifier: str | None, names: Mapping[str, str]) -> str | None:
    # §4: an id that cannot be resolved keeps its id in the name column.
    return None if identifier is None else names.get(identifier, identifier)


# --- metric values (§3), unrounded ----------------------------------------------------------


def _metric_values(group: _Group, wrapup_names: Mapping[str, str]) -> dict[str, Any]:
    """Every built-in metric of a group, unrounded: what custom metrics are evaluated over."""
    offered, answered = group.offered, group.answered
    handle_values = sorted(group.handle_values)
    hold_ratio = _ratio(group.hold_ms, group.duration_ms)
    return {
        "conversations": group.conversations,
        "offered": offered,
        "answered": answered,
        "abandoned": group.abandoned,
        "transferred": group.transferred,
        "abandon_rate": _ratio(group.abandoned, offered),
        "answer_rate": _ratio(answered, offered),
        "service_level": _ratio(group.within_service_level, offered),
        "avg_speed_of_answer_seconds": _seconds_per(group.answer_ms, group.speed_count),
        "avg_wait_seconds": _seconds_per(group.wait_ms, offered),
        "avg_duration_seconds": _seconds_per(group.duration_ms, group.ended),
        "avg_talk_seconds": _seconds_per(group.talk_ms, answered),
        "avg_hold_seconds": _seconds_per(group.hold_ms, answered),
        "avg_acw_seconds": _seconds_per(group.acw_ms, answered),
        "avg_handle_seconds": _seconds_per(group.handle_ms, answered),
        "p50_handle_seconds": _seconds(_percentile(handle_values, 0.5)),
        "p90_handle_seconds": _seconds(_percentile(handle_values, 0.9)),
        "talk_ratio": _ratio(group.talk_ms, group.duration_ms),
        "hold_ratio": hold_ratio,
        "efficiency_score": _efficiency_score(group.hold_ms, group.duration_ms),
        "wrapup_codes": sorted({wrapup_names.get(code, code) for code in group.wrapup_codes}),
    }


def _ratio(numerator: float, denominator: float) -> float | None:
    # §3: a ratio over nothing is unknown (null), never 0 and never an error.
    return None if denominator == 0 else numerator / denominator


def _seconds_per(milliseconds: int, count: int) -> float | None:
    # One division (count * 1000 is exact) rounds once, where "/ count / 1000" would twice.
    return None if count == 0 else milliseconds / (count * 1000)


def _efficiency_score(hold_ms: int, duration_ms: int) -> float | None:
    # max(0, 100 - hold_ratio * 50) as one division of integers, (100 d - 50 h) / d: exact up
    # to that single rounding, so a score that is exactly half-way at the second decimal is
    # not pushed either way by the float error of hold_ratio.
    if duration_ms == 0:
        return None
    return max(0, 100 * duration_ms - 50 * hold_ms) / duration_ms


def _seconds(milliseconds: float | None) -> float | None:
    return None if milliseconds is None else milliseconds / 1000


def _percentile(ordered: Sequence[int], fraction: float) -> float | None:
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


def _rounded(metric: str, value: Any) -> Any:
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


class _CustomMetric:
    """One custom metric expression, parsed once and evaluated per group.

    Settings validated the expression at start-up; this stays defensive anyway: whatever goes
    wrong in one group (division by zero, a null operand, a forbidden construct, a number too
    large) makes that group's value None instead of failing the report.
    """

    __slots__ = ("_evaluator", "_expression", "_tree", "_values")

    def __init__(self, expression: str) -> None:
        self._expression = expression
        self._values: Mapping[str, Any] = {}
        self._evaluator = _safe_evaluator(self._lookup)
        try:
            self._tree: ast.expr | None = ast.parse(expression.strip(), mode="eval").body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            self._tree = None

    def evaluate(self, values: Mapping[str, Any]) -> float | int | None:
        if self._tree is None:
            return None
        self._values = values
        try:
            result = self._evaluator.eval(self._expression, previously_parsed=self._tree)
        except Exception:  # any failure is this group's null, by contract (§3)
            return None
        finally:
            self._values = {}
        return _custom_result(result)

    def _lookup(self, node: ast.Name) -> Any:
        # Only metric names: no True/False/None aliases and no functions used as values.
        # A name that is not a metric raises KeyError, which evaluate turns into None.
        return self._values[node.id]


def _safe_evaluator(lookup: Callable[[ast.Name], Any]) -> Any:
    # simpleeval's default operators are kept because they carry its limits (a power's
    # exponent, a string's length); its node table is cut down to _ALLOWED_NODES, and names
    # are looked up by ``lookup`` alone.
    evaluator = SimpleEval(functions=dict(_FUNCTIONS), names={})
    evaluator.operators[ast.Pow] = _power
    evaluator.nodes = {
        kind: handler for kind, handler in evaluator.nodes.items() if kind in _ALLOWED_NODES
    }
    evaluator.nodes[ast.Name] = lookup
    return evaluator


def _custom_result(result: Any) -> float | int | None:
    # A report column holds numbers: a comparison's bool becomes 1/0 like the flag facts, and
    # anything that is not a finite number (a list, a string, inf, nan) is null.
    if isinstance(result, bool):
        return int(result)
    if isinstance(result, int):
        if -(2**63) <= result < 2**63:
            return result
        result = float(result) if abs(result) < 2**1000 else math.inf
    if isinstance(result, float):
        return round(result, _CUSTOM_DECIMALS) if math.isfinite(result) else None
    return None
