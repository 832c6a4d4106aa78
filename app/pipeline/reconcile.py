"""Reconciliation with Genesys' aggregates API (report-semantics §7): pure comparison.

An interval-grain report's per-group counts and sums are Genesys' own metrics, so the same
period, groups and metrics asked of the aggregates API must give the same values: counts equal,
sums equal to the millisecond, service level equal to 4 decimals. Division is summed out on
both sides (Genesys counts a conversation in every one of its divisions, a report in its
first); Genesys' buckets are mapped onto the report's local buckets and added up, so the two
intervals of the repeated hour on the night the clocks go back are one bucket, as in the report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from app.genesys.aggregates import AggregateValue
from app.pipeline.buckets import BUCKETS, local_buckets
from app.pipeline.metrics import NAME_KINDS
from app.pipeline.record import instant_ms

__all__ = [
    "COMPARED_METRICS",
    "GENESYS_DIMENSIONS",
    "SERVICE_LEVEL",
    "Difference",
    "Plan",
    "Reconciliation",
    "aligned",
    "plan",
    "reconcile",
    "with_names",
]

# The report's group dimensions that the aggregates API groups by, under its names.
GENESYS_DIMENSIONS = {
    "queue_id": "queueId",
    "agent_id": "userId",
    "media_type": "mediaType",
    "wrapup_code": "wrapUpCode",
    "direction": "originatingDirection",
}
# The granularity that gives a time dimension's buckets (weeks and months add up days).
_GRANULARITY = {"half_hour": "PT30M", "hour": "PT1H", "day": "P1D", "week": "P1D", "month": "P1D"}
# Finer ones, for a period that does not start on a boundary of the report's buckets: Genesys
# steps its buckets from the interval's start, so each must lie inside one report bucket.
_FINER = {"PT1H": 60, "PT30M": 30, "PT15M": 15, "PT5M": 5, "PT1M": 1}  # minutes
# Buckets one answer may hold (Genesys publishes no cap; the sandbox's default).
MAX_BUCKETS = 10_000
# §7: every metric with a Genesys counterpart in §3.
COUNT_METRICS = ("nOffered", "nTransferred")
TIME_METRICS = (
    "tAnswered",
    "tAbandon",
    "tShortAbandon",
    "tFlowOut",
    "tHandle",
    "tTalk",
    "tHeld",
    "tAcw",
    "tAcd",
)
SERVICE_LEVEL = "oServiceLevel"
COMPARED_METRICS = (*COUNT_METRICS, *TIME_METRICS, SERVICE_LEVEL)
MAX_LISTED = 20

Key = tuple[Any, ...]  # the compared dimensions' values, then the time bucket (if any)
Stats = dict[str, tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Plan:
    """What to ask for a report's ``group_by``: Genesys' groupBy and granularity, and where
    the compared dimensions and the time bucket sit in the report's group keys."""

    group_by: list[str]
    granularity: str | None
    positions: list[int]
    time: tuple[int, int] | None  # (index in the report's key, index in BUCKETS)
    names: list[str] = field(default_factory=list)  # the report's names of the compared dims


def plan(group_by: Sequence[str]) -> Plan:
    """The aggregates query's shape for a report grouped by ``group_by`` (interval grain)."""
    times = [(i, d) for i, d in enumerate(group_by) if d in _GRANULARITY]
    if len(times) > 1:
        raise ValueError("a reconciliation compares one time dimension at most")
    positions = [i for i, d in enumerate(group_by) if d in GENESYS_DIMENSIONS]
    return Plan(
        group_by=[GENESYS_DIMENSIONS[group_by[i]] for i in positions],
        granularity=_GRANULARITY[times[0][1]] if times else None,
        positions=positions,
        time=(times[0][0], BUCKETS.index(times[0][1])) if times else None,
        names=[group_by[i] for i in positions],
    )


def aligned(shape: Plan, start: datetime, end: datetime, zone: ZoneInfo) -> Plan:
    """``shape`` with the coarsest granularity whose buckets, stepped from the period's start
    as Genesys steps them, each lie inside one of the report's time buckets (a day report over
    20:00-04:00 is asked for hours, not days). ``ValueError`` when none does."""
    if shape.time is None or shape.granularity is None:
        return shape
    slot = shape.time[1]
    candidates = dict.fromkeys((shape.granularity, *_FINER))
    for granularity in candidates:
        edges = _genesys_edges(start, end, granularity, zone)
        if edges is not None and all(
            local_buckets(a, zone)[slot] == local_buckets(b - 1, zone)[slot]
            for a, b in pairwise(edges)
        ):
            return replace(shape, granularity=granularity)
    raise ValueError(
        f"the period starting {start.isoformat()} does not start on a whole minute of the "
        f"report's {BUCKETS[slot]} buckets, so Genesys' buckets cannot be matched to them"
    )


def _genesys_edges(
    start: datetime, end: datetime, granularity: str, zone: ZoneInfo
) -> list[int] | None:
    """Bucket boundaries as Genesys steps them from ``start``: days on the wall clock of
    ``zone``, shorter durations as elapsed time; None beyond ``MAX_BUCKETS``."""
    local = start.astimezone(zone)
    edges = [_ms(start)]
    step = 0
    while edges[-1] < _ms(end):
        step += 1
        if step > MAX_BUCKETS:
            return None
        if granularity == "P1D":
            wall = local.replace(tzinfo=None) + timedelta(days=step)
            edge = wall.replace(tzinfo=zone, fold=local.fold)
        else:
            edge = start + timedelta(minutes=_FINER[granularity] * step)
        edges.append(min(_ms(edge), _ms(end)))
    return edges


