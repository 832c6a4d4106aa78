"""ISO-8601 durations limited to fixed-length units.

Months and years are calendar units of varying length, so a duration like ``P1M`` is refused
rather than read as 30 days (pydantic's reading); calendar periods are spelled
``previous_month`` instead.
"""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> timedelta:
    """Parse ``PT1H``, ``P1D``, ``PT15M``, ``P1W``, ``PT0.5S``; raise ValueError otherwise."""
    value = text.strip().upper()
    match = _DURATION.match(value)
    if not match or value in {"P", "PT"} or value.endswith("T"):
        if re.match(r"^P(?:\d+Y|\d+M)", value):
            raise ValueError(
                f"'{text}': years and months have no fixed length; use a period such as "
                "previous_month, or weeks/days/hours"
            )
        raise ValueError(f"'{text}' is not an ISO-8601 duration such as PT1H, PT15M or P1D")
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
    try:
        return timedelta(**parts)
    except OverflowError:
        raise ValueError(f"'{text}' is too long a duration") from None


def format_duration(delta: timedelta) -> str:
    """The shortest ISO-8601 spelling of a non-negative duration (``PT1H``, ``P1D``, ``PT90S``)."""
    total_ms = round(delta.total_seconds() * 1000)
    if total_ms < 0:
        raise ValueError("negative durations have no ISO-8601 spelling here")
    days, rest_ms = divmod(total_ms, 86_400_000)
    hours, rest_ms = divmod(rest_ms, 3_600_000)
    minutes, rest_ms = divmod(rest_ms, 60_000)
    seconds = rest_ms / 1000
    out = "P" + (f"{days}D" if days else "")
    time_part = ""
    if hours:
        time_part += f"{hours}H"
    if minutes:
        time_part += f"{minutes}M"
    if seconds:
        time_part += f"{seconds:g}S"
    if time_part:
        out += "T" + time_part
    return out if out != "P" else "PT0S"
