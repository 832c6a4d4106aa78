"""The command line as the tests run it: ``python -m app`` in a child process, from this
checkout, with the output captured."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.s3server import Credentials

REPO = Path(__file__).resolve().parents[1]


def genesys_reports(
    *args: str | Path,
    cwd: Path,
    s3_user: Credentials | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 240,
) -> subprocess.CompletedProcess[str]:
    """Run the CLI with ``args``; ``s3_user``'s keys go in as GR_TEST_KEY and GR_TEST_SECRET
    (settings name them as ``${GR_TEST_KEY}``, never in the file)."""
    extra = dict(env or {})
    if s3_user is not None:
        extra |= {"GR_TEST_KEY": s3_user.access_key_id, "GR_TEST_SECRET": s3_user.secret_access_key}
    return subprocess.run(
        [sys.executable, "-m", "app", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **extra},
        timeout=timeout,
        check=False,
    )
