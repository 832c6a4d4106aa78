"""Hostile-input tests use the client tests' sandbox-and-client fixture."""

from tests.genesys.conftest import connect

__all__ = ["connect"]
