"""Every S3 call of the program lives here (aioboto3 pins its own botocore; one place to adapt).

One client per process, created inside the running loop. Uploads carry a content type, a
download ``Content-Disposition``, server-side encryption, metadata, and a SHA-256 checksum that
S3 verifies on receipt; large files go up in parts, each with its own checksum. Links are SigV4
presigned GETs. botocore errors become ``DeliveryError`` here, naming the bucket, the key and
what was being done.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aioboto3
import aiofiles
import aiofiles.os
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from app.errors import DeliveryError
from app.redact import REDACTOR, without_urls
from app.settings import S3Settings

log = logging.getLogger(__name__)

PART_SIZE = 16 * 1024 * 1024  # files above this go up in parts of this size
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "ndjson": "application/x-ndjson",
    "html": "text/html; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "parquet": "application/vnd.apache.parquet",
}
# Opened in the browser from its link rather than downloaded.
INLINE_EXTENSIONS = frozenset({"html"})


def content_disposition(name: str) -> str:
    """``inline`` for a page the link should open, ``attachment`` (a download) otherwise."""
    kind = "inline" if name.rsplit(".", 1)[-1] in INLINE_EXTENSIONS else "attachment"
    return f'{kind}; filename="{name}"'


def content_type(name: str) -> str:
    """The Content-Type of an export. Gzipped files are served as gzip files to download (no
    Content-Encoding), so browsers do not silently inflate them and break the checksum."""
    if name.endswith(".gz"):
        return "application/gzip"
    return CONTENT_TYPES.get(name.rsplit(".", 1)[-1], "application/octet-stream")


def error_code(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "Unknown"))
    return type(error).__name__


@dataclass(frozen=True, slots=True)
class Uploaded:
    key: str
    sha256: str
    bytes: int
    version_id: str | None = None


class _Deadlines:
    """The S3 client with a total deadline on every call: botocore bounds each attempt's
    connect and read, not a call that keeps retrying or trickling, so one stuck call could
    otherwise hold a run (and the period) for ever."""

    def __init__(self, client: Any, seconds: float, bucket: str) -> None:
        self._client = client
        self._seconds = seconds
        self._bucket = bucket

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        async def call(*args: Any, **kwargs: Any) -> Any:
            try:
                async with asyncio.timeout(self._seconds):
                    return await attribute(*args, **kwargs)
            except TimeoutError:
                key = kwargs.get("Key")
                where = f"s3://{self._bucket}/{key}" if key else f"bucket {self._bucket}"
                raise DeliveryError(
                    f"S3 {name} of {where} took longer than storage.s3.call_timeout "
                    f"({self._seconds:.0f} s)"
                ) from None

        return call


class S3Destination:
    """Thin, typed wrapper over one aioboto3 S3 client."""

    def __init__(self, client: Any, settings: S3Settings) -> None:
        self._s3 = _Deadlines(client, settings.call_timeout.total_seconds(), settings.bucket)
        self.settings = settings
        self.bucket = settings.bucket

    def where(self, key: str) -> str:
        """How errors name an object: bucket and key, never a URL."""
        return f"s3://{self.bucket}/{key}"

    def _fail(self, action: str, key: str | None, error: Exception) -> DeliveryError:
        where = self.where(key) if key else f"bucket {self.bucket}"
        detail = REDACTOR(without_urls(str(error)))
        return DeliveryError(f"{action} {where} failed ({error_code(error)}): {detail}")

    def _encryption(self) -> dict[str, str]:
        args: dict[str, str] = {"ServerSideEncryption": self.settings.server_side_encryption}
        if self.settings.kms_key_id:
            args["SSEKMSKeyId"] = self.settings.kms_key_id
        return args

    async def upload(self, path: Path, key: str, *, metadata: Mapping[str, str]) -> Uploaded:
        extra: dict[str, Any] = {
            "ContentType": content_type(path.name),
            "ContentDisposition": content_disposition(path.name),
            "Metadata": dict(metadata),
            **self._encryption(),
        }
        size = (await aiofiles.os.stat(path)).st_size
        try:
            if size <= PART_SIZE:
                return await self._put(path, key, extra)
            return await self._multipart(path, key, extra)
        except (ClientError, BotoCoreError) as error:
            raise self._fail("uploading", key, error) from error

    async def _put(self, path: Path, key: str, extra: dict[str, Any]) -> Uploaded:
        async with aiofiles.open(path, "rb") as handle:
            body = await handle.read()
        digest = hashlib.sha256(body)
        response = await self._s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=base64.b64encode(digest.digest()).decode(),
            **extra,
        )
        return Uploaded(key, digest.hexdigest(), len(body), response.get("VersionId"))

    async def _multipart(self, path: Path, key: str, extra: dict[str, Any]) -> Uploaded:
        created = await self._s3.create_multipart_upload(
            Bucket=self.bucket, Key=key, ChecksumAlgorithm="SHA256", **extra
        )
        upload_id = created["UploadId"]
        whole = hashlib.sha256()
        parts, size = [], 0
        try:
            async with aiofiles.open(path, "rb") as handle:
                number = 0
                while chunk := await handle.read(PART_SIZE):
                    number += 1
                    whole.update(chunk)
                    size += len(chunk)
                    checksum = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
                    part = await self._s3.upload_part(
                        Bucket=self.bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=chunk,
                        ChecksumAlgorithm="SHA256",
                        ChecksumSHA256=checksum,
                    )
                    parts.append(
                        {"ETag": part["ETag"], "PartNumber": number, "ChecksumSHA256": checksum}
                    )
            response = await self._s3.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            with contextlib.suppress(ClientError, BotoCoreError, DeliveryError):
                await self._s3.abort_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload_id
                )
            raise
        return Uploaded(key, whole.hexdigest(), size, response.get("VersionId"))

    async def put_bytes(self, key: str, body: bytes, *, metadata: Mapping[str, str]) -> None:
        """A small object written in one request (the manifest)."""
        try:
            await self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                Metadata=dict(metadata),
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=base64.b64encode(hashlib.sha256(body).digest()).decode(),
                **self._encryption(),
            )
        except (ClientError, BotoCoreError) as error:
            raise self._fail("uploading", key, error) from error

    async def exists(self, key: str) -> bool:
        try:
            await self._s3.head_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as error:
            if _missing(error):
                return False
            raise self._fail("checking", key, error) from error
        return True

    async def read(self, key: str) -> bytes | None:
        """A small object's bytes (a manifest), or None when there is no such object."""
        try:
            response = await self._s3.get_object(Bucket=self.bucket, Key=key)
            async with response["Body"] as body:
                return bytes(await body.read())
        except (ClientError, BotoCoreError) as error:
            if _missing(error):
                return None
            raise self._fail("reading", key, error) from error

    async def put_if_absent(self, key: str, body: bytes) -> str | None:
        """Create a small object only if there is none (``If-None-Match: *``): its ETag, or
        None when one exists already."""
        try:
            response = await self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                IfNoneMatch="*",
                ContentType="application/json",
                **self._encryption(),
            )
        except (ClientError, BotoCoreError) as error:
            if error_code(error) in _PRECONDITION:
                return None
            raise self._fail("creating", key, error) from error
        return str(response.get("ETag", ""))

    async def read_with_etag(self, key: str) -> tuple[bytes, str] | None:
        """A small object's bytes and ETag, or None when there is no such object."""
        try:
            response = await self._s3.get_object(Bucket=self.bucket, Key=key)
            async with response["Body"] as body:
                return bytes(await body.read()), str(response.get("ETag", ""))
        except (ClientError, BotoCoreError) as error:
            if _missing(error):
                return None
            raise self._fail("reading", key, error) from error

    async def delete_if_match(self, key: str, etag: str) -> bool:
        """Delete the object only if it is still the one with ``etag``; False when it is not
        (or is gone)."""
        try:
            await self._s3.delete_object(Bucket=self.bucket, Key=key, IfMatch=etag)
        except (ClientError, BotoCoreError) as error:
            if error_code(error) in _PRECONDITION or _missing(error):
                return False
            raise self._fail("deleting", key, error) from error
        return True

    async def delete(self, key: str) -> None:
        try:
            await self._s3.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as error:
            raise self._fail("deleting", key, error) from error

    async def presign(self, key: str, expires: timedelta) -> str:
        try:
            url = await self._s3.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": key},
                ExpiresIn=int(expires.total_seconds()),
            )
        except (ClientError, BotoCoreError) as error:
            raise self._fail("presigning", key, error) from error
        return str(url)

    def object_url(self, key: str) -> str:
        """The plain (unsigned) URL of an object, for the anonymous-access check."""
        endpoint = str(self._s3.meta.endpoint_url).rstrip("/")
        # Quoted: S3 reads a raw "+" in a path as a space, which would ask for another key.
        return f"{endpoint}/{self.bucket}/{quote(key, safe='/')}"

    # --- bucket state for the access checks ---------------------------------------------

    async def call(self, operation: str, **params: Any) -> dict[str, Any] | str:
        """A read-only bucket call: the response, or the S3 error code as a string."""
        try:
            response = await getattr(self._s3, operation)(Bucket=self.bucket, **params)
        except ClientError as error:
            return error_code(error)
        except BotoCoreError as error:
            raise self._fail(operation, params.get("Key"), error) from error
        return dict(response)


