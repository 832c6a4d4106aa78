"""Interval grain (report-semantics §1-§3): metric events grouped, with Genesys' own metrics.

Pure and I/O-free. ``IntervalAggregator.events`` gives the events of one conversation's record
that the report counts (emitted in the period, filters passed; the merged stream gives each
conversation once, its events together) and ``add`` adds one to its group's running sums.
Memory grows with the number of groups, plus 8 bytes per handle-time event (percentiles need
them whole) and per answered event (each is compared with its own queue's target once the
targets are known, after the stream).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from app.pipeline.buckets import BUCKETS, local_buckets
from app.pipeline.events import Event, conversation_events
from app.pipeline.metrics import (
    WRAPUP_KIND,
    efficiency_score,
    group_ids,
    percentile,
    ratio,
    rollup,
    seconds,
    seconds_per,
    table_columns,
    table_rows,
    whole_milliseconds,
)
from app.settings import (
    FLAG_DIMENSIONS,
    GROUP_BY_FACTS,
    ReportFilters,
    ServiceLevelSettings,
)

__all__ = ["MEDIA_SETTING_KEYS", "IntervalAggregator", "ServiceTargets", "event_filter"]

# The queue's mediaSettings key of each session media type (voice is "call").
MEDIA_SETTING_KEYS = {
    "voice": "call",
    "callback": "callback",
    "chat": "chat",
    "email": "email",
    "message": "message",
}
# Genesys metrics the §3 table reads, by their slot in a group's counts and sums.
_SLOTS = {
    name: slot
    for slot, name in enumerate(
        (
            "nOffered",
            "tAnswered",
            "tAbandon",
            "tShortAbandon",
            "tFlowOut",
            "nTransferred",
            "tHandle",
            "tTalk",
            "tHeld",
            "tAcw",
            "tAcd",
        )
    )
}
_OFFERED, _ANSWERED, _ABANDON, _SHORT, _FLOWOUT, _TRANSFERRED = range(6)
_HANDLE, _TALK, _HELD, _ACW, _ACD = range(6, 11)
_EVENT_DIMENSIONS = frozenset(
    ("queue_id", "agent_id", "media_type", "direction", "division_id", "wrapup_code")
)
# A group's queue-and-media pair once it has seen two different ones (§3
# service_level_target_pct is then null).
_MIXED = ("", "")

MediaSettings = Mapping[str, Any]


class ServiceTargets:
    """Service-level targets per (queue, media type), from the queues' ``mediaSettings``."""

    def __init__(
        self, options: ServiceLevelSettings, media_settings: Mapping[str, MediaSettings]
    ) -> None:
        self._fixed = (
            None if options.target_seconds is None else whole_milliseconds(options.target_seconds)
        )
        self._default = whole_milliseconds(options.default_seconds)
        self._media_settings = media_settings

    def _service_level(self, queue: str | None, media: str | None) -> Mapping[str, Any] | None:
        key = MEDIA_SETTING_KEYS.get(media or "")
        settings = self._media_settings.get(queue) if queue is not None else None
        medium = settings.get(key) if isinstance(settings, Mapping) and key else None
        level = medium.get("serviceLevel") if isinstance(medium, Mapping) else None
        return level if isinstance(level, Mapping) else None

    def target_ms(self, queue: str | None, media: str | None) -> int:
        if self._fixed is not None:
            return self._fixed
        level = self._service_level(queue, media)
        duration = level.get("durationMs") if level is not None else None
        if isinstance(duration, int | float) and not isinstance(duration, bool) and duration > 0:
            return int(duration)
        return self._default

    def percentage(self, queue: str | None, media: str | None) -> float | None:
        level = self._service_level(queue, media)
        value = level.get("percentage") if level is not None else None
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
            return float(value)
        return None


