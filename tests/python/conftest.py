"""Shared fixtures for the sage_queue test suite.

Run by tests/python/run_pytest.sh under `make check` (which exports
SAGE_QUEUE_LIB and SAGE_PLUGIN_PATH for the uninstalled build). Run by hand,
it falls back to the build/ folder of the source tree when those are unset.
"""

import os
import signal
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(os.path.dirname(HERE))


# The build tree's environment ($SAGE_TEST_BUILDDIR or build/), for a
# pytest run outside `make check` (tools/sage_env.py).
sys.path.insert(0, os.path.join(SRCDIR, "tools"))
import sage_env  # noqa: E402

sage_env.use()
sys.path.insert(0, os.path.join(SRCDIR, "python"))
sys.path.insert(0, HERE)

import helpers  # noqa: E402
from sage_queue import SageQueue  # noqa: E402

# A shell's background job starts with SIGINT ignored, and Python then
# installs no handler: the Ctrl-C tests would wait for an interrupt that
# never comes. They test Python's own handler, so put it in place.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def no_leftover_segments():
    """Every queue the suite creates (names start with helpers.PREFIX) must
    be gone from /dev/shm when the session ends."""
    yield
    left = helpers.leftover_segments()
    for path in left:  # do not poison later runs
        os.unlink(path)
    assert not left, f"queues left behind in /dev/shm: {left}"


@pytest.fixture
def qname():
    """A fresh queue name that the session check covers."""
    return helpers.unique_name()


@pytest.fixture
def make_queue():
    """Creates queues with unique names; destroys them after the test."""
    made = []

    def make(name=None, **kwargs):
        q = SageQueue(name or helpers.unique_name(), **kwargs)
        made.append(q)
        return q

    yield make
    for q in made:
        helpers.remove_queue(q)


@pytest.fixture
def q(make_queue):
    """A default queue (1 MiB ring), destroyed after the test."""
    return make_queue()
