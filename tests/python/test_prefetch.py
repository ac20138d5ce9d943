"""Consumer prefetch (SageQueue.prefetch): a get takes a batch of what is
ready and serves the next gets from it, in order, losing nothing."""

import multiprocessing as mp
import os
import pickle
import queue
import signal
import threading
import time

import pytest

import faults
import helpers
from sage_queue import SageQueue
from sage_queue.errors import DecodeError, NotSupportedError, QueueNotFoundError


def test_gets_come_in_order_from_one_batch(make_queue):
    q = make_queue(prefetch=8)
    assert q.prefetch == 8
    q.put_many(range(20))
    assert q.get() == 0
    # The first get took the eight ready: this object's qsize() still
    # counts them (it will return them), another handle's does not.
    assert q.prefetched == 7 and q.qsize() == 19
    assert SageQueue(q.name).qsize() == 12
    assert [q.get() for _ in range(19)] == list(range(1, 20))
    assert q.prefetched == 0 and q.qsize() == 0
    with pytest.raises(queue.Empty):
        q.get(timeout=0.01)


def test_batch_is_what_is_ready_not_a_wait_for_more(make_queue):
    q = make_queue(prefetch=64)
    q.put("only")
    assert q.get(timeout=5) == "only" and q.prefetched == 0


def test_every_get_form_sees_prefetched_messages_first(make_queue):
    q = make_queue(prefetch=4)
    q.put_many(["a", "b"])
    q.put_bytes(b"raw")
    q.put("c")
    assert q.get_nowait() == "a"
    assert q.get_many(1) == ["b"]
    assert q.get_bytes() == b"raw"
    assert q.get(timeout=1) == "c"


def test_turning_it_off_keeps_what_was_taken_first(make_queue):
    q = make_queue()
    q.prefetch = 16
    q.put_many(range(5))
    assert q.get() == 0
    q.prefetch = 0
    assert q.prefetch == 0
    q.put(5)
    assert [q.get() for _ in range(5)] == [1, 2, 3, 4, 5]
    assert q.prefetched == 0


def test_bad_values_are_refused(make_queue):
    q = make_queue()
    with pytest.raises(ValueError):
        q.prefetch = -1
    with pytest.raises(TypeError):
        q.prefetch = 2.5
    q.prefetch = 1  # one at a time: the same as off
    assert q.prefetch == 0


def test_close_puts_prefetched_messages_back(make_queue):
    owner = make_queue()
    q = SageQueue(owner.name, prefetch=10)
    owner.put_many(range(6))
    assert q.get() == 0
    q.close()
    assert helpers.drain(owner) == [1, 2, 3, 4, 5]


def test_an_undecodable_message_is_raised_in_its_turn(make_queue):
    q = make_queue(prefetch=8)
    q.put("before")
    q.put_bytes(b"junk")
    q.put("after")
    assert q.get() == "before"
    with pytest.raises(DecodeError) as info:
        q.get()
    assert info.value.payload == b"junk"
    assert q.get() == "after"


def _consume_prefetching(ref, n, results):
    q = ref.get_queue()
    q.prefetch = 32
    got = []
    while True:
        item = q.get(timeout=30)
        if item is None:
            break
        got.append(item)
    results.put(got)
    q.close()


def test_consumers_share_the_work_losing_and_repeating_nothing(make_queue):
    q = make_queue(maxsize=1 << 20)
    ctx = mp.get_context("fork")
    results = ctx.Queue()
    consumers = [ctx.Process(target=_consume_prefetching, args=(q.get_reference(), 0, results))
                 for _ in range(3)]
    for c in consumers:
        c.start()
    sent = [(i, pickle.dumps(i)) for i in range(20_000)]
    for item in sent:
        q.put(item)
    for _ in consumers:
        q.put(None)
    got = [x for _ in consumers for x in results.get(timeout=60)]
    for c in consumers:
        c.join(30)
        assert c.exitcode == 0
    assert sorted(got) == sent


def test_prefetch_needs_batches(make_queue, monkeypatch):
    fixtures = os.environ.get("SAGE_TEST_FIXTURES", "")
    if not os.path.exists(os.path.join(fixtures, "sage-mem.so")):
        pytest.skip("fixture plugins are built by make check")
    monkeypatch.setenv("SAGE_PLUGIN_PATH",
                       os.pathsep.join([os.environ["SAGE_PLUGIN_PATH"], fixtures]))
    q = SageQueue(helpers.unique_name(), transport="mem")
    try:
        with pytest.raises(NotSupportedError, match="batch"):
            q.prefetch = 8
        assert q.prefetch == 0
    finally:
        q.destroy()


@pytest.mark.skipif(not faults.SUPPORTED, reason="needs CPython 3.11+ tracing")
@pytest.mark.parametrize("kind", faults.KINDS)
def test_an_exception_anywhere_in_a_prefetching_get_loses_nothing(make_queue, kind):
    """Raises at every point of get() while prefetching (refill and serve):
    what the interrupted get took is returned by the next ones, in order."""
    q = make_queue(prefetch=4)
    other = SageQueue(q.name)
    expected = []

    def setup():
        while q.prefetched or q.qsize():
            expected.append(q.get(timeout=5))
        expected.clear()
        other.put_many(["x", "y", "z"])
        expected.extend(["x", "y", "z"])

    def check(_, inj, ok, value):
        got = [value] if ok else []
        if not ok:
            assert isinstance(value, kind), value
        while len(got) < 3:
            got.append(q.get(timeout=5))
        assert got == expected, inj.fired

    points = faults.sweep(setup, lambda _: q.get(timeout=5), check, exc=kind)
    assert points > 5
    other.close()