def _ms(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class Difference:
    group: dict[str, Any]
    bucket: str | None
    metric: str
    stat: str
    ours: float | int | None
    genesys: float | int | None
    names: dict[str, str] = field(default_factory=dict)  # the group's ids that have a name

    def group_text(self) -> str:
        """``queue_id=Sales, media_type=voice``: names where known, else the ids."""
        return ", ".join(f"{k}={self.names.get(k, v)}" for k, v in self.group.items()) or "(all)"


@dataclass(slots=True)
class Reconciliation:
    compared: int = 0
    equal: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def different(self) -> int:
        return self.compared - self.equal

    def as_dict(self, listed: int | None = MAX_LISTED) -> dict[str, Any]:
        """The figures and the first ``listed`` differences (None: all of them)."""
        return {
            "compared": self.compared,
            "equal": self.equal,
            "different": self.different,
            "differences": [
                {
                    "group": d.group,
                    **({"names": d.names} if d.names else {}),
                    "bucket": d.bucket,
                    "metric": d.metric,
                    "stat": d.stat,
                    "ours": d.ours,
                    "genesys": d.genesys,
                }
                for d in self.differences[:listed]
            ],
        }


def with_names(result: Reconciliation, names: Mapping[str, Mapping[str, str]]) -> Reconciliation:
    """``result`` with each difference's ids named, from the run's look-ups (by kind)."""
    for index, d in enumerate(result.differences):
        named = {
            dimension: names[kind][value]
            for dimension, value in d.group.items()
            if (kind := NAME_KINDS.get(dimension)) and value in names.get(kind, {})
        }
        result.differences[index] = replace(d, names=named)
    return result


def reconcile(
    ours: Mapping[Key, Stats],
    theirs: Iterable[AggregateValue],
    shape: Plan,
    zone: ZoneInfo,
    metrics: Sequence[str] = COMPARED_METRICS,
) -> Reconciliation:
    """Compare the report's per-group stats (``IntervalAggregator.genesys_stats``) with the
    aggregates API's answer for the same period, filters and ``shape``."""
    mine = _ours(ours, shape)
    genesys = _theirs(theirs, shape, zone)
    result = Reconciliation()
    for key in sorted(mine.keys() | genesys.keys(), key=_sortable):
        a, b = mine.get(key, {}), genesys.get(key, {})
        for metric in metrics:
            for stat, ours_value, their_value in _pairs(metric, a.get(metric), b.get(metric)):
                result.compared += 1
                if ours_value == their_value:
                    result.equal += 1
                else:
                    group = dict(zip(shape.names, key[: len(shape.names)], strict=True))
                    bucket = key[-1] if shape.time is not None else None
                    result.differences.append(
                        Difference(group, bucket, metric, stat, ours_value, their_value)
                    )
    return result


def _pairs(
    metric: str, ours: tuple[int, int] | None, theirs: tuple[float, float] | None
) -> list[tuple[str, float | int | None, float | int | None]]:
    """The comparable values of one metric: what is missing on one side counted nothing."""
    mine = ours or (0, 0)
    other = theirs or (0, 0)
    if metric == SERVICE_LEVEL:
        ratio_ours = None if mine[1] == 0 else round(mine[0] / mine[1], 4)
        ratio_theirs = None if other[1] == 0 else round(other[0] / other[1], 4)
        if ratio_ours is None and ratio_theirs is None:
            return []  # nothing answered or abandoned on either side: no service level
        return [("ratio", ratio_ours, ratio_theirs)]
    if mine == (0, 0) and other == (0, 0):
        return []
    if metric in COUNT_METRICS:
        return [("count", mine[0], other[0])]
    return [("count", mine[0], other[0]), ("sum", mine[1], other[1])]


def _ours(stats: Mapping[Key, Stats], shape: Plan) -> dict[Key, dict[str, tuple[int, int]]]:
    out: dict[Key, dict[str, tuple[int, int]]] = {}
    for key, of_group in stats.items():
        mapped = tuple(key[i] for i in shape.positions)
        if shape.time is not None:
            mapped += (key[shape.time[0]],)
        _add(out.setdefault(mapped, {}), of_group)
    return out


def _theirs(
    values: Iterable[AggregateValue], shape: Plan, zone: ZoneInfo
) -> dict[Key, dict[str, tuple[int, int]]]:
    out: dict[Key, dict[str, tuple[int, int]]] = {}
    for value in values:
        if value.metric not in COMPARED_METRICS:
            continue
        group = dict(value.group)
        key: Key = tuple(group.get(name) for name in shape.group_by)
        if shape.time is not None:
            start = instant_ms(value.interval.split("/")[0])
            key += (local_buckets(start, zone)[shape.time[1]],)
        stats = value.stats
        if value.metric == SERVICE_LEVEL:
            pair = (int(stats.get("numerator", 0)), int(stats.get("denominator", 0)))
        else:
            pair = (int(stats.get("count", 0)), int(stats.get("sum", 0)))
        _add(out.setdefault(key, {}), {value.metric: pair})
    return out


def _add(into: dict[str, tuple[int, int]], stats: Mapping[str, tuple[int, int]]) -> None:
    for metric, (first, second) in stats.items():
        before = into.get(metric, (0, 0))
        into[metric] = (before[0] + first, before[1] + second)


def _sortable(key: Key) -> tuple[tuple[int, Any], ...]:
    return tuple((0, "") if v is None else (1, str(v)) for v in key)
