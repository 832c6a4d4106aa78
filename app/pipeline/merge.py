"""The merged stream of a period: one record per conversation, in ``(start, id)`` order.

Copies of one conversation (from two windows, or a page served twice) have the same key, so they
are adjacent after ``heapq.merge``; report-semantics §1 says which copy wins. Only
conversations that start inside the period are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from app.pipeline.facts import instant_ms
from app.pipeline.spool import line_key


@dataclass(slots=True)
class MergeCounts:
    read: int = 0  # spool lines read, copies included
    duplicates_dropped: int = 0
    outside_period: int = 0
    unreadable: int = 0  # spool lines that are not JSON (never expected: we wrote them)
    # Conversations that started before the period's selection but (as ``unique_records``'s
    # ``missed`` says) would have counted: the interval grain's look-back cut them off.
    missed: set[str] = field(default_factory=set)


def _segments(record: dict[str, Any]) -> int:
    total = 0
    for participant in record.get("participants") or ():
        if isinstance(participant, dict):
            for session in participant.get("sessions") or ():
                if isinstance(session, dict):
                    segments = session.get("segments")
                    total += len(segments) if isinstance(segments, list) else 0
    return total


def _end_ms(record: dict[str, Any]) -> int | None:
    end = record.get("conversationEnd")
    if not isinstance(end, str):
        return None
    try:
        return instant_ms(end)
    except ValueError:
        return None


def _rank(record: dict[str, Any]) -> tuple[bool, int, int]:
    """Higher wins: an ended copy, then the later conversationEnd, then more segments."""
    end = _end_ms(record)
    return end is not None, end or 0, _segments(record)


def better(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The copy to keep of two copies of one conversation (the first on a tie)."""
    return b if _rank(b) > _rank(a) else a


def unique_records(
    lines: Iterable[bytes],
    start_ms: int,
    end_ms: int,
    counts: MergeCounts,
    *,
    missed: Callable[[dict[str, Any]], bool] | None = None,
) -> Iterator[dict[str, Any]]:
    """Records of conversations starting in ``[start_ms, end_ms)``, one per conversationId.
    Those that started earlier are read only when ``missed`` is given, which says whether one
    would have counted (its id is then kept in ``counts.missed``)."""
    current_key: tuple[int, str] | None = None
    current: dict[str, Any] | None = None
    for line in lines:
        counts.read += 1
        key = line_key(line)
        if not start_ms <= key[0] < end_ms:
            counts.outside_period += 1
            if missed is not None and key[0] < start_ms and key[1] not in counts.missed:
                try:
                    if missed(orjson.loads(line)[2]):
                        counts.missed.add(key[1])
                except (orjson.JSONDecodeError, ValueError, IndexError, TypeError):
                    counts.unreadable += 1
            continue
        try:
            _, _, record = orjson.loads(line)
        except (orjson.JSONDecodeError, ValueError):
            counts.unreadable += 1
            continue
        if key == current_key and current is not None:
            counts.duplicates_dropped += 1
            current = better(current, record)
            continue
        if current is not None:
            yield current
        current_key, current = key, record
    if current is not None:
        yield current
