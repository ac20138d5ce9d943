"""Processes: fork, spawn and forkserver; references; ProcessPoolExecutor;
plain os.fork(); join across processes."""

import multiprocessing as mp
import os
import pickle
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import pytest

import helpers
from sage_queue import SageQueue

METHODS = [m for m in ("fork", "spawn", "forkserver") if m in mp.get_all_start_methods()]


@pytest.mark.parametrize("method", METHODS)
def test_producers_and_consumers_with_checksums(make_queue, method):
    ctx = mp.get_context(method)
    work, results = make_queue(), make_queue()
    per = 3000 if method == "fork" else 1500
    producers = [ctx.Process(target=helpers.produce, args=(work, p * per, per))
                 for p in range(2)]
    consumers = [ctx.Process(target=helpers.consume, args=(work, results)) for _ in range(2)]
    for p in producers + consumers:
        p.start()
    for p in producers:
        p.join(120)
        assert p.exitcode == 0
    work.put(None)
    work.put(None)
    reports = [results.get(timeout=120) for _ in consumers]
    for p in consumers:
        p.join(60)
        assert p.exitcode == 0
    assert sum(r[0] for r in reports) == 2 * per
    assert sum(r[1] for r in reports) == sum(range(2 * per))
    assert all(r[2] for r in reports)
    assert work.empty()


@pytest.mark.parametrize("method", METHODS)
def test_reference_through_pickle_to_child(make_queue, method):
    q = make_queue()
    ref = pickle.loads(pickle.dumps(q.get_reference()))
    p = mp.get_context(method).Process(target=helpers.produce_from_ref, args=(ref, 0, 100))
    p.start()
    got = [q.get(timeout=60) for _ in range(100)]
    p.join(60)
    assert p.exitcode == 0
    assert got == [(i, f"item-{i}") for i in range(100)]


def test_reference_to_destroyed_queue_fails_in_child(qname):
    q = SageQueue(qname)
    ref = q.get_reference()
    q.destroy()
    with mp.get_context("spawn").Pool(1) as pool:
        assert pool.apply(helpers.open_ref_in_child, (ref,)) == "QueueNotFoundError"
    assert not os.path.exists(helpers.segment_path(qname))  # nothing recreated


def test_process_pool_executor(make_queue):
    q = make_queue()
    with ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("spawn")) as pool:
        squares = list(pool.map(helpers.pool_task, [q] * 20, range(20)))
    assert squares == [i * i for i in range(20)]
    got = sorted(q.get(timeout=30)[1] for _ in range(20))
    assert got == list(range(20))
    assert q.get_stats()["stale_attached"] >= 0


def test_plain_os_fork_child_reattaches(q):
    q.put("from parent")
    pid = os.fork()
    if pid == 0:  # child: use the inherited object directly
        code = 1
        try:
            if q.get(timeout=10) == "from parent":
                for i in range(1000):
                    q.put(i)
                q.close()
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert [q.get(timeout=10) for _ in range(1000)] == list(range(1000))
    assert q.get_stats()["attached"] == 1


def test_fork_while_a_thread_is_blocked(q):
    got = []
    t = threading.Thread(target=lambda: got.append(q.get(timeout=30)))
    t.start()
    deadline = time.monotonic() + 10  # until the get sleeps in the queue
    while q.get_stats()["waiting_readers"] < 1:
        assert t.is_alive() and time.monotonic() < deadline, "the get never blocked"
        time.sleep(0.001)
    pid = os.fork()
    if pid == 0:  # the blocked thread does not exist here
        code = 1
        try:
            q.put("from child")
            q.close()  # must not wait for the parent's thread
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    t.join(30)
    assert got == ["from child"]


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_join_across_processes(make_queue, method):
    q = make_queue()
    for i in range(20):
        q.put(i)
    p = mp.get_context(method).Process(target=helpers.consume_and_mark_done,
                                       args=(q, 20, 0.01))
    p.start()
    assert q.join(timeout=0.05) is False
    assert q.join(timeout=120) is True
    p.join(60)
    assert p.exitcode == 0
    assert q.unfinished_tasks == 0
    with pytest.raises(ValueError):
        q.task_done()


def test_sage_queue_passed_directly_to_spawned_process(make_queue):
    q, results = make_queue(), make_queue()
    ctx = mp.get_context("spawn")
    p = ctx.Process(target=helpers.consume, args=(q, results))
    p.start()
    helpers.produce(q, 0, 500, done_marker=None)
    q.put(None)
    count, total, ok = results.get(timeout=120)
    p.join(60)
    assert (count, total, ok) == (500, sum(range(500)), True)
