"""Producer linger (SageQueue.lingering): puts buffered and sent in
batches by count, age, flush() and close(), in order, losing nothing."""

import gc
import multiprocessing as mp
import os
import queue
import subprocess
import sys
import threading
import time
import weakref

import pytest

from sage_queue import linger

from sage_queue import LingeringProducer, SageQueue


def test_buffered_until_max_items(make_queue):
    q = make_queue()
    p = q.lingering(max_items=4, max_delay=None)
    for i in range(3):
        p.put(i)
    assert p.pending == 3 and q.qsize() == 0  # consumers do not see them yet
    p.put(3)  # the fourth fills the buffer: one batch
    assert p.pending == 0 and [q.get(timeout=1) for _ in range(4)] == [0, 1, 2, 3]


def test_the_oldest_waits_at_most_max_delay(make_queue):
    q = make_queue()
    p = q.lingering(max_items=1000, max_delay=0.05)
    t = time.monotonic()
    p.put("soon")
    assert q.get(timeout=5) == "soon"
    assert time.monotonic() - t < 2.0
    deadline = time.monotonic() + 5  # the thread clears its in-flight count after the put
    while p.pending and time.monotonic() < deadline:
        time.sleep(0.001)
    assert p.pending == 0
    p.close()


def test_flush_close_and_with(make_queue):
    q = make_queue()
    with q.lingering(max_items=100, max_delay=None) as p:
        p.put("a")
        p.put_bytes(b"raw")
        p.flush()
        assert q.get() == "a" and q.get_bytes() == b"raw"
        p.put("b")
    assert q.get(timeout=1) == "b"  # close() flushed
    with pytest.raises(ValueError, match="closed"):
        p.put("after")


def test_order_holds_with_out_of_band_items(make_queue):
    q = make_queue(maxsize=1 << 22)
    p = q.lingering(max_items=100, max_delay=None)
    big = bytearray(os.urandom(200_000))  # pickled with out-of-band buffers
    p.put(1)
    p.put(big)
    p.put(2)
    p.close()
    assert [q.get(timeout=1) for _ in range(3)] == [1, big, 2]


def test_full_buffer_and_full_queue_raise_full_without_buffering(make_queue):
    q = make_queue(max_items=2)
    p = q.lingering(max_items=2, max_delay=None)
    p.put("a")
    p.put("b")  # buffer full: flushed into the queue (now full)
    p.put("c")
    p.put("d")  # buffer full again; the queue has no room: stays buffered
    assert p.pending == 2
    with pytest.raises(queue.Full):
        p.put("e", timeout=0.05)
    assert p.pending == 2
    assert q.get() == "a" and q.get() == "b"
    p.flush()
    assert [q.get(timeout=1) for _ in range(2)] == ["c", "d"]


def test_oversize_is_refused_at_put(make_queue):
    q = make_queue(maxsize=4096)
    p = q.lingering()
    with pytest.raises(ValueError, match="never fit"):
        p.put_bytes(b"x" * 10_000)
    assert p.pending == 0
    p.close()


def test_a_failed_background_flush_is_raised_by_the_next_call(make_queue):
    q = make_queue()
    other = SageQueue(q.name)
    p = other.lingering(max_items=100, max_delay=0.01)
    p.put("kept")
    other.close()
    deadline = time.monotonic() + 5
    while p._failed is None and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(ValueError, match="closed"):
        p.flush()
    assert p.pending == 1  # still buffered, not dropped silently
    p._items.clear()  # (else exit warns that it is lost, as it should)


def test_bad_arguments():
    q = SageQueue()
    try:
        with pytest.raises(ValueError):
            LingeringProducer(q, max_items=0)
        with pytest.raises(ValueError):
            LingeringProducer(q, max_delay=-1)
    finally:
        q.destroy()


_CHILD = """
import sys
import threading
from sage_queue import SageQueue
q = SageQueue(sys.argv[1])
p = q.lingering(max_items=1000, max_delay=None)
for i in range(10):
    p.put(i)
"""


def test_exit_flushes_what_was_never_closed(make_queue):
    q = make_queue()
    subprocess.run([sys.executable, "-c", _CHILD, q.name], check=True, timeout=60)
    assert [q.get(timeout=5) for _ in range(10)] == list(range(10))


def _child_puts(ref, results):
    q = ref.get_queue()
    # The parent's buffered messages are the parent's: the child's producer
    # (inherited) starts empty.
    results.put(_inherited.pending)
    _inherited.put("child")
    _inherited.close()
    q.close()


_inherited = None


def test_fork_child_does_not_put_the_parents_buffer_twice(make_queue):
    global _inherited
    q = make_queue()
    _inherited = q.lingering(max_items=100, max_delay=None)
    _inherited.put("parent")
    ctx = mp.get_context("fork")
    results = ctx.Queue()
    child = ctx.Process(target=_child_puts, args=(q.get_reference(), results))
    child.start()
    assert results.get(timeout=30) == 0
    child.join(30)
    _inherited.close()
    got = sorted([q.get(timeout=5), q.get(timeout=5)])
    assert got == ["child", "parent"] and q.qsize() == 0