def event_filter(filters: ReportFilters) -> Callable[[Event], bool] | None:
    """§1: the simple filters select events by the event's own dimensions (None: no filter,
    every event counts)."""
    tests: list[Callable[[Event], bool]] = []
    if filters.media_types:
        media = frozenset(filters.media_types)
        tests.append(lambda e: e.media_type in media)
    if filters.directions:
        directions = frozenset(filters.directions)
        tests.append(lambda e: e.direction in directions)
    # Ids in settings are lower-case (settings normalise them); Genesys sends them so too,
    # but a record is external data, so its side is lowered as well.
    for ids, field in (
        (filters.queue_ids, "queue_id"),
        (filters.user_ids, "agent_id"),
        (filters.wrapup_codes, "wrapup_code"),
    ):
        if ids:
            tests.append(_id_test(field, frozenset(ids)))
    if not tests:
        return None
    return lambda event: all(test(event) for test in tests)


def _id_test(field: str, ids: frozenset[str]) -> Callable[[Event], bool]:
    index = Event._fields.index(field)

    def test(event: Event) -> bool:
        value = event[index]
        return isinstance(value, str) and value.lower() in ids

    return test


class _Group:
    __slots__ = (
        "answers",
        "conversations",
        "counts",
        "handle_values",
        "last_conversation",
        "pair",
        "sums",
        "wrapup_codes",
    )

    def __init__(self) -> None:
        self.conversations = 0
        self.last_conversation: str | None = None
        self.counts = [0] * len(_SLOTS)
        self.sums = [0] * len(_SLOTS)
        self.handle_values = array("q")
        # tAnswered values by (queue, media): each is compared with its own target later.
        self.answers: dict[tuple[str | None, str | None], array[int]] = {}
        # The one (queue, media) pair of every event so far, _MIXED once there were two.
        self.pair: tuple[str | None, str | None] | None = None
        self.wrapup_codes: set[str] = set()

    def merge(self, other: _Group) -> None:
        """Add another group's events (a rollup). Past the first group merged,
        ``conversations`` is unknown (-1): one conversation may be in both groups."""
        fresh = self.pair is None and self.conversations == 0
        self.conversations = other.conversations if fresh else -1
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.sums = [a + b for a, b in zip(self.sums, other.sums, strict=True)]
        self.handle_values.extend(other.handle_values)
        for pair, values in other.answers.items():
            self.answers.setdefault(pair, array("q")).extend(values)
        if other.pair is not None:
            self.pair = other.pair if self.pair in (None, other.pair) else _MIXED
        self.wrapup_codes |= other.wrapup_codes

    def add(self, event: Event) -> None:
        if event.conversation_id != self.last_conversation:
            # The stream gives each conversation's events together, so a change of id is a
            # new distinct conversation for this group.
            self.conversations += 1
            self.last_conversation = event.conversation_id
        pair = (event.queue_id, event.media_type)
        if self.pair is None:
            self.pair = pair
        elif self.pair != pair:
            self.pair = _MIXED
        if event.wrapup_code is not None:
            self.wrapup_codes.add(event.wrapup_code)
        slot = _SLOTS.get(event.name)
        if slot is None:
            return
        self.counts[slot] += 1
        self.sums[slot] += event.value
        if slot == _HANDLE:
            self.handle_values.append(event.value)
        elif slot == _ANSWERED:
            values = self.answers.get(pair)
            if values is None:
                values = self.answers[pair] = array("q")
            values.append(event.value)


