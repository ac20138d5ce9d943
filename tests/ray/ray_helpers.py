"""Actors and helpers for the Ray tests. Ray workers import this module by
name (conftest puts tests/ray on PYTHONPATH, which they inherit)."""

import glob
import os
import secrets
import time

import ray

from sage_queue import Empty, SageQueue, SageQueueRef
from sage_queue import ray as sq_ray

PREFIX = "rayt-"
SESSION = int(os.environ.get("SAGE_RAY_TEST_SESSION", os.getpid()))


def unique_name() -> str:
    return f"{PREFIX}{SESSION}-{secrets.token_hex(5)}"


def leftover_segments():
    return sorted(glob.glob(f"/dev/shm/sageq-{os.geteuid()}-{PREFIX}{SESSION}-*"))


def segment_path(name: str) -> str:
    return f"/dev/shm/sageq-{os.geteuid()}-{name}"


def remove_queue(q) -> None:
    """Destroys q's queue even if q was closed."""
    if not q.closed:
        q.destroy()
    elif os.path.exists(segment_path(q.name)):
        try:
            SageQueueRef(q.name, q.transport).get_queue().destroy()
        except Exception:
            pass


def open_queue(q):
    """A queue argument may arrive as a SageQueue (already opened when it
    was unpickled) or as a reference."""
    return q.get_queue() if isinstance(q, SageQueueRef) else q


def take_until_stops(q, stops, batch):
    """Takes items until ``stops`` None markers; returns the others. Markers
    beyond ``stops`` that came in the same batch are put back for the other
    consumers."""
    got = []
    seen = 0
    while seen < stops:
        items = q.get_many(batch, timeout=60) if batch > 1 else [q.get(timeout=60)]
        for item in items:
            if item is None:
                seen += 1
            else:
                got.append(item)
    for _ in range(seen - stops):
        q.put(None)
    return got


@ray.remote(num_cpus=0)
class Producer:
    def run(self, q, start, count, batch=0, stops=0):
        q = open_queue(q)
        ids = range(start, start + count)
        if batch:
            for i in range(start, start + count, batch):
                q.put_many([(j, f"m{j}") for j in range(i, min(i + batch, start + count))])
        else:
            for i in ids:
                q.put((i, f"m{i}"))
        for _ in range(stops):
            q.put(None)
        return count, type(q).__name__


@ray.remote(num_cpus=0)
class Consumer:
    """Keeps the queue it was given in its state."""

    def __init__(self, q=None):
        self.q = q

    def kind(self):
        return type(self.q).__name__

    def node(self):
        return ray.get_runtime_context().get_node_id()

    def run(self, q=None, stops=1, batch=1, square=False):
        """Takes (i, payload) items until ``stops`` markers; returns the ids,
        the ids whose payload is wrong ("m{i}", or i*i with square), and
        the kind of queue object it used."""
        q = open_queue(q) if q is not None else self.q
        items = take_until_stops(q, stops, batch)
        bad = [i for i, v in items if v != (i * i if square else f"m{i}")]
        return [i for i, _ in items], bad, type(q).__name__

    def take(self, n, timeout=60):
        return [self.q.get(timeout=timeout) for _ in range(n)]


@ray.remote(num_cpus=0)
class Processor:
    def __init__(self, src, dst):
        self.src, self.dst = src, dst
        self.done = 0

    def run(self, batch=128):
        while True:
            items = self.src.get_many(batch, timeout=60)
            stop = None in items
            work = [(i, i * i) for i in items if i is not None]
            if work:
                self.dst.put_many(work)
                self.done += len(work)
            if stop:
                # one marker each: leave the others for the other processors
                for _ in range(items.count(None) - 1):
                    self.src.put(None)
                self.dst.put(None)
                return self.done


