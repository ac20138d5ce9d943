"""Shared fixtures for the sage_queue test suite.

Run by tests/python/run_pytest.sh under `make check` (which exports
SAGE_QUEUE_LIB and SAGE_PLUGIN_PATH for the uninstalled build). Run by hand,
it falls back to the build/ folder of the source tree when those are unset.
"""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(os.path.dirname(HERE))


def _default_env() -> None:
    build = os.environ.get("SAGE_TEST_BUILDDIR") or os.path.join(SRCDIR, "build")
    lib = os.path.join(build, "src", ".libs", "libsagequeue.so")
    if "SAGE_QUEUE_LIB" not in os.environ and os.path.exists(lib):
        os.environ["SAGE_QUEUE_LIB"] = lib
    plugins = os.path.join(build, "plugin", ".libs")
    if "SAGE_PLUGIN_PATH" not in os.environ and os.path.isdir(plugins):
        os.environ["SAGE_PLUGIN_PATH"] = plugins
    fixtures = os.path.join(build, "tests", "fixtures", ".libs")
    if "SAGE_TEST_FIXTURES" not in os.environ and os.path.isdir(fixtures):
        os.environ["SAGE_TEST_FIXTURES"] = fixtures


_default_env()
sys.path.insert(0, os.path.join(SRCDIR, "python"))
sys.path.insert(0, HERE)

import helpers  # noqa: E402
from sage_queue import SageQueue  # noqa: E402


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
