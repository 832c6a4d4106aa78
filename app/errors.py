"""The exception tree of genesys-reports.

::

    ReportsError                  anything this program raises on purpose
    ├── ConfigError               settings unreadable or invalid (exit 2); lists every problem
    ├── SandboxError              the embedded sandbox could not start
    ├── DeliveryError             an upload, a link or an access-control check failed
    ├── StorageError              the local disk refused a read or write (full, read-only, ...)
    └── GenesysError              a Genesys Cloud call failed for good
        ├── GenesysAuthError      no token: bad client id/secret, wrong environment
        ├── GenesysApiError       a non-retryable answer (400, 403, 404, ...): code, message,
        │                         contextId
        ├── GenesysRateLimitError a 429 asking to wait longer than genesys.max_retry_after
        ├── GenesysUnavailableError  retries exhausted (5xx, timeouts, resets, bad bodies)
        ├── GenesysProtocolError  an answer that breaks the documented contract
        └── GenesysJobError       an async job ended FAILED, EXPIRED or CANCELLED, or took
                                  too long

Library exceptions (aiohttp, botocore, yaml, pydantic) are translated into these at the boundary
where they happen, carrying what was being done (endpoint, window). Messages never contain
secrets or tokens.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class ReportsError(Exception):
    """Base of every error this program raises on purpose."""

    exit_code = 1


class ConfigError(ReportsError):
    """The settings are unusable. ``problems`` lists each one as ``dotted.key: message``."""

    exit_code = 2

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{source}: {count} {noun}:\n" + "\n".join(f"  {p}" for p in problems))


class SandboxError(ReportsError):
    """The embedded Genesys Cloud sandbox could not start or serve."""


class DeliveryError(ReportsError):
    """Delivering a finished report failed; the local copies are kept."""


class StorageError(ReportsError):
    """The local disk refused a read or a write (full, read-only, gone); the message says which
    stage and directory. The run commits nothing: the period is not marked done."""


class GenesysError(ReportsError):
    """A Genesys Cloud call failed for good. ``what`` says what was being done."""

    def __init__(self, message: str, *, what: str = "") -> None:
        self.what = what
        super().__init__(f"{what}: {message}" if what else message)


class GenesysAuthError(GenesysError):
    """The token endpoint refused the client, or could not be reached."""


class GenesysApiError(GenesysError):
    """A response that retrying cannot fix, with the Genesys error fields."""

    def __init__(
        self,
        *,
        status: int,
        code: str,
        message: str,
        context_id: str,
        what: str = "",
    ) -> None:
        self.status = status
        self.code = code
        self.genesys_message = message
        self.context_id = context_id
        detail = f"HTTP {status} {code}: {message}"
        if context_id:
            detail += f" (contextId {context_id})"
        super().__init__(detail, what=what)


class GenesysRateLimitError(GenesysError):
    """Genesys asked to wait longer than we are willing to (a daily quota, most likely)."""


class GenesysUnavailableError(GenesysError):
    """Retries were exhausted; ``cause`` is the last failure's kind (``503``, ``timeout``...)."""

    def __init__(self, message: str, *, cause: str, attempts: int, what: str = "") -> None:
        self.cause = cause
        self.attempts = attempts
        super().__init__(message, what=what)


class GenesysProtocolError(GenesysError):
    """The API answered in a way its contract does not allow (e.g. a repeated cursor)."""


class GenesysTooManyResultsError(GenesysProtocolError):
    """One detail query holds more results than paging can reach (``genesys.max_query_results``):
    its window must be split."""


class GenesysJobError(GenesysError):
    """An async analytics job did not deliver its results. ``state`` is the job's final state
    (FAILED, CANCELLED, EXPIRED), or None when it took too long."""

    def __init__(self, message: str, *, what: str = "", state: str | None = None) -> None:
        self.state = state
        super().__init__(message, what=what)


@contextlib.contextmanager
def on_disk(doing: str) -> Iterator[None]:
    """Turn an OSError in the block into a StorageError saying ``doing`` (which names the file
    or directory) and the system's reason: "writing /data/x.csv: No space left on device".

    Only for blocks that touch nothing but local files: TimeoutError and aiohttp's connection
    errors are OSErrors too."""
    try:
        yield
    except FileExistsError:
        raise  # a name taken twice is a bug in the caller, not a condition of the disk
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        if exc.filename is not None and str(exc.filename) not in doing:
            reason = f"{reason} ({exc.filename})"
        raise StorageError(f"{doing}: {reason}") from exc