S3_ATTEMPTS = 6
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})


_PRECONDITION = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict"})


def _missing(error: ClientError | BotoCoreError) -> bool:
    return isinstance(error, ClientError) and error_code(error) in _NOT_FOUND


def client_config() -> Config:
    # SigV4 always: with a custom endpoint botocore may otherwise fall back to SigV2 links.
    # Path-style addressing works with every S3-compatible server; "standard" retries back off
    # (jittered, doubling, at most 20 s) on SlowDown/503 throttling, 500s and resets, for at
    # most S3_ATTEMPTS attempts in all (botocore's max_attempts would count retries only).
    return Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"total_max_attempts": S3_ATTEMPTS, "mode": "standard"},
        connect_timeout=10,
        read_timeout=60,
    )


@contextlib.asynccontextmanager
async def open_s3(settings: S3Settings) -> AsyncIterator[S3Destination]:
    """The process's S3 client for ``settings``, made inside the running loop."""
    credentials: dict[str, str] = {}
    secret = settings.secret()
    if settings.access_key_id and secret is not None:
        credentials = {
            "aws_access_key_id": settings.access_key_id,
            "aws_secret_access_key": secret.get_secret_value(),
        }
        REDACTOR.add(credentials["aws_secret_access_key"])
    session = aioboto3.Session()
    async with session.client(
        "s3",
        region_name=settings.region,
        endpoint_url=settings.endpoint_url,
        config=client_config(),
        **credentials,
    ) as client:
        yield S3Destination(client, settings)