def test_backpressure_loses_nothing(make_queue):
    """A fast producer against a small queue: every put that finds the
    buffer full flushes first; each message arrives once, in order."""
    q = make_queue(max_items=16)
    p = q.lingering(max_items=8, max_delay=0.001)
    n = 3000
    got = []
    reader = threading.Thread(target=lambda: got.extend(q.get(timeout=30) for _ in range(n)))
    reader.start()
    for i in range(n):
        p.put(i)
    p.close()
    reader.join(60)
    assert got == list(range(n))


_EXIT_CHILD = """
import sys, threading, time
from sage_queue import SageQueue
q = SageQueue(sys.argv[1])
q.put("filler")  # the queue (max_items=1) is full: the thread's flush waits
p = q.lingering(max_items=100, max_delay=0.0)
p.put("lingering")
time.sleep(0.3)  # the thread is inside its flush now
"""


def test_exit_waits_for_a_flush_in_flight(make_queue):
    q = make_queue(max_items=1)
    child = subprocess.Popen([sys.executable, "-c", _EXIT_CHILD, q.name])
    time.sleep(1.0)
    assert q.get(timeout=5) == "filler"  # room: the exit flush goes on
    assert q.get(timeout=10) == "lingering"
    assert child.wait(30) == 0


def test_a_dropped_producer_is_collected(make_queue):
    q = make_queue()
    p = q.lingering(max_items=100, max_delay=0.001)
    p.put("x")
    p.flush()
    gone = weakref.ref(p)
    del p
    gc.collect()
    assert gone() is None  # its thread holds no reference while it waits
    assert q.get(timeout=1) == "x"


def test_infinite_delay_is_refused(make_queue):
    with pytest.raises(ValueError):
        make_queue().lingering(max_delay=float("inf"))


def test_puts_racing_close_are_refused_or_put(make_queue):
    q = make_queue(maxsize=1 << 22)
    p = q.lingering(max_items=64, max_delay=0.001)
    accepted = []
    stop = threading.Event()

    def putter(k):
        for i in range(5000):  # (nobody takes: stay well below the queue's bound)
            if stop.is_set():
                return
            try:
                p.put((k, i))
            except ValueError:  # closed
                return
            accepted.append((k, i))

    threads = [threading.Thread(target=putter, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    p.close()
    stop.set()
    for t in threads:
        t.join(10)
    got = []
    while True:
        try:
            got.append(q.get_nowait())
        except queue.Empty:
            break
    assert sorted(got) == sorted(accepted)  # every put that returned is in


def test_a_dropped_producer_puts_what_it_buffered(make_queue):
    q = make_queue()
    p = q.lingering(max_items=100, max_delay=0.05)
    p.put("kept")
    del p
    gc.collect()
    assert q.get(timeout=5) == "kept"
    p = q.lingering(max_items=100, max_delay=None)  # no thread: put when dropped
    p.put("also kept")
    del p
    gc.collect()
    assert q.get(timeout=5) == "also kept"


def test_a_failed_flush_restored_without_the_lock_never_overfills(make_queue):
    """A failed flush puts its batch back without _lock; a putter in another
    thread that reads the buffer around that instant (CPython may switch
    threads right after len() returns: stood in for by a trace function)
    still never buffers past max_items."""
    q = make_queue(max_items=2)
    q.put("x")
    q.put("y")  # the queue is full: every flush fails with Full
    p = q.lingering(max_items=2, max_delay=None)
    p.put("a")
    p.put("b")  # buffer full; its flush found no room: both stay buffered
    assert p.pending == 2

    at_check, restored = threading.Event(), threading.Event()
    code = linger.LingeringProducer._add.__code__
    check_line = next(ln for _, _, ln in code.co_lines()
                      if ln and "< self._max:" in
                      open(code.co_filename).read().splitlines()[ln - 1])

    def tracer(frame, event, arg):
        if frame.f_code is code:
            def local(frame, event, arg):
                if event == "line" and frame.f_lineno == check_line and not at_check.is_set():
                    at_check.set()       # n = len(items) is read: a thread switch here
                    restored.wait(5)     # (CPython may switch right after len() returns)
                return local
            return local
        return None

    def flusher():
        try:
            p.flush(True, 0.3)  # swaps [a, b] out; put_many times out; restores
        except queue.Full:
            pass
        restored.set()

    def putter():
        sys.settrace(tracer)
        try:
            p.put("c", timeout=1)  # a full buffer and no room: Full, not buffered
        except queue.Full:
            pass
        finally:
            sys.settrace(None)

    f = threading.Thread(target=flusher)
    f.start()
    deadline = time.monotonic() + 5
    while p._flushing != 2 and time.monotonic() < deadline:
        time.sleep(0.001)
    t = threading.Thread(target=putter)
    t.start()
    t.join(10)
    f.join(10)
    # The buffer may hold at most max_items (len(_items) + _flushing <= max).
    assert p.pending <= 2, f"buffered {p._items} with max_items=2"
    assert [q.get(timeout=5), q.get(timeout=5)] == ["x", "y"]
    p.close(timeout=5)  # room now: the buffer goes in, in order
    assert [q.get(timeout=5) for _ in range(2)] == ["a", "b"] and q.empty()
