"""The heartbeat file the scheduler loop keeps fresh, and the check a container runs on it.

``genesys-reports check`` passes when the heartbeat is younger than three intervals and no
report's last run failed; otherwise it fails with the reason. The file also says what is running
and how each report's last run went, so an operator can inspect the service's state.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

HEARTBEAT = "heartbeat.json"


def write_heartbeat(directory: Path, state: dict[str, Any]) -> None:
    """Replace the heartbeat atomically (a reader never sees half a file)."""
    directory.mkdir(parents=True, exist_ok=True)
    body = orjson.dumps({"time": datetime.now(UTC).isoformat(), "pid": os.getpid(), **state})
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".heartbeat-")
    with os.fdopen(handle, "wb") as out:
        out.write(body)
    Path(temporary).replace(directory / HEARTBEAT)


def check(directory: Path, interval_seconds: float, now: datetime | None = None) -> str | None:
    """None when healthy, else the reason."""
    path = directory / HEARTBEAT
    try:
        state = orjson.loads(path.read_bytes())
        beat = datetime.fromisoformat(state["time"])
    except FileNotFoundError:
        return f"no heartbeat at {path}: is `genesys-reports serve` running?"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"unreadable heartbeat {path}: {exc}"
    age = ((now or datetime.now(UTC)) - beat).total_seconds()
    if age > 3 * interval_seconds:
        return f"heartbeat is stale: last beat {age:.0f} s ago (interval {interval_seconds:.0f} s)"
    failed = {
        name: last
        for name, last in (state.get("last_runs") or {}).items()
        if isinstance(last, dict) and last.get("status") == "failed"
    }
    if failed:
        details = "; ".join(
            f"{name} ({last.get('period')}): {last.get('error')}" for name, last in failed.items()
        )
        return f"last run failed: {details}"
    return None
