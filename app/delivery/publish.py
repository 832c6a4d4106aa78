"""Deliver a finished report: upload its files, link them, check access, manifest last.

Order matters because the manifest at its deterministic key means "this period is done":
1. bucket checks (once per run, before the first upload);
2. an existing remote manifest is deleted (a re-run must not look done while it replaces files);
3. each file is uploaded with its SHA-256 (S3 verifies it), presigned, and checked (private, no
   anonymous access, the link works);
4. the manifest, extended with keys, links and their expiry, is uploaded last, and the local one
   rewritten to match.
Any failure raises ``DeliveryError``: no remote manifest exists then, and the local copies stay.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiofiles
import aiofiles.os
import aiohttp
import orjson

from app.delivery.checks import (
    Check,
    bucket_checks,
    dataset_object_checks,
    enforce,
    object_checks,
)
from app.delivery.keys import dataset_key, object_key
from app.delivery.s3 import S3Destination
from app.errors import DeliveryError
from app.models import LocalFile, iso_utc
from app.pipeline.export import MANIFEST_NAME, replace_file
from app.settings import DATASET_TABLES, S3Settings

log = logging.getLogger(__name__)


@dataclass(slots=True)
class DeliveryRun:
    """What one run shares across its reports: the bucket checks are made once."""

    dest: S3Destination
    http: aiohttp.ClientSession
    bucket_checks: list[Check] | None = None
    warnings: list[str] = field(default_factory=list)


def report_key(settings: S3Settings, report: str, period: str, file: str) -> str:
    """The object key of one file of a report's period, by ``storage.s3.key_template``."""
    try:
        return object_key(
            settings.key_template, prefix=settings.prefix, report=report, period=period, file=file
        )
    except ValueError as exc:
        raise DeliveryError(f"storage.s3.key_template: {exc}") from None


async def _first_byte(path: Path) -> bytes:
    async with aiofiles.open(path, "rb") as handle:
        return bytes(await handle.read(1))


async def deliver(
    run: DeliveryRun,
    *,
    report: str,
    period_label: str,
    run_id: str,
    files: Sequence[LocalFile],
    manifest: Mapping[str, Any],
    manifest_path: Path,
    link_expiry: timedelta | None = None,
) -> dict[str, Any]:
    """Upload, link, check; returns the delivered manifest (also written over the local one)."""
    dest, settings = run.dest, run.dest.settings
    expiry = link_expiry or settings.presign_expiry
    local_dir = manifest_path.parent
    try:
        if run.bucket_checks is None:
            run.bucket_checks = await bucket_checks(dest)
        enforce(run.bucket_checks, settings.access_checks, dest.bucket)
        manifest_key = report_key(settings, report, period_label, MANIFEST_NAME)
        if await dest.exists(manifest_key):
            await dest.delete(manifest_key)
        metadata = {"report": report, "period": period_label, "run-id": run_id}
        delivered_files: list[dict[str, Any]] = []
        object_results: list[Check] = []
        for local in files:
            key = report_key(settings, report, period_label, local.name)
            uploaded = await dest.upload(local.path, key, metadata=metadata)
            if uploaded.sha256 != local.sha256:
                raise DeliveryError(
                    f"{local.path} changed while uploading (sha256 {uploaded.sha256} is not the "
                    f"{local.sha256} the manifest lists)"
                )
            # Taken before signing, so the recorded expiry is never later than the real one.
            expires_at = datetime.now(UTC) + expiry
            try:
                url = await dest.presign(key, expiry)
                first = await _first_byte(local.path)
                checks = await object_checks(dest, key, url, first, run.http)
                enforce(checks, settings.access_checks, dest.bucket)
            except BaseException:
                # An object that may be readable by others (its checks failed, or could not
                # finish) must not stay behind.
                for uploaded_key in [*(f["key"] for f in delivered_files), key]:
                    with contextlib.suppress(DeliveryError):
                        await dest.delete(uploaded_key)
                raise
            object_results.extend(checks)
            delivered_files.append(
                {
                    "format": local.format,
                    "name": local.name,
                    "rows": local.rows,
                    "bytes": local.bytes,
                    "sha256": local.sha256,
                    "key": key,
                    "url": url,
                    "url_expires_at": iso_utc(expires_at),
                }
            )
        dataset = manifest.get("dataset")
        if dataset:
            dataset = await _deliver_dataset(run, dataset, report, period_label, metadata)
        document = {
            **manifest,
            **({"dataset": dataset} if dataset else {}),
            "files": delivered_files,
            "delivery": {
                "bucket": dest.bucket,
                "manifest_key": manifest_key,
                "link_expiry_seconds": int(expiry.total_seconds()),
                "checks": [c.as_dict() for c in [*run.bucket_checks, *object_results]],
            },
        }
        body = _manifest_bytes(document)
        await dest.put_bytes(manifest_key, body, metadata=metadata)
    except DeliveryError as error:
        # The local manifest would say "done" for a period S3 does not have: remove it, keep
        # the data files.
        with contextlib.suppress(FileNotFoundError):
            await aiofiles.os.remove(manifest_path)
        raise DeliveryError(
            f"{error}; the local copies are kept in {local_dir} (without a manifest)"
        ) from error
    await _rewrite_local(manifest_path, body)
    log.info("delivered %d files to s3://%s/%s", len(files), dest.bucket, manifest_key)
    return document


