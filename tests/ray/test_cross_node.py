"""Across Ray nodes: a two-node ray.cluster_utils.Cluster on this machine.

Both nodes share this machine's /dev/shm, so a process on node 2 could map
the segment; the reference still routes on the node id and goes through the
proxy actor on node 1. Every test checks that the proxy path was taken."""

import os
import time

import pytest
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

import ray_helpers as h
from sage_queue import QueueNotFoundError, SageQueue
from sage_queue import ray as sq_ray

N = 12_000


def on(node_id):
    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id, soft=False)}


def proxy_counters(q, node_id):
    proxy = sq_ray.find_proxy(q.get_reference(), node_id)
    assert proxy is not None, "no proxy actor: the proxy path was not taken"
    return ray.get(proxy.counters.remote())


def test_consumer_on_node2_reads_through_the_proxy(cluster, make_queue):
    node1, node2 = cluster
    q = make_queue(maxsize=1 << 20)
    assert q.get_reference().node_id == node1
    assert os.path.exists(h.segment_path(q.name))  # visible to node 2 as well
    consumer = h.Consumer.options(**on(node2)).remote(q)
    assert ray.get(consumer.node.remote()) == node2
    assert ray.get(consumer.kind.remote()) == "RemoteSageQueue"
    result = consumer.run.remote(stops=1, batch=500)
    for i in range(0, N, 1000):
        q.put_many([(j, f"m{j}") for j in range(i, i + 1000)])
    q.put(None)
    ids, bad, kind = ray.get(result, timeout=180)
    assert kind == "RemoteSageQueue"
    assert not bad
    assert ids == list(range(N))  # nothing lost, nothing repeated, in order
    counters = proxy_counters(q, node1)
    assert counters["got"] == N + 1  # every message went through the proxy
    assert counters["openers"] >= 1
    proxy = sq_ray.find_proxy(q.get_reference(), node1)
    assert q.qsize() == 0
    stats = q.get_stats()
    assert stats["total_got"] == N + 1
    # one proxy per queue, shared: a second remote opener reuses it
    assert ray.get(h.task_kind.options(**on(node2)).remote(q)) == "RemoteSageQueue"
    assert sq_ray.find_proxy(q.get_reference(), node1)._actor_id == proxy._actor_id
    assert proxy_counters(q, node1)["openers"] >= 2


def test_producer_on_node2_with_write_behind(cluster, make_queue):
    node1, node2 = cluster
    q = make_queue(maxsize=1 << 20)

    @ray.remote(num_cpus=0)
    def produce(ref, count):
        remote = ref.get_queue(batch=256, linger=0.005)
        assert type(remote).__name__ == "RemoteSageQueue"
        for i in range(count):
            remote.put((i, f"m{i}"))
        remote.close()  # sends what is buffered
        return count

    assert ray.get(produce.options(**on(node2)).remote(q.get_reference(), N), timeout=180) == N
    got = []
    while len(got) < N:
        got.extend(q.get_many(4096, timeout=10))
    assert got == [(i, f"m{i}") for i in range(N)]
    counters = proxy_counters(q, node1)
    assert counters["put"] == N and counters["calls"] < N // 10  # batched


def test_pipelined_batches_keep_their_order(cluster, make_queue):
    """A large put_many from node 2 goes as several ordered calls in flight
    at once; a reader with read-ahead takes them back in order."""
    node1, node2 = cluster
    q = make_queue(maxsize=1 << 18)  # small ring: the proxy waits for room

    @ray.remote(num_cpus=0)
    def produce(ref, count):
        remote = ref.get_queue()
        return remote.put_many([(i, f"m{i}") for i in range(count)])

    @ray.remote(num_cpus=0)
    def consume(ref, count):
        remote = ref.get_queue(prefetch=512)
        got = []
        while len(got) < count:
            got.extend(remote.get_many(300, timeout=60))
        remote.close()
        return got

    consumer = consume.options(**on(node2)).remote(q.get_reference(), 30_000)
    assert ray.get(produce.options(**on(node2)).remote(q.get_reference(), 30_000),
                   timeout=120) == 30_000
    assert ray.get(consumer, timeout=120) == [(i, f"m{i}") for i in range(30_000)]
    assert proxy_counters(q, node1)["calls"] >= 30 + 30_000 // 512


def test_remote_api_semantics(cluster, make_queue):
    node1, node2 = cluster
    q = make_queue(maxsize=1 << 20, max_items=2)
    out = ray.get(h.task_remote_semantics.options(**on(node2)).remote(q.get_reference()),
                  timeout=120)
    assert out["kind"] == "RemoteSageQueue" and out["node"] == node1
    assert out["empty_nowait"] is True
    assert out["empty_timeout_s"] >= 0.3
    assert out["qsize"] == 2
    assert out["dict"] == {"a": 1}
    assert out["decode_error_payload"] == b"raw-bytes"
    assert out["numpy_ok"] is True
    assert out["too_large"] is True
    assert out["full"] is True and out["full_nowait"] is True
    assert out["full_timeout_s"] >= 0.3 and out["full_done"] == 0
    assert out["many"] == [1, 2]
    assert out["stats_proxy"] is True
    assert out["stats_keys"] == ["buffer_size", "message_count", "proxy_got"]
    assert q.qsize() == 0