def test_threads_share_one_prefetching_queue(make_queue):
    q = make_queue(prefetch=16)
    n = 4000
    got = [[] for _ in range(4)]

    def take(out):
        while True:
            item = q.get(timeout=30)
            if item is None:
                return
            out.append(item)

    threads = [threading.Thread(target=take, args=(g,)) for g in got]
    for t in threads:
        t.start()
    for i in range(n):
        q.put(i)
    for _ in threads:
        q.put(None)
    for t in threads:
        t.join(60)
    assert sorted(x for g in got for x in g) == list(range(n))
    for g in got:  # each thread sees its share in queue order
        assert g == sorted(g)


def test_a_timeout_holds_while_another_thread_waits_forever(make_queue):
    q = make_queue(prefetch=8)
    waiting = threading.Thread(target=lambda: q.get(), daemon=True)
    waiting.start()
    deadline = time.monotonic() + 10
    while not q.get_stats()["waiting_readers"] and time.monotonic() < deadline:
        waiting.join(0.001)  # until it sleeps in the ring's wait
    t = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.2)
    assert 0.15 < time.monotonic() - t < 2.0
    q.put("for the waiting thread")
    waiting.join(10)
    assert not waiting.is_alive()


def test_large_messages_pass_through_in_order(make_queue):
    q = make_queue(maxsize=1 << 23, prefetch=8)
    big = os.urandom(600_000)  # larger than a batch's buffer
    q.put("a")
    q.put(big)
    q.put_bytes(big)
    q.put("b")
    assert q.get() == "a"
    assert q.get() == big
    assert q.get_bytes() == big
    assert q.get() == "b"


def test_a_dropped_prefetching_queue_gives_back_at_once(make_queue):
    owner = make_queue()
    q = SageQueue(owner.name, prefetch=8)
    owner.put_many(range(4))
    assert q.get() == 0
    del q  # no reference cycle: closed (and the rest given back) right here
    assert helpers.drain(owner) == [1, 2, 3]


def test_join_holds_after_close_gives_back(make_queue):
    owner = make_queue()
    q = SageQueue(owner.name, prefetch=8)
    owner.put_many(range(4))
    assert q.get() == 0
    q.task_done()
    q.close()  # 1, 2, 3 go back: still three unfinished tasks, not six
    assert owner.unfinished_tasks == 3
    for _ in range(3):
        owner.get()
        owner.task_done()
    assert owner.join(timeout=1)


def test_bad_prefetch_leaves_no_queue(qname):
    with pytest.raises(ValueError):
        SageQueue(qname, prefetch=-1)
    with pytest.raises(QueueNotFoundError):
        SageQueue(qname, create="never")


def test_a_timed_out_prefetching_get_counts_once(make_queue):
    q = make_queue(prefetch=8)
    before = q.get_stats()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.1)  # ten refill slices
    after = q.get_stats()
    assert after["blocked_gets"] - before["blocked_gets"] == 1
    assert after["timeouts"] - before["timeouts"] == 1


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs pthread_kill")
def test_a_prefetching_get_interrupted_by_signals_still_counts_once(make_queue):
    """Signals that interrupt a refill slice (-EINTR) resume it as a slice:
    only the get's own end counts as a timeout."""
    q = make_queue(prefetch=8)
    previous = signal.signal(signal.SIGUSR1, lambda *_: None)
    stop = threading.Event()
    main = threading.main_thread().ident

    def poke():
        while not stop.wait(0.003):
            signal.pthread_kill(main, signal.SIGUSR1)

    poker = threading.Thread(target=poke)
    before = q.get_stats()
    poker.start()
    try:
        with pytest.raises(queue.Empty):
            q.get(timeout=0.2)
    finally:
        stop.set()
        poker.join()
        signal.signal(signal.SIGUSR1, previous)
    after = q.get_stats()
    assert after["blocked_gets"] - before["blocked_gets"] == 1
    assert after["timeouts"] - before["timeouts"] == 1


def test_get_nowait_does_not_wait_for_another_threads_refill(make_queue):
    q = make_queue(prefetch=8)
    waiting = threading.Thread(target=lambda: q.get(), daemon=True)
    waiting.start()
    deadline = time.monotonic() + 10
    while not q.get_stats()["waiting_readers"] and time.monotonic() < deadline:
        waiting.join(0.001)
    worst = 0.0
    for _ in range(20):
        t = time.monotonic()
        with pytest.raises(queue.Empty):
            q.get_nowait()
        worst = max(worst, time.monotonic() - t)
    assert worst < 0.05, worst
    q.put("for the waiting thread")
    waiting.join(10)
    assert not waiting.is_alive()


def test_negative_timeout_is_refused_with_prefetch(make_queue):
    q = make_queue(prefetch=8)
    with pytest.raises(ValueError):
        q.get(timeout=-1)
