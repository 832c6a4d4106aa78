"""`serve` with `service.listen`: /healthz for liveness probes and /metrics for Prometheus, read
over 127.0.0.1 from a real `serve` process while its 2-second schedule fires."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import orjson
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.service.test_serve import Served, _config, _start


async def _base_url(served: Served) -> str:
    line = await served.wait_for("health and metrics at")
    found = re.search(r"(http://127\.0\.0\.1:\d+)/healthz", line["message"])
    assert found, line
    return found.group(1)


async def _get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, response.headers["Content-Type"], await response.text()


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples[(name, frozenset(labels.items()))]


async def _stop(served: Served) -> None:
    served.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(served.process.wait(), 30) == 0


async def test_healthz_and_metrics_follow_the_runs(tmp_path: Path, stopper: list[Served]) -> None:
    served = await _start(_config(tmp_path, listen="127.0.0.1:0"))
    stopper.append(served)
    base = await _base_url(served)

    status, content_type, body = await _get(f"{base}/healthz")
    assert status == 200 and content_type.startswith("application/json")
    assert orjson.loads(body)["status"] == "ok"

    await served.wait_for("run finished: fast", occurrence=2)
    status, content_type, text = await _get(f"{base}/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    samples = _samples(text)
    assert _value(samples, "genesys_reports_runs_total", report="fast", status="succeeded") >= 2
    assert _value(samples, "genesys_reports_last_run_succeeded", report="fast") == 1
    assert _value(samples, "genesys_reports_conversations_total", report="fast") > 0
    assert _value(samples, "genesys_reports_api_requests_total", report="fast") > 0
    assert _value(samples, "genesys_reports_run_duration_seconds_count", report="fast") >= 2
    last_success = _value(samples, "genesys_reports_last_success_timestamp_seconds", report="fast")
    assert abs(last_success - datetime.now(UTC).timestamp()) < 60
    await _stop(served)


async def test_failed_runs_show_in_metrics_but_not_in_liveness(
    tmp_path: Path, stopper: list[Served]
) -> None:
    config = _config(tmp_path, listen="127.0.0.1:0")
    document = yaml.safe_load(config.read_text())
    document["reports"][0]["fetch"] = "query"
    document["sandbox"]["faults"] = [{"endpoint": "details_query", "kind": "503"}]
    document["genesys"] = {
        "retry_attempts": 2,
        "retry_backoff": "PT0.01S",
        "retry_backoff_max": "PT0.02S",
    }
    config.write_text(yaml.safe_dump(document))
    served = await _start(config)
    stopper.append(served)
    base = await _base_url(served)

    await served.wait_for("run finished: fast", occurrence=1)
    status, _, text = await _get(f"{base}/metrics")
    samples = _samples(text)
    assert _value(samples, "genesys_reports_runs_total", report="fast", status="failed") >= 1
    assert _value(samples, "genesys_reports_last_run_succeeded", report="fast") == 0
    # A Genesys outage must not get a healthy process restarted: liveness stays 200.
    status, _, body = await _get(f"{base}/healthz")
    health = orjson.loads(body)
    assert status == 200 and health["status"] == "ok"
    assert "HTTP 503" in health["last_runs"]["fast"]["error"]  # the last run's error is shown
    await _stop(served)


async def test_a_taken_port_fails_serve_at_once_naming_the_setting(
    tmp_path: Path, stopper: list[Served]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        served = await _start(_config(tmp_path, listen=f"127.0.0.1:{port}"))
        stopper.append(served)
        assert await asyncio.wait_for(served.process.wait(), 60) == 2
    assert served.process.stderr is not None
    stderr = (await served.process.stderr.read()).decode()
    assert f"service.listen: cannot listen on 127.0.0.1:{port}: " in stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "state" / "heartbeat.json").exists()  # nothing was scheduled


async def test_series_exist_from_the_start_and_draining_is_alive(
    tmp_path: Path, stopper: list[Served]
) -> None:
    config = _config(tmp_path, listen="127.0.0.1:0", shutdown_grace="PT20S", catch_up="PT2H")
    document = yaml.safe_load(config.read_text())
    document["reports"][0]["schedule"] = "0 3 1 1 *"  # only the start-up catch-up runs
    document["reports"][0]["fetch"] = "query"
    # Slow enough that no run can finish before the checks below, even on a loaded machine
    # (the process is killed at the end, so the wait costs nothing).
    document["sandbox"].update(latency_ms=5000)
    document["genesys"] = {"max_concurrency": 1}
    config.write_text(yaml.safe_dump(document))
    served = await _start(config)
    stopper.append(served)
    base = await _base_url(served)
    await served.wait_for("run started: fast")

    samples = _samples((await _get(f"{base}/metrics"))[2])
    # Alerts on failures work before the first failure: the series are there, at 0.
    for outcome in ("succeeded", "failed", "cancelled"):
        assert _value(samples, "genesys_reports_runs_total", report="fast", status=outcome) == 0
    assert _value(samples, "genesys_reports_running", report="fast") == 1
    assert _value(samples, "genesys_reports_next_fire_timestamp_seconds", report="fast") > 0

    # SIGTERM: while the run gets its grace period, the process is alive (200, "stopping").
    served.process.send_signal(signal.SIGTERM)
    await served.wait_for("stopping: no new runs")
    status, _, body = await _get(f"{base}/healthz")
    assert status == 200 and orjson.loads(body)["status"] == "stopping"
    served.process.kill()  # the graceful end itself is tested in test_serve.py