def test_task_done_and_join_across_nodes(cluster, make_queue):
    node1, node2 = cluster
    q = make_queue()

    @ray.remote(num_cpus=0)
    def work(ref, n):
        remote = ref.get_queue(prefetch=16)
        items = [remote.get(timeout=30) for _ in range(n)]
        remote.task_done(n)
        remote.close()
        return items

    q.put_many(list(range(50)))
    assert q.join(timeout=0.1) is False
    assert ray.get(work.options(**on(node2)).remote(q.get_reference(), 50),
                   timeout=60) == list(range(50))
    assert q.join(timeout=10) is True


def test_prefetched_messages_go_back_on_close(cluster, make_queue):
    node1, node2 = cluster
    q = make_queue()

    @ray.remote(num_cpus=0)
    def take_one(ref):
        remote = ref.get_queue(prefetch=64)
        first = remote.get(timeout=30)
        left = remote.qsize()  # the 9 prefetched here count
        remote.close()
        return first, left

    q.put_many(list(range(10)))
    first, left = ray.get(take_one.options(**on(node2)).remote(q.get_reference()), timeout=60)
    assert first == 0 and left == 9
    assert sorted(q.get_many(100, timeout=5)) == list(range(1, 10))


def test_queue_made_on_node2_opened_from_node1(cluster):
    node1, node2 = cluster
    holder = h.Holder.options(**on(node2)).remote()
    name = h.unique_name()
    ref = ray.get(holder.make_ref.remote(name))
    assert ref.node_id == node2
    remote = ref.get_queue()  # the driver is on node 1
    assert type(remote).__name__ == "RemoteSageQueue" and remote.node_id == node2
    remote.put_many(list(range(1000)))
    assert remote.qsize() == 1000
    assert remote.get_many(2000, timeout=10) == list(range(1000))
    # the SageQueue returned by the actor is the remote kind here as well
    q = ray.get(holder.make.remote(name))
    assert type(q).__name__ == "RemoteSageQueue"
    q.close()
    # the creator destroys it: the proxy ends, and a later open fails
    ray.get(holder.destroy_all.remote())
    deadline = time.monotonic() + 10
    while sq_ray.find_proxy(ref) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sq_ray.find_proxy(ref) is None
    with pytest.raises(QueueNotFoundError):
        remote.qsize()
    with pytest.raises(QueueNotFoundError):
        ref.get_queue()
    assert not os.path.exists(h.segment_path(name))


def test_destroyed_queue_never_reappears_empty(cluster):
    node1, node2 = cluster
    q = SageQueue(h.unique_name())
    ref = q.get_reference()
    assert ray.get(h.task_kind.options(**on(node2)).remote(ref)) == "RemoteSageQueue"
    assert sq_ray.find_proxy(ref) is not None
    q.destroy()  # the creator's destroy() stops the proxy (its watch would too, later)
    deadline = time.monotonic() + 5
    while sq_ray.find_proxy(ref) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sq_ray.find_proxy(ref) is None

    @ray.remote(num_cpus=0)
    def try_open(ref):
        try:
            ref.get_queue()
        except QueueNotFoundError as exc:
            return str(exc)
        return "opened"

    message = ray.get(try_open.options(**on(node2)).remote(ref), timeout=60)
    assert ref.name in message
    assert not os.path.exists(h.segment_path(ref.name))
    deadline = time.monotonic() + 10
    while sq_ray.find_proxy(ref) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sq_ray.find_proxy(ref) is None


def test_remote_destroy_and_killed_remote_consumer(cluster, make_queue):
    node1, node2 = cluster
    q = make_queue()
    acks = make_queue()
    first = h.Acker.options(**on(node2)).remote(q, acks)
    running = first.run.remote(16, delay=0.002)
    q.put_many(list(range(5000)))
    deadline = time.monotonic() + 60
    while acks.qsize() < 500 and time.monotonic() < deadline:
        time.sleep(0.01)
    ray.kill(first, no_restart=True)
    try:
        ray.get(running, timeout=30)
    except ray.exceptions.RayActorError:
        pass
    time.sleep(0.2)
    before = acks.get_many(10000, timeout=5)
    q.put(None)
    second = h.Acker.options(**on(node2)).remote(q, acks)
    assert ray.get(second.run.remote(64), timeout=120) == "done"
    after = []
    while True:
        try:
            after.extend(acks.get_many(10000, timeout=1))
        except Exception:
            break
    ids = before + after
    assert len(ids) == len(set(ids))
    # lost: at most the batch in the killed consumer's hands, and a batch
    # the proxy had taken for it when it died
    assert len(set(range(5000)) - set(ids)) <= 32
    # a remote opener may destroy the queue too
    remote_kind = ray.get(h.task_kind.options(**on(node2)).remote(q))
    assert remote_kind == "RemoteSageQueue"

    @ray.remote(num_cpus=0)
    def destroy(ref):
        ref.get_queue().destroy()

    ray.get(destroy.options(**on(node2)).remote(q.get_reference()), timeout=60)
    assert not os.path.exists(h.segment_path(q.name))
