"""Value types shared across the package: report periods and fetch windows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


def iso_utc(moment: datetime) -> str:
    """``2024-05-01T09:00:00.000Z``: the API's timestamp form."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open fetch interval ``[start, end)`` of aware datetimes."""

    start: datetime
    end: datetime

    @property
    def interval(self) -> str:
        return f"{iso_utc(self.start)}/{iso_utc(self.end)}"

    def __str__(self) -> str:
        return self.interval


@dataclass(frozen=True, slots=True)
class Period:
    """What a report covers: ``[start, end)`` (aware), the zone it was computed in, and a label
    that names its output directory (``2024-05-01``, ``2024-W18``, ...)."""

    start: datetime
    end: datetime
    timezone: str
    label: str

    @property
    def window(self) -> Window:
        return Window(self.start, self.end)


@dataclass(frozen=True, slots=True)
class LocalFile:
    """A finished export on local disk, as delivery sees it."""

    format: str
    name: str
    path: Path
    rows: int
    bytes: int
    sha256: str
