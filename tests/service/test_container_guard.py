"""The container image sets GENESYS_REPORTS_REQUIRE_REAL_ORG=1 (issue 13, item 9): `serve` on the
built-in sandbox settings (a missing settings mount) must stop, not serve synthetic data as
healthy; `run` and the other commands, and real-org settings, are not affected."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import refuse_sandbox_where_required
from app.errors import ConfigError
from app.settings import load_settings, parse_settings

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text()


def test_the_image_requires_a_real_org() -> None:
    assert "GENESYS_REPORTS_REQUIRE_REAL_ORG=1" in DOCKERFILE


def test_serve_on_sandbox_settings_in_the_image_stops_naming_the_mount(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--config", str(REPO / "settings.yaml")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), "GENESYS_REPORTS_REQUIRE_REAL_ORG": "1"},
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "genesys.environment: sandbox (synthetic data)" in result.stderr
    assert "mount your settings" in result.stderr
    assert not (tmp_path / "state").exists()  # stopped before it started anything


@pytest.mark.parametrize("flag", ["0", None])
def test_sandbox_settings_are_served_when_not_required(flag: str | None) -> None:
    settings = load_settings(REPO / "settings.yaml", environ={})
    environ = {} if flag is None else {"GENESYS_REPORTS_REQUIRE_REAL_ORG": flag}
    refuse_sandbox_where_required(settings, REPO / "settings.yaml", environ)  # no error


def test_real_org_settings_pass_the_guard() -> None:
    settings = parse_settings(
        {
            "genesys": {"environment": "mypurecloud.ie", "client_id": "i", "client_secret": "s"},
            "reports": [{"name": "r"}],
        },
        environ={},
    )
    refuse_sandbox_where_required(settings, Path("x"), {"GENESYS_REPORTS_REQUIRE_REAL_ORG": "1"})
    with pytest.raises(ConfigError):
        refuse_sandbox_where_required(
            load_settings(REPO / "settings.yaml", environ={}),
            Path("x"),
            {"GENESYS_REPORTS_REQUIRE_REAL_ORG": "1"},
        )
