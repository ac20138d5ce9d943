"""Switching transports at runtime: the same code over shm and posixmq,
chosen per queue or through $SAGE_TRANSPORT, with no other change."""

import os
import subprocess
import sys

import pytest

import helpers
import sage_queue
from sage_queue import SageQueue

AVAILABLE = {t.name for t in sage_queue.transports() if t.ok}


def roundtrip(q):
    items = [b"raw", {"k": [1, 2, 3]}, "text", 42]
    for item in items:
        q.put(item, timeout=5)
    assert [q.get(timeout=5) for _ in items] == items
    assert q.empty()


@pytest.mark.parametrize("transport", ["shm", "posixmq"])
def test_same_code_on_each_transport(transport, qname):
    if transport not in AVAILABLE:
        pytest.skip(f"transport {transport} not built here")
    q = SageQueue(qname, transport=transport)
    try:
        assert transport in repr(q)
        roundtrip(q)
    finally:
        q.destroy()


def test_transports_lists_capabilities():
    by_name = {t.name: t for t in sage_queue.transports()}
    assert by_name["shm"].ok and "zero_copy" in by_name["shm"].capabilities
    if "posixmq" in by_name:
        assert "zero_copy" not in by_name["posixmq"].capabilities


@pytest.mark.skipif("posixmq" not in AVAILABLE, reason="posixmq not built")
def test_env_selects_the_transport(qname):
    code = (
        "import sage_queue, sys\n"
        f"q = sage_queue.SageQueue({qname!r})\n"
        "q.put('via env', timeout=5)\n"
        "assert q.get(timeout=5) == 'via env'\n"
        "print(repr(q))\n"
        "q.destroy()\n"
    )
    env = dict(os.environ, SAGE_TRANSPORT="posixmq",
               PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                         capture_output=True, text=True, timeout=60).stdout
    assert "posixmq" in out
