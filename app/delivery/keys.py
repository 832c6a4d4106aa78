"""Object keys from the key template, made safe.

A key is built from ``storage.s3.key_template`` (default ``{prefix}{report}/{period}/{file}``).
Every substituted value is sanitised on its own, so no report name, period label or file name can
add a path segment, climb out of the prefix (``..``), start at the root, or smuggle in control
characters or look-alike unicode (fullwidth dots and slashes): whatever is not in a small safe
set becomes ``_``.
"""

from __future__ import annotations

import re
import string
import unicodedata
from typing import Final

FIELDS: Final = frozenset({"prefix", "report", "period", "file"})
_UNSAFE = re.compile(r"[^A-Za-z0-9._+=@-]")
_MAX_KEY = 1024  # S3's limit, in bytes of UTF-8
_UNSAFE_LITERAL = re.compile(r"[^A-Za-z0-9._+=@/-]")


def template_fields(template: str) -> set[str]:
    """The placeholders a template uses; ValueError on malformed or unknown ones."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"'{template}' is not a valid template: {exc}") from None
    names = {name for _, name, _, _ in parts if name is not None}
    for literal, name, spec, conversion in parts:
        if _UNSAFE_LITERAL.search(literal):
            raise ValueError(f"'{template}' has characters outside {_UNSAFE.pattern[2:-1]} and /")
        if spec or conversion:
            raise ValueError(f"'{template}': placeholders take no format spec or conversion")
        if name is not None and not name:
            raise ValueError(f"'{template}' has an empty placeholder")
    unknown = names - FIELDS
    if unknown:
        raise ValueError(
            f"unknown placeholder {', '.join(sorted(unknown))}; use {', '.join(sorted(FIELDS))}"
        )
    if "file" not in names:
        raise ValueError("the template must contain {file}, or every file gets the same key")
    sample = template.format(prefix="p/", report="r", period="d", file="f")
    if any(part in {"", ".", ".."} for part in sample.split("/")):
        raise ValueError(f"'{template}' gives keys with empty, '.' or '..' segments")
    return names


def safe_segment(value: str) -> str:
    """One path segment: NFKC-normalised, unsafe characters replaced, never empty or dots."""
    text = unicodedata.normalize("NFKC", value)
    text = _UNSAFE.sub("_", text)
    if not text.strip("."):
        text = text.replace(".", "_") or "_"
    return text


def safe_prefix(prefix: str) -> str:
    """The configured prefix: segments sanitised, no leading slash, one trailing slash."""
    segments = [safe_segment(part) for part in prefix.split("/") if part and part != "."]
    return "".join(f"{segment}/" for segment in segments)


def dataset_key(prefix: str, relative: str) -> str:
    """A dataset file's key: the dataset prefix, then its path (table, ``date=...``, file),
    each segment sanitised as report keys are."""
    return _within_limit(
        safe_prefix(prefix) + "/".join(safe_segment(part) for part in relative.split("/"))
    )


def object_key(template: str, *, prefix: str, report: str, period: str, file: str) -> str:
    template_fields(template)
    key = template.format(
        prefix=safe_prefix(prefix),
        report=safe_segment(report),
        period=safe_segment(period),
        file=safe_segment(file),
    )
    key = re.sub(r"/{2,}", "/", key).lstrip("/")
    if any(part in {"", ".", ".."} for part in key.split("/")):
        raise ValueError(f"the key template gives an unsafe key: {key!r}")
    return _within_limit(key)


def _within_limit(key: str) -> str:
    if len(key.encode()) > _MAX_KEY:
        raise ValueError(f"the key is longer than S3's {_MAX_KEY} bytes: {key[:80]}...")
    return key
