"""Conversation grain (report-semantics §4): groups of conversations and their metrics.

Pure and I/O-free. ``Aggregator.add`` takes one conversation's facts at a time and keeps
running sums per group, so memory grows with the number of groups, not of conversations; the
one exception is the handle times of handled conversations, which percentiles need whole and
which are kept as 8-byte integers.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Mapping, Sequence
from operator import attrgetter
from typing import Any

from app.pipeline.facts import Facts
from app.pipeline.metrics import (
    NAME_KINDS,
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
from app.settings import GROUP_BY_FACTS, ServiceLevelSettings

__all__ = ["NAME_KINDS", "Aggregator"]


class _Group:
    """Running sums of one group; ``add_ended`` takes the facts of an ended conversation."""

    __slots__ = (
        "abandoned",
        "acw_ms",
        "all_hold_ms",
        "all_talk_ms",
        "answer_ms",
        "answered",
        "conversations",
        "duration_ms",
        "ended",
        "handle_ms",
        "handle_values",
        "handled",
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
        self.handled = 0
        self.within_service_level = 0
        self.answer_ms = 0  # sum of speed_of_answer_ms
        self.speed_count = 0  # answered conversations that carry a speed of answer
        self.wait_ms = 0
        self.duration_ms = 0
        # Talk and hold of every conversation: the ratios' numerators (§4).
        self.all_talk_ms = 0
        self.all_hold_ms = 0
        # Talk, hold, ACW and handle of handled conversations only: the averages' (§4).
        self.talk_ms = 0
        self.hold_ms = 0
        self.acw_ms = 0
        self.handle_ms = 0
        # Signed 64-bit: 8 bytes per handled conversation instead of a 28-byte int object.
        self.handle_values = array("q")
        self.wrapup_codes: set[str] = set()

    def merge(self, other: _Group) -> None:
        """Add another group's conversations (a rollup): each conversation is in one group,
        so every running sum simply adds up."""
        for name in self.__slots__:
            mine = getattr(self, name)
            if isinstance(mine, int):
                setattr(self, name, mine + getattr(other, name))
        self.handle_values.extend(other.handle_values)
        self.wrapup_codes |= other.wrapup_codes

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
        if facts.handled:
            self.handled += 1
            self.handle_values.append(facts.handle_ms)
            self.talk_ms += facts.talk_ms
            self.hold_ms += facts.hold_ms
            self.acw_ms += facts.acw_ms
            self.handle_ms += facts.handle_ms
        self.all_talk_ms += facts.talk_ms
        self.all_hold_ms += facts.hold_ms
        self.wait_ms += facts.wait_ms
        if facts.duration_ms is not None:
            self.duration_ms += facts.duration_ms
        if facts.wrapup_code is not None:
            self.wrapup_codes.add(facts.wrapup_code)


class Aggregator:
    """Conversations grouped by ``group_by`` facts, with the §4 metrics of every group."""

    grain = "conversation"

    def __init__(
        self,
        group_by: Sequence[str],
        *,
        service_level: ServiceLevelSettings | None = None,
        include_ongoing: bool = False,
    ) -> None:
        unknown = [name for name in group_by if name not in GROUP_BY_FACTS]
        if unknown:
            raise ValueError(f"cannot group by {', '.join(unknown)}")
        if len(set(group_by)) != len(group_by):
            raise ValueError(f"group_by lists a dimension twice: {', '.join(group_by)}")
        self._group_by = tuple(group_by)
        self._key = _key_function(self._group_by)
        options = service_level or ServiceLevelSettings()
        threshold = options.target_seconds or options.default_seconds
        self._service_level_ms = whole_milliseconds(threshold)
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
        wanted = group_ids(self._group_by, self._groups)
        # The wrapup_codes metric shows names too, whatever the grouping.
        codes = set[str]().union(*(group.wrapup_codes for group in self._groups.values()))
        wanted.setdefault(WRAPUP_KIND, set()).update(codes)
        return {kind: ids for kind, ids in wanted.items() if ids}

    def columns(self, metrics: Sequence[str], custom_metrics: Mapping[str, str]) -> list[str]:
        return table_columns(self._group_by, metrics, custom_metrics)

    def rows(
        self,
        metrics: Sequence[str],
        custom_metrics: Mapping[str, str],
        names: Mapping[str, Mapping[str, str]],
        media_settings: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """One row per group, sorted by the group values (None first); keys as ``columns``.

        ``names`` maps a look-up kind to ``{id: name}``; an id without a name shows itself.
        ``media_settings`` is not used: the conversation grain has one target.
        """
        wrapup_names = names.get(WRAPUP_KIND, {})
        groups = self._groups
        if not self._group_by and not groups:
            # A report without grouping always has its one row, even over no conversations.
            groups = {(): _Group()}
        values = ((key, _metric_values(group, wrapup_names)) for key, group in groups.items())
        return table_rows(self._group_by, values, metrics, custom_metrics, names)

    def rollup(
        self,
        keep: Sequence[str],
        media_settings: Mapping[str, Any] | None = None,
    ) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
        """The groups merged over every dimension but ``keep``, each with its unrounded §4
        metrics, sorted by key; ``keep=()`` is the whole period (the headline figures)."""
        return rollup(
            self._group_by, self._groups, keep, _Group, lambda group: _metric_values(group, {})
        )


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


def _metric_values(group: _Group, wrapup_names: Mapping[str, str]) -> dict[str, Any]:
    """Every conversation-grain metric of a group, unrounded."""
    offered, answered, handled = group.offered, group.answered, group.handled
    handle_values = sorted(group.handle_values)
    return {
        "conversations": group.conversations,
        "offered": offered,
        "answered": answered,
        "abandoned": group.abandoned,
        "transferred": group.transferred,
        "handled": handled,
        "abandon_rate": ratio(group.abandoned, offered),
        "answer_rate": ratio(answered, offered),
        "service_level": ratio(group.within_service_level, offered),
        "avg_speed_of_answer_seconds": seconds_per(group.answer_ms, group.speed_count),
        "avg_wait_seconds": seconds_per(group.wait_ms, offered),
        "avg_duration_seconds": seconds_per(group.duration_ms, group.ended),
        "avg_talk_seconds": seconds_per(group.talk_ms, handled),
        "avg_hold_seconds": seconds_per(group.hold_ms, handled),
        "avg_acw_seconds": seconds_per(group.acw_ms, handled),
        "avg_handle_seconds": seconds_per(group.handle_ms, handled),
        "p50_handle_seconds": seconds(percentile(handle_values, 0.5)),
        "p90_handle_seconds": seconds(percentile(handle_values, 0.9)),
        "talk_ratio": ratio(group.all_talk_ms, group.duration_ms),
        "hold_ratio": ratio(group.all_hold_ms, group.duration_ms),
        "efficiency_score": efficiency_score(group.all_hold_ms, group.duration_ms),
        "wrapup_codes": sorted({wrapup_names.get(code, code) for code in group.wrapup_codes}),
    }