@ray.remote(num_cpus=0)
class Acker:
    """Consumes ``q`` and acknowledges every id it took on ``acks``, one
    batch at a time (a kill between get and ack loses at most a batch)."""

    def __init__(self, q, acks):
        self.q, self.acks = q, acks

    def ready(self):
        return os.getpid()

    def run(self, batch, delay=0.0, stops=1):
        seen = 0
        while True:
            items = self.q.get_many(batch, timeout=60)
            ids = [i for i in items if i is not None]
            if ids:
                self.acks.put_many(ids)
            seen += len(items) - len(ids)
            if seen >= stops:
                return "done"
            if delay:
                time.sleep(delay)

    def block_in_get(self):
        return self.q.get()


@ray.remote(num_cpus=0, max_concurrency=2)
class ThreadedWaiter:
    def wait_get(self, q, timeout=None):
        return q.get(timeout=timeout)

    def ping(self):
        return "pong"


@ray.remote(num_cpus=0)
class AsyncWaiter:
    async def wait_get(self, q, timeout=None):
        return await sq_ray.get_async(q, timeout=timeout)

    async def wait_put(self, q, item):
        await sq_ray.put_async(q, item)
        return True

    async def ping(self):
        return "pong"


@ray.remote(num_cpus=0)
class Holder:
    """Makes queues on its node and hands them out."""

    def __init__(self):
        self.queues = []

    def node(self):
        return ray.get_runtime_context().get_node_id()

    def make(self, name, **kwargs):
        q = SageQueue(name, **kwargs)
        self.queues.append(q)
        return q

    def make_ref(self, name, **kwargs):
        return self.make(name, **kwargs).get_reference()

    def destroy_all(self):
        for q in self.queues:
            q.destroy()
        self.queues.clear()


@ray.remote(num_cpus=0)
def task_put(q, items):
    q = open_queue(q)
    q.put_many(items)
    return q


@ray.remote(num_cpus=0)
def task_get(q, n):
    q = open_queue(q)
    return [q.get(timeout=30) for _ in range(n)]


@ray.remote(num_cpus=0)
def task_kind(q):
    return type(open_queue(q)).__name__


@ray.remote(num_cpus=0)
def task_remote_semantics(ref):
    """Exercises the remote API from another node; returns what happened."""
    import numpy as np  # noqa: F401 (numpy is installed with the test deps)

    from sage_queue import Full, MessageTooLarge
    from sage_queue.errors import DecodeError

    out = {}
    q = ref.get_queue()
    out["kind"] = type(q).__name__
    out["node"] = q.node_id
    try:
        q.get_nowait()
        out["empty_nowait"] = False
    except Empty:
        out["empty_nowait"] = True
    t = time.monotonic()
    try:
        q.get(timeout=0.3)
    except Empty:
        out["empty_timeout_s"] = time.monotonic() - t
    q.put({"a": 1})
    q.put_bytes(b"raw-bytes")
    out["qsize"] = q.qsize()
    out["dict"] = q.get(timeout=5)
    try:
        q.get()
    except DecodeError as exc:
        out["decode_error_payload"] = exc.payload
    arr = np.arange(20_000, dtype=np.float64)  # 160 KB: an out-of-band frame
    q.put(arr)
    back = q.get(timeout=5)
    out["numpy_ok"] = bool((back == arr).all()) and back.dtype == arr.dtype
    try:
        q.put(b"x" * (q.max_message + 1))
    except MessageTooLarge:
        out["too_large"] = True
    q.put_many([1, 2])  # max_items=2 in the test: now full
    out["full"] = q.full()
    try:
        q.put_nowait(3)
    except Full:
        out["full_nowait"] = True
    t = time.monotonic()
    try:
        q.put(3, timeout=0.3)
    except Full as exc:
        out["full_timeout_s"] = time.monotonic() - t
        out["full_done"] = getattr(exc, "done", None)
    out["many"] = q.get_many(10, timeout=5)
    stats = q.get_stats()
    out["stats_proxy"] = stats.get("proxy")
    out["stats_keys"] = sorted(k for k in ("buffer_size", "message_count", "proxy_got")
                               if k in stats)
    q.close()
    return out
