"""ministack, the S3 test server: start or reuse one, make IAM users and buckets for a test.

The server runs from its own virtual environment (.venv-s3), managed by scripts/s3-test-server,
with AUTH=true: SigV4 signatures, presigned-URL expiry, IAM policies, anonymous access and Block
Public Access are enforced for IAM users. The root key ("test"/"test", the admin credentials
here) is never checked on header-signed requests, so anything that must be refused has to be
signed with an IAM user's key from `create_user`.

If GR_S3_ENDPOINT is set (say by .ci/run), `session_server` uses that running server;
otherwise it starts one on a free 127.0.0.1 port and stops it at the end. A server that cannot
be started or reached raises `S3ServerUnavailable`: the tests fail, they are never skipped.

Observed on ministack 1.5.33 (tests/delivery/test_s3server.py pins each one):
- a presigned GET past X-Amz-Date + X-Amz-Expires: 403 AccessDenied "Request has expired";
  a changed signature, key or X-Amz-Expires: 403 SignatureDoesNotMatch; an X-Amz-Date more
  than 15 min ahead: 403 "Request is not yet valid"; X-Amz-Expires over 604800:
  400 AuthorizationQueryParametersError. Presigned URLs are checked for the root key too.
- a link is authorised when used, with the signer's policies at that moment: a detached policy
  gives 403 AccessDenied, a deleted access key 403 InvalidAccessKeyId.
- an anonymous request: 403 AccessDenied, unless Block Public Access is off and a bucket
  policy or an object ACL makes it public.
- new buckets have all four Block Public Access settings on and report AES256 default
  encryption (as AWS does since 2023); DeleteBucketEncryption leaves AES256 reported.
- GetBucketPolicyStatus is not implemented: it answers 200 with no IsPublic at all.
- PutObject does not echo x-amz-checksum-sha256 (a wrong one is refused, 400 BadDigest, and
  HeadObject with ChecksumMode=ENABLED reports it); SSE is echoed when asked for, or when the
  bucket's default encryption was PUT; a missing key is 404 even without s3:ListBucket.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import boto3  # type: ignore[import-untyped, unused-ignore]
import botocore.auth  # type: ignore[import-untyped, unused-ignore]
from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "s3-test-server"
ENDPOINT_ENV = "GR_S3_ENDPOINT"
REGION = "us-east-1"
READY_TIMEOUT = 60.0  # seconds: the bound on the script's readiness poll (0.2-0.3 s is usual)
INSTALL_TIMEOUT = 40.0  # seconds more for the first start, which installs .venv-s3 (about 8 s)
# Loopback only: never through a proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# Block Public Access, all four settings on: what every delivery bucket must have.
BLOCK_ALL: Mapping[str, bool] = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
BLOCK_NONE: Mapping[str, bool] = dict.fromkeys(BLOCK_ALL, False)

# The S3 actions the delivery is expected to need on its bucket; the README's smallest policy
# should list only what app/delivery really calls.
DELIVERY_ACTIONS: tuple[str, ...] = (
    "s3:PutObject",  # PutObject and CreateMultipartUpload / UploadPart / CompleteMultipartUpload
    "s3:AbortMultipartUpload",
    "s3:DeleteObject",  # a re-run removes the period's old manifest before replacing files
    "s3:GetObject",  # HeadObject, the presigned links and the ranged check of one
    "s3:GetObjectAcl",
    "s3:ListBucket",  # on AWS, without it a missing key answers 403, not 404 (ministack: 404)
    "s3:GetBucketPublicAccessBlock",
    "s3:GetBucketPolicyStatus",
    "s3:GetEncryptionConfiguration",
)


class S3ServerUnavailable(RuntimeError):
    """The S3 test server could not be started or reached."""


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    user_name: str = ""  # empty for the root key

    def as_kwargs(self) -> dict[str, str]:
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
        }


# ministack's root key: policies and header signatures are never checked for it.
ROOT = Credentials("test", "test")


@dataclass(frozen=True, slots=True)
class S3Server:
    endpoint: str
    region: str = REGION
    admin: Credentials = ROOT
    state_file: Path | None = None  # set when the tests started it (and must stop it)

    def client(self, service: str = "s3", credentials: Credentials | None = None) -> Any:
        """A boto3 client (SigV4, path-style, no retries) for the admin or given credentials."""
        creds = credentials or self.admin
        return _boto3_session().client(
            service,
            region_name=self.region,
            endpoint_url=self.endpoint,
            config=client_config(),
            **creds.as_kwargs(),
        )


@functools.cache
def _boto3_session() -> Any:
    """One session for every client: it caches the service models (a client is then ~10 ms)."""
    return boto3.session.Session()


def client_config() -> Any:
    """SigV4 always (botocore could fall back to SigV2 for a custom endpoint), path-style."""
    return Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
    )


# --------------------------------------------------------------------------- the server


def check_health(endpoint: str) -> dict[str, Any]:
    """The server's health document; S3ServerUnavailable unless it is ministack with AUTH=true."""
    try:
        with _OPENER.open(f"{endpoint}/_ministack/health", timeout=5) as response:
            health: dict[str, Any] = json.loads(response.read())
    except (OSError, ValueError) as error:
        raise S3ServerUnavailable(
            f"no ministack answers at {endpoint} ({error}); start one with "
            f"`scripts/s3-test-server start` or unset {ENDPOINT_ENV}"
        ) from error
    services = health.get("services", {})
    if health.get("auth") != "enabled" or "s3" not in services or "iam" not in services:
        raise S3ServerUnavailable(
            f"the server at {endpoint} cannot run the access-control tests: it needs AUTH=true "
            f"and the s3 and iam services (health: {health})"
        )
    return health


