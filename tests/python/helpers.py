"""Helpers shared by the tests; also imported by child processes (spawn),
so everything here is module-level and picklable."""

import glob
import hashlib
import os
import queue
import secrets

from sage_queue import SageQueue, SageQueueRef

PREFIX = "pyt-"
SESSION = os.getpid()  # the pytest process: every test queue name has it


def unique_name() -> str:
    return f"{PREFIX}{SESSION}-{secrets.token_hex(5)}"


def leftover_segments():
    """Segments of queues this test session named, still in /dev/shm."""
    return sorted(glob.glob(f"/dev/shm/sageq-{os.geteuid()}-{PREFIX}{SESSION}-*"))


def segment_path(name: str) -> str:
    return f"/dev/shm/sageq-{os.geteuid()}-{name}"


def remove_queue(q: SageQueue) -> None:
    """Destroys q's queue even if q was closed."""
    if not q.closed:
        q.destroy()
    elif os.path.exists(segment_path(q.name)):
        try:
            SageQueueRef(q.name, q.transport).get_queue().destroy()
        except Exception:
            pass


def digest(values) -> str:
    h = hashlib.sha256()
    for v in values:
        h.update(repr(v).encode())
    return h.hexdigest()


# ---- process bodies (used with fork, spawn and forkserver) ----

def produce(q, start, count, done_marker=None):
    """Puts (producer_start + i, payload) items, then an optional marker."""
    for i in range(start, start + count):
        q.put((i, f"item-{i}"))
    if done_marker is not None:
        q.put(done_marker)


def consume(q, results, stop_markers=1):
    """Takes items until stop_markers None markers, then reports
    (count, sum of ids, checksum of payloads ok) on results."""
    count = total = 0
    ok = True
    seen_stops = 0
    while seen_stops < stop_markers:
        item = q.get(timeout=60)
        if item is None:
            seen_stops += 1
            continue
        i, text = item
        ok = ok and text == f"item-{i}"
        count += 1
        total += i
    results.put((count, total, ok))


def produce_from_ref(ref, start, count):
    q = ref.get_queue()
    try:
        produce(q, start, count)
    finally:
        q.close()


def consume_and_mark_done(q, count, delay=0.0):
    import time

    for _ in range(count):
        q.get(timeout=60)
        if delay:
            time.sleep(delay)
        q.task_done()


def pool_task(q, i):
    """ProcessPoolExecutor body: q arrives pickled as a reference."""
    q.put(("task", i, os.getpid()))
    return i * i


def open_ref_in_child(ref):
    """Returns the exception type name get_queue() raised, or 'ok'."""
    try:
        q = ref.get_queue()
    except Exception as exc:
        return type(exc).__name__
    q.close()
    return "ok"


def pipeline_source(out_ref, count, workers):
    out = out_ref.get_queue()
    for i in range(count):
        out.put(i)
    for _ in range(workers):
        out.put(None)
    out.close()


def pipeline_worker(in_ref, out_ref):
    src, dst = in_ref.get_queue(), out_ref.get_queue()
    while True:
        items = src.get_many(256, timeout=60)
        stops = items.count(None)
        work = [x * 3 + 1 for x in items if x is not None]
        if work:
            dst.put_many(work)
        if stops:
            for _ in range(stops - 1):  # another worker's stop marker
                src.put(None)
            dst.put(None)
            break
    src.close()
    dst.close()


def numpy_producer(ref, size, seed):
    import numpy as np

    q = ref.get_queue()
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, size=size, dtype=np.uint8)
    q.put({"seed": seed, "array": arr, "sha": hashlib.sha256(arr.tobytes()).hexdigest()})
    q.close()


def drain(q, raw=False):
    """Every message q (its held ones first, then the ring) gives now."""
    out = []
    while True:
        try:
            out.append(q.get_bytes(False) if raw else q.get_nowait())
        except queue.Empty:
            return out
