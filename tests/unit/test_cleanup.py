"""Directories left by killed runs are removed at the next start; live runs' are not."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import yaml

from app.cleanup import LOCK_NAME, owned, sweep, sweep_leftovers
from app.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def test_sweep_removes_only_abandoned_directories(tmp_path: Path) -> None:
    live, dead, foreign = tmp_path / "live", tmp_path / "dead", tmp_path / "foreign"
    for directory in (live, dead, foreign):
        directory.mkdir()
    (dead / LOCK_NAME).touch()  # its owner is gone: nobody holds the lock
    with owned(live):
        assert sweep([live, dead, foreign]) == [dead]
    assert live.exists() and foreign.exists() and not dead.exists()


async def test_a_killed_run_is_cleaned_up_and_caught_up(tmp_path: Path) -> None:
    document = yaml.safe_load((REPO / "settings.yaml").read_text())
    document["storage"] = {
        "directory": str(tmp_path / "reports"),
        "spool_directory": str(tmp_path / "spool"),
    }
    document["sandbox"].update(latency_ms=300, volume={"peak_per_hour": 300})
    document["genesys"]["max_concurrency"] = 1
    (tmp_path / "spool").mkdir()
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump(document))
    command = [
        sys.executable, "-m", "app", "run", "--config", str(config), "--report", "queue-daily",
        "--start", "2024-05-01T00:00+02:00", "--end", "2024-05-02T00:00+02:00",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while not any((tmp_path / "spool").glob("spool-*/window-*")):  # spooling has begun
        assert time.monotonic() < deadline and process.returncode is None
        await asyncio.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    await process.wait()
    assert list((tmp_path / "spool").glob("spool-*"))  # what SIGKILL left behind

    document["sandbox"].pop("latency_ms")
    document["genesys"]["max_concurrency"] = 8
    config.write_text(yaml.safe_dump(document))
    again = await asyncio.create_subprocess_exec(*command, env=env)
    assert await asyncio.wait_for(again.wait(), 120) == 0
    assert not list((tmp_path / "spool").glob("spool-*"))
    assert list((tmp_path / "reports").rglob("manifest.json"))


def test_a_killed_run_s_dataset_staging_is_swept_and_a_live_one_kept(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"storage": {"directory": str(tmp_path / "reports")}, "reports": [{"name": "r"}]}
    )
    root = settings.storage.dataset_root
    dead, live = root / ".staging-dead", root / ".staging-live"
    for directory in (dead, live):
        directory.mkdir(parents=True)
    (dead / LOCK_NAME).touch()
    (root / "events").mkdir()  # a table: never a candidate
    with owned(live):
        assert sweep_leftovers(settings) == [dead]
    assert live.exists() and (root / "events").exists()