async def _deliver_dataset(
    run: DeliveryRun,
    local: Mapping[str, Any],
    report: str,
    label: str,
    metadata: Mapping[str, str],
) -> dict[str, Any]:
    """store.py's order, in S3: the period's remote dataset manifest is removed first (while
    its files are replaced it must not vouch for them), then the run's files go up, each with
    its SHA-256 and checked (private, no anonymous access; there are no links), then the
    previous run's files this one did not write are removed, then the manifest goes up last."""
    dest, settings = run.dest, run.dest.settings
    prefix = settings.dataset_key_prefix
    root = Path(local["directory"])
    try:
        manifest_key = dataset_key(prefix, str(local["manifest"]))
        keys = {entry["path"]: dataset_key(prefix, entry["path"]) for entry in local["files"]}
    except ValueError as exc:
        raise DeliveryError(f"storage.s3.dataset_prefix: {exc}") from None
    body = await dest.read(manifest_key)
    previous = _previous_keys(body, prefix, report, label, manifest_key)
    if body is not None:
        await dest.delete(manifest_key)
    delivered = []
    for entry in local["files"]:
        key, path = keys[entry["path"]], root / entry["path"]
        uploaded = await dest.upload(path, key, metadata=metadata)
        if uploaded.sha256 != entry["sha256"]:
            raise DeliveryError(
                f"{path} changed while uploading (sha256 {uploaded.sha256} is not the "
                f"{entry['sha256']} the dataset manifest lists)"
            )
        try:
            checks = await dataset_object_checks(dest, key, run.http)
            enforce(checks, settings.access_checks, dest.bucket)
        except BaseException:
            with contextlib.suppress(DeliveryError):
                await dest.delete(key)
            raise
        delivered.append({**entry, "key": key})
    for stale in sorted((previous or set()) - set(keys.values())):
        await dest.delete(stale)
    async with aiofiles.open(root / local["manifest"], "rb") as handle:
        await dest.put_bytes(manifest_key, await handle.read(), metadata=metadata)
    log.info("delivered %d dataset files to s3://%s/%s", len(delivered), dest.bucket, prefix)
    return {
        **local,
        "bucket": dest.bucket,
        "prefix": prefix,
        "manifest_key": manifest_key,
        "files": delivered,
    }


def _previous_keys(
    body: bytes | None, prefix: str, report: str, label: str, where: str
) -> set[str] | None:
    """The keys the period's previous remote dataset manifest lists, only those that are this
    period's own files by name (a manifest cannot make a run delete anything else); None when
    there is none, empty with a warning when it cannot be read."""
    if body is None:
        return None
    own = re.compile(
        rf"(?:{'|'.join(DATASET_TABLES)})/date=\d{{4}}-\d{{2}}-\d{{2}}/"
        rf"{re.escape(report)}_{re.escape(label)}\.parquet"
    )
    try:
        paths = [str(entry["path"]) for entry in orjson.loads(body)["files"]]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        log.warning("s3://…/%s is not a dataset manifest (%s): no stale files removed", where, exc)
        return set()
    keys = set()
    for path in paths:
        if own.fullmatch(path):
            keys.add(dataset_key(prefix, path))
        else:
            log.warning("%s lists %r, not a file of this period: left alone", where, path)
    return keys


async def amend_manifest(
    run: DeliveryRun | None, manifest_path: Path, manifest: dict[str, Any], **additions: Any
) -> dict[str, Any]:
    """Add entries (notification results) to a committed manifest, local and remote."""
    document = {**manifest, **additions}
    body = _manifest_bytes(document)
    key = document.get("delivery", {}).get("manifest_key")
    if run is not None and key:
        await run.dest.put_bytes(
            key,
            body,
            metadata={"report": str(document.get("report")), "run-id": str(document.get("run_id"))},
        )
    await _rewrite_local(manifest_path, body)
    return document


def _manifest_bytes(document: Mapping[str, Any]) -> bytes:
    """One spelling of a manifest, local and remote (indented: people read it too)."""
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"


async def _rewrite_local(path: Path, body: bytes) -> None:
    await replace_file(path, body)


__all__ = ["DeliveryRun", "amend_manifest", "deliver"]