class IntervalAggregator:
    """Events grouped by ``group_by`` dimensions, with the §3 metrics of every group."""

    grain = "interval"

    def __init__(
        self,
        group_by: Sequence[str],
        *,
        zone: ZoneInfo,
        start_ms: int,
        end_ms: int,
        filters: ReportFilters | None = None,
        service_level: ServiceLevelSettings | None = None,
        queue_targets: bool = True,
    ) -> None:
        unknown = [
            name for name in group_by if name not in GROUP_BY_FACTS or name in FLAG_DIMENSIONS
        ]
        if unknown:
            raise ValueError(f"cannot group events by {', '.join(unknown)}")
        if len(set(group_by)) != len(group_by):
            raise ValueError(f"group_by lists a dimension twice: {', '.join(group_by)}")
        self._group_by = tuple(group_by)
        self._key = _key_function(self._group_by, zone)
        self._start_ms, self._end_ms = start_ms, end_ms
        self._keep = event_filter(filters or ReportFilters())  # None: every event
        self._service_level = service_level or ServiceLevelSettings()
        self._queue_targets = queue_targets
        self._groups: dict[tuple[Any, ...], _Group] = {}

    def events(self, record: Mapping[str, Any]) -> Iterator[Event]:
        """The events of one record that the report counts (in the period, filters passed)."""
        found = conversation_events(record, self._start_ms, self._end_ms)
        return found if self._keep is None else filter(self._keep, found)

    def add(self, event: Event) -> None:
        key = self._key(event)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group()
        group.add(event)

    def add_record(self, record: Mapping[str, Any]) -> int:
        """Count the events of one conversation; returns how many were counted."""
        counted = 0
        for event in self.events(record):
            self.add(event)
            counted += 1
        return counted

    @property
    def group_count(self) -> int:
        return len(self._groups)

    def ids_to_resolve(self) -> dict[str, set[str]]:
        """Ids to look up, by look-up kind. When the report needs the queues' own targets,
        queues include every queue with answered events or of a single queue-and-media
        group: their ``mediaSettings`` give the service-level targets."""
        wanted = group_ids(self._group_by, self._groups)
        for group in self._groups.values():
            wanted.setdefault(WRAPUP_KIND, set()).update(group.wrapup_codes)
            if self._queue_targets:
                queues = {queue for queue, _ in group.answers}
                if group.pair is not None:
                    queues.add(group.pair[0])
                wanted.setdefault("queues", set()).update(q for q in queues if q)
        return {kind: ids for kind, ids in wanted.items() if ids}

    def columns(self, metrics: Sequence[str], custom_metrics: Mapping[str, str]) -> list[str]:
        return table_columns(self._group_by, metrics, custom_metrics)

    def genesys_stats(
        self, media_settings: Mapping[str, MediaSettings] | None = None
    ) -> dict[tuple[Any, ...], dict[str, tuple[int, int]]]:
        """Per group, each Genesys metric's (count, sum) of values, as the aggregates API's
        ``stats`` give them, and ``oServiceLevel`` as (numerator, denominator): what a
        reconciliation compares (report-semantics §7)."""
        targets = ServiceTargets(self._service_level, media_settings or {})
        stats = {}
        for key, group in self._groups.items():
            of_group = {
                name: (group.counts[slot], group.sums[slot]) for name, slot in _SLOTS.items()
            }
            of_group["oServiceLevel"] = service_level_parts(group, targets, self._service_level)
            stats[key] = of_group
        return stats

    def rows(
        self,
        metrics: Sequence[str],
        custom_metrics: Mapping[str, str],
        names: Mapping[str, Mapping[str, str]],
        media_settings: Mapping[str, MediaSettings] | None = None,
    ) -> list[dict[str, Any]]:
        """One row per group, sorted by the group values (None first).

        ``media_settings`` maps a queue id to its look-up's ``mediaSettings`` object.
        """
        targets = ServiceTargets(self._service_level, media_settings or {})
        wrapup_names = names.get(WRAPUP_KIND, {})
        groups = self._groups
        if not self._group_by and not groups:
            groups = {(): _Group()}  # a report without grouping always has its one row
        values = (
            (key, _metric_values(group, targets, self._service_level, wrapup_names))
            for key, group in groups.items()
        )
        return table_rows(self._group_by, values, metrics, custom_metrics, names)

    def rollup(
        self,
        keep: Sequence[str],
        media_settings: Mapping[str, MediaSettings] | None = None,
    ) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
        """The groups merged over every dimension but ``keep`` (a subset of ``group_by``),
        each with its unrounded §3 metrics computed as for a row, sorted by key: ``keep=()``
        is the whole period in one group (the headline figures). ``conversations`` is None
        unless nothing was merged (a conversation can be in several groups)."""
        return rollup(
            self._group_by,
            self._groups,
            keep,
            _Group,
            lambda group: _metric_values(
                group,
                ServiceTargets(self._service_level, media_settings or {}),
                self._service_level,
                {},
            ),
        )


