"""The host side of the plugin contract (issue 13), as Python sees it: a
wait counts once however it is sliced; a queue on a transport without
cross_process is refused across processes; destroy() needs only the
mandatory ops."""

import os
import queue
import subprocess
import sys
import threading

import pytest

import sage_queue
from sage_queue import SageQueue

AVAILABLE = {t.name for t in sage_queue.transports() if t.ok}
FIXTURES = os.environ.get("SAGE_TEST_FIXTURES", "")


def _counts(q):
    st = q.get_stats()
    return st["blocked_gets"], st["blocked_puts"], st["timeouts"]


@pytest.mark.parametrize("transport", ["shm", "posixmq"])
@pytest.mark.parametrize("where", ["main", "thread"])
def test_one_timed_out_call_counts_one_timeout(transport, where, qname):
    """The main thread waits in 50 ms slices (so Ctrl-C is seen): a get
    that times out after 0.3 s still counts one blocked get and one
    timeout, and so does a put on a full queue."""
    if transport not in AVAILABLE:
        pytest.skip(f"{transport} not built")
    q = SageQueue(qname, transport=transport, max_items=1)
    try:
        def calls():
            with pytest.raises(queue.Empty):
                q.get(timeout=0.3)
            assert _counts(q) == (1, 0, 1)
            q.put(1)
            with pytest.raises(queue.Full):
                q.put(2, timeout=0.3)
            assert _counts(q) == (1, 1, 2)
            with pytest.raises(queue.Full):
                q.put_nowait(3)  # never waits: neither blocked nor timed out
            assert _counts(q) == (1, 1, 2)

        if where == "main":
            calls()
        else:
            errors = []
            t = threading.Thread(target=lambda: _record(errors, calls))
            t.start()
            t.join(30)
            assert not errors, errors[0]
    finally:
        q.destroy()


def _record(errors, fn):
    try:
        fn()
    except BaseException as exc:  # pragma: no cover - reported by the test
        errors.append(exc)


IN_PROCESS = r"""
import os, pickle, queue, sys, threading, time
import sage_queue
from sage_queue import NotSupportedError, QueueClosedError, QueueNotFoundError, SageQueue

q = SageQueue("contract", transport="mem")
q.put("x")
try:
    pickle.dumps(q)
    print("pickled")
except NotSupportedError as exc:
    print("pickle refused:", "cross_process" in str(exc))
try:
    q.get_reference()
    print("reference made")
except NotSupportedError:
    print("reference refused")

pid = os.fork()
if pid == 0:
    try:
        q.put("from the child")
        os._exit(3)
    except QueueClosedError as exc:
        os._exit(0 if "forked child" in str(exc) else 4)
_, status = os.waitpid(pid, 0)
print("child:", os.waitstatus_to_exitcode(status))
assert q.get_nowait() == "x"

# destroy() while another thread is blocked in get: the mem transport has
# no unlink op, only the mandatory destroy.
started = threading.Event()
def blocked():
    started.set()
    try:
        q.get(timeout=1.0)
    except (queue.Empty, QueueClosedError):
        pass
t = threading.Thread(target=blocked)
t.start()
started.wait()
while q.get_stats()["waiting_readers"] == 0 and t.is_alive():
    time.sleep(0.001)
q.destroy()
again = SageQueue("contract", transport="mem")  # a new queue, or the old one
print("destroyed" if again.get_stats()["total_put"] == 0 else "still there")
again.destroy()
t.join(5)
"""


def test_in_process_transport_is_refused_across_processes():
    if not os.path.exists(os.path.join(FIXTURES, "sage-mem.so")):
        pytest.skip("fixture plugins are built by make check")
    package = os.path.dirname(os.path.dirname(sage_queue.__file__))
    env = dict(os.environ, SAGE_PLUGIN_PATH=FIXTURES,
               PYTHONPATH=os.pathsep.join([package, os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", IN_PROCESS], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:5] == [
        "pickle refused: True", "reference refused", "child: 0", "destroyed", ""], out.stdout
