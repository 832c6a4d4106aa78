"""Hostile names in paths and keys (issue 7, item 2: paths and keys).

Report names become directory names and key segments, so ``settings`` refuses every name that
is not a plain, short, ASCII word (``reports[].name``). Object keys sanitise every substituted
value on its own, so no report name, period label, file name or prefix can add a segment,
climb out of the prefix or smuggle in control characters or look-alike unicode, whatever the
input. The staging directory takes plain file names only. And a key *template* accepted by
``check-config`` must not produce a key that breaks those rules either.
"""

from __future__ import annotations

import string
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.delivery.keys import object_key, safe_prefix, safe_segment
from app.errors import ConfigError
from app.periods import explicit_period
from app.pipeline.export import MANIFEST_NAME, Staging
from app.pipeline.run import output_directory
from app.settings import parse_settings
from tests.hostile.fuzz import FUZZ

PERIOD = explicit_period(
    datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 2, tzinfo=UTC), "Europe/Berlin"
)
HOSTILE_NAMES = [
    "../x",
    "..",
    ".",
    "../../etc/cron.d/x",
    "/etc/passwd",
    "/",
    "a/b",
    "a\\b",
    "..\\..\\windows",
    "C:\\reports",
    "\uff0e\uff0e\uff0fx",  # fullwidth ../x
    "\uff0e\uff0e",  # fullwidth ..
    "x\uff0fy",  # fullwidth slash
    "\u2024\u2024/x",  # one-dot leader
    "\u2025x",  # two-dot leader
    "x\u2215y",  # division slash
    "x\u2044y",  # fraction slash
    "x\x00y",
    "x\ny",
    "queue-daily\n",  # a YAML block scalar (name: |) keeps its final newline
    "x\ry",
    "x\ty",
    "\x1b[31mred",
    "x\u202eevil",  # right-to-left override
    "x\u200by",  # zero-width space
    "\ufeffx",
    "\uff58",  # fullwidth x
    "é",
    "x" * 65,
    "a" * 10_000,
    "",
    " x",
    "x ",
    "-x",
    "_x",
    ".hidden",
    "~",
    "~root",
    "$HOME",
    "x:y",
    "x*y",
    "nul\x00",
]


def _settings(name: Any) -> Any:
    return parse_settings({"reports": [{"name": name}]}, environ={})


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=[repr(n)[:30] for n in HOSTILE_NAMES])
def test_hostile_report_names_are_refused_with_their_key(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _settings(name)
    assert any(p.startswith("reports[0].name: ") for p in caught.value.problems), (
        caught.value.problems
    )


@pytest.mark.parametrize("name", [None, 42, ["x"], {"x": 1}, True, 1.5])
def test_report_names_that_are_not_text_are_refused(name: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        _settings(name)
    assert all(p.startswith("reports[0].name: ") for p in caught.value.problems)


def _is_plain_component(name: str) -> bool:
    return (
        name not in ("", ".", "..")
        and all(ch in string.ascii_letters + string.digits + "._-" for ch in name)
        and unicodedata.normalize("NFKC", name) == name
    )


@FUZZ
@given(
    st.one_of(
        st.text(max_size=80),
        st.text(alphabet=string.printable, max_size=70),
        st.sampled_from(HOSTILE_NAMES),
        st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,70}", fullmatch=True),
        st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,70}", fullmatch=True).map(lambda s: s + "\n"),
    )
)
def test_an_accepted_report_name_is_one_plain_component_inside_the_output_directory(
    name: str,
) -> None:
    try:
        settings = _settings(name)
    except ConfigError as error:
        assert all(p.startswith("reports[0].name: ") for p in error.problems)
        return
    assert _is_plain_component(name) and len(name) <= 64
    storage = Path("/srv/reports")
    settings = settings.model_copy(
        update={"storage": settings.storage.model_copy(update={"directory": storage})}
    )
    final = output_directory(settings, settings.reports[0], PERIOD)
    assert final.parent.parent == storage and final.parent.name == name
    staging = Staging(final, "run1")  # the staging sibling must be a plain name too
    assert staging.directory.parent == final.parent


# --- object keys ---------------------------------------------------------------------------

TEMPLATES = [
    "{prefix}{report}/{period}/{file}",
    "{prefix}{file}",
    "{file}",
    "{report}/{file}",
    "exports/{prefix}{period}/{report}/{file}",
    "{prefix}{report}-{period}/{file}",
]
hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(HOSTILE_NAMES),
    st.lists(st.sampled_from(["..", ".", "/", "\\", "\uff0e", "\uff0f", "\u2024", "x", ""])).map(
        "".join
    ),
)
SAFE = set(string.ascii_letters + string.digits + "._+=@-")