def _script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=READY_TIMEOUT + INSTALL_TIMEOUT,
    )


def start_server(port: int | None = None) -> S3Server:
    """Start a ministack of our own on 127.0.0.1 (a free port unless given); ready on return."""
    state_file = Path(tempfile.mkdtemp(prefix="gr-s3-")) / "server.json"
    args = ["start", "--state-file", str(state_file), "--timeout", str(READY_TIMEOUT)]
    try:
        result = _script(*args, *(["--port", str(port)] if port else []))
    except (OSError, subprocess.TimeoutExpired) as error:
        shutil.rmtree(state_file.parent, ignore_errors=True)
        raise S3ServerUnavailable(f"scripts/s3-test-server start failed: {error}") from error
    if result.returncode != 0:
        shutil.rmtree(state_file.parent, ignore_errors=True)
        raise S3ServerUnavailable(
            "could not start ministack (the S3 test server) with scripts/s3-test-server "
            f"(exit {result.returncode}):\n{result.stderr.strip()}"
        )
    endpoint = result.stdout.strip().splitlines()[-1]
    return S3Server(endpoint=endpoint, state_file=state_file)


def stop_server(server: S3Server) -> None:
    """Stop a server that `start_server` started; stopping twice is harmless."""
    if server.state_file is None:
        raise ValueError(f"{server.endpoint} was not started by these tests")
    result = _script("stop", "--state-file", str(server.state_file))
    shutil.rmtree(server.state_file.parent, ignore_errors=True)
    if result.returncode != 0:
        raise S3ServerUnavailable(f"could not stop {server.endpoint}: {result.stderr.strip()}")


@contextlib.contextmanager
def running_server(port: int | None = None) -> Iterator[S3Server]:
    """A ministack of our own for the block (a test may stop it early with `stop_server`)."""
    server = start_server(port)
    try:
        yield server
    finally:
        stop_server(server)


# The first failure to get the session's server, so that later tests fail at once with it.
_session_failure: list[S3ServerUnavailable] = []


@contextlib.contextmanager
def session_server() -> Iterator[S3Server]:
    """The server at $GR_S3_ENDPOINT if set, else one started here for the block.

    Once this has failed in a process, it fails again at once with the same message rather
    than trying (and waiting) again for every test.
    """
    if _session_failure:
        raise S3ServerUnavailable(f"(as before) {_session_failure[0]}")
    endpoint = os.environ.get(ENDPOINT_ENV, "").strip().rstrip("/")
    with contextlib.ExitStack() as stack:
        try:
            if endpoint:
                check_health(endpoint)
                server = S3Server(endpoint=endpoint)
            else:
                server = stack.enter_context(running_server())
                check_health(server.endpoint)
        except S3ServerUnavailable as error:
            _session_failure.append(error)
            raise
        yield server


# --------------------------------------------------------------------------- users and buckets


def storage_section(directory: Path, server: S3Server, bucket: str, **s3: Any) -> dict[str, Any]:
    """A settings file's ``storage`` for delivery to ``bucket``, the credentials taken from
    ``GR_TEST_KEY`` and ``GR_TEST_SECRET`` (a CLI run's environment), never the file."""
    return {
        "kind": "s3",
        "directory": str(directory),
        "s3": {
            "bucket": bucket,
            "region": server.region,
            "endpoint_url": server.endpoint,
            "access_key_id": "${GR_TEST_KEY}",
            "secret_access_key": "${GR_TEST_SECRET}",
            **s3,
        },
    }


def unique_name(prefix: str) -> str:
    """A fresh name, valid for a bucket or an IAM user (lower case, 3-63 characters)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def bucket_policy(bucket: str, actions: Iterable[str] = DELIVERY_ACTIONS) -> dict[str, Any]:
    """An identity policy allowing `actions` on the bucket and its objects, nothing else."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": sorted(actions),
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            }
        ],
    }


