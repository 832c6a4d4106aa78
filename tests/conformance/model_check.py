"""A response compared key by key with the SDK model it deserialises into: every key a field
of the model, every nested object checked against its own model, every enum value one the model
allows (the SDK turns an unknown one into ``outdated_sdk_version``)."""

from __future__ import annotations

import re
from typing import Any

_LIST = re.compile(r"list\[(.+)\]")
_DICT = re.compile(r"dict\(str, (.+)\)")
_PRIMITIVES = {"str", "int", "float", "bool", "datetime", "date", "object"}
OUTDATED = "outdated_sdk_version"


def problems(json: Any, type_name: str, where: str = "$") -> list[str]:
    """What in ``json`` does not fit the SDK type ``type_name`` (empty: it fits)."""
    import PureCloudPlatformClientV2 as genesys

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
        return []
    model = getattr(genesys, type_name)()
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