@FUZZ
@given(
    template=st.sampled_from(TEMPLATES),
    prefix=hostile_text,
    report=hostile_text,
    period=hostile_text,
    file=hostile_text,
)
def test_object_keys_stay_inside_the_prefix(
    template: str, prefix: str, report: str, period: str, file: str
) -> None:
    clean_prefix = safe_prefix(prefix)
    expected = template.format(
        prefix=clean_prefix,
        report=safe_segment(report),
        period=safe_segment(period),
        file=safe_segment(file),
    ).lstrip("/")
    if len(expected.encode()) > 1024:  # S3's limit: the only reason to refuse
        with pytest.raises(ValueError, match="longer than S3"):
            object_key(template, prefix=prefix, report=report, period=period, file=file)
        return
    key = object_key(template, prefix=prefix, report=report, period=period, file=file)
    assert key == expected
    if template.startswith("{prefix}"):
        assert key.startswith(clean_prefix)
    segments = key.split("/")
    template_segments = template.replace("{prefix}", "").count("/") + 1
    prefix_segments = clean_prefix.count("/") if "{prefix}" in template else 0
    assert len(segments) == template_segments + prefix_segments
    assert not {"", ".", ".."} & set(segments)
    assert all(ch.isprintable() and ch.isascii() for ch in key)
    assert set(key) - {"/"} <= SAFE
    assert segments[-1] == safe_segment(file)


def test_a_key_over_the_s3_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="longer than S3"):
        object_key(TEMPLATES[0], prefix="p", report="r" * 600, period="x" * 600, file="f")


@pytest.mark.parametrize(
    "template",
    [
        "../{file}",
        "{prefix}../../{file}",
        "{prefix}{report}/../{file}",
        "{prefix}./{file}",
        "{prefix}{report}//{file}/",
        "{prefix}{report}/{period}/{file:\x07>40}",
        "{prefix}{report}/{period}/{file:\uff0e>40}",
        "{prefix}{report}/{period}/{file:/<40}",
        "{prefix}{report:.0}/{period}/{file}",
        "{prefix}{report!r}/{period}/{file}",
        "{prefix}{report}/{period}/\x1b[31m{file}",
        "{prefix}{report}/{period}/\uff0e\uff0e/{file}",
    ],
    ids=[
        "climbs above the bucket root",
        "climbs out of the prefix",
        "climbs out of the report",
        "dot segment",
        "empty segments",
        "control-character fill",
        "fullwidth-dot fill",
        "slash fill",
        "precision 0 drops the report",
        "repr adds quotes",
        "escape sequence",
        "fullwidth dots",
    ],
)
def test_a_key_template_that_check_config_accepts_gives_safe_keys(template: str) -> None:
    """Either ``check-config`` refuses the template under ``storage.s3.key_template``, or every
    key it gives is safe: inside the prefix, one segment per value, printable ASCII only, and
    each report in its own segment. Never a ValueError at upload time."""
    document = {
        "storage": {"kind": "s3", "s3": {"bucket": "reports-bucket", "key_template": template}},
        "reports": [{"name": "r"}],
    }
    try:
        settings = parse_settings(document, environ={})
    except ConfigError as error:
        assert any(p.startswith("storage.s3.key_template: ") for p in error.problems)
        return
    s3 = settings.storage.s3
    assert s3 is not None
    for report in ("queue-daily", "agent-hourly"):
        key = object_key(
            s3.key_template, prefix="team/", report=report, period="2024-05-01", file="f.csv"
        )
        segments = key.split("/")
        assert key.startswith("team/"), key
        assert report in segments, key
        assert not {"", ".", ".."} & set(segments), key
        assert set(key) - {"/"} <= SAFE, key


# --- the staging directory -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["", ".", "..", "../x", "a/b", "/abs", "a\\b", "..\\x", "x\x00y", "x/", MANIFEST_NAME],
)
def test_staging_refuses_names_that_are_not_plain(name: str, tmp_path: Path) -> None:
    staging = Staging(tmp_path / "final", "run1")
    with pytest.raises(ValueError):
        staging.path(name)


@pytest.mark.parametrize("run_id", ["../x", "a/b", "x\x00", "a\\b", "/"])
def test_staging_refuses_run_ids_that_would_leave_the_parent(run_id: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Staging(tmp_path / "final", run_id)


@FUZZ
@given(st.one_of(st.text(max_size=30), st.sampled_from(HOSTILE_NAMES)))
def test_a_staged_file_is_always_directly_inside_the_staging_directory(name: str) -> None:
    staging = Staging(Path("/srv/reports/r/2024-05-01"), "run1")
    try:
        path = staging.path(name)
    except ValueError:
        return
    assert path.parent == staging.directory
    assert path.name == name
    assert name not in ("", ".", "..", MANIFEST_NAME)
