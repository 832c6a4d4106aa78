"""Acceptance (issue 15): the dataset delivered to S3 (the S3 test server), checked by listing
the prefix and reading every object back: the local files' bytes, a dataset manifest written
last, no anonymous access, and the previous run's files that this one did not write removed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
import yaml

from tests.cli import genesys_reports
from tests.s3server import Credentials, S3Server, http_request, storage_section

REPO = Path(__file__).resolve().parents[2]
PREFIX = "warehouse/genesys/"


def test_the_dataset_goes_to_s3_under_its_prefix(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, s3_user: Credentials
) -> None:
    document = yaml.safe_load((REPO / "settings.yaml").read_text())
    document["storage"] = storage_section(
        tmp_path / "reports", s3_server, s3_bucket, prefix="reports/", dataset_prefix=PREFIX
    )
    document["service"] = {"state_directory": str(tmp_path / "state")}
    document["sandbox"]["jobs"] = {"delay": "PT0.2S"}
    (daily,) = [r for r in document["reports"] if r["name"] == "queue-daily"]
    daily |= {"formats": ["csv"], "dataset": {"events": True, "conversations": True}}
    document["reports"] = [daily]
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump(document))
    s3 = s3_server.client("s3")
    manifest_key = f"{PREFIX}_manifests/queue-daily/20240501T0000+0200_20240502T0000+0200.json"
    # A previous run of the period that wrote a partition this run will not: it must go.
    stale = (
        f"{PREFIX}events/date=2024-04-29/queue-daily_20240501T0000+0200_20240502T0000+0200.parquet"
    )
    s3.put_object(Bucket=s3_bucket, Key=stale, Body=b"old")
    # Another period's file, which a tampered manifest lists too: never this run's to delete.
    other = f"{PREFIX}events/date=2024-04-29/queue-daily_2024-04-29.parquet"
    s3.put_object(Bucket=s3_bucket, Key=other, Body=b"another period")
    listed_before = [{"path": key.removeprefix(PREFIX)} for key in (stale, other)]
    s3.put_object(Bucket=s3_bucket, Key=manifest_key, Body=orjson.dumps({"files": listed_before}))
    period = ["--start", "2024-05-01T00:00+02:00", "--end", "2024-05-02T00:00+02:00"]
    result = genesys_reports(
        "run", "--config", config, "--json", *period, cwd=tmp_path, s3_user=s3_user
    )
    assert result.returncode == 0, result.stderr[-3000:]
    dataset = orjson.loads(result.stdout)["manifest"]["dataset"]
    assert dataset["bucket"] == s3_bucket and dataset["prefix"] == PREFIX
    assert dataset["manifest_key"] == manifest_key
    listed = s3.list_objects_v2(Bucket=s3_bucket, Prefix=PREFIX)["Contents"]
    keys = sorted(item["Key"] for item in listed)
    expected = sorted(entry["key"] for entry in dataset["files"])
    assert keys == sorted([*expected, manifest_key, other]) and stale not in keys
    assert len(expected) == 4  # two tables, two UTC dates
    local_root = tmp_path / "reports" / "_dataset"
    for entry in dataset["files"]:
        got = s3.get_object(Bucket=s3_bucket, Key=entry["key"])
        body = got["Body"].read()
        assert hashlib.sha256(body).hexdigest() == entry["sha256"]
        assert body == (local_root / entry["path"]).read_bytes() and body[:4] == b"PAR1"
        assert got["ContentType"] == "application/vnd.apache.parquet"
        assert got.get("ServerSideEncryption") == "AES256"
        assert http_request(f"{s3_server.endpoint}/{s3_bucket}/{entry['key']}").status == 403
    remote = orjson.loads(s3.get_object(Bucket=s3_bucket, Key=manifest_key)["Body"].read())
    assert remote == orjson.loads((local_root / dataset["manifest"]).read_bytes())
    assert [f["path"] for f in remote["files"]] == [f["path"] for f in dataset["files"]]
    # The manifest went up after the files, and the report's own manifest after both.
    modified = {item["Key"]: item["LastModified"] for item in listed}
    assert "not a file of this period: left alone" in result.stderr
    assert all(modified[manifest_key] >= modified[key] for key in expected)
