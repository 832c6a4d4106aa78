"""Working directories that outlive a killed process, and their removal.

A run's spool directory and its staging directory each hold a lock file that the run keeps
``flock``-ed while it lives. The kernel drops the lock when the process dies, however it dies
(SIGKILL included), so at the next start any such directory whose lock can be taken belongs to
nobody and is removed. A directory still locked is another live run's and is left alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from app.settings import Settings

log = logging.getLogger(__name__)
LOCK_NAME = ".owner.lock"
SPOOL_PREFIX = "spool-"


@contextlib.contextmanager
def owned(directory: Path) -> Iterator[None]:
    """Hold ``directory``'s lock for the block (the directory must exist)."""
    fd = os.open(directory / LOCK_NAME, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _abandoned(directory: Path) -> bool:
    try:
        fd = os.open(directory / LOCK_NAME, os.O_RDWR)
    except FileNotFoundError:
        return False  # not one of ours, or still being created: leave it
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def sweep(candidates: Iterable[Path]) -> list[Path]:
    """Remove the abandoned directories among ``candidates``; returns what was removed."""
    removed = []
    for directory in candidates:
        if directory.is_dir() and _abandoned(directory):
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(directory)
    return removed


def spool_root(settings: Settings) -> Path:
    return settings.storage.spool_directory or Path(tempfile.gettempdir())


def sweep_leftovers(settings: Settings) -> list[Path]:
    """Staging and spool directories left by runs that were killed."""
    staging = settings.storage.directory.glob("*/.*.staging-*")
    dataset = settings.storage.dataset_root.glob(".staging-*")
    spools = spool_root(settings).glob(f"{SPOOL_PREFIX}*")
    removed = sweep([*staging, *dataset, *spools])
    for path in removed:
        log.warning("removed %s, left by a run that was killed", path)
    return removed
