"""Paged look-ups of queues, users, wrap-up codes and divisions (report-semantics §6).

Queues carry ``mediaSettings`` in the SDK's ``QueueMediaSettings`` shape (genesys-api.md §13):
``{"call": {"alertingTimeoutSeconds": 8, "serviceLevel": {"percentage": 0.8, "durationMs":
20000}}, ...}``, one entry per medium the queue serves.
"""

from __future__ import annotations

import math
from typing import Any

from app.sandbox.org import Entity, Organisation


def _division_ref(org: Organisation, division_id: str | None) -> dict[str, str] | None:
    for division in org.divisions:
        if division.id == division_id:
            return {
                "id": division.id,
                "name": division.name,
                "selfUri": f"/api/v2/authorization/divisions/{division.id}",
            }
    return None


def _media_settings(org: Organisation, queue_id: str) -> dict[str, Any]:
    return {
        medium: {
            "alertingTimeoutSeconds": setting.alerting_timeout_seconds,
            "serviceLevel": {
                "percentage": setting.service_level.percentage,
                "durationMs": setting.service_level.duration_ms,
            },
        }
        for medium, setting in org.media_settings.get(queue_id, {}).items()
    }


def _entity(org: Organisation, kind: str, entity: Entity, path: str) -> dict[str, Any]:
    out: dict[str, Any] = {"id": entity.id, "name": entity.name}
    if kind == "users":
        slug = entity.name.lower().replace(" ", ".")
        out["email"] = f"{slug}@sandbox.example"
        out["state"] = "active"
    if kind == "divisions":
        out["homeDivision"] = entity.id == org.divisions[0].id
    if kind == "queues":
        out["mediaSettings"] = _media_settings(org, entity.id)
    division = _division_ref(org, entity.division_id)
    if division is not None:
        out["division"] = division
    out["selfUri"] = f"{path}/{entity.id}"
    return out


def lookup_page(
    org: Organisation,
    kind: str,
    *,
    page_size: int,
    page_number: int,
    ids: list[str],
    max_page_size: int,
    path: str,
) -> dict[str, Any]:
    """One page of ``{entities, pageNumber, pageSize, total, pageCount}``; ValueError on bad
    paging."""
    if not 1 <= page_size <= max_page_size:
        raise ValueError(f"pageSize must be between 1 and {max_page_size}.")
    if page_number < 1:
        raise ValueError("pageNumber must be 1 or more.")
    entities: tuple[Entity, ...] = {
        "queues": org.queues,
        "users": org.users,
        "wrapupcodes": org.wrapup_codes,
        "divisions": org.divisions,
    }[kind]
    if ids:
        wanted = set(ids)
        entities = tuple(e for e in entities if e.id in wanted)
    ordered = sorted(entities, key=lambda e: (e.name.lower(), e.id))
    first = (page_number - 1) * page_size
    page = ordered[first : first + page_size]
    page_count = math.ceil(len(ordered) / page_size)
    payload: dict[str, Any] = {
        "entities": [_entity(org, kind, e, path) for e in page],
        "pageSize": page_size,
        "pageNumber": page_number,
        "total": len(ordered),
        "pageCount": page_count,
        "firstUri": f"{path}?pageSize={page_size}&pageNumber=1",
        "selfUri": f"{path}?pageSize={page_size}&pageNumber={page_number}",
        "lastUri": f"{path}?pageSize={page_size}&pageNumber={max(page_count, 1)}",
    }
    if page_number < page_count:
        payload["nextUri"] = f"{path}?pageSize={page_size}&pageNumber={page_number + 1}"
    if page_number > 1:
        previous = min(page_number - 1, max(page_count, 1))
        payload["previousUri"] = f"{path}?pageSize={page_size}&pageNumber={previous}"
    return payload
