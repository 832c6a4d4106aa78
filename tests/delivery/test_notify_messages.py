"""Acceptance (issue 14): notifications that say something. The demo's queue-daily report runs
through the CLI in S3 mode with three webhooks (JSON, Slack, Teams) on a receiver on
127.0.0.1; each message carries the headline figures of the report it announces, and the link
to its HTML page, which opens in a browser (inline, text/html) until it expires. Nothing
secret reaches the logs."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
from pathlib import Path
from typing import Any

import orjson
import yaml
from aiohttp import web

from app.delivery.messages import ADAPTIVE_CARD, SLACK_TEXT_LIMIT, slack
from app.present.headline import HEADLINE, shown
from tests.s3server import Credentials, S3Server, http_request, storage_section

REPO = Path(__file__).resolve().parents[2]
WEBHOOK_SECRET = "T00000000/B00000000/XXXXwebhooksecretXXXX"


def _config(tmp_path: Path, server: S3Server, bucket: str, port: int) -> Path:
    document = yaml.safe_load((REPO / "settings.yaml").read_text())
    document["storage"] = storage_section(
        tmp_path / "reports", server, bucket, presign_expiry="PT2H"
    )
    document["service"] = {"state_directory": str(tmp_path / "state")}
    (daily,) = [r for r in document["reports"] if r["name"] == "queue-daily"]
    daily["notify"] = [
        {"url": f"http://127.0.0.1:{port}/json/{WEBHOOK_SECRET}"},
        {"url": f"http://127.0.0.1:{port}/slack/{WEBHOOK_SECRET}", "format": "slack"},
        {"url": f"http://127.0.0.1:{port}/teams/{WEBHOOK_SECRET}", "format": "teams"},
    ]
    document["reports"] = [daily]
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


async def test_slack_teams_and_json_messages_carry_the_report_s_figures_and_link(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, s3_user: Credentials
) -> None:
    received: dict[str, list[dict[str, Any]]] = {}

    async def hook(request: web.Request) -> web.Response:
        received.setdefault(request.match_info["kind"], []).append(await request.json())
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/{kind}/{secret:.*}", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        config = _config(tmp_path, s3_server, s3_bucket, port)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app",
            "--log-level",
            "DEBUG",
            "--config",
            str(config),
            "run",
            "--json",
            "--start",
            "2024-05-01T00:00+02:00",
            "--end",
            "2024-05-02T00:00+02:00",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=tmp_path,
            env={
                **os.environ,
                "PYTHONPATH": str(REPO),
                "GR_TEST_KEY": s3_user.access_key_id,
                "GR_TEST_SECRET": s3_user.secret_access_key,
            },
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=240)
    finally:
        await runner.cleanup()
    logs = stderr.decode()
    assert process.returncode == 0, logs[-3000:]
    manifest = orjson.loads(stdout)["manifest"]
    assert [n["ok"] for n in manifest["notifications"]] == [True, True, True]
    assert sorted(received) == ["json", "slack", "teams"]
    assert all(len(bodies) == 1 for bodies in received.values())

    # The headline is the report's: counts add up over the CSV's rows (each event is in one
    # group), and the JSON export carries the same figures.
    files = {entry["format"]: entry for entry in manifest["files"]}
    html, csv_entry = files["html"], files["csv"]
    rows = list(csv.DictReader(io.StringIO(http_request(csv_entry["url"]).body.decode())))
    headline = manifest["headline"]
    assert headline["offered"] == sum(int(row["offered"]) for row in rows) > 100
    assert headline["answered"] == sum(int(row["answered"]) for row in rows)
    assert headline["abandon_rate"] == round(
        sum(int(row["abandoned"]) for row in rows) / headline["offered"], 4
    )
    exported = orjson.loads(http_request(files["json"]["url"]).body)
    assert exported["headline"] == headline

    # JSON: the summary with the headline and the page's link.
    (summary,) = received["json"]
    assert summary["headline"] == headline
    assert summary["link"] == {
        "name": html["name"],
        "format": "html",
        "url": html["url"],
        "url_expires_at": html["url_expires_at"],
    }
    assert summary["reconciliation"].endswith("values equal Genesys'")

    # Slack: Block Kit, one field per headline figure as people read it, the page linked first.
    (message,) = received["slack"]
    blocks = message["blocks"]
    kinds = ["header", "section", *["section"] * len(manifest["files"]), "context"]
    assert [block["type"] for block in blocks] == kinds
    assert blocks[0]["text"]["text"].startswith("queue-daily for ")
    fields = [field["text"] for field in blocks[1]["fields"]]
    assert len(fields) == len(HEADLINE)
    for (metric, name), text in zip(HEADLINE, fields, strict=True):
        assert text.startswith(f"*{name}*\n{shown(metric, headline[metric])}")
    assert f"{headline['offered']:,}" in fields[0]
    links = blocks[2]["text"]["text"].splitlines()
    assert (
        links[0] == f"\u2022 <{html['url']}|{html['name']}> (link expires {html['url_expires_at']})"
    )
    assert f"Offered: {headline['offered']:,}" in message["text"]

    # Teams: an Adaptive Card with the headline as facts and a button opening the page.
    (teams,) = received["teams"]
    assert teams["type"] == "message"
    (attachment,) = teams["attachments"]
    assert attachment["contentType"] == ADAPTIVE_CARD
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    (facts,) = [item["facts"] for item in card["body"] if item["type"] == "FactSet"]
    assert [fact["title"] for fact in facts] == [name for _, name in HEADLINE]
    assert facts[0]["value"] == f"{headline['offered']:,}"
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": f"Open {html['name']}", "url": html["url"]}
    ]

    # The link opens the page in a browser, as is.
    page = http_request(html["url"])
    assert page.status == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-disposition"] == f'inline; filename="{html["name"]}"'
    xlsx = http_request(files["xlsx"]["url"])
    assert xlsx.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert xlsx.headers["content-disposition"].startswith("attachment;")

    # Nothing secret in the logs (DEBUG): not the webhook's path, not the S3 secret, no signature.
    assert "webhooksecret" not in logs and s3_user.secret_access_key not in logs
    assert "X-Amz-Signature=" not in logs
    assert all(n["target"] == f"http://127.0.0.1:{port}" for n in manifest["notifications"])


def test_slack_sections_stay_within_block_kit_limits_with_long_presigned_links() -> None:
    # A presigned link signed with role credentials carries X-Amz-Security-Token: ~1,400
    # characters. Slack refuses a section whose text is over 3,000.
    token = "X-Amz-Security-Token=" + "A" * 1300
    files = [
        {
            "name": f"r_2024-05-01.{fmt}",
            "format": fmt,
            "url": f"https://bucket.s3.amazonaws.com/r/r_2024-05-01.{fmt}?{token}",
            "url_expires_at": "2024-05-02T06:00:00.000Z",
        }
        for fmt in ("csv", "json", "html", "xlsx", "ndjson")
    ]
    files.append({**files[0], "name": "huge.csv", "url": "https://b/x?" + "B" * 3100})
    message = slack({"report": "r", "period": {"label": "2024-05-01"}, "files": files})
    texts = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    assert all(len(text) <= SLACK_TEXT_LIMIT for text in texts)
    assert texts[0].startswith("\u2022 <https://bucket.s3.amazonaws.com/r/r_2024-05-01.html?")
    assert sum(token in text for text in texts) == 5
    assert texts[-1] == "\u2022 huge.csv (its link is too long for Slack: see the manifest)"
    assert len(message["blocks"]) <= 50 and len(message["blocks"][0]["text"]["text"]) <= 150
