"""The queue.Queue interface and SageQueue's additions, in one process."""

import gc
import os
import pickle
import queue
import threading
import time

import pytest

import helpers
import sage_queue
from sage_queue import (QueueClosedError, QueueNotFoundError, SageQueue, SageQueueError,
                        SageQueueRef)

LEGACY_KEYS = ["buffer_size", "available_read", "available_write", "utilization", "readers",
               "writers", "ref_count", "total_bytes_written", "total_bytes_read",
               "message_count"]
C_KEYS = ["capacity", "max_message", "max_items", "bytes_used", "items", "total_put",
          "total_got", "bytes_put", "bytes_got", "high_water", "blocked_puts", "blocked_gets",
          "timeouts", "abandoned", "attached", "waiting_readers", "waiting_writers",
          "owner_uid", "creator_pid", "created_ns", "stale_attached", "unfinished"]


def test_fifo_order_and_values(q):
    items = [None, 0, -1, 2**80, 1.5, "text", b"bytes", (1, 2), [3, {"k": [4]}], {1, 2}]
    for item in items:
        q.put(item)
    assert [q.get() for _ in items] == items


def test_standard_exceptions_are_queue_module_ones(q):
    assert sage_queue.Empty is queue.Empty and sage_queue.Full is queue.Full
    with pytest.raises(queue.Empty):
        q.get_nowait()
    with pytest.raises(queue.Empty):
        q.get(block=False)


def test_put_nowait_full_with_max_items(make_queue):
    q = make_queue(max_items=3)
    assert q.max_items == 3
    for i in range(3):
        q.put_nowait(i)
    assert q.full() and q.qsize() == 3
    with pytest.raises(queue.Full):
        q.put_nowait(3)
    with pytest.raises(queue.Full):
        q.put(3, block=False)
    assert q.get_nowait() == 0
    assert not q.full()
    q.put_nowait(3)
    assert [q.get() for _ in range(3)] == [1, 2, 3]


def test_full_by_bytes(make_queue):
    q = make_queue(maxsize=4096)
    assert q.maxsize == 4096 and q.max_message == 2048
    payload = b"x" * 1000
    n = 0
    while True:
        try:
            q.put_bytes(payload, block=False)
        except queue.Full:
            break
        n += 1
    assert 2 <= n <= 4
    # A smaller message may still fit; full() reports only a snapshot.
    assert q.qsize() == n


def test_small_messages_count_in_stats(make_queue):
    """Small messages live in their slots and hold no ring bytes; the legacy
    keys still see them (payload bytes, and the slot fraction)."""
    q = make_queue(maxsize=4096)
    for i in range(50):
        q.put(i)
    stats = q.get_stats()
    assert stats["bytes_used"] == 0 and stats["items"] == 50
    assert stats["available_read"] == stats["bytes_put"] > 0
    assert stats["utilization"] == pytest.approx(50 / q.max_items)
    assert q.get_buffer_stats()["utilization"] == stats["utilization"]
    assert [q.get() for _ in range(50)] == list(range(50))
    assert q.get_stats()["available_read"] == 0


def test_qsize_empty_len(q):
    assert q.empty() and q.qsize() == 0 and len(q) == 0
    q.put(1)
    q.put(2)
    assert not q.empty() and q.qsize() == 2 and len(q) == 2
    assert bool(q)  # a queue is truthy even when empty, unlike a container
    q.get()
    q.get()
    assert q.empty()


def test_capacity_rounds_up_to_power_of_two(make_queue):
    q = make_queue(maxsize=5000)
    assert q.maxsize == 8192 and q.capacity == 8192 and q.max_message == 4096
    assert make_queue(maxsize=None).maxsize == sage_queue.DEFAULT_CAPACITY


def test_task_done_and_join_in_process(q):
    for i in range(5):
        q.put(i)
    assert q.unfinished_tasks == 5
    assert q.join(timeout=0) is False

    def worker():
        for _ in range(5):
            q.get()
            time.sleep(0.01)
            q.task_done()

    t = threading.Thread(target=worker)
    t.start()
    assert q.join(timeout=30) is True
    t.join()
    assert q.unfinished_tasks == 0
    assert q.join() is True


