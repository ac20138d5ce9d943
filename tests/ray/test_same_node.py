"""Same node: queues between Ray actors and tasks, passed as arguments,
returned, stored in actor state and put in the object store."""

import pickle
import queue
import time
from collections import Counter

import pytest
import ray

import ray_helpers as h
from sage_queue import SageQueue, SageQueueRef

N = 12_000


def exactly_once(ids, count, start=0):
    """Every id in range(start, start+count) exactly once."""
    dupes = [i for i, n in Counter(ids).items() if n > 1]
    assert not dupes, f"duplicated: {dupes[:10]}"
    assert sorted(ids) == list(range(start, start + count))


def test_one_producer_one_consumer(ray_local, make_queue):
    q = make_queue(maxsize=1 << 20)
    consumer = h.Consumer.remote()
    producer = h.Producer.remote()
    got = consumer.run.remote(q, stops=1)
    count, kind = ray.get(producer.run.remote(q, 0, N, stops=1), timeout=120)
    ids, bad, ckind = ray.get(got, timeout=120)
    assert count == N and kind == ckind == "SageQueue"  # never the proxy on one node
    assert not bad
    assert ids == list(range(N))  # one producer: FIFO order too
    assert q.qsize() == 0


def test_three_producers_two_consumers(ray_local, make_queue):
    q = make_queue(maxsize=1 << 20)
    per = 4_000
    consumers = [h.Consumer.remote(q) for _ in range(2)]  # the queue lives in their state
    assert ray.get([c.kind.remote() for c in consumers]) == ["SageQueue"] * 2
    results = [c.run.remote(stops=1, batch=64) for c in consumers]
    producers = [h.Producer.remote() for _ in range(3)]
    done = ray.get([p.run.remote(q.get_reference(), i * per, per, batch=(0, 100, 7)[i])
                    for i, p in enumerate(producers)], timeout=120)
    assert [d[0] for d in done] == [per] * 3
    q.put_many([None, None])
    reports = ray.get(results, timeout=120)
    ids = [i for r in reports for i in r[0]]
    assert not any(r[1] for r in reports)
    exactly_once(ids, 3 * per)
    # each producer's items stay in order within each consumer
    for r in reports:
        for p in range(3):
            mine = [i for i in r[0] if p * per <= i < (p + 1) * per]
            assert mine == sorted(mine)


def test_source_processors_sink_pipeline(ray_local, make_queue):
    stage1, stage2 = make_queue(maxsize=1 << 20), make_queue(maxsize=1 << 20)
    processors = [h.Processor.remote(stage1, stage2) for _ in range(2)]
    runs = [p.run.remote() for p in processors]
    sink = h.Consumer.remote(stage2)
    sunk = sink.run.remote(stops=2, batch=256, square=True)

    @ray.remote(num_cpus=0)
    def source(out, count, workers):
        for i in range(0, count, 500):
            out.put_many(list(range(i, min(i + 500, count))))
        out.put_many([None] * workers)
        return count

    assert ray.get(source.remote(stage1, N, 2), timeout=120) == N
    per_processor = ray.get(runs, timeout=120)
    assert sum(per_processor) == N
    ids, bad, _ = ray.get(sunk, timeout=120)
    assert not bad
    exactly_once(ids, N)


def test_references_through_the_object_store(ray_local, make_queue):
    q = make_queue()
    ref = q.get_reference()
    assert ref.node_id == ray_local and ref.host
    assert ray.get(ray.put(ref)) == ref
    q.put("through ray.put")
    q2 = ray.get(ray.put(q))  # a SageQueue pickles as its reference
    assert isinstance(q2, SageQueue) and q2.name == q.name
    assert q2.get(timeout=5) == "through ray.put"
    q2.close()
    # an ObjectRef to a queue, given to a task, arrives as the queue
    obj = ray.put(q)
    assert ray.get(h.task_kind.remote(obj)) == "SageQueue"
    assert len(pickle.dumps(ref)) < 400  # with the creator identity (issue 18, item 10)


def test_queues_as_arguments_and_return_values(ray_local, make_queue):
    q = make_queue()
    # task argument (queue and reference) and return value
    back = ray.get(h.task_put.remote(q, [1, 2, 3]))
    assert isinstance(back, SageQueue) and back.name == q.name
    back.close()
    assert ray.get(h.task_get.remote(q.get_reference(), 3)) == [1, 2, 3]
    # an actor makes queues and returns them (and references to them)
    holder = h.Holder.remote()
    name, name2 = h.unique_name(), h.unique_name()
    made = ray.get(holder.make.remote(name, maxsize=1 << 16))
    assert isinstance(made, SageQueue) and made.capacity == 1 << 16
    made_ref = ray.get(holder.make_ref.remote(name2))
    assert isinstance(made_ref, SageQueueRef) and made_ref.node_id == ray_local
    made.put("from the driver")
    consumer = h.Consumer.remote(made)  # stored in actor state
    assert ray.get(consumer.take.remote(1)) == ["from the driver"]
    q3 = made_ref.get_queue()
    q3.put("x")
    assert ray.get(h.task_get.remote(made_ref, 1)) == ["x"]
    q3.close()
    made.close()
    ray.get(holder.destroy_all.remote())
    assert not h.leftover_segments() or all(name not in p and name2 not in p
                                             for p in h.leftover_segments())


def _until_waiting(q, stat, pending, timeout=60):
    """Waits until q's stats count a sleeper in `stat` (the remote call
    `pending` is then blocked in the queue), failing if it never comes."""
    deadline = time.monotonic() + timeout
    while q.get_stats()[stat] < 1:
        ready, _ = ray.wait([pending], timeout=0)
        assert not ready, f"the call returned before it blocked: {ray.get(ready[0])!r}"
        assert time.monotonic() < deadline, f"no {stat} after {timeout} s"
        time.sleep(0.005)


def test_blocking_get_releases_the_actor(ray_local, make_queue):
    q = make_queue()
    threaded = h.ThreadedWaiter.remote()
    waiting = threaded.wait_get.remote(q, 60)
    _until_waiting(q, "waiting_readers", waiting)
    # the actor's other thread still answers while one waits in get()
    assert ray.get(threaded.ping.remote(), timeout=10) == "pong"
    q.put("wake")
    assert ray.get(waiting, timeout=30) == "wake"

    aio = h.AsyncWaiter.remote()
    waiting = aio.wait_get.remote(q, 60)
    _until_waiting(q, "waiting_readers", waiting)
    assert ray.get(aio.ping.remote(), timeout=10) == "pong"  # event loop not blocked
    q.put("async wake")
    assert ray.get(waiting, timeout=30) == "async wake"
    # time-outs keep queue.Empty's type across the actor boundary
    with pytest.raises(queue.Empty):
        ray.get(aio.wait_get.remote(q, 0.2), timeout=30)
    q2 = make_queue(max_items=1)
    q2.put(0)
    putting = aio.wait_put.remote(q2, 1)
    _until_waiting(q2, "waiting_writers", putting)
    assert ray.get(aio.ping.remote(), timeout=10) == "pong"
    assert q2.get(timeout=5) == 0
    assert ray.get(putting, timeout=30) is True
    assert q2.get(timeout=5) == 1


def test_destroy_by_creator_removes_the_segment(ray_local):
    holder = h.Holder.remote()
    name = h.unique_name()
    q = ray.get(holder.make.remote(name))
    q.put(1)
    assert h.segment_path(name) in h.leftover_segments()
    q.destroy()
    assert h.segment_path(name) not in h.leftover_segments()
    ray.get(holder.destroy_all.remote())  # already gone: no error
