"""Access-control checks: the link works, and nothing else does.

Bucket checks run before the first upload of a run (and are cached for it); object checks run on
every uploaded object. Each check has a name and a message; ``storage.s3.access_checks`` decides
whether a failed one stops the delivery (``error``, the default) or is logged (``warn``). A check
the server cannot answer (some S3-compatible servers do not report policy status) is reported as
not verified, never as passed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from app.delivery.s3 import S3Destination
from app.errors import DeliveryError
from app.redact import REDACTOR, without_urls

log = logging.getLogger(__name__)

Outcome = Literal["passed", "failed", "not verified"]
_PUBLIC_GROUPS = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)
_CHECK_ATTEMPTS = 5
_BLOCK_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    outcome: Outcome
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "outcome": self.outcome, "detail": self.detail}


async def bucket_checks(dest: S3Destination) -> list[Check]:
    return [
        await _block_public_access(dest),
        await _policy_not_public(dest),
        await _encryption(dest),
    ]


async def _block_public_access(dest: S3Destination) -> Check:
    name = "block_public_access"
    response = await dest.call("get_public_access_block")
    if isinstance(response, str):
        if response == "NoSuchPublicAccessBlockConfiguration":
            return Check(name, "failed", f"bucket {dest.bucket} has no Block Public Access")
        return Check(name, "failed", f"cannot read Block Public Access ({response})")
    config = response.get("PublicAccessBlockConfiguration", {})
    off = [flag for flag in _BLOCK_FLAGS if not config.get(flag)]
    if off:
        return Check(name, "failed", f"bucket {dest.bucket} has {', '.join(off)} off")
    return Check(name, "passed", "all four Block Public Access settings are on")


async def _policy_not_public(dest: S3Destination) -> Check:
    name = "policy_not_public"
    response = await dest.call("get_bucket_policy_status")
    if isinstance(response, str):
        if response == "NoSuchBucketPolicy":
            return Check(name, "passed", "the bucket has no policy")
        return Check(name, "not verified", f"the server does not report policy status ({response})")
    public = response.get("PolicyStatus", {}).get("IsPublic")
    if public is None:
        return Check(name, "not verified", "the server does not report policy status")
    if public:
        return Check(name, "failed", f"bucket {dest.bucket}'s policy makes it public")
    return Check(name, "passed", "the bucket policy is not public")


async def _encryption(dest: S3Destination) -> Check:
    name = "encryption"
    forced = dest.settings.server_side_encryption
    response = await dest.call("get_bucket_encryption")
    if isinstance(response, dict):
        rules = response.get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
        if rules:
            return Check(
                name, "passed", f"default encryption is on; every object also sets {forced}"
            )
    # Every upload sets ServerSideEncryption itself, so objects are encrypted either way.
    return Check(
        name, "passed", f"no default encryption, but every object is uploaded with {forced}"
    )


async def object_checks(
    dest: S3Destination, key: str, link: str, first_byte: bytes, http: aiohttp.ClientSession
) -> list[Check]:
    return [
        await _object_private(dest, key),
        await _anonymous_refused(dest, key, http),
        await _link_works(dest, key, link, first_byte, http),
    ]


async def dataset_object_checks(
    dest: S3Destination, key: str, http: aiohttp.ClientSession
) -> list[Check]:
    """A dataset file has no link (engines read it with their own role): private, and not
    readable anonymously."""
    return [await _object_private(dest, key), await _anonymous_refused(dest, key, http)]


async def _object_private(dest: S3Destination, key: str) -> Check:
    name = "object_private"
    response = await dest.call("get_object_acl", Key=key)
    if isinstance(response, str):
        return Check(name, "not verified", f"cannot read the ACL of {key} ({response})")
    grants = response.get("Grants", [])
    public = [g for g in grants if g.get("Grantee", {}).get("URI") in _PUBLIC_GROUPS]
    if public:
        return Check(name, "failed", f"{key} is readable by everyone (a public ACL grant)")
    return Check(name, "passed", "no public ACL grant")


async def _status(http: aiohttp.ClientSession, url: str, **options: Any) -> tuple[int, bytes]:
    """A GET's status and body; a throttled or failing server (5xx, resets, timeouts) is asked
    again a few times, as every other S3 call is, before the check gives up."""
    async for attempt in AsyncRetrying(
        stop=stop_after_attempt(_CHECK_ATTEMPTS),
        wait=wait_random_exponential(multiplier=0.2, max=2),
        retry=retry_if_exception_type(_Transient),
        reraise=True,
    ):
        with attempt:
            try:
                async with http.get(
                    url, timeout=aiohttp.ClientTimeout(total=30), **options
                ) as response:
                    status, body = response.status, await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                # aiohttp puts the whole URL in some of its messages ("Connection timeout to
                # host http://...?X-Amz-Signature=..."): a link is a credential, so the error
                # names the kind of failure and the caller names bucket and key.
                reason = REDACTOR(without_urls(str(exc)))
                raise _Transient(
                    f"could not reach the server: {type(exc).__name__}"
                    + (f" ({reason})" if reason else "")
                ) from None
            if status >= 500:
                raise _Transient(f"the server answered HTTP {status}")
            return status, body
    raise AssertionError("unreachable")  # pragma: no cover


class _Transient(Exception):
    pass


async def _checked_status(
    http: aiohttp.ClientSession, url: str, name: str, where: str, **options: Any
) -> tuple[int, bytes]:
    try:
        return await _status(http, url, **options)
    except _Transient as exc:
        raise DeliveryError(f"check {name} of {where}: {exc}") from None


async def _anonymous_refused(dest: S3Destination, key: str, http: aiohttp.ClientSession) -> Check:
    name = "anonymous_get_refused"
    status, _ = await _checked_status(
        http, dest.object_url(key), name, dest.where(key), allow_redirects=False
    )
    if status in {401, 403}:
        return Check(name, "passed", f"an anonymous GET gets {status}")
    # A 404 would mean the check asked for the wrong object, proving nothing.
    return Check(
        name, "failed", f"an anonymous GET of {dest.where(key)} got HTTP {status}, not 403"
    )


async def _link_works(
    dest: S3Destination, key: str, link: str, first_byte: bytes, http: aiohttp.ClientSession
) -> Check:
    name = "presigned_link_works"
    # A presigned link is answered where it points; a redirect would carry it to another host.
    status, body = await _checked_status(
        http, link, name, dest.where(key), headers={"Range": "bytes=0-0"}, allow_redirects=False
    )
    if status in {200, 206} and body[:1] == first_byte:
        return Check(name, "passed", f"the link serves {key} (HTTP {status})")
    return Check(name, "failed", f"the presigned link of {dest.where(key)} got HTTP {status}")


def enforce(checks: Sequence[Check], mode: str, bucket: str) -> None:
    """Raise on failed checks when ``mode`` is ``error``; log them otherwise."""
    failed = [c for c in checks if c.outcome == "failed"]
    for check in checks:
        if check.outcome == "not verified":
            log.warning(
                "s3 check %s on bucket %s not verified: %s", check.name, bucket, check.detail
            )
    if not failed:
        return
    summary = "; ".join(f"{c.name}: {c.detail}" for c in failed)
    if mode == "error":
        raise DeliveryError(
            f"bucket {bucket} failed access-control checks, nothing more is uploaded: {summary} "
            "(storage.s3.access_checks: warn goes ahead with a warning)"
        )
    log.warning(
        "bucket %s failed access-control checks (going ahead, access_checks: warn): %s",
        bucket,
        summary,
    )
