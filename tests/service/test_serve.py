"""`genesys-reports serve` as a real process against the embedded sandbox.

Readiness and progress are read from the service's own JSON log lines and files, never from
sleeps; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import yaml

from app.service.health import HEARTBEAT, check, write_heartbeat

REPO = Path(__file__).resolve().parents[2]


class Served:
    """A running `serve` process and its log, line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []

    async def wait_for(
        self, fragment: str, occurrence: int = 1, within: float = 60
    ) -> dict[str, Any]:
        """The ``occurrence``-th log line (from the start) whose message has ``fragment``."""
        assert self.process.stderr is not None
        deadline = time.monotonic() + within
        while True:
            found = [line for line in self.lines if fragment in line.get("message", "")]
            if len(found) >= occurrence:
                return found[occurrence - 1]
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no log line with {fragment!r}: {self.lines[-5:]}"
            raw = await asyncio.wait_for(self.process.stderr.readline(), remaining)
            assert raw, f"serve exited before logging {fragment!r}: {self.lines[-5:]}"
            try:
                line: dict[str, Any] = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            self.lines.append(line)

    async def drain(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            try:
                self.lines.append(orjson.loads(raw))
            except orjson.JSONDecodeError:
                continue


def _config(tmp_path: Path, **service: Any) -> Path:
    document = {
        "service": {
            "state_directory": str(tmp_path / "state"),
            "heartbeat_interval": "PT1S",
            "shutdown_grace": "PT2S",
            "catch_up": "PT0S",
            **service,
        },
        "storage": {"directory": str(tmp_path / "reports")},
        "sandbox": {"jobs": {"delay": "PT0.2S"}, "volume": {"peak_per_hour": 120}},
        "reports": [
            {
                "name": "fast",
                "schedule": "*/2 * * * * *",
                "period": "previous_hour",
                "group_by": ["queue_id"],
            }
        ],
    }
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


async def _start(config: Path, *args: str) -> Served:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "serve",
        "--config",
        str(config),
        *args,
        cwd=config.parent,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    return Served(process)


def _manifests(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "reports").rglob("manifest.json"))


async def test_scheduled_fires_run_without_overlap(tmp_path: Path, stopper: list[Served]) -> None:
    served = await _start(_config(tmp_path))
    stopper.append(served)
    await served.wait_for("scheduled fire of fast", occurrence=3)  # the 2-second schedule
    await served.wait_for("run finished: fast", occurrence=3)
    served.process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(served.drain(), 30)
    assert await served.process.wait() == 0
    # The expected period's outputs and manifest.
    now = datetime.now(UTC)  # the previous hour, or the one before if the hour just turned
    expected = {(now - timedelta(hours=h)).strftime("%Y-%m-%dT%H+0000") for h in (1, 2)}
    manifests = _manifests(tmp_path)
    assert len(manifests) == 1 and manifests[0].parent.name in expected
    manifest = orjson.loads(manifests[0].read_bytes())
    assert manifest["report"] == "fast" and manifest["counts"]["conversations"] > 0
    # Runs of one report never overlap: every start follows the previous finish.
    events = [
        (line["time"], line["message"].split(":")[0])
        for line in served.lines
        if line.get("message", "").startswith(("run started: fast", "run finished: fast"))
    ]
    kinds = [kind for _, kind in events]
    assert kinds[0] == "run started" and len(kinds) >= 4
    assert all(a != b for a, b in itertools.pairwise(kinds))  # strictly alternating
    assert [t for t, _ in events] == sorted(t for t, _ in events)


async def test_sigusr1_runs_at_once(tmp_path: Path, stopper: list[Served]) -> None:
    config = _config(tmp_path)
    document = yaml.safe_load(config.read_text())
    document["reports"][0]["schedule"] = "0 3 1 1 *"  # not during this test
    config.write_text(yaml.safe_dump(document))
    served = await _start(config)
    stopper.append(served)
    await served.wait_for("serving 1 reports")
    await served.wait_for("run finished: fast")  # the start-up catch-up of the missing period
    sent = datetime.now(UTC)
    served.process.send_signal(signal.SIGUSR1)
    line = await served.wait_for("(on demand)")
    started = datetime.fromisoformat(line["time"])
    assert started - sent < timedelta(seconds=1)
    await served.wait_for("run finished: fast", occurrence=2)
    served.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(served.process.wait(), 30) == 0


async def test_sigterm_mid_run_leaves_nothing_and_a_restart_catches_up(
    tmp_path: Path, stopper: list[Served]
) -> None:
    config = _config(tmp_path, shutdown_grace="PT1S", catch_up="PT2H")
    document = yaml.safe_load(config.read_text())
    document["reports"][0]["schedule"] = "0 3 1 1 *"
    document["reports"][0]["fetch"] = "query"
    # Slow enough that the run is still going when SIGTERM arrives and when its grace ends,
    # even on a loaded machine (it is cancelled, so the wait costs nothing).
    document["sandbox"].update(latency_ms=5000)
    document["genesys"] = {"max_concurrency": 1}
    config.write_text(yaml.safe_dump(document))
    served = await _start(config)
    stopper.append(served)
    started = await served.wait_for("run started: fast")
    interrupted = started["message"].split()[3]
    served.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(served.process.wait(), 30) == 0
    await asyncio.wait_for(served.drain(), 30)
    assert any("cancelling" in line.get("message", "") for line in served.lines)
    assert not (tmp_path / "reports" / "fast" / interrupted / "manifest.json").exists()
    leftovers = [p for p in (tmp_path / "reports").rglob("*") if "staging" in p.name]
    assert leftovers == []

    # A restart (fast again) catches the interrupted period up.
    document["sandbox"].pop("latency_ms")
    document["genesys"] = {"max_concurrency": 8}
    config.write_text(yaml.safe_dump(document))
    again = await _start(config)
    stopper.append(again)
    await again.wait_for(f"run finished: fast {interrupted}")
    again.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(again.process.wait(), 30) == 0
    assert (tmp_path / "reports" / "fast" / interrupted / "manifest.json").exists()


def test_check_fails_on_a_stale_heartbeat(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert check(state, 15) is not None and "no heartbeat" in str(check(state, 15))
    write_heartbeat(state, {"last_runs": {}})
    assert check(state, 15) is None
    later = datetime.now(UTC) + timedelta(seconds=46)
    assert "stale" in str(check(state, 15, now=later))
    write_heartbeat(
        state, {"last_runs": {"fast": {"status": "failed", "period": "p", "error": "HTTP 503"}}}
    )
    assert check(state, 15) == "last run failed: fast (p): HTTP 503"
    (state / HEARTBEAT).write_text("not json")
    assert "unreadable" in str(check(state, 15))


def test_check_command_exit_codes(tmp_path: Path) -> None:
    import subprocess

    config = _config(tmp_path)
    command = [sys.executable, "-m", "app", "check", "--config", str(config)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 1 and "no heartbeat" in result.stderr
    write_heartbeat(tmp_path / "state", {"last_runs": {}})
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0 and "healthy" in result.stdout
