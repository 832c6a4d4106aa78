"""Delivery to S3 (ministack with AUTH=true, acting as an IAM user): links that work, and nothing
else that does."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
import pytest
import yaml

from app.periods import explicit_period
from app.pipeline.run import RunOutcome, run_report
from app.settings import Settings
from tests.genesys.conftest import Connect
from tests.s3server import (
    DELIVERY_ACTIONS,
    Credentials,
    S3Server,
    bucket_policy,
    create_user,
    http_request,
    sha256_hex,
    signing_clock,
    storage_section,
)

REPO = Path(__file__).resolve().parents[2]
PERIOD = explicit_period(
    dt.datetime(2024, 5, 1, 8, tzinfo=dt.UTC), dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC), "UTC"
)


def _settings(
    tmp_path: Path, server: S3Server, bucket: str, user: Credentials, **s3: Any
) -> Settings:
    return Settings.model_validate(
        {
            "storage": {
                "kind": "s3",
                "directory": str(tmp_path / "reports"),
                "s3": {
                    "bucket": bucket,
                    "prefix": "team/genesys/",
                    "region": server.region,
                    "endpoint_url": server.endpoint,
                    "access_key_id": user.access_key_id,
                    "secret_access_key": user.secret_access_key,
                    "presign_expiry": "PT1H",
                    **s3,
                },
            },
            "reports": [
                {
                    "name": "numbers",
                    "timezone": "UTC",
                    "group_by": ["queue_id"],
                    "fetch": "query",
                    "formats": ["csv", "json.gz"],
                }
            ],
        }
    )


async def _run_and_deliver(
    connect: Connect, settings: Settings, *, skip_bucket_checks: bool = False
) -> tuple[RunOutcome, dict[str, Any]]:
    import aiohttp

    from app.delivery.publish import DeliveryRun, deliver
    from app.delivery.s3 import open_s3

    connected = await connect(sandbox={"volume": {"peak_per_hour": 60}})
    report = settings.reports[0]
    outcome = await run_report(settings, report, PERIOD, connected.client)
    assert settings.storage.s3 is not None and outcome.manifest_path is not None
    async with open_s3(settings.storage.s3) as dest, aiohttp.ClientSession() as http:
        manifest = await deliver(
            DeliveryRun(dest, http, bucket_checks=[] if skip_bucket_checks else None),
            report=report.name,
            period_label=PERIOD.label,
            run_id=outcome.run_id,
            files=outcome.local_files(),
            manifest=outcome.manifest,
            manifest_path=outcome.manifest_path,
        )
    return outcome, manifest


def _tamper(url: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    signature = query["X-Amz-Signature"]
    query["X-Amz-Signature"] = ("0" if signature[0] != "0" else "1") + signature[1:]
    return urlunsplit(parts._replace(query=urlencode(query)))


async def test_links_work_and_nothing_else_does(
    connect: Connect, tmp_path: Path, s3_server: S3Server, s3_bucket: str, s3_user: Credentials
) -> None:
    settings = _settings(tmp_path, s3_server, s3_bucket, s3_user)
    outcome, manifest = await _run_and_deliver(connect, settings)
    assert manifest["completeness"] in {"final", "provisional"}
    assert [f["format"] for f in manifest["files"]] == ["csv", "json.gz"]
    for entry in manifest["files"]:
        url = entry["url"]
        assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url
        assert entry["key"] == f"team/genesys/numbers/{PERIOD.label}/{entry['name']}"
        got = http_request(url)
        assert got.status == 200 and sha256_hex(got.body) == entry["sha256"]
        assert got.headers["content-disposition"].startswith("attachment")
        assert http_request(_tamper(url)).status == 403
        anonymous = f"{s3_server.endpoint}/{s3_bucket}/{entry['key']}"
        assert http_request(anonymous).status == 403
        expires = dt.datetime.fromisoformat(entry["url_expires_at"].replace("Z", "+00:00"))
        assert dt.timedelta(minutes=59) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=1)
    # The remote manifest is the local one, links included; the link checks passed.
    remote = s3_server.client("s3").get_object(
        Bucket=s3_bucket, Key=f"team/genesys/numbers/{PERIOD.label}/manifest.json"
    )
    assert orjson.loads(remote["Body"].read()) == manifest
    assert outcome.manifest_path is not None
    assert orjson.loads(outcome.manifest_path.read_bytes()) == manifest
    outcomes = {c["name"]: c["outcome"] for c in manifest["delivery"]["checks"]}
    assert outcomes["block_public_access"] == "passed"
    assert outcomes["presigned_link_works"] == "passed"
    assert outcomes["anonymous_get_refused"] == "passed"


def test_an_expired_link_is_refused(
    s3_server: S3Server, s3_bucket: str, s3_user: Credentials
) -> None:
    s3 = s3_server.client("s3", s3_user)
    s3.put_object(Bucket=s3_bucket, Key="k", Body=b"x", ServerSideEncryption="AES256")
    with signing_clock(dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)):
        url = s3.generate_presigned_url(
            "get_object", Params={"Bucket": s3_bucket, "Key": "k"}, ExpiresIn=3600
        )
    assert http_request(url).status == 403


async def test_a_bucket_without_block_public_access_is_refused(
    connect: Connect, tmp_path: Path, s3_server: S3Server, s3_open_bucket: str
) -> None:
    from app.errors import DeliveryError

    user = create_user(s3_server, bucket_policy(s3_open_bucket, DELIVERY_ACTIONS))
    settings = _settings(tmp_path, s3_server, s3_open_bucket, user)
    with pytest.raises(DeliveryError) as caught:
        await _run_and_deliver(connect, settings)
    message = str(caught.value)
    assert s3_open_bucket in message and "block_public_access" in message
    assert "local copies are kept" in message
    listed = s3_server.client("s3").list_objects_v2(Bucket=s3_open_bucket)
    assert listed.get("KeyCount", 0) == 0  # nothing was uploaded
    # Local copies are kept.
    assert list((tmp_path / "reports").rglob("*.csv"))


async def test_warn_mode_goes_ahead(
    connect: Connect,
    tmp_path: Path,
    s3_server: S3Server,
    s3_open_bucket: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    user = create_user(s3_server, bucket_policy(s3_open_bucket, DELIVERY_ACTIONS))
    settings = _settings(tmp_path, s3_server, s3_open_bucket, user, access_checks="warn")
    _, manifest = await _run_and_deliver(connect, settings)
    assert "failed access-control checks" in caplog.text and s3_open_bucket in caplog.text
    assert http_request(manifest["files"][0]["url"]).status == 200


async def test_an_upload_failing_midway_leaves_no_remote_manifest(
    connect: Connect, tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    from app.errors import DeliveryError

    # This user may not upload the second file's kind of key: the delivery fails midway.
    policy = bucket_policy(s3_bucket, DELIVERY_ACTIONS)
    policy["Statement"].append(
        {"Effect": "Deny", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{s3_bucket}/*.gz"}
    )
    user = create_user(s3_server, policy)
    settings = _settings(tmp_path, s3_server, s3_bucket, user)
    with pytest.raises(DeliveryError) as caught:
        await _run_and_deliver(connect, settings)
    assert "AccessDenied" in str(caught.value) and "local copies are kept" in str(caught.value)
    keys = [
        o["Key"]
        for o in s3_server.client("s3").list_objects_v2(Bucket=s3_bucket).get("Contents", [])
    ]
    assert not any(k.endswith("manifest.json") for k in keys)
    local = list((tmp_path / "reports").rglob("*"))
    assert any(p.name.endswith(".csv") for p in local) and any(
        p.name.endswith(".json.gz") for p in local
    )


def _cli_config(tmp_path: Path, server: S3Server, bucket: str, user: Credentials) -> Path:
    document = yaml.safe_load((REPO / "settings.yaml").read_text())
    document["storage"] = storage_section(tmp_path / "reports", server, bucket)
    document["sandbox"]["jobs"] = {"delay": "PT0.2S"}
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_a_full_run_prints_working_links(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, s3_user: Credentials
) -> None:
    config = _cli_config(tmp_path, s3_server, s3_bucket, s3_user)
    result = subprocess.run(
        [sys.executable, "-m", "app", "run", "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={
            **os.environ,
            "PYTHONPATH": str(REPO),
            "GR_TEST_KEY": s3_user.access_key_id,
            "GR_TEST_SECRET": s3_user.secret_access_key,
        },
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert s3_user.secret_access_key not in result.stdout + result.stderr
    runs = [orjson.loads(line) for line in result.stdout.splitlines()]
    examples = yaml.safe_load((REPO / "settings.yaml").read_text())["reports"]
    assert [r["report"] for r in runs] == [report["name"] for report in examples]
    for run in runs:
        for entry in run["files"]:
            got = http_request(entry["url"])
            assert got.status == 200 and Path(entry["path"]).read_bytes() == got.body
            assert entry["url_expires_at"].endswith("Z")


def test_an_s3_server_that_is_gone_fails_the_run_before_any_work(
    tmp_path: Path, s3_bucket: str, s3_user: Credentials
) -> None:
    # An endpoint where no S3 server listens any more. The run's first S3 call is the
    # period's lease (issue 13, item 8), so it fails at once, naming the cause, instead of
    # fetching a report it cannot deliver. (An upload failing midway keeps the local copies:
    # test_an_upload_failing_midway_leaves_no_remote_manifest.)
    from tests.s3server import running_server

    with running_server() as gone:
        endpoint = gone.endpoint
    dead = S3Server(endpoint=endpoint)
    config = _cli_config(tmp_path, dead, s3_bucket, s3_user)
    result = subprocess.run(
        [sys.executable, "-m", "app", "run", "--config", str(config), "--report", "agent-hourly"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={
            **os.environ,
            "PYTHONPATH": str(REPO),
            "GR_TEST_KEY": s3_user.access_key_id,
            "GR_TEST_SECRET": s3_user.secret_access_key,
        },
        timeout=240,
        check=False,
    )
    assert result.returncode == 1
    assert "could not claim the period" in result.stderr
    assert "Could not connect to the endpoint URL" in result.stderr
    reports = tmp_path / "reports"
    assert not reports.exists() or not [p for p in reports.rglob("*") if p.is_file()]


async def test_large_files_go_up_in_parts_with_checksums(
    tmp_path: Path,
    s3_server: S3Server,
    s3_bucket: str,
    s3_user: Credentials,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import app.delivery.s3 as s3_module
    from app.delivery.s3 import open_s3

    monkeypatch.setattr(s3_module, "PART_SIZE", 5 * 1024 * 1024)  # S3's smallest part
    big = tmp_path / "big.csv"
    big.write_bytes(os.urandom(11 * 1024 * 1024))
    settings = _settings(tmp_path, s3_server, s3_bucket, s3_user)
    assert settings.storage.s3 is not None
    async with open_s3(settings.storage.s3) as dest:
        uploaded = await dest.upload(big, "parts/big.csv", metadata={"report": "r"})
    head = s3_server.client("s3").head_object(Bucket=s3_bucket, Key="parts/big.csv")
    assert head["ContentLength"] == big.stat().st_size
    assert head["ServerSideEncryption"] == "AES256" and head["Metadata"] == {"report": "r"}
    body = s3_server.client("s3").get_object(Bucket=s3_bucket, Key="parts/big.csv")["Body"].read()
    assert sha256_hex(body) == uploaded.sha256 == sha256_hex(big.read_bytes())


async def test_a_rerun_replaces_the_period_with_the_same_keys(
    connect: Connect, tmp_path: Path, s3_server: S3Server, s3_bucket: str, s3_user: Credentials
) -> None:
    settings = _settings(tmp_path, s3_server, s3_bucket, s3_user)
    _, first = await _run_and_deliver(connect, settings)
    _, second = await _run_and_deliver(connect, settings)
    assert [f["key"] for f in first["files"]] == [f["key"] for f in second["files"]]
    csv = [
        (f["sha256"], f["bytes"])
        for m in (first, second)
        for f in m["files"]
        if f["format"] == "csv"
    ]
    assert csv[0] == csv[1]
    assert second["run_id"] != first["run_id"]
    remote = s3_server.client("s3").get_object(
        Bucket=s3_bucket, Key=second["delivery"]["manifest_key"]
    )
    assert orjson.loads(remote["Body"].read())["run_id"] == second["run_id"]


async def test_a_publicly_readable_object_fails_its_check_and_is_removed(
    connect: Connect, tmp_path: Path, s3_server: S3Server
) -> None:
    from app.errors import DeliveryError
    from tests.s3server import create_bucket

    bucket = create_bucket(s3_server, public_access_block=None, public_read_policy=True)
    user = create_user(s3_server, bucket_policy(bucket, DELIVERY_ACTIONS))
    settings = _settings(tmp_path, s3_server, bucket, user)
    # The bucket-level checks would stop this before any upload; skip them to reach the
    # object-level ones, which must catch a readable object on their own.
    with pytest.raises(DeliveryError) as caught:
        await _run_and_deliver(connect, settings, skip_bucket_checks=True)
    assert "anonymous_get_refused" in str(caught.value)
    listed = s3_server.client("s3").list_objects_v2(Bucket=bucket)
    assert listed.get("KeyCount", 0) == 0  # the readable object did not stay behind
