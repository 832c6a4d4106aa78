"""Hypothesis strategies for hostile settings documents, shared by the property tests.

Two kinds of document: *shaped* ones follow the settings models (every section and key a real
one, a near miss of one, or a random one; every value a plausible, tricky or random one), so
that the generated input reaches the validators behind each key; *wild* ones are arbitrary
YAML-like trees. A third strategy turns a shaped document into YAML text and damages it.
"""

from __future__ import annotations

import string
from datetime import UTC
from functools import cache
from typing import Any, get_args, get_origin

import yaml
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from app import vocabulary
from app.settings import FAULT_ENDPOINTS, FAULT_KINDS, FORMATS, GROUP_BY_FACTS, METRICS, Settings

# Modest, derandomized and without an example database: fast, repeatable, no files written.
FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    # One bug at a time, shrunk, without the slow "explain" phase: a failure stays quick.
    report_multiple_bugs=False,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# A problem line of a ConfigError: "<where>: <what>".
WHERE_PREFIXES = ("(top level): ", "(file): ")

UUID = "3f1c2a9e-8b7d-4c6e-9f0a-1b2c3d4e5f60"

_DURATIONS = [
    "PT1H", "P1D", "PT15M", "P1W", "PT0.5S", "PT0S", "-PT1H", "P1M", "P1Y", "PT", "P", "1h",
    "P99999999999999D", "PT1e3S", "PT1H30", "P1DT", " PT1H ", "pt1h", 0, -1, 1e300, 86400,
]  # fmt: skip
_ZONES = [
    "UTC", "Europe/Berlin", "Mars/Olympus_Mons", "../etc/passwd", "/etc/localtime", "",
    "Europe//Berlin", "UTC\n", "America", "Etc", "a" * 300, "Europe/Berlin\x00",
]  # fmt: skip
_CRONS = [
    "0 6 * * *", "*/15 * * * *", "0 6 * * 1-5", "0 0 1 * *", "0 6 * * 7", "0 6 * * sun",
    "61 * * * *", "* 25 * * *", "*/0 * * * *", "0 6 31 2 *", "@daily", "", "* * * *",
    "0 0 0 * * * *", "0 6 * * 8", "0 6 * * 5-1", "0 6 * * ²", "99999999999999999999 * * * *",
]  # fmt: skip
_EXPRESSIONS = [
    "answered / offered", "max(answered, offered) - abs(abandoned)", "round(avg_wait_seconds, 1)",
    "1 if answered > 0 else 0", "answred / offered", "__import__('os')", "().__class__",
    "answered.real", "wrapup_codes[0]", "lambda: 1", "[x for x in ()]", "open('x')",
    "9**9**9", "answered ** 10**8", "", "answered +", "round(answered, ndigits=1)", "f'{answered}'",
    "(x := 1)", "'a' * 10", "1 @ 2",
]  # fmt: skip
_TEMPLATES = [
    "{prefix}{report}/{period}/{file}", "{file}", "{report}/{file}", "{nope}/{file}", "{file",
    "{report}", "../{file}", "{file!r}", "{file:>9}", "{0}{file}", "{file.__class__}", "",
]  # fmt: skip
_NAMES = [
    "queue-daily", "agent_hourly", "r", "../x", "a/b", ".hidden", "x" * 65, "ok.name", "-x",
    "\uff0e\uff0e\uff0fx", "\u2024\u2024x", "x\x00", "x\ny", "", " x", "\uff58",
]  # fmt: skip
_MISC_TEXT = [
    "${HOME}", "${UNSET_VARIABLE}", "${UNSET:-fallback}", "$$", "${", "$", "${1BAD}",
    "sandbox", "mypurecloud.com", "usw2.pure.cloud", "evil.example.com", "https://x.example",
    "ftp://x", "http://", "local", "s3", "my-bucket", "Bad_Bucket", "AES256", "aws:kms",
    "2024-05-02T06:00:00Z", "2024-05-02T06:00:00", "yesterday", UUID, UUID.upper(), "not-a-uuid",
    "error", "warn", "json", "slack", "auto", "query", "jobs", "previous_day", "previous_month",
    "inbound", "outbound", "voice", "hologram", "and", "or", "matches", "exists",
]  # fmt: skip
_POOL: list[Any] = [
    *_DURATIONS, *_ZONES, *_CRONS, *_EXPRESSIONS, *_TEMPLATES, *_NAMES, *_MISC_TEXT,
    *METRICS, *GROUP_BY_FACTS, *FORMATS, *FAULT_KINDS, *FAULT_ENDPOINTS,
    *sorted(vocabulary.MEDIA_TYPES), "ok",
]  # fmt: skip


