"""The exception tree of genesys-reports.

::

    ReportsError                  anything this program raises on purpose
    ├── ConfigError               settings unreadable or invalid (exit 2); lists every problem
    ├── SandboxError              the embedded sandbox could not start
    └── GenesysError              a Genesys Cloud call failed for good (added by the client)

Library exceptions (aiohttp, botocore, yaml, pydantic) are translated into these at the boundary
where they happen, carrying what was being done. Messages never contain secrets.
"""

from __future__ import annotations


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