def test_task_done_over_call_raises_value_error(q):
    with pytest.raises(ValueError, match="too many times"):
        q.task_done()
    q.put("a")
    q.get()
    q.task_done()
    with pytest.raises(ValueError, match="too many times"):
        q.task_done()
    q.put("b")
    with pytest.raises(ValueError):
        q.task_done(2)
    q.task_done(1)  # done may precede get, as in queue.Queue accounting
    assert q.unfinished_tasks == 0


def test_put_many_get_many_pickled(q):
    items = [{"i": i} for i in range(500)]
    assert q.put_many(items) == 500
    assert q.qsize() == 500
    got = []
    while len(got) < 500:
        got += q.get_many(128, timeout=1)
        assert len(got) <= 500
    assert got == items
    assert q.put_many([]) == 0


def test_get_many_returns_what_is_ready(q):
    q.put_many([1, 2, 3])
    assert q.get_many(10) == [1, 2, 3]
    with pytest.raises(queue.Empty):
        q.get_many(10, block=False)
    q.put(4)
    assert q.get_many(1) == [4]
    with pytest.raises(ValueError):
        q.get_many(0)


def test_put_many_get_many_raw(q):
    data = [os.urandom(n) for n in (0, 1, 7, 64, 1000)]
    q.put_many(data, raw=True)
    assert q.get_many(100, raw=True) == data
    q.put_many([bytearray(b"ab"), memoryview(b"cd")], raw=True)
    assert q.get_many(100, raw=True) == [b"ab", b"cd"]


def test_put_many_full_reports_prefix(make_queue):
    q = make_queue(max_items=4)
    with pytest.raises(queue.Full) as info:
        q.put_many(range(10), timeout=0.05)
    assert info.value.done == 4
    assert q.get_many(10) == [0, 1, 2, 3]


def test_raw_bytes_path(q):
    for data in (b"", b"\x80\x05not a pickle", bytes(range(256)) * 4):
        q.put_bytes(data)
        assert q.get_bytes() == data
    q.put_bytes(bytearray(b"mutable"))
    q.put_bytes(memoryview(b"0123456789")[2:5])
    assert q.get_bytes() == b"mutable"
    assert q.get_bytes() == b"234"
    big = os.urandom(300_000)
    q.put_bytes(big)
    q.put_bytes(bytearray(big))
    assert q.get_bytes() == big
    assert q.get_bytes() == big


def test_get_of_raw_message_raises_decode_error(q):
    q.put_bytes(b"plain")
    with pytest.raises(sage_queue.DecodeError) as info:
        q.get()
    assert info.value.payload == b"plain"
    assert q.name in str(info.value)
    q.put({"x": 1})
    assert pickle.loads(q.get_bytes()) == {"x": 1}


def test_close_is_idempotent_and_use_after_close_raises(qname):
    q = SageQueue(qname)
    q.put("kept")
    q.close()
    q.close()
    assert q.closed
    for call in (lambda: q.put(1), q.get, q.get_nowait, q.qsize, q.empty, q.full,
                 q.task_done, q.join, q.get_stats, lambda: q.put_many([1]),
                 lambda: q.get_many(2), lambda: q.put_bytes(b"x"), q.get_bytes,
                 lambda: pickle.dumps(q)):
        with pytest.raises(QueueClosedError) as info:
            call()
        assert isinstance(info.value, ValueError)
        assert qname in str(info.value)
    assert "closed" in repr(q)
    # close keeps the queue and its messages
    again = SageQueue(qname)
    assert again.get(timeout=1) == "kept"
    again.destroy()


