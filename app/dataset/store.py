"""A run's dataset files into the dataset directory, replacing exactly its period's files.

Each period has a dataset manifest, ``_manifests/{report}/{label}.json``, listing the files its
last run wrote (engines skip names starting with ``_``). A new run stages its files beside the
dataset, then renames each over its older copy (one atomic rename: a reader sees the old file
or the new, never neither and never part of one; the old one is kept as a hard link for the
undo), removes the files of the period that this run did not write (a date with no rows any
more; found by their names, ``{report}_{label}.parquet``, not by trusting the old manifest),
and replaces the manifest last. If anything fails, everything is undone: the earlier files and
manifest are back, and the directories the commit made are gone. Files of other periods, in
the same partitions, are never touched.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from app.dataset.schema import PARTITION_COLUMN, TABLES
from app.dataset.writer import DatasetFile

__all__ = ["MANIFESTS", "commit_local", "manifest_path", "remove_staging", "staging_directory"]

log = logging.getLogger(__name__)

MANIFESTS = "_manifests"
_STAGING = ".staging-"


def manifest_path(root: Path, report: str, label: str) -> Path:
    return root / MANIFESTS / report / f"{label}.json"


def staging_directory(root: Path, run_id: str) -> Path:
    """Beside the tables on the same file system, so moving a file in is a rename."""
    return root / f"{_STAGING}{run_id}"


def commit_local(
    root: Path,
    staging: Path,
    files: Sequence[DatasetFile],
    manifest: Mapping[str, Any],
    *,
    file_mode: int = 0o640,
    directory_mode: int = 0o750,
) -> Path:
    """Move ``files`` from ``staging`` into ``root`` and write the period's manifest last;
    returns the manifest's path. Blocking file work: run it in a thread."""
    report, label = str(manifest["report"]), str(manifest["period"])
    target = manifest_path(root, report, label)
    aside = staging / ".previous"
    undo: list[tuple[str, Path, Path]] = []  # ("restore", kept, final) or ("remove", final)
    made: list[Path] = []  # directories the commit created, deepest last

    def put(new: Path, final: Path, kept: Path) -> None:
        """``new`` over ``final`` in one rename (a reader sees the old file or the new one);
        the old one is kept as a hard link first, for the undo."""
        _directories(final.parent, directory_mode, made)
        if final.exists():
            kept.parent.mkdir(parents=True, exist_ok=True)
            os.link(final, kept)
            undo.append(("restore", kept, final))
        else:
            undo.append(("remove", final, final))
        new.replace(final)

    try:
        written = set()
        for entry in files:
            new, final = staging / entry.path, root / entry.path
            new.chmod(file_mode)
            _fsync(new)  # the manifest will vouch for these bytes
            put(new, final, aside / entry.path)
            written.add(final)
        for directory in {root / entry.path for entry in files}:
            _fsync(directory.parent)
        # The previous run's files of this period that this run did not write (a date without
        # rows now): found by name, whatever the old manifest says or whether it is readable.
        for stale in sorted(_period_files(root, report, label) - written):
            kept = aside / stale.relative_to(root)
            kept.parent.mkdir(parents=True, exist_ok=True)
            stale.replace(kept)
            undo.append(("restore", kept, stale))
        body = orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
        temporary = staging / ".manifest.json"
        temporary.write_bytes(body)
        temporary.chmod(file_mode)
        _fsync(temporary)
        put(temporary, target, aside / ".manifest.json")
        _fsync(target.parent)
    except BaseException:
        for action, first, final in reversed(undo):
            try:
                if action == "restore":
                    first.replace(final)
                else:
                    final.unlink(missing_ok=True)
            except OSError as exc:
                log.error("could not undo the dataset change of %s: %s", final, exc)
        for directory in reversed(made):
            with contextlib.suppress(OSError):  # not empty: something else is in it now
                directory.rmdir()
        raise
    return target


def _period_files(root: Path, report: str, label: str) -> set[Path]:
    name = f"{report}_{label}.parquet"
    return {
        path
        for table in TABLES
        for path in (root / table).glob(f"{PARTITION_COLUMN}=*/{glob.escape(name)}")
    }


def _directories(path: Path, mode: int, made: list[Path]) -> None:
    """``path`` and its missing parents, each with exactly ``mode`` (``mkdir``'s mode is cut
    by the umask, and applies to the last level only)."""
    missing = []
    for level in (path, *path.parents):
        if level.is_dir():
            break
        missing.append(level)
    for level in reversed(missing):
        try:
            level.mkdir()
        except FileExistsError:
            if not level.is_dir():  # a file where a partition directory must be
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(level)) from None
            continue
        made.append(level)
        level.chmod(mode)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_staging(staging: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(staging)
