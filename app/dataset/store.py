"""A run's dataset files into the dataset directory, replacing exactly its period's files.

Each period has a dataset manifest, ``_manifests/{report}/{label}.json``, listing the files its
last run wrote (engines skip names starting with ``_``). A new run stages its files beside the
dataset, then, for each file, moves any older copy aside and its own in (one atomic rename: a
reader sees the old file or the new, never part of one), removes the files of the previous run
that this one did not write (a date with no rows any more), and rewrites the manifest last.
If a move fails, every move is undone: the earlier files are back and the manifest unchanged.
Files of other periods, in the same partitions, are never touched.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

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
    previous = _listed(target)
    aside = staging / ".previous"
    done: list[tuple[Path, Path]] = []
    made: list[Path] = []  # directories the commit created, to remove again on failure

    def move(source: Path, destination: Path) -> None:
        missing = [p for p in (destination.parent, *destination.parent.parents) if not p.exists()]
        try:
            destination.parent.mkdir(parents=True, exist_ok=True, mode=directory_mode)
        except FileExistsError:  # a file where a partition directory must be
            raise NotADirectoryError(
                errno.ENOTDIR, "not a directory", str(destination.parent)
            ) from None
        made.extend(missing)  # deepest first
        source.replace(destination)
        done.append((source, destination))

    try:
        for entry in files:
            new, final = staging / entry.path, root / entry.path
            new.chmod(file_mode)
            _fsync(new)  # the manifest will vouch for these bytes
            if final.exists():
                move(final, aside / entry.path)
            move(new, final)
        written = {entry.path for entry in files}
        for stale in sorted(previous - written):
            if (root / stale).exists():
                move(root / stale, aside / stale)
        body = orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
        temporary = staging / ".manifest.json"
        temporary.write_bytes(body)
        temporary.chmod(file_mode)
        _fsync(temporary)
        move(temporary, target)
        _fsync(target.parent)
    except BaseException:
        for source, destination in reversed(done):
            try:
                destination.replace(source)
            except OSError as exc:
                log.error("could not move %s back to %s: %s", destination, source, exc)
        for directory in made:
            with contextlib.suppress(OSError):  # not empty: something else is in it now
                directory.rmdir()
        raise
    return target


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _listed(manifest: Path) -> set[str]:
    try:
        document = orjson.loads(manifest.read_bytes())
    except FileNotFoundError:
        return set()
    return {str(entry["path"]) for entry in document.get("files", [])}


def remove_staging(staging: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(staging)