def test_destroy_removes_name_but_attached_handles_keep_working(qname):
    q = SageQueue(qname)
    other = q.get_reference().get_queue()
    q.destroy()
    q.destroy()  # idempotent
    with pytest.raises(QueueClosedError):
        q.put(1)
    assert not os.path.exists(helpers.segment_path(qname))
    with pytest.raises(QueueNotFoundError):
        q.get_reference().get_queue()
    other.put("still works")
    assert other.get() == "still works"
    other.close()


def test_context_manager_closes(qname):
    with SageQueue(qname) as q:
        q.put(1)
    assert q.closed
    with SageQueue(qname) as q2:
        assert q2.get() == 1
        q2.destroy()


def test_repr(q):
    text = repr(q)
    assert q.name in text and "transport=shm" in text and "capacity=1048576" in text
    q.put(1)
    assert "items=1" in repr(q)


def test_unique_names(make_queue):
    a, b = SageQueue(), SageQueue()
    try:
        assert a.name != b.name
        a.put(1)
        assert b.empty()
    finally:
        a.destroy()
        b.destroy()


def test_get_stats_has_every_field_and_legacy_keys(q):
    q.put(b"x" * 100)
    q.put(b"y" * 100)
    q.get()
    stats = q.get_stats()
    for key in C_KEYS + LEGACY_KEYS:
        assert key in stats, key
    assert stats["name"] == q.name and stats["transport"] == "shm"
    assert stats["total_put"] == 2 and stats["total_got"] == 1 and stats["items"] == 1
    assert stats["message_count"] == 1
    assert stats["buffer_size"] == stats["capacity"] == 1 << 20
    assert stats["bytes_used"] > 100
    assert stats["available_read"] == stats["bytes_put"] - stats["bytes_got"] > 100
    assert stats["available_write"] == stats["capacity"] - stats["bytes_used"]
    assert 0 < stats["utilization"] < 1
    assert stats["utilization"] == pytest.approx(max(
        stats["bytes_used"] / stats["capacity"], stats["items"] / q.max_items))
    assert stats["attached"] == stats["ref_count"] == stats["readers"] == 1
    assert stats["total_bytes_written"] == stats["bytes_put"] > 200
    assert stats["total_bytes_read"] == stats["bytes_got"] > 100
    assert stats["creator_pid"] == os.getpid() and stats["owner_uid"] == os.geteuid()
    assert stats["unfinished"] == 2


def test_transports_lists_shm_with_capabilities():
    found = {t.name: t for t in sage_queue.transports()}
    shm = found["shm"]
    assert shm.ok and shm.abi.startswith("1.")
    for cap in ("mpmc", "blocking", "cross_process", "zero_copy", "batch"):
        assert cap in shm.capabilities


def test_transport_argument_and_environment(qname, monkeypatch):
    with pytest.raises(sage_queue.TransportNotFoundError) as info:
        SageQueue(qname, transport="nosuchtransport")
    assert "nosuchtransport" in str(info.value)
    monkeypatch.setenv("SAGE_TRANSPORT", "nosuchtransport")
    with pytest.raises(sage_queue.TransportNotFoundError):
        SageQueue(qname)
    q = SageQueue(qname, transport="shm")  # explicit wins over the variable
    assert q.transport == "shm"
    # the reference records the transport actually used
    assert q.get_reference().transport == "shm"
    q.destroy()


def test_reference_is_small_and_reopens(q):
    ref = q.get_reference()
    assert isinstance(ref, SageQueueRef) and ref.name == q.name
    blob = pickle.dumps(ref)
    assert len(blob) < 300
    q.put("via ref")
    other = pickle.loads(blob).get_queue()
    assert other.get() == "via ref"
    other.close()


def test_pickling_the_queue_sends_its_reference(q):
    blob = pickle.dumps(q)
    assert len(blob) < 400
    copy = pickle.loads(blob)
    assert isinstance(copy, SageQueue) and copy.name == q.name and copy is not q
    copy.put(42)
    assert q.get() == 42
    copy.close()


