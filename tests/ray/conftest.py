"""Fixtures for the Ray tests (tests/ray).

Run by tests/ray/run_pytest.sh under `make check` (which exports
SAGE_QUEUE_LIB and SAGE_PLUGIN_PATH for the uninstalled build); by hand they
fall back to the build/ folder of the source tree. Ray's processes inherit
this process's environment (workers are started by the raylet, which the
tests start), so the variables set here reach every actor: the library,
the plugins, and PYTHONPATH with the package and ray_helpers.

Each module starts its own Ray (a single node, or a two-node
ray.cluster_utils.Cluster) and shuts it down at its end. The session checks
that no queue made by the tests is left in /dev/shm and that no process
started by Ray for this session outlives it.
"""

import glob
import os
import shutil
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(os.path.dirname(HERE))


# The build tree's environment ($SAGE_TEST_BUILDDIR or build/;
# tools/sage_env.py), with the package and this directory on every Ray
# worker's path.
sys.path.insert(0, os.path.join(SRCDIR, "tools"))
import sage_env  # noqa: E402

sage_env.use(paths=[os.path.join(SRCDIR, "python"), HERE])
# Marks every process Ray starts for this session (see leftover_processes).
os.environ["SAGE_RAY_TEST_SESSION"] = str(os.getpid())
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
sys.path.insert(0, os.path.join(SRCDIR, "python"))
sys.path.insert(0, HERE)

ray = pytest.importorskip("ray", reason="Ray is not installed in this Python")

from ray.cluster_utils import Cluster  # noqa: E402

import ray_helpers  # noqa: E402

TEMP_DIR = f"/tmp/sqray-{os.getpid()}"
OBJECT_STORE = 100 << 20


def leftover_processes():
    """Processes (other than this one) that carry this session's marker in
    their environment: Ray's daemons and workers started by the tests."""
    mark = f"SAGE_RAY_TEST_SESSION={os.getpid()}".encode()
    found = []
    for proc in glob.glob("/proc/[0-9]*"):
        pid = int(proc[6:])
        if pid == os.getpid():
            continue
        try:
            with open(f"{proc}/environ", "rb") as f:
                if mark in f.read().split(b"\0"):
                    with open(f"{proc}/cmdline", "rb") as c:
                        found.append((pid, c.read(80).split(b"\0")[0].decode(errors="replace")))
        except OSError:
            pass
    return found


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind():
    """No test queue in /dev/shm and no Ray process left when the session
    ends."""
    yield
    if ray.is_initialized():
        ray.shutdown()
    deadline = time.monotonic() + 30
    while leftover_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    procs = leftover_processes()
    segments = ray_helpers.leftover_segments()
    for path in segments:
        os.unlink(path)
    for pid, _ in procs:
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    shutil.rmtree(TEMP_DIR, ignore_errors=True)
    assert not segments, f"queues left behind in /dev/shm: {segments}"
    assert not procs, f"Ray processes left running: {procs}"


@pytest.fixture(scope="module")
def ray_local():
    """A single-node Ray with 2 CPUs for the module."""
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=OBJECT_STORE,
             _temp_dir=TEMP_DIR, namespace="sageq-tests")
    yield ray.get_runtime_context().get_node_id()
    ray.shutdown()


@pytest.fixture(scope="module")
def cluster():
    """Two Ray nodes on this machine (distinct node ids, one /dev/shm); the
    driver is connected to the first. Yields (node1_id, node2_id)."""
    # Cluster records the head's address in Ray's default temp dir whatever
    # temp_dir says, and fails if that dir does not exist (a fresh machine).
    os.makedirs(os.path.dirname(ray._private.utils.get_ray_address_file(None)),
                exist_ok=True)
    c = Cluster(initialize_head=True,
                head_node_args=dict(num_cpus=1, include_dashboard=False,
                                    object_store_memory=OBJECT_STORE, temp_dir=TEMP_DIR))
    node2 = c.add_node(num_cpus=1, object_store_memory=OBJECT_STORE, temp_dir=TEMP_DIR)
    try:
        ray.init(address=c.address, namespace="sageq-tests")
        c.wait_for_nodes()
        node1 = ray.get_runtime_context().get_node_id()
        assert node1 != node2.node_id
        yield node1, node2.node_id
    finally:
        ray.shutdown()
        c.shutdown()


@pytest.fixture
def make_queue():
    """Creates queues with unique names; destroys them after the test."""
    made = []

    def make(name=None, **kwargs):
        from sage_queue import SageQueue

        q = SageQueue(name or ray_helpers.unique_name(), **kwargs)
        made.append(q)
        return q

    yield make
    for q in made:
        ray_helpers.remove_queue(q)
