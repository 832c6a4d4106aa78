"""Async detail jobs of the sandbox (reference §5): QUEUED -> PENDING -> FULFILLED after a delay,
or FAILED / EXPIRED when a fault says so; results paged by an opaque cursor."""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from app.sandbox.query_body import ParsedQuery
from app.sandbox.records import Conversation


@dataclass(slots=True)
class Job:
    job_id: str
    query: ParsedQuery
    submitted_ms: int  # data clock, for submissionDate
    submitted_at: float  # time.monotonic(), for the state machine
    delay_seconds: float
    expiry_seconds: float
    outcome: str = "FULFILLED"  # or "FAILED" / "EXPIRED" when injected
    results: list[Conversation] | None = None  # selected once, at the first results fetch
    availability_ms: int = 0  # the watermark the job's results reflect

    def state(self) -> str:
        elapsed = time.monotonic() - self.submitted_at
        if elapsed < self.delay_seconds / 3:
            return "QUEUED"
        if elapsed < self.delay_seconds:
            return "PENDING"
        if self.outcome != "FULFILLED":
            return self.outcome
        if elapsed >= self.delay_seconds + self.expiry_seconds:
            return "EXPIRED"
        return "FULFILLED"

    def status(self, iso: Any) -> dict[str, Any]:
        state = self.state()
        body: dict[str, Any] = {"state": state, "submissionDate": iso(self.submitted_ms)}
        done_ms = self.submitted_ms + round(self.delay_seconds * 1000)
        if state in {"FULFILLED", "FAILED", "EXPIRED"}:
            body["completionDate"] = iso(done_ms)
        if state == "FULFILLED":
            body["expirationDate"] = iso(done_ms + round(self.expiry_seconds * 1000))
        if state == "FAILED":
            body["errorMessage"] = "The analytics job failed (injected by the sandbox)."
        return body


@dataclass(slots=True)
class JobStore:
    jobs: dict[str, Job] = field(default_factory=dict)

    def add(self, job: Job) -> None:
        # Expired jobs are gone for good; dropping them keeps a long-running sandbox small.
        for old in [j for j in self.jobs.values() if j.state() == "EXPIRED"]:
            del self.jobs[old.job_id]
        self.jobs[job.job_id] = job

    def running(self) -> int:
        """Jobs QUEUED or PENDING: what the concurrency limit counts."""
        return sum(1 for j in self.jobs.values() if j.state() in {"QUEUED", "PENDING"})

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def delete(self, job_id: str) -> bool:
        return self.jobs.pop(job_id, None) is not None


def new_job_id() -> str:
    return str(uuid.uuid4())


def encode_cursor(job_id: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{job_id}:{offset}".encode()).decode().rstrip("=")


def decode_cursor(job_id: str, cursor: str) -> int | None:
    """The offset a cursor stands for, or None if it is not one of this job's cursors."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        owner, _, offset = base64.urlsafe_b64decode(padded).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    if owner != job_id or not offset.isdigit():
        return None
    return int(offset)
