"""Lifecycle under Ray: actors killed with ray.kill do not wedge a queue."""

import os
import time
from collections import Counter

import ray

import ray_helpers as h
from sage_queue import Empty

N = 12_000
BATCH = 32


def drain(acks, expected_total, timeout=120):
    """Every id acknowledged so far (waits until ``expected_total`` came or
    the acks stop arriving)."""
    ids = []
    deadline = time.monotonic() + timeout
    while len(ids) < expected_total and time.monotonic() < deadline:
        try:
            ids.extend(acks.get_many(4096, timeout=2))
        except Empty:
            break
    return ids


def test_consumer_killed_mid_stream_then_a_new_one_continues(ray_local, make_queue):
    q, acks = make_queue(maxsize=1 << 20), make_queue(maxsize=4 << 20)
    first = h.Acker.remote(q, acks)
    ray.get(first.ready.remote())
    running = first.run.remote(BATCH, delay=0.002)
    q.put_many(list(range(N)))
    # let it take part of the stream, then kill it mid-way
    deadline = time.monotonic() + 60
    while acks.qsize() < N // 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    ray.kill(first, no_restart=True)
    try:
        ray.get(running, timeout=30)
    except ray.exceptions.RayActorError:
        pass
    before = drain(acks, N, timeout=5)
    assert 0 < len(before) < N
    # the queue still works: a new consumer takes the rest
    q.put(None)
    second = h.Acker.remote(q, acks)
    assert ray.get(second.run.remote(BATCH), timeout=120) == "done"
    after = drain(acks, N - len(before), timeout=10)
    ids = before + after
    counts = Counter(ids)
    assert not [i for i, n in counts.items() if n > 1], "a message was delivered twice"
    lost = set(range(N)) - set(ids)
    # at most the batch the first consumer had taken but not acknowledged
    assert len(lost) <= BATCH, f"{len(lost)} lost"
    assert q.qsize() == 0
    # puts and gets from here still work, and the dead attachment is seen
    q.put_many([1, 2, 3])
    assert q.get_many(10, timeout=5) == [1, 2, 3]


def test_consumer_killed_while_blocked_in_get_loses_nothing(ray_local, make_queue):
    q, acks = make_queue(), make_queue()
    blocked = h.Acker.remote(q, acks)
    pid = ray.get(blocked.ready.remote())
    waiting = blocked.block_in_get.remote()
    deadline = time.monotonic() + 10
    while q.get_stats()["waiting_readers"] < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert q.get_stats()["waiting_readers"] >= 1
    ray.kill(blocked, no_restart=True)
    try:
        ray.get(waiting, timeout=30)
    except ray.exceptions.RayActorError:
        pass
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    # the dead waiter does not swallow messages: a new consumer gets them all
    q.put_many(list(range(N)) + [None])
    consumer = h.Acker.remote(q, acks)
    assert ray.get(consumer.run.remote(BATCH), timeout=120) == "done"
    assert sorted(drain(acks, N)) == list(range(N))


def test_producer_killed_mid_stream_leaves_whole_messages(ray_local, make_queue):
    q = make_queue(maxsize=1 << 16)  # small: the producer blocks on a full ring
    producer = h.Producer.remote()
    running = producer.run.remote(q, 0, 1_000_000, batch=0)
    deadline = time.monotonic() + 30
    while q.qsize() < 100 and time.monotonic() < deadline:
        time.sleep(0.01)
    ray.kill(producer, no_restart=True)
    try:
        ray.get(running, timeout=30)
    except ray.exceptions.RayActorError:
        pass
    # every message it finished is whole and in order; then the queue is
    # empty and still usable
    got = []
    while True:
        try:
            got.extend(q.get_many(1024, timeout=0.5))
        except Empty:
            break
    ids = [i for i, _ in got]
    assert ids == list(range(len(ids))) and len(ids) >= 100
    assert all(text == f"m{i}" for i, text in got)
    q.put("after")
    assert q.get(timeout=5) == "after"
