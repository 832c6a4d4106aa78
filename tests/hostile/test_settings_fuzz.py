"""Hostile settings (issue 7, item 2: settings): whatever the document, the loader returns
``Settings`` or raises ``ConfigError`` whose every problem starts with the dotted key it is
about (``reports[0].schedule: ...``), ``(top level): ...`` or, for YAML that does not parse,
``line 3, column 1: ...``; never another exception.

Property-based over generated documents (hypothesis, derandomized), plus the concrete inputs
the properties found, each pinned as its own example.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given

from app.errors import ConfigError
from app.settings import Settings, load_settings, parse_settings
from tests.hostile.fuzz import FUZZ, WHERE_PREFIXES, shaped, wild, yaml_texts

_YAML_WHERE = re.compile(r"^line \d+, column \d+: ")


def _anchors(document: Any) -> set[str]:
    """Keys a problem line may start with: the document's own top-level keys (as the loader
    spells them), the settings sections (a missing one is named too)."""
    anchors = set(Settings.model_fields)
    if isinstance(document, dict):
        for key in document:
            # Non-string keys are spelt by pydantic: [0] for 0 and False, repr for others.
            anchors |= {str(key), repr(key), f"[{key}]"}
            if isinstance(key, int):
                anchors.add(f"[{int(key)}]")
    return {anchor for anchor in anchors if anchor}


def assert_located(error: ConfigError, document: Any) -> None:
    """Every problem of ``error`` starts with where it is."""
    assert error.problems, "a ConfigError without problems"
    anchors = _anchors(document)
    for problem in error.problems:
        if problem.startswith(WHERE_PREFIXES) or _YAML_WHERE.match(problem):
            continue
        assert any(
            problem.startswith(anchor) and problem[len(anchor) : len(anchor) + 1] in {".", "[", ":"}
            for anchor in anchors
        ), f"problem does not start with a key of the document: {problem!r}"
        assert ": " in problem, problem


def check_document(document: Any) -> Settings | None:
    try:
        return parse_settings(document, source="fuzz.yaml", environ={})
    except ConfigError as error:
        assert error.source == "fuzz.yaml"
        assert_located(error, document)
        return None


def check_text(text: str) -> Settings | None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "settings.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            return load_settings(path, environ={})
        except ConfigError as error:
            try:
                document = yaml.safe_load(text)
            except Exception:  # only to name the anchors; load_settings had to cope
                document = None
            assert_located(error, document)
            return None


@FUZZ
@given(shaped)
def test_documents_shaped_like_settings(document: dict[Any, Any]) -> None:
    check_document(document)


@FUZZ
@given(wild)
def test_arbitrary_yaml_like_trees(document: Any) -> None:
    check_document(document)


@FUZZ
@given(yaml_texts)
def test_damaged_yaml_files(text: str) -> None:
    check_text(text)


def test_the_property_checker_accepts_what_the_loader_emits() -> None:
    """The checker is not vacuous: a valid document passes, typical mistakes are located."""
    assert check_document({"reports": [{"name": "ok"}]}) is not None
    with pytest.raises(ConfigError) as caught:
        parse_settings(
            {"reports": [{"name": "ok", "schedul": "x", "timezone": "Nowhere"}], "extra": 1},
            environ={},
        )
    assert_located(caught.value, {"reports": [], "extra": 1})
    assert caught.value.problems[0].startswith(("reports[0].", "extra: "))
    with pytest.raises(AssertionError):
        assert_located(ConfigError("x", ["no key here"]), {"reports": []})


# --- concrete hostile inputs, each a pinned example ----------------------------------------


def _report(**values: Any) -> dict[str, Any]:
    return {"reports": [{"name": "r", **values}]}


def _expect_problem(document: Any, key: str) -> None:
    """parse_settings must raise ConfigError with a problem about ``key``."""
    with pytest.raises(ConfigError) as caught:
        parse_settings(document, environ={})
    assert any(p.startswith(f"{key}: ") for p in caught.value.problems), caught.value.problems
    assert_located(caught.value, document)


@pytest.mark.parametrize(
    ("document", "key"),
    [
        # A directory of the tz database, and a name too long for the file system: ZoneInfo
        # raises IsADirectoryError / OSError for these, not ZoneInfoNotFoundError.
        (_report(timezone="America"), "reports[0].timezone"),
        (_report(timezone="Etc"), "reports[0].timezone"),
        (_report(timezone="a" * 300), "reports[0].timezone"),
        ({**_report(), "sandbox": {"volume": {"timezone": "Europe"}}}, "sandbox.volume.timezone"),
    ],
    ids=["America", "Etc", "300 characters", "sandbox zone Europe"],
)
def test_time_zones_that_are_directories_or_too_long(document: Any, key: str) -> None:
    _expect_problem(document, key)


@pytest.mark.parametrize(
    ("document", "key"),
    [
        (_report(period="P99999999999999D"), "reports[0].period"),
        (_report(window="P99999999999999D"), "reports[0].window"),
        (_report(delay="P9999999999W"), "reports[0].delay"),
        (_report(delay=1e300), "reports[0].delay"),
        (_report(window=float("inf")), "reports[0].window"),
        (_report(delay=float("-inf")), "reports[0].delay"),
        ({**_report(), "genesys": {"request_timeout": 1e20}}, "genesys.request_timeout"),
    ],
    ids=["period", "window", "delay weeks", "delay 1e300", "window inf", "delay -inf", "timeout"],
)
def test_durations_too_large_for_a_timedelta(document: Any, key: str) -> None:
    _expect_problem(document, key)


@pytest.mark.parametrize(
    ("document", "key"),
    [
        (_report(name="\ud800"), "reports[0].name"),
        (_report(schedule="0 6 * * \udfff"), "reports[0].schedule"),
        ({**_report(), "storage": {"directory": "reports/\ud800"}}, "storage.directory"),
    ],
    ids=["name", "schedule", "directory"],
)
def test_lone_surrogates(document: Any, key: str) -> None:
    """A lone surrogate (YAML's "\\ud800" escape gives one) is not valid text."""
    _expect_problem(document, key)


def test_a_key_with_brackets_is_named() -> None:
    """An unknown key is named by the problem, whatever characters it has."""
    for key in ("repots[0]", "x[1]", "[weird]"):
        with pytest.raises(ConfigError) as caught:
            parse_settings({**_report(), key: 1}, environ={})
        assert any(p.startswith(f"{key}: unknown key") for p in caught.value.problems), (
            caught.value.problems
        )


@pytest.mark.parametrize(
    "text",
    [
        "reports: [{name: r}]\nsandbox: {now: 2024-13-45}\n",
        "reports: [{name: r}]\nsandbox: {now: 2024-02-30 10:00:00}\n",
        "reports: [{name: r, delay: 0x_}]\n",
        "reports: [{name: r, delay: !!int abc}]\n",
        "reports: [{name: r, delay: !!float x}]\n",
        "reports: [{name: r, delay: !!timestamp x}]\n",
        "reports: " + "[" * 3000 + "\n",
        "reports: &a [*a]\n",
        "reports: [{name: r}]\nextra: &b {k: *b}\n",
        "reports: [{name: r, custom_metrics: &c {a: *c}}]\n",
        'reports: [{name: "\\ud800"}]\n',
    ],
    ids=[
        "month 13",
        "30 February",
        "hex without digits",
        "!!int abc",
        "!!float x",
        "!!timestamp x",
        "nested 3000 deep",
        "self-referencing reports",
        "self-referencing section",
        "self-referencing custom_metrics",
        "escaped lone surrogate",
    ],
)
def test_yaml_that_pyyaml_cannot_construct(text: str) -> None:
    """PyYAML raises ValueError, AttributeError or RecursionError (not YAMLError) for some
    documents, and anchors can make a document contain itself."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "settings.yaml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError) as caught:
            load_settings(path, environ={})
    for problem in caught.value.problems:
        assert ": " in problem and not problem.startswith(": "), problem
