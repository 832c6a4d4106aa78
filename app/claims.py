"""One run per (report, period) at a time, across processes and replicas.

Two claims are taken before a run starts, and released when it ends:

- a **lock file** under ``service.state_directory/locks/{report}/{period}.lock``, ``flock``-ed:
  processes on one host (a manual ``run`` beside ``serve``). The kernel drops it when the
  holder dies, however it dies.
- in S3 mode, a **lease object** ``{prefix}.leases/{report}/{period}.lease`` written with a
  conditional PUT (``If-None-Match: *``): replicas on several hosts sharing a bucket. The lease
  says when it expires (``run_timeout`` and a margin after it was taken) and is never renewed,
  so a holder that crashed cannot keep a period for longer than a run may last; after that the
  next claimant deletes it (conditionally, on its ETag, so a fresh lease taken meanwhile by
  someone else is never removed) and takes its own.

A period already claimed is ``PeriodBusyError``: the run is not started, nothing is touched.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from app.errors import DeliveryError, ReportsError
from app.models import iso_utc
from app.periods import parse_instant

log = logging.getLogger(__name__)

LEASE_MARGIN = timedelta(minutes=10)  # beyond run_timeout: the run's own clean-up (default)


class PeriodBusyError(ReportsError):
    """Another process or replica is running this report's period."""

    exit_code = 3


@contextlib.contextmanager
def local_lock(state_directory: Path, report: str, label: str) -> Iterator[Path]:
    """Hold the period's lock file for the block; ``PeriodBusyError`` when another process
    holds it."""
    directory = state_directory / "locks" / report
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{label}.lock"
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
            raise PeriodBusyError(
                f"report {report}, period {label} is being run by another process on this "
                f"host ({holder}; lock file {path})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {iso_utc(datetime.now(UTC))}".encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock; the file stays (removing it would race a waiter)


class Lease:
    """A period's lease object in S3 (see the module's description)."""

    def __init__(self, dest: Any, key: str, *, run_id: str, lifetime: timedelta) -> None:
        self._dest = dest
        self.key = key
        self._run_id = run_id
        self._lifetime = lifetime
        self._etag: str | None = None
        self._expires = datetime.now(UTC) + lifetime

    def _body(self) -> bytes:
        now = datetime.now(UTC)
        self._expires = now + self._lifetime
        return orjson.dumps(
            {
                "run_id": self._run_id,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "taken_at": iso_utc(now),
                "expires_at": iso_utc(self._expires),
            }
        )

    async def take(self) -> None:
        etag = await self._dest.put_if_absent(self.key, self._body())
        if etag is None:
            current = await self._dest.read_with_etag(self.key)
            if current is not None:
                body, current_etag = current
                if _run_id(body) == self._run_id:
                    # Our own PUT, applied before its answer was lost and retried: ours.
                    self._etag = current_etag
                    return
                expires, holder = _expiry(body)
                if expires is not None and expires > datetime.now(UTC):
                    raise PeriodBusyError(
                        f"{self._where()} is leased by {holder} until {iso_utc(expires)}"
                    )
                log.warning(
                    "%s: taking over a lease that expired at %s (%s)",
                    self._where(),
                    iso_utc(expires) if expires else "an unreadable time",
                    holder,
                )
                if not await self._dest.delete_if_match(self.key, current_etag):
                    raise PeriodBusyError(f"{self._where()} was just leased by another replica")
            etag = await self._dest.put_if_absent(self.key, self._body())
            if etag is None:
                raise PeriodBusyError(f"{self._where()} was just leased by another replica")
        self._etag = etag
        log.info("%s: leased until %s", self._where(), iso_utc(self._expires))

    async def release(self) -> None:
        if self._etag is None:
            return
        try:
            await self._dest.delete_if_match(self.key, self._etag)
        except DeliveryError as exc:  # it expires on its own
            log.warning("%s: could not release the lease: %s", self._where(), exc)
        self._etag = None

    def _where(self) -> str:
        return f"s3://{self._dest.bucket}/{self.key}"


def _run_id(body: bytes) -> str | None:
    try:
        value = orjson.loads(body).get("run_id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return str(value) if value is not None else None


def _expiry(body: bytes) -> tuple[datetime | None, str]:
    try:
        document = orjson.loads(body)
        holder = f"run {document.get('run_id')} on {document.get('host')} pid {document.get('pid')}"
        return parse_instant(str(document["expires_at"])), holder
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None, "an unreadable lease"


def lease_key(prefix: str, report: str, label: str) -> str:
    return f"{prefix}.leases/{report}/{label}.lease"


@contextlib.asynccontextmanager
async def period_claim(
    state_directory: Path,
    report: str,
    label: str,
    *,
    run_id: str,
    run_timeout: timedelta,
    dest: Any | None = None,
    lease_margin: timedelta = LEASE_MARGIN,
) -> AsyncIterator[None]:
    """Both claims for the block: the lock file, then (in S3 mode) the lease."""
    with local_lock(state_directory, report, label):
        lease = None
        if dest is not None:
            lease = Lease(
                dest,
                lease_key(dest.settings.prefix, report, label),
                run_id=run_id,
                lifetime=run_timeout + lease_margin,
            )
            await lease.take()
        try:
            yield
        finally:
            if lease is not None:
                await lease.release()