def _key_function(group_by: tuple[str, ...], zone: ZoneInfo) -> Callable[[Event], tuple[Any, ...]]:
    # On the hot path (once per event): plain tuple indexing, and the local buckets computed
    # once per event and only when a time dimension is grouped by.
    plan = [
        (True, Event._fields.index(d)) if d in _EVENT_DIMENSIONS else (False, BUCKETS.index(d))
        for d in group_by
    ]
    if not plan:
        return lambda event: ()
    if all(from_event for from_event, _ in plan):
        indexes = [index for _, index in plan]
        if len(indexes) == 1:
            only = indexes[0]
            return lambda event: (event[only],)
        several: Callable[[Event], tuple[Any, ...]] = itemgetter(*indexes)
        return several

    def key(event: Event) -> tuple[Any, ...]:
        buckets = local_buckets(event.emit_ms, zone)
        return tuple(event[i] if from_event else buckets[i] for from_event, i in plan)

    return key


def service_level_parts(
    group: _Group, targets: ServiceTargets, options: ServiceLevelSettings
) -> tuple[int, int]:
    """§3's service level as (answered within target, answered + abandoned ± the options)."""
    counts = group.counts
    within = 0
    for (queue, media), values in group.answers.items():
        target = targets.target_ms(queue, media)
        within += sum(1 for value in values if value <= target)
    attempts = counts[_ANSWERED] + counts[_ABANDON]
    if options.exclude_short_abandons:
        attempts -= counts[_SHORT]
    if options.include_flowouts:
        attempts += counts[_FLOWOUT]
    return within, attempts


def _metric_values(
    group: _Group,
    targets: ServiceTargets,
    options: ServiceLevelSettings,
    wrapup_names: Mapping[str, str],
) -> dict[str, Any]:
    """Every interval-grain metric of a group, unrounded (§3)."""
    counts, sums = group.counts, group.sums
    offered = sums[_OFFERED]
    answered, abandoned = counts[_ANSWERED], counts[_ABANDON]
    short, flowouts = counts[_SHORT], counts[_FLOWOUT]
    within, attempts = service_level_parts(group, targets, options)
    target_pct = None
    if group.pair is not None and group.pair != _MIXED and group.pair[0] is not None:
        target_pct = targets.percentage(*group.pair)
    handle_values = sorted(group.handle_values)
    handle_ms, held_ms = sums[_HANDLE], sums[_HELD]
    return {
        "conversations": group.conversations if group.conversations >= 0 else None,
        "offered": offered,
        "answered": answered,
        "abandoned": abandoned,
        "short_abandoned": short,
        "flowouts": flowouts,
        "transferred": sums[_TRANSFERRED],
        "handled": counts[_HANDLE],
        "abandon_rate": ratio(abandoned, offered),
        "answer_rate": ratio(answered, offered),
        "service_level": ratio(within, attempts) if attempts > 0 else None,
        "service_level_target_pct": target_pct,
        "avg_speed_of_answer_seconds": seconds_per(sums[_ANSWERED], answered),
        "avg_wait_seconds": seconds_per(sums[_ACD], counts[_ACD]),
        "avg_abandon_seconds": seconds_per(sums[_ABANDON], abandoned),
        "avg_talk_seconds": seconds_per(sums[_TALK], counts[_TALK]),
        "avg_hold_seconds": seconds_per(held_ms, counts[_HELD]),
        "avg_acw_seconds": seconds_per(sums[_ACW], counts[_ACW]),
        "avg_handle_seconds": seconds_per(handle_ms, counts[_HANDLE]),
        "p50_handle_seconds": seconds(percentile(handle_values, 0.5)),
        "p90_handle_seconds": seconds(percentile(handle_values, 0.9)),
        "talk_ratio": ratio(sums[_TALK], handle_ms),
        "hold_ratio": ratio(held_ms, handle_ms),
        "efficiency_score": efficiency_score(held_ms, handle_ms),
        "wrapup_codes": sorted({wrapup_names.get(code, code) for code in group.wrapup_codes}),
    }
