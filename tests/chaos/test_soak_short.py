"""The chaos soak, short (tests/chaos/soak.py has the long one): every report and two days, once
each, under random faults plus a script of faults every run meets for sure. Each run must deliver
the fault-free report byte for byte, or fail loudly with no manifest, locally or in S3; no run
may leave a file behind.

Deterministic: the fault generators are seeded and nothing waits on the clock to synchronise.
Which request meets which random fault depends on the order concurrent requests arrive in, so
the split between recovered and failed runs may vary; what is asserted may not.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.soak import GENESYS_WEIGHTS, S3Target, SoakOptions, run_soak

# Taken by the first API requests of every run, an "ok" between two faults so that no single
# request is faulted more often than it is retried.
GENESYS_SCRIPT = (
    "500",
    "ok",
    "reset",
    "ok",
    "truncated",
    "ok",
    "bad_json",
    "ok",
    "429",
    "ok",
    "slow",
    "ok",
    "revoke_token",
    "ok",
    "503",
)
# By request class: the signed API calls (retried by botocore) ...
S3_API_SCRIPT = {"PUT": ("slowdown", "ok", "reset_after"), "HEAD": ("internal",), "GET": ("reset",)}
# ... and the access checks' plain requests: a presigned link, an anonymous GET.
S3_CHECK_SCRIPT = {"presigned": ("slowdown",), "anonymous": ("stall",)}


@pytest.mark.parametrize(
    "s3_scope",
    [
        pytest.param("signed", id="s3-faults-on-api-calls"),
        pytest.param("all", id="s3-faults-on-every-request"),
    ],
)
async def test_short_soak(s3_target: S3Target, tmp_path: Path, s3_scope: str) -> None:
    script = {**S3_API_SCRIPT, **(S3_CHECK_SCRIPT if s3_scope == "all" else {})}
    options = SoakOptions(
        runs=8,
        days=2,
        lanes=4,
        seed=11,
        fault_rate=0.2,
        job_fault_rate=0.2,
        s3_fault_rate=0.05,
        s3_scope="all" if s3_scope == "all" else "signed",
        peak_per_hour=12,
        genesys_script=GENESYS_SCRIPT,
        s3_script={name: tuple(steps) for name, steps in script.items()},
        work_dir=tmp_path,
    )
    figures = await run_soak(options, s3_target)
    summary = figures.summary()

    assert figures.runs == 8 and figures.references == 16, summary
    scripted = {kind for kind in GENESYS_SCRIPT if kind != "ok"}
    assert scripted <= set(GENESYS_WEIGHTS)
    missing = {kind for kind in scripted if not figures.genesys_faults[kind]}
    assert not missing, f"scripted faults never injected: {missing}\n{summary}"
    assert figures.s3_faults["slowdown"] and figures.s3_faults["reset_after"], summary
    assert figures.wrong == [], summary
    assert figures.left_behind == [], summary
