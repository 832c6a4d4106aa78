"""A response compared key by key with the SDK model it deserialises into: every key a field
of the model, every value of the field's type, every nested object checked against its own
model, every enum value one the model allows, spelt as the model spells it.

The SDK itself is lenient where this is not: it compares enum values ignoring case (so
``inboundcall`` passes where Genesys sends ``INBOUNDCALL``), turns an unknown one into
``outdated_sdk_version`` and keeps a string where it expected a number. The allowed values are
read from the model's own setter, the one place the SDK states them."""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable
from datetime import date, datetime
from functools import cache
from typing import Any

from tests.conformance.oracle import genesys

_LIST = re.compile(r"list\[(.+)\]")
_DICT = re.compile(r"dict\(str, (.+)\)")
_ALLOWED = re.compile(r"allowed_values = (\[.*?\])")
OUTDATED = "outdated_sdk_version"


def _is_datetime(value: Any) -> bool:
    # Genesys writes instants as 2024-05-01T09:00:00.000Z.
    if not isinstance(value, str) or not value.endswith("Z"):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_date(value: Any) -> bool:
    try:
        date.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


_PRIMITIVES: dict[str, Callable[[Any], bool]] = {
    "str": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "datetime": _is_datetime,
    "date": _is_date,
    "object": lambda v: True,
}


@cache
def allowed_values(type_name: str, attribute: str) -> tuple[str, ...] | None:
    """The values the SDK model's setter of ``attribute`` allows (None: any value)."""
    setter = getattr(genesys(), type_name).__dict__[attribute].fset
    found = _ALLOWED.search(inspect.getsource(setter))
    return None if found is None else tuple(ast.literal_eval(found[1]))


def problems(json: Any, type_name: str, where: str = "$") -> list[str]:
    """What in ``json`` does not fit the SDK type ``type_name`` (empty: it fits)."""
    if json is None:
        return []
    listed = _LIST.fullmatch(type_name)
    if listed:
        if not isinstance(json, list):
            return [f"{where}: a {type(json).__name__} where {type_name} is expected"]
        return [
            p for i, item in enumerate(json) for p in problems(item, listed[1], f"{where}[{i}]")
        ]
    mapped = _DICT.fullmatch(type_name)
    if mapped:
        if not isinstance(json, dict):
            return [f"{where}: a {type(json).__name__} where {type_name} is expected"]
        return [p for k, v in json.items() for p in problems(v, mapped[1], f"{where}.{k}")]
    if type_name in _PRIMITIVES:
        fits = _PRIMITIVES[type_name](json)
        return [] if fits else [f"{where}: {json!r} is not a {type_name}"]
    model = getattr(genesys(), type_name)()
    if not isinstance(json, dict):
        return [f"{where}: a {type(json).__name__} where {type_name} is expected"]
    by_key = {key: attribute for attribute, key in model.attribute_map.items()}
    found = []
    for key, value in json.items():
        attribute = by_key.get(key)
        if attribute is None:
            found.append(f"{where}.{key}: not a field of {type_name}")
            continue
        found.extend(problems(value, model.swagger_types[attribute], f"{where}.{key}"))
        allowed = allowed_values(type_name, attribute)
        if allowed is not None and isinstance(value, str) and value not in allowed:
            found.append(f"{where}.{key}: {value!r} is not one of {type_name}'s values")
    return found


def outdated(obj: Any, where: str = "$") -> list[str]:
    """Places where the SDK replaced a value it did not know with its placeholder."""
    if isinstance(obj, str) and obj == OUTDATED:
        return [where]
    if isinstance(obj, list):
        return [p for i, item in enumerate(obj) for p in outdated(item, f"{where}[{i}]")]
    if hasattr(obj, "swagger_types"):
        return [
            p
            for attribute in obj.swagger_types
            for p in outdated(getattr(obj, attribute), f"{where}.{attribute}")
        ]
    return []
