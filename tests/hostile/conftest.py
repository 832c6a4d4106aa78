"""Hostile-input tests use the client tests' sandbox-and-client fixture.

Hypothesis keeps caches (constants, unicode data) in ``.hypothesis/``; these property tests are
derandomized and need none of it, so it goes to a temporary directory removed at exit instead
of the working tree.
"""

import atexit
import shutil
import tempfile

from hypothesis.configuration import set_hypothesis_home_dir

from tests.genesys.conftest import connect

_HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="hostile-hypothesis-")
set_hypothesis_home_dir(_HYPOTHESIS_HOME)
atexit.register(shutil.rmtree, _HYPOTHESIS_HOME, ignore_errors=True)

__all__ = ["connect"]