def _near_misses(key: str) -> list[str]:
    camel = "".join(part.title() if i else part for i, part in enumerate(key.split("_")))
    return [
        key.upper(),
        key.title(),
        key.replace("_", "-"),
        key[:-1],
        key + "s",
        camel,
        f" {key}",
        f"{key}:",
        f"{key}[0]",
    ]


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The settings models inside an annotation (``list[X]``, ``X | None``...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models(arg)]


def _is_list(annotation: Any) -> bool:
    if get_origin(annotation) is list:
        return True
    return any(_is_list(arg) for arg in get_args(annotation))


def _is_dict(annotation: Any) -> bool:
    return get_origin(annotation) is dict


def _all_keys(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[str]:
    seen = set() if seen is None else seen
    if model in seen:
        return set()
    seen.add(model)
    keys = set(model.model_fields)
    for info in model.model_fields.values():
        for inner in _models(info.annotation):
            keys |= _all_keys(inner, seen)
    return keys


REAL_KEYS = sorted(_all_keys(Settings))
NEAR_MISSES = sorted({miss for key in REAL_KEYS for miss in _near_misses(key)} - set(REAL_KEYS))

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(_POOL),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([None, UTC])),
    st.binary(max_size=8),
)
hashable_keys = st.one_of(
    st.sampled_from(REAL_KEYS),
    st.sampled_from(NEAR_MISSES),
    st.text(max_size=12),
    st.integers(-5, 5),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False),
    st.dates(),
)
wild = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(hashable_keys, children, max_size=5),
    ),
    max_leaves=25,
)


def _field_value(annotation: Any) -> st.SearchStrategy[Any]:
    models = _models(annotation)
    if models:
        shaped = shaped_model(models[0])
        if _is_list(annotation):
            return st.one_of(st.lists(shaped, max_size=3), wild)
        return st.one_of(shaped, shaped, wild)
    if _is_dict(annotation):  # custom_metrics: names to expressions
        names = st.one_of(
            st.sampled_from(["talk_minutes", "x", "answered", "1bad", "with space", "_ok"]),
            st.text(max_size=8),
        )
        return st.one_of(st.dictionaries(names, st.sampled_from(_EXPRESSIONS), max_size=3), wild)
    if _is_list(annotation):
        return st.one_of(st.lists(st.sampled_from(_POOL), max_size=4), wild)
    return st.one_of(st.sampled_from(_POOL), scalars)


@cache
def shaped_model(model: type[BaseModel]) -> st.SearchStrategy[dict[Any, Any]]:
    """A mapping for ``model``: any subset of its keys with plausible or hostile values, and
    sometimes an extra key that is a near miss or random."""
    optional = {name: _field_value(info.annotation) for name, info in model.model_fields.items()}
    extra = st.dictionaries(
        st.one_of(st.sampled_from(NEAR_MISSES), hashable_keys), scalars, max_size=2
    )
    # Report names are required and matter for the paths: mostly a valid one.
    required: dict[str, st.SearchStrategy[Any]] = {}
    if "name" in model.model_fields and model.__name__ == "ReportSettings":
        required["name"] = st.one_of(st.just("queue-daily"), st.sampled_from(_NAMES))
        del optional["name"]
    return st.builds(
        lambda fixed, more: {**more, **fixed},
        st.fixed_dictionaries(required, optional=optional),
        extra,
    )


shaped = shaped_model(Settings)


def _damage(text: str, position: int, insert: str) -> str:
    cut = position % (len(text) + 1)
    return text[:cut] + insert + text[cut:]


_YAML_DAMAGE = [
    "", ":", "[", "{", "]", "}", "&a ", "*a", "*nope", "!!int x", "!!timestamp x", "\t", "- ",
    "'", '"', "\n  ", "2024-13-45", "0x_", "!!python/object:os.system x", "? ", "%YAML 9.9\n",
    "\x00", "\ufeff", "\x85", "!!binary x", "<<: *a", "&a [*a]", "\\", "#", "|", ">",
]  # fmt: skip


def _dump(document: Any) -> str | None:
    try:
        return yaml.safe_dump(document, allow_unicode=True)
    except yaml.YAMLError:
        return None


yaml_texts = st.builds(
    _damage,
    shaped.map(_dump).filter(lambda text: text is not None).map(str),
    st.integers(min_value=0, max_value=4000),
    st.one_of(st.sampled_from(_YAML_DAMAGE), st.text(alphabet=string.printable, max_size=4)),
)

__all__ = [
    "FUZZ",
    "NEAR_MISSES",
    "REAL_KEYS",
    "UUID",
    "WHERE_PREFIXES",
    "shaped",
    "shaped_model",
    "wild",
    "yaml_texts",
]
