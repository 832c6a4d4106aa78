"""``genesys-reports check-config`` as a user runs it: a real process, real exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


def test_committed_settings_pass_with_a_summary() -> None:
    result = _run("check-config")
    assert result.returncode == 0, result.stderr
    assert "settings.yaml: valid" in result.stdout
    assert "queue-daily: previous_day in Europe/Berlin" in result.stdout
    assert "agent-hourly: previous_hour in UTC" in result.stdout


def test_bad_file_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "genesys:\n"
        "  environment: sandbox\n"
        "  client_secret: ${GR_TEST_UNSET_VARIABLE}\n"
        "reports:\n"
        "  - name: daily\n"
        "    schedule: '0 6 * * *'\n"
        "    unknown_key: 1\n"
        "  - name: hourly\n"
        "    schedule: '0 6 * * * * *'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "GR_TEST_UNSET_VARIABLE"}
    result = subprocess.run(
        [sys.executable, "-m", "app", "check-config", "--config", str(bad)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "3 problems" in result.stderr
    assert "reports[0].unknown_key: unknown key" in result.stderr
    assert "reports[1].schedule: '0 6 * * * * *' has 7 fields" in result.stderr
    assert "genesys.client_secret: environment variable GR_TEST_UNSET_VARIABLE is not set" in (
        result.stderr
    )


def test_config_comes_from_the_environment_variable(tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text("reports:\n  - name: only-one\n")
    result = _run("check-config", env={"GENESYS_REPORTS_CONFIG": str(other)})
    assert result.returncode == 0, result.stderr
    assert "only-one" in result.stdout and "queue-daily" not in result.stdout


def test_global_config_flag_before_the_command(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    result = _run("--config", str(missing), "check-config")
    assert result.returncode == 2
    assert "cannot read" in result.stderr
