"""Object keys cannot escape the prefix, whatever the names in them."""

from __future__ import annotations

import pytest

from app.delivery.keys import object_key, safe_prefix, safe_segment, template_fields

TEMPLATE = "{prefix}{report}/{period}/{file}"


def _key(**values: str) -> str:
    fields = {"prefix": "reports/", "report": "queue-daily", "period": "2024-05-01"}
    fields.update(values)
    fields.setdefault("file", "queue-daily_2024-05-01.csv")
    return object_key(TEMPLATE, **fields)


def test_the_default_key() -> None:
    assert _key() == "reports/queue-daily/2024-05-01/queue-daily_2024-05-01.csv"
    assert _key(prefix="") == "queue-daily/2024-05-01/queue-daily_2024-05-01.csv"
    assert _key(period="2024-05-01T09+0200").endswith(
        "/2024-05-01T09+0200/queue-daily_2024-05-01.csv"
    )


@pytest.mark.parametrize(
    "hostile",
    [
        "../../etc",
        "..",
        "/absolute",
        "a/b",
        "\uff0e\uff0e\uff0fx",  # fullwidth look-alikes of ../x
        "con\x00trol\nchars\t",
        "\u202eevil",  # right-to-left override
        "..\\..\\win",
    ],
)
def test_hostile_names_stay_one_segment_inside_the_prefix(hostile: str) -> None:
    for field in ("report", "period", "file"):
        key = _key(**{field: hostile})
        assert key.startswith("reports/")
        parts = key.split("/")
        assert len(parts) == 4 and ".." not in parts and "." not in parts
        assert all(part and part.isprintable() for part in parts)
        assert all(ord(ch) < 128 for ch in key)


def test_prefix_is_normalised() -> None:
    assert safe_prefix("/team//genesys/") == "team/genesys/"
    assert safe_prefix("../up/./x") == "__/up/x/"
    assert safe_prefix("") == ""


def test_segments() -> None:
    assert safe_segment("Zoë O'Connor") == "Zo__O_Connor"
    assert safe_segment("...") == "___"
    assert safe_segment("") == "_"


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("{prefix}{report}/{period}", "must contain {file}"),
        ("{prefix}{bucket}/{file}", "unknown placeholder bucket"),
        ("{prefix{file}", "not a valid template"),
    ],
)
def test_bad_templates(template: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        template_fields(template)


def test_overlong_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="1024"):
        _key(file="x" * 1100)
