"""ministack does what the delivery tests need it to do: each check a real S3 would make.

Every request that must be refused is signed with an IAM user's key (or none at all): the root
key is trusted without a signature check (test_root_key_skips_header_signature_checks). These
tests also pin where ministack 1.5.33 is not AWS (no GetBucketPolicyStatus, no checksum echoed
by PutObject, 404 for a missing key without s3:ListBucket), so an upgrade that changes it shows.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
import os
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aioboto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError  # type: ignore[import-untyped, unused-ignore]

from tests.s3server import (
    BLOCK_ALL,
    BLOCK_NONE,
    ROOT,
    Credentials,
    S3Server,
    bucket_policy,
    check_health,
    client_config,
    create_bucket,
    create_user,
    http_request,
    presign_get,
    public_read,
    running_server,
    sha256_hex,
    signing_clock,
    stop_server,
    unique_name,
)

KEY = "reports/daily-summary/2024-05-01/summary.csv"
WEEK = 7 * 24 * 3600


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def refusal(error: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response: dict[str, Any] = error.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def upload(server: S3Server, credentials: Credentials, bucket: str, key: str, data: bytes) -> Any:
    """PutObject as the delivery will: content type, disposition, SHA-256, SSE, metadata."""
    s3 = server.client("s3", credentials)
    try:
        return s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=data,
            ContentType="text/csv",
            ContentDisposition='attachment; filename="summary.csv"',
            ChecksumSHA256=sha256_b64(data),
            ServerSideEncryption="AES256",
            Metadata={"report": "daily-summary", "period": "2024-05-01"},
        )
    finally:
        s3.close()


def two_hours_ago() -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)


@pytest.fixture
def data() -> bytes:
    return os.urandom(200_000)


@pytest.fixture
def uploaded(s3_server: S3Server, s3_bucket: str, s3_user: Credentials, data: bytes) -> str:
    upload(s3_server, s3_user, s3_bucket, KEY, data)
    return KEY


# --------------------------------------------------------------------------- the server


def test_the_server_is_ministack_with_auth(s3_server: S3Server) -> None:
    health = check_health(s3_server.endpoint)
    assert health["auth"] == "enabled"
    assert {"s3", "iam"} <= set(health["services"])
    assert health["version"] == "1.5.33"


def test_requests_are_signed_as_the_iam_user(s3_server: S3Server, s3_user: Credentials) -> None:
    sts = s3_server.client("sts", s3_user)
    try:
        identity = sts.get_caller_identity()
    finally:
        sts.close()
    assert identity["Arn"].endswith(f":user/{s3_user.user_name}")


def test_a_dedicated_server_can_be_stopped_mid_test() -> None:
    with running_server() as server:
        bucket = create_bucket(server)
        stop_server(server)
        s3 = server.client("s3")
        try:
            with pytest.raises(EndpointConnectionError):
                s3.head_bucket(Bucket=bucket)
        finally:
            s3.close()


# --------------------------------------------------------------------------- presigned links


def test_presigned_link_downloads_exactly_the_uploaded_bytes(
    s3_server: S3Server, s3_bucket: str, s3_user: Credentials, uploaded: str, data: bytes
) -> None:
    url = presign_get(s3_server, s3_user, s3_bucket, uploaded, expires_in=900)

    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Credential"][0].startswith(f"{s3_user.access_key_id}/")
    assert query["X-Amz-Expires"] == ["900"]
    response = http_request(url)
    assert response.status == 200
    assert sha256_hex(response.body) == sha256_hex(data)
    assert response.headers["content-disposition"] == 'attachment; filename="summary.csv"'
    assert response.headers["content-type"] == "text/csv"
    assert response.headers["x-amz-server-side-encryption"] == "AES256"

    first_byte = http_request(url, headers={"Range": "bytes=0-0"})
    assert (first_byte.status, first_byte.body) == (206, data[:1])


@pytest.mark.parametrize("key", ["a b/c+d=e.csv", "ünï/çödé.csv", "x/y~z_(1).csv"])
def test_presigned_link_for_an_awkward_key(
    s3_server: S3Server, s3_bucket: str, s3_user: Credentials, key: str
) -> None:
    upload(s3_server, s3_user, s3_bucket, key, b"awkward")
    response = http_request(presign_get(s3_server, s3_user, s3_bucket, key))
    assert (response.status, response.body) == (200, b"awkward")


def _tamper_signature(url: str, _: Credentials) -> str:
    head, signature = url.rsplit("X-Amz-Signature=", 1)
    return f"{head}X-Amz-Signature={signature[:-1]}{'0' if signature[-1] != '0' else '1'}"


def _tamper_key(url: str, _: Credentials) -> str:
    return url.replace("/summary.csv?", "/other.csv?", 1)


def _tamper_expiry(url: str, _: Credentials) -> str:
    return url.replace("X-Amz-Expires=300", "X-Amz-Expires=3000", 1)


def _tamper_credential(url: str, other: Credentials) -> str:
    query = parse_qs(urlsplit(url).query)
    own = query["X-Amz-Credential"][0].split("/", 1)[0]
    return url.replace(f"X-Amz-Credential={own}", f"X-Amz-Credential={other.access_key_id}", 1)


@pytest.mark.parametrize(
    "tamper", [_tamper_signature, _tamper_key, _tamper_expiry, _tamper_credential]
)
def test_tampered_link_is_refused(
    s3_server: S3Server, s3_bucket: str, s3_user: Credentials, uploaded: str, tamper: Any
) -> None:
    upload(s3_server, s3_user, s3_bucket, uploaded.replace("summary.csv", "other.csv"), b"x")
    other = create_user(s3_server, bucket_policy(s3_bucket))
    url = presign_get(s3_server, s3_user, s3_bucket, uploaded, expires_in=300)
    assert http_request(url).status == 200

    response = http_request(tamper(url, other))
    assert (response.status, response.error_code) == (403, "SignatureDoesNotMatch")


@pytest.mark.parametrize("expires_in", [1, 3600])
def test_expired_link_is_refused(
    s3_server: S3Server, s3_bucket: str, s3_user: Credentials, uploaded: str, expires_in: int
) -> None:
    # Signed two hours ago: its expiry has passed without anyone waiting for it.
    url = presign_get(
        s3_server, s3_user, s3_bucket, uploaded, expires_in=expires_in, signed_at=two_hours_ago()
    )
    response = http_request(url)
    assert (response.status, response.error_code) == (403, "AccessDenied")
    assert response.error_message == "Request has expired"


def test_link_signed_in_the_past_works_until_it_expires(
    s3_server: S3Server, s3_bucket: str, s3_user: Credentials, uploaded: str, data: bytes
) -> None:
    """The control for the expiry test: signing at a past instant alone is no reason to refuse."""
    url = presign_get(
        s3_server, s3_user, s3_bucket, uploaded, expires_in=3 * 3600, signed_at=two_hours_ago()
    )
    response = http_request(url)
    assert (response.status, response.body) == (200, data)


def test_link_lifetime_is_bounded_by_sigv4(
    s3_server: S3Server, s3_bucket: str, s3_user: Credentials, uploaded: str
) -> None:
    week = http_request(presign_get(s3_server, s3_user, s3_bucket, uploaded, expires_in=WEEK))
    assert week.status == 200

    longer = http_request(presign_get(s3_server, s3_user, s3_bucket, uploaded, expires_in=WEEK + 1))
    assert (longer.status, longer.error_code) == (400, "AuthorizationQueryParametersError")

    ahead = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)
    future = http_request(presign_get(s3_server, s3_user, s3_bucket, uploaded, signed_at=ahead))
    assert (future.status, future.error_message) == (403, "Request is not yet valid")


def test_link_is_authorised_when_it_is_used(
    s3_server: S3Server, s3_bucket: str, s3_user: Credentials, uploaded: str
) -> None:
    signer = create_user(s3_server, bucket_policy(s3_bucket, ["s3:GetObject"]), managed=True)
    url = presign_get(s3_server, signer, s3_bucket, uploaded)
    assert http_request(url).status == 200

    iam = s3_server.client("iam")
    try:
        (attached,) = iam.list_attached_user_policies(UserName=signer.user_name)["AttachedPolicies"]
        iam.detach_user_policy(UserName=signer.user_name, PolicyArn=attached["PolicyArn"])
        denied = http_request(url)
        iam.delete_access_key(UserName=signer.user_name, AccessKeyId=signer.access_key_id)
        unknown = http_request(url)
    finally:
        iam.close()
    assert (denied.status, denied.error_code) == (403, "AccessDenied")
    assert (unknown.status, unknown.error_code) == (403, "InvalidAccessKeyId")


async def test_aioboto3_uploads_and_presigns_in_the_running_loop(
    s3_server: S3Server, s3_bucket: str, s3_user: Credentials, data: bytes
) -> None:
    session = aioboto3.Session(region_name=s3_server.region, **s3_user.as_kwargs())
    async with session.client("s3", endpoint_url=s3_server.endpoint, config=client_config()) as s3:
        put = await s3.put_object(
            Bucket=s3_bucket,
            Key=KEY,
            Body=data,
            ChecksumSHA256=sha256_b64(data),
            ServerSideEncryption="AES256",
        )
        params = {"Bucket": s3_bucket, "Key": KEY}
        url = await s3.generate_presigned_url("get_object", Params=params, ExpiresIn=60)
        with signing_clock(two_hours_ago()):
            expired = await s3.generate_presigned_url("get_object", Params=params, ExpiresIn=60)
    assert put["ServerSideEncryption"] == "AES256"

    fresh, stale = await asyncio.gather(
        asyncio.to_thread(http_request, url), asyncio.to_thread(http_request, expired)
    )
    assert (fresh.status, fresh.body) == (200, data)
    assert (stale.status, stale.error_message) == (403, "Request has expired")


# --------------------------------------------------------------------------- anonymous access


def test_anonymous_requests_are_refused(s3_server: S3Server, s3_bucket: str, uploaded: str) -> None:
    get = http_request(f"{s3_server.endpoint}/{s3_bucket}/{uploaded}")
    assert (get.status, get.error_code) == (403, "AccessDenied")

    listing = http_request(f"{s3_server.endpoint}/{s3_bucket}")
    assert (listing.status, listing.error_code) == (403, "AccessDenied")

    put = http_request(f"{s3_server.endpoint}/{s3_bucket}/x", method="PUT", data=b"x")
    assert (put.status, put.error_code) == (403, "AccessDenied")


def test_anonymous_get_of_a_public_bucket_succeeds(s3_server: S3Server) -> None:
    """The control for the refusal: the server does grant anonymous reads when made public."""
    bucket = create_bucket(s3_server, public_access_block=None, public_read_policy=True)
    s3 = s3_server.client("s3")
    try:
        s3.put_object(Bucket=bucket, Key="public.txt", Body=b"anyone")
    finally:
        s3.close()
    response = http_request(f"{s3_server.endpoint}/{bucket}/public.txt")
    assert (response.status, response.body) == (200, b"anyone")


# --------------------------------------------------------------------------- Block Public Access


def test_a_new_bucket_blocks_all_public_access(s3_server: S3Server) -> None:
    bucket = unique_name("gr-new")
    s3 = s3_server.client("s3")
    try:
        s3.create_bucket(Bucket=bucket)
        config = s3.get_public_access_block(Bucket=bucket)
    finally:
        s3.close()
    assert config["PublicAccessBlockConfiguration"] == BLOCK_ALL


def test_block_public_access_round_trips(
    s3_server: S3Server, s3_bucket: str, s3_user: Credentials
) -> None:
    admin = s3_server.client("s3")
    user = s3_server.client("s3", s3_user)
    try:
        got = user.get_public_access_block(Bucket=s3_bucket)
        assert got["PublicAccessBlockConfiguration"] == BLOCK_ALL

        partial = {**BLOCK_NONE, "BlockPublicAcls": True}
        admin.put_public_access_block(Bucket=s3_bucket, PublicAccessBlockConfiguration=partial)
        got = user.get_public_access_block(Bucket=s3_bucket)
        assert got["PublicAccessBlockConfiguration"] == partial

        admin.delete_public_access_block(Bucket=s3_bucket)
        with pytest.raises(ClientError) as missing:
            user.get_public_access_block(Bucket=s3_bucket)
        assert refusal(missing) == (404, "NoSuchPublicAccessBlockConfiguration")

        with pytest.raises(ClientError) as denied:  # not in the user's policy
            user.put_public_access_block(Bucket=s3_bucket, PublicAccessBlockConfiguration=BLOCK_ALL)
        assert refusal(denied) == (403, "AccessDenied")
    finally:
        admin.close()
        user.close()


def test_block_public_access_is_enforced(s3_server: S3Server) -> None:
    bucket = create_bucket(s3_server, public_access_block=BLOCK_NONE)
    url = f"{s3_server.endpoint}/{bucket}/shared.txt"
    s3 = s3_server.client("s3")
    try:
        s3.put_bucket_ownership_controls(
            Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
        )
        s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"x", ACL="public-read")
        assert http_request(url).status == 200  # a public ACL, nothing blocking it

        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=BLOCK_ALL)
        assert http_request(url).status == 403  # IgnorePublicAcls

        with pytest.raises(ClientError) as acl:
            s3.put_object(Bucket=bucket, Key="more.txt", Body=b"x", ACL="public-read")
        assert refusal(acl) == (403, "AccessDenied")  # BlockPublicAcls
        with pytest.raises(ClientError) as policy:
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(public_read(bucket)))
        assert refusal(policy) == (403, "AccessDenied")  # BlockPublicPolicy
    finally:
        s3.close()


def test_bucket_policy_status_is_not_reported(s3_server: S3Server) -> None:
    """ministack 1.5.33 has no GetBucketPolicyStatus: 200 without IsPublic, even when public."""
    bucket = create_bucket(s3_server, public_access_block=None, public_read_policy=True)
    s3 = s3_server.client("s3")
    try:
        status = s3.get_bucket_policy_status(Bucket=bucket)
    finally:
        s3.close()
    assert "IsPublic" not in status.get("PolicyStatus", {})


# ---------------------------------------------------------------- ACLs, encryption, checksums


def test_objects_are_private(
    s3_server: S3Server, s3_bucket: str, s3_user: Credentials, uploaded: str
) -> None:
    s3 = s3_server.client("s3", s3_user)
    admin = s3_server.client("s3")
    try:
        grants = s3.get_object_acl(Bucket=s3_bucket, Key=uploaded)["Grants"]
        ownership = admin.get_bucket_ownership_controls(Bucket=s3_bucket)
        with pytest.raises(ClientError) as public:
            s3.put_object(Bucket=s3_bucket, Key="public.csv", Body=b"x", ACL="public-read")
    finally:
        s3.close()
        admin.close()
    assert [grant["Grantee"]["Type"] for grant in grants] == ["CanonicalUser"]
    assert [grant["Permission"] for grant in grants] == ["FULL_CONTROL"]
    assert ownership["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert refusal(public) == (400, "AccessControlListNotSupported")


def test_default_encryption_is_reported(s3_server: S3Server) -> None:
    def default(bucket: str) -> dict[str, Any]:
        s3 = s3_server.client("s3")
        try:
            config = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
        finally:
            s3.close()
        rule: dict[str, Any] = config["Rules"][0]["ApplyServerSideEncryptionByDefault"]
        return rule

    assert default(create_bucket(s3_server)) == {"SSEAlgorithm": "AES256"}
    kms = create_bucket(s3_server, encryption="aws:kms", kms_key_id="alias/reports")
    assert default(kms) == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/reports"}
    # As on AWS since 2023, a bucket without a configuration still encrypts with AES256.
    assert default(create_bucket(s3_server, encryption=None)) == {"SSEAlgorithm": "AES256"}


def test_server_side_encryption_is_echoed(
    s3_server: S3Server, s3_bucket: str, s3_user: Credentials
) -> None:
    s3 = s3_server.client("s3", s3_user)
    try:
        aes = s3.put_object(Bucket=s3_bucket, Key="aes", Body=b"x", ServerSideEncryption="AES256")
        kms = s3.put_object(
            Bucket=s3_bucket,
            Key="kms",
            Body=b"x",
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId="alias/reports",
        )
        aes_head = s3.head_object(Bucket=s3_bucket, Key="aes")
        kms_head = s3.head_object(Bucket=s3_bucket, Key="kms")
    finally:
        s3.close()
    assert aes["ServerSideEncryption"] == aes_head["ServerSideEncryption"] == "AES256"
    assert kms["ServerSideEncryption"] == kms_head["ServerSideEncryption"] == "aws:kms"
    assert kms["SSEKMSKeyId"] == kms_head["SSEKMSKeyId"] == "alias/reports"


def test_sha256_checksum_is_verified(
    s3_server: S3Server, s3_bucket: str, s3_user: Credentials, data: bytes
) -> None:
    s3 = s3_server.client("s3", s3_user)
    try:
        with pytest.raises(ClientError) as bad:
            s3.put_object(Bucket=s3_bucket, Key="bad", Body=data, ChecksumSHA256=sha256_b64(b"?"))
        s3.put_object(Bucket=s3_bucket, Key="good", Body=data, ChecksumSHA256=sha256_b64(data))
        head = s3.head_object(Bucket=s3_bucket, Key="good", ChecksumMode="ENABLED")
    finally:
        s3.close()
    assert refusal(bad) == (400, "BadDigest")
    assert head["ChecksumSHA256"] == sha256_b64(data)
    assert head["ChecksumType"] == "FULL_OBJECT"


def test_multipart_upload_with_sha256_and_sse(
    s3_server: S3Server, s3_bucket: str, s3_user: Credentials
) -> None:
    parts = [os.urandom(5 * 1024 * 1024), os.urandom(1000)]  # 5 MiB: S3's smallest part
    s3 = s3_server.client("s3", s3_user)
    try:
        upload = s3.create_multipart_upload(
            Bucket=s3_bucket,
            Key=KEY,
            ContentType="text/csv",
            ServerSideEncryption="AES256",
            ChecksumAlgorithm="SHA256",
        )
        ids = {"Bucket": s3_bucket, "Key": KEY, "UploadId": upload["UploadId"]}
        with pytest.raises(ClientError) as bad:
            s3.upload_part(**ids, PartNumber=1, Body=parts[0], ChecksumSHA256=sha256_b64(b"?"))
        done = []
        for number, part in enumerate(parts, start=1):
            sent = s3.upload_part(
                **ids, PartNumber=number, Body=part, ChecksumSHA256=sha256_b64(part)
            )
            assert sent["ChecksumSHA256"] == sha256_b64(part)
            done.append(
                {"PartNumber": number, "ETag": sent["ETag"], "ChecksumSHA256": sha256_b64(part)}
            )
        completed = s3.complete_multipart_upload(**ids, MultipartUpload={"Parts": done})
        head = s3.head_object(Bucket=s3_bucket, Key=KEY, ChecksumMode="ENABLED")
    finally:
        s3.close()
    assert refusal(bad) == (400, "BadDigest")
    assert completed["ServerSideEncryption"] == head["ServerSideEncryption"] == "AES256"
    assert completed["ETag"].endswith('-2"')
    assert head["ChecksumSHA256"].endswith("-2")
    assert head["ChecksumType"] == "COMPOSITE"
    url = presign_get(s3_server, s3_user, s3_bucket, KEY)
    assert sha256_hex(http_request(url).body) == sha256_hex(b"".join(parts))


# --------------------------------------------------------------------------- keys and policies


def test_root_key_skips_header_signature_checks(s3_server: S3Server, s3_bucket: str) -> None:
    """Why the tests act as IAM users: the root key passes with any secret at all."""
    wrong_secret = Credentials(ROOT.access_key_id, "not-the-secret")
    s3 = s3_server.client("s3", wrong_secret)
    try:
        listing = s3.list_objects_v2(Bucket=s3_bucket)
    finally:
        s3.close()
    assert listing["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_iam_user_header_signatures_are_checked(
    s3_server: S3Server, s3_bucket: str, s3_user: Credentials
) -> None:
    wrong_secret = Credentials(s3_user.access_key_id, "not-the-secret")
    unknown_key = Credentials("AKIAUNKNOWNKEY000000", s3_user.secret_access_key)
    for credentials, expected in [
        (wrong_secret, (403, "SignatureDoesNotMatch")),
        (unknown_key, (403, "InvalidAccessKeyId")),
    ]:
        s3 = s3_server.client("s3", credentials)
        try:
            with pytest.raises(ClientError) as error:
                s3.list_objects_v2(Bucket=s3_bucket)
        finally:
            s3.close()
        assert refusal(error) == expected


def test_root_presigned_links_are_still_checked(
    s3_server: S3Server, s3_bucket: str, uploaded: str
) -> None:
    url = presign_get(s3_server, ROOT, s3_bucket, uploaded)
    assert http_request(url).status == 200
    tampered = http_request(_tamper_signature(url, ROOT))
    assert (tampered.status, tampered.error_code) == (403, "SignatureDoesNotMatch")


def test_iam_user_policy_is_enforced(
    s3_server: S3Server, s3_bucket: str, s3_user: Credentials
) -> None:
    elsewhere = create_bucket(s3_server)
    nothing = create_user(s3_server, None)
    s3 = s3_server.client("s3", s3_user)
    bare = s3_server.client("s3", nothing)
    try:
        with pytest.raises(ClientError) as other_bucket:
            s3.put_object(Bucket=elsewhere, Key="x", Body=b"x")
        with pytest.raises(ClientError) as no_policy:
            bare.put_object(Bucket=s3_bucket, Key="x", Body=b"x")
    finally:
        s3.close()
        bare.close()
    assert refusal(other_bucket) == (403, "AccessDenied")
    assert refusal(no_policy) == (403, "AccessDenied")


# --------------------------------------------------------------------------- where it is not AWS


def test_put_object_does_not_echo_its_checksum(
    s3_server: S3Server, s3_bucket: str, s3_user: Credentials, data: bytes
) -> None:
    """AWS returns x-amz-checksum-sha256 from PutObject; ministack only from HeadObject."""
    put = upload(s3_server, s3_user, s3_bucket, KEY, data)
    s3 = s3_server.client("s3", s3_user)
    try:
        head = s3.head_object(Bucket=s3_bucket, Key=KEY, ChecksumMode="ENABLED")
    finally:
        s3.close()
    assert "ChecksumSHA256" not in put
    assert head["ChecksumSHA256"] == sha256_b64(data)


def test_missing_key_is_404_even_without_list_bucket(s3_server: S3Server, s3_bucket: str) -> None:
    """AWS answers 403 here (the caller may not learn what is absent); ministack answers 404."""
    reader = create_user(s3_server, bucket_policy(s3_bucket, ["s3:GetObject"]))
    s3 = s3_server.client("s3", reader)
    try:
        with pytest.raises(ClientError) as head:
            s3.head_object(Bucket=s3_bucket, Key="absent.json")
    finally:
        s3.close()
    assert refusal(head) == (404, "404")
    link = http_request(presign_get(s3_server, reader, s3_bucket, "absent.json"))
    assert (link.status, link.error_code) == (404, "NoSuchKey")