def create_user(
    server: S3Server,
    policy: Mapping[str, Any] | None,
    *,
    name: str | None = None,
    managed: bool = False,
) -> Credentials:
    """A new IAM user with an access key and the policy (inline, or managed and attached)."""
    user = name or unique_name("gr-user")
    iam = server.client("iam")
    try:
        iam.create_user(UserName=user)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        if policy is not None:
            document = json.dumps(policy)
            if managed:
                arn = iam.create_policy(PolicyName=f"{user}-policy", PolicyDocument=document)
                iam.attach_user_policy(UserName=user, PolicyArn=arn["Policy"]["Arn"])
            else:
                iam.put_user_policy(UserName=user, PolicyName="s3", PolicyDocument=document)
    finally:
        iam.close()
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"], user_name=user)


def create_bucket(
    server: S3Server,
    name: str | None = None,
    *,
    public_access_block: Mapping[str, bool] | None = BLOCK_ALL,
    encryption: str | None = "AES256",
    kms_key_id: str | None = None,
    public_read_policy: bool = False,
) -> str:
    """A new bucket, set up by the admin.

    `public_access_block=None` deletes the bucket's Block Public Access configuration (GET then
    answers 404 NoSuchPublicAccessBlockConfiguration); a mapping sets those values.
    `encryption` sets default encryption ("AES256" or "aws:kms" with `kms_key_id`); None
    deletes it, though ministack, like AWS, still reports AES256. `public_read_policy` adds a
    bucket policy that lets anyone GET objects (needs BlockPublicPolicy off).
    """
    bucket = name or unique_name("gr-bucket")
    s3 = server.client("s3")
    try:
        s3.create_bucket(Bucket=bucket)
        if public_access_block is None:
            s3.delete_public_access_block(Bucket=bucket)
        else:
            config = {**BLOCK_NONE, **public_access_block}
            s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=config)
        if encryption is None:
            s3.delete_bucket_encryption(Bucket=bucket)
        else:
            default: dict[str, str] = {"SSEAlgorithm": encryption}
            if kms_key_id:
                default["KMSMasterKeyID"] = kms_key_id
            s3.put_bucket_encryption(
                Bucket=bucket,
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": default}]
                },
            )
        if public_read_policy:
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(public_read(bucket)))
    finally:
        s3.close()
    return bucket


def public_read(bucket: str) -> dict[str, Any]:
    """A bucket policy that lets anyone read every object."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }


# --------------------------------------------------------------------------- links and requests


@contextlib.contextmanager
def signing_clock(at: dt.datetime) -> Iterator[None]:
    """Sign as if the time were `at` (SigV4 takes X-Amz-Date from botocore.auth's clock).

    An expired link, without waiting: presign inside this block with a past `at`. It also
    applies to aiobotocore clients, which sign with botocore.auth.
    """
    naive_utc = at.astimezone(dt.UTC).replace(tzinfo=None)
    with mock.patch.object(botocore.auth, "get_current_datetime", lambda *_, **__: naive_utc):
        yield


def presign_get(
    server: S3Server,
    credentials: Credentials,
    bucket: str,
    key: str,
    *,
    expires_in: int = 300,
    signed_at: dt.datetime | None = None,
) -> str:
    """A SigV4 presigned GET URL for the object, signed now or at `signed_at`."""
    s3 = server.client("s3", credentials)
    try:
        with signing_clock(signed_at) if signed_at else contextlib.nullcontext():
            url: str = s3.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in
            )
    finally:
        s3.close()
    return url


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes
    headers: Mapping[str, str]  # names in lower case

    @property
    def error_code(self) -> str:
        """The S3 error's <Code>, or "" when the body is not an S3 error."""
        try:
            return ElementTree.fromstring(self.body).findtext("Code") or ""  # noqa: S314 (our server)
        except ElementTree.ParseError:
            return ""

    @property
    def error_message(self) -> str:
        try:
            return ElementTree.fromstring(self.body).findtext("Message") or ""  # noqa: S314
        except ElementTree.ParseError:
            return ""


def http_request(
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
) -> HttpResponse:
    """A plain, unsigned HTTP request (a browser following a link); any status is returned."""
    if not url.startswith(("http://127.", "http://localhost", "http://[::1]")):
        raise ValueError(f"not a loopback URL: {url}")
    request = urllib.request.Request(url, data=data, headers=dict(headers or {}), method=method)  # noqa: S310
    try:
        with _OPENER.open(request, timeout=30) as response:
            return HttpResponse(response.status, response.read(), _lower(response.headers))
    except urllib.error.HTTPError as error:
        with error:
            return HttpResponse(error.code, error.read(), _lower(error.headers))


def _lower(headers: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
