"""Timeouts: never early, not much late (generous slack: noisy 2-core VMs)."""

import queue
import threading
import time

import pytest

EARLY = 0.002  # clock granularity allowance
LATE = 1.5     # upper slack


def elapsed(fn):
    start = time.monotonic()
    try:
        fn()
    except (queue.Empty, queue.Full):
        pass
    return time.monotonic() - start


@pytest.mark.parametrize("timeout", [0.05, 0.3])
def test_get_timeout(q, timeout):
    with pytest.raises(queue.Empty):
        q.get(timeout=timeout)
    took = elapsed(lambda: q.get(timeout=timeout))
    assert timeout - EARLY <= took <= timeout + LATE
    assert q.get_stats()["timeouts"] >= 2


@pytest.mark.parametrize("method", ["get_many", "get_bytes"])
def test_other_gets_time_out(q, method):
    took = elapsed(lambda: getattr(q, method)(timeout=0.2))
    assert 0.2 - EARLY <= took <= 0.2 + LATE


def test_put_timeout_when_full(make_queue):
    q = make_queue(max_items=1)
    q.put(1)
    with pytest.raises(queue.Full):
        q.put(2, timeout=0.2)
    took = elapsed(lambda: q.put(2, timeout=0.2))
    assert 0.2 - EARLY <= took <= 0.2 + LATE
    took = elapsed(lambda: q.put_bytes(b"x", timeout=0.2))
    assert 0.2 - EARLY <= took <= 0.2 + LATE
    assert q.get() == 1


def test_large_put_timeout_when_full(make_queue):
    q = make_queue(maxsize=1 << 18)
    big = b"z" * 100_000  # out of band: the reserve path
    q.put(big)
    q.put(big)
    took = elapsed(lambda: q.put(big, timeout=0.2))
    assert 0.2 - EARLY <= took <= 0.2 + LATE
    assert q.qsize() == 2


def test_zero_timeout_and_nonblocking_return_at_once(q):
    for call in (lambda: q.get(timeout=0), lambda: q.get(block=False),
                 lambda: q.get(False, 5), lambda: q.get_nowait()):
        assert elapsed(call) < 0.5
    with pytest.raises(queue.Empty):
        q.get(block=False, timeout=-1)  # block=False ignores the timeout


def test_negative_timeout_raises_value_error(q):
    with pytest.raises(ValueError):
        q.get(timeout=-0.1)
    with pytest.raises(ValueError):
        q.put(1, timeout=-1)
    assert q.qsize() == 0


def test_get_waits_for_a_late_put(q):
    def later():
        time.sleep(0.2)
        q.put("late")

    t = threading.Thread(target=later)
    start = time.monotonic()
    t.start()
    assert q.get(timeout=30) == "late"
    took = time.monotonic() - start
    t.join()
    assert 0.2 - EARLY <= took <= 0.2 + LATE


def test_none_timeout_blocks_until_item(q):
    t = threading.Timer(0.2, q.put, args=("x",))
    t.start()
    assert q.get() == "x"
    t.join()


def test_join_timeout(q):
    q.put(1)
    start = time.monotonic()
    assert q.join(timeout=0.2) is False
    took = time.monotonic() - start
    assert 0.2 - EARLY <= took <= 0.2 + LATE