def test_threads_many_producers_and_consumers(q):
    per, producers, consumers = 2000, 4, 3
    results = []
    lock = threading.Lock()

    def produce(base):
        for i in range(per):
            q.put(base + i)

    def consume():
        got = []
        while True:
            item = q.get(timeout=30)
            if item is None:
                break
            got.append(item)
        with lock:
            results.extend(got)

    threads = [threading.Thread(target=produce, args=(p * per,)) for p in range(producers)]
    threads += [threading.Thread(target=consume) for _ in range(consumers)]
    for t in threads:
        t.start()
    for t in threads[:producers]:
        t.join()
    for _ in range(consumers):
        q.put(None)
    for t in threads[producers:]:
        t.join()
    assert sorted(results) == list(range(per * producers))


def test_more_blocked_consumer_threads_than_lanes(q):
    # One handle per process has 8 lanes; 16 threads asleep in get must not
    # keep the producer thread from putting what wakes them.
    consumers = 16
    got = []
    lock = threading.Lock()

    def consume():
        item = q.get(timeout=30)
        with lock:
            got.append(item)

    threads = [threading.Thread(target=consume) for _ in range(consumers)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while q.get_stats()["waiting_readers"] < consumers and time.monotonic() < deadline:
        time.sleep(0.01)
    assert q.get_stats()["waiting_readers"] == consumers
    for i in range(consumers):
        q.put(i, timeout=2)
    for t in threads:
        t.join(timeout=30)
    assert sorted(got) == list(range(consumers))


def test_blocking_get_releases_the_gil(q):
    ticks = []
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.001)

    t = threading.Thread(target=spin)
    t.start()
    try:
        with pytest.raises(queue.Empty):
            q.get(timeout=0.3)
    finally:
        stop.set()
        t.join()
    assert len(ticks) > 20


def test_close_while_another_thread_is_blocked(q):
    other = q.get_reference().get_queue()
    got = []
    t = threading.Thread(target=lambda: got.append(q.get(timeout=30)))
    t.start()
    deadline = time.monotonic() + 10  # until the get sleeps in the queue
    while other.get_stats()["waiting_readers"] < 1:
        assert t.is_alive() and time.monotonic() < deadline, "the get never blocked"
        time.sleep(0.001)
    q.close()  # must not free the handle under the blocked thread
    with pytest.raises(QueueClosedError):
        q.put(1)
    other.put("wake")
    t.join(30)
    assert got == ["wake"]
    other.destroy()


def test_garbage_collected_queue_detaches(qname):
    q = SageQueue(qname)
    watcher = q.get_reference().get_queue()
    assert watcher.get_stats()["attached"] == 2
    del q
    gc.collect()
    assert watcher.get_stats()["attached"] == 1
    watcher.destroy()


def test_auto_cleanup_removes_queue_with_last_handle(qname):
    q = SageQueue(qname, auto_cleanup=True)
    other = q.get_reference().get_queue()
    q.close()
    assert os.path.exists(helpers.segment_path(qname))
    other.close()
    assert not os.path.exists(helpers.segment_path(qname))


def test_options_pass_through(make_queue, qname):
    q = make_queue(qname, mode=0o600, spin_ns=0, **{"x-anything": "ignored"})
    assert os.stat(helpers.segment_path(qname)).st_mode & 0o777 == 0o600
    assert q.get_reference().options.get("spin_ns") == "0"
    with pytest.raises(SageQueueError) as info:
        SageQueue(helpers.unique_name(), no_such_option=1)
    assert "no_such_option" in str(info.value)


def test_create_never_and_always(make_queue, qname):
    with pytest.raises(QueueNotFoundError):
        SageQueue(qname, create="never")
    make_queue(qname)
    with pytest.raises(sage_queue.QueueExistsError):
        SageQueue(qname, create="always")


def test_get_many_keeps_each_messages_shared_references_apart(q):
    a, b = [5], [7]
    q.put_many([[[1], [1]], [a, a], [b, b, "x"]])
    first, second, third = q.get_many(10)
    assert first == [[1], [1]] and second == [[5], [5]] and third == [[7], [7], "x"]
    assert second[0] is second[1] and first[0] is not first[1]
