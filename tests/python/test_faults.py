"""Issue 18, Python layer: no loss, no stall, no wrong answer, whatever lands
between two bytecodes. One test (or more) per numbered case; the exceptions
are injected at every point where CPython can raise an asynchronous one
(faults.py). The Ctrl-C storm with real signals is in test_ctrl_c_storm.py."""

import gc
import os
import pickle
import queue
import subprocess
import sys
import threading
import time

import pytest

import faults
import helpers
from test_close_faults import join_reapers
import sage_queue
from sage_queue import DecodeError, QueueClosedError, QueueNotFoundError, SageQueue, SageQueueRef

needs_tracing = pytest.mark.skipif(not faults.SUPPORTED,
                                   reason="fault injection needs CPython >= 3.11")
needs_again = pytest.mark.skipif(not faults.AGAIN_SUPPORTED,
                                 reason="two injections need the build's fault-trace.so")

BIG = 80_000  # above the 64 KiB zero-copy threshold


def big(tag):
    """A bytearray that goes zero-copy (reserve/commit, peek/release)."""
    data = bytearray(os.urandom(16)) * (BIG // 16)
    data[:8] = tag.to_bytes(8, "little")
    return data


drain = helpers.drain


def assert_not_stalled(q, other):
    """A message put by another handle now comes out at once: no
    reservation or peeked record is left open ahead of it."""
    other.put("marker")
    assert q.get(timeout=2) == "marker"
    assert q.empty() and q.get_stats()["bytes_used"] == 0


@pytest.fixture
def pair(make_queue):
    q = make_queue(maxsize=1 << 20)
    other = q.get_reference().get_queue()
    yield q, other
    other.close()


# ---- 1. reservations and peeks are settled on any exception --------------

@needs_tracing
@pytest.mark.parametrize("kind", faults.KINDS)
def test_1_zero_copy_put_interrupted_anywhere_never_strands_a_reservation(pair, kind):
    q, other = pair
    payload = big(1)

    def check(_, inj, ok, value):
        got = drain(other)
        if ok:
            assert got == [payload]
        else:  # interrupted: .done says whether it went in (none: not)
            assert isinstance(value, kind), value
            assert got == [payload] * getattr(value, "done", 0), (inj.fired, len(got))
        assert_not_stalled(other, q)

    points = faults.sweep(lambda: None, lambda _: q.put(payload, timeout=5), check, exc=kind)
    assert points > 10


def _put_calls(q):
    big_raw = bytearray(big(4))
    return [
        ("put", lambda: q.put({"n": 1}), {"n": 1}, False),
        ("put_forever_main", lambda: q.put([1, 2]), [1, 2], False),
        ("put_nowait", lambda: q.put_nowait("x"), "x", False),
        ("put_timeout", lambda: q.put(b"y", timeout=5), b"y", False),
        ("put_bytes", lambda: q.put_bytes(b"raw"), b"raw", True),
        ("put_bytes_timeout", lambda: q.put_bytes(b"raw2", timeout=5), b"raw2", True),
        ("put_bytes_zero_copy", lambda: q.put_bytes(big_raw, timeout=5), bytes(big_raw), True),
    ]


@needs_tracing
@pytest.mark.parametrize("kind", faults.KINDS)
@pytest.mark.parametrize("call", range(7))
def test_1_put_says_exactly_whether_the_item_went_in(pair, kind, call):
    """Every exception that leaves a put once it started carries .done (1:
    the item is in the queue, once; 0: it is not); one without .done was
    raised as the call started, with nothing put."""
    q, other = pair
    name, op, item, raw = _put_calls(q)[call]

    def check(_, inj, ok, value):
        got = drain(other, raw=raw)
        if ok:
            assert got == [item], name
            return
        assert isinstance(value, kind), value
        done = getattr(value, "done", None)
        if done is None:
            # Raised before any put handler: no put frame below one.
            assert inj.fired[0] not in ("_put_waiting", "_write_in_place"), (name, inj.fired)
            done = 0
        assert got == [item] * done, (name, inj.fired, done, got)
        assert_not_stalled(other, q)

    points = faults.sweep(lambda: None, lambda _: op(), check, exc=kind)
    assert points > 3, name


@needs_tracing
@pytest.mark.parametrize("kind", faults.KINDS)
def test_1_zero_copy_get_interrupted_anywhere_never_strands_a_peek(pair, kind):
    q, other = pair
    payload = big(2)

    def setup():
        other.put(payload)

    def check(_, inj, ok, value):
        got = drain(q)  # what the interrupted get kept comes first
        if ok:
            assert value == payload and got == []
        else:
            assert isinstance(value, kind), value
            assert got == [payload]
        assert_not_stalled(q, other)

    points = faults.sweep(setup, lambda _: q.get(timeout=5), check, exc=kind)
    assert points > 10


@needs_tracing
def test_1_raw_zero_copy_paths_interrupted_anywhere(pair):
    q, other = pair
    payload = bytes(big(3))

    def check(_, inj, ok, value):
        got = drain(other, raw=True)
        if ok:
            assert got == [payload]
        else:
            assert got in ([], [payload]), inj.fired
        assert_not_stalled(other, q)

    faults.sweep(lambda: None, lambda _: q.put_bytes(bytearray(payload), timeout=5), check)

    def check_get(_, inj, ok, value):
        got = drain(q, raw=True)
        assert ([value] if ok else []) + got == [payload], inj.fired
        assert_not_stalled(q, other)

    faults.sweep(lambda: other.put_bytes(payload), lambda _: q.get_bytes(timeout=5), check_get)


@needs_tracing
@pytest.mark.parametrize("kind", faults.KINDS)
def test_1_small_get_interrupted_anywhere_keeps_the_message(pair, kind):
    q, other = pair

    def check(_, inj, ok, value):
        assert ok or isinstance(value, kind), value
        got = drain(q)
        assert (([value] if ok else []) + got) == [{"n": 7}]
        assert_not_stalled(q, other)

    faults.sweep(lambda: other.put({"n": 7}), lambda _: q.get(timeout=5), check, exc=kind)


# ---- 2. put_many counts exactly --------------------------------------------

def test_2_put_many_full_after_a_run_counts_the_run(make_queue):
    # Room for the small items and the first large one, not the second.
    q = make_queue(maxsize=256 * 1024)
    q.put_bytes(bytes(110_000))
    items = [0, 1, 2, 3, 4, 5, 6, 7, big(8), 9, 10, 11, big(12), 13]
    with pytest.raises(queue.Full) as info:
        q.put_many(items, timeout=0.1)
    assert info.value.done == 12
    assert q.get_bytes() == bytes(110_000)
    got = []
    while len(got) < 12:
        got += q.get_many(100, timeout=1)
    assert got == items[:12] and q.empty()


@needs_tracing
@pytest.mark.parametrize("kind", faults.KINDS)
def test_2_put_many_done_is_exact_under_async_exceptions(pair, kind):
    q, other = pair
    items = [0, "one", big(2), 3, 4, big(5), b"six", big(7)]

    def check(_, inj, ok, value):
        got = drain(other)
        if ok:
            done = value
        elif inj.fired[2] == "RESUME" and inj.fired[0] == "put_many":
            done = getattr(value, "done", 0)  # raised as it started: none put
        else:
            done = value.done
        assert got == items[:done], (inj.fired, done, len(got))
        assert_not_stalled(other, q)

    points = faults.sweep(lambda: None, lambda _: q.put_many(items, timeout=5), check,
                          exc=kind)
    assert points > 30


def test_2_put_many_closed_mid_call_reports_done(make_queue):
    q = make_queue(max_items=4)
    timer = threading.Timer(0.3, q.close)
    timer.start()
    with pytest.raises(QueueClosedError) as info:
        q.put_many(range(10), timeout=3)  # main thread: waits in slices, sees the close
    timer.join()
    assert info.value.done == 4
    other = SageQueueRef(q.name, q.transport).get_queue()
    assert other.get_many(10) == [0, 1, 2, 3]
    other.close()


# ---- 3. get_many never drops a batch ---------------------------------------

def test_3_get_many_keeps_the_batch_around_a_bad_message(q):
    q.put_many(range(1000))
    q.put_bytes(b"not a pickle")
    q.put_many(range(1000, 2000))
    assert q.get_many(5000) == list(range(1000))
    with pytest.raises(DecodeError) as info:
        q.get_many(5000)
    assert info.value.payload == b"not a pickle"
    rest = []
    while len(rest) < 1000:
        rest += q.get_many(5000, timeout=1)
    assert rest == list(range(1000, 2000))
    assert q.empty()


def test_3_get_many_bad_message_first_then_the_rest(q):
    q.put_bytes(b"\x80\x05bad")
    q.put_many([1, 2, 3])
    with pytest.raises(DecodeError) as info:
        q.get_many(10)
    assert info.value.payload == b"\x80\x05bad"
    assert q.get_many(10) == [1, 2, 3]


def test_3_empty_raw_message_in_a_batch(q):
    q.put_many([b"", b"", b"x"], raw=True)
    assert q.get_many(10, raw=True) == [b"", b"", b"x"]
    q.put(5)
    q.put_bytes(b"")
    q.put(6)
    assert q.get_many(10) == [5]
    with pytest.raises(DecodeError) as info:
        q.get_many(10)
    assert info.value.payload == b""
    assert q.get_many(10) == [6]
    q.put_bytes(b"")
    with pytest.raises(DecodeError):
        q.get()


@needs_tracing
@pytest.mark.parametrize("kind", faults.KINDS)
def test_3_get_many_interrupted_anywhere_loses_nothing(pair, kind):
    q, other = pair
    items = list(range(6)) + [b"raw-looking", {"k": 1}, big(9)]

    def setup():
        other.put_many(items)

    def check(_, inj, ok, value):
        assert ok or isinstance(value, kind), (inj.fired, value)
        got = (value if ok else []) + drain(q)
        assert got == items, inj.fired
        assert_not_stalled(q, other)

    points = faults.sweep(setup, lambda _: q.get_many(100, timeout=5), check, exc=kind)
    assert points > 10


@needs_tracing
@pytest.mark.parametrize("kind", faults.KINDS)
def test_3_get_many_with_a_bad_message_interrupted_anywhere(pair, kind):
    q, other = pair
    expected = [1, 2, ("bad", b"\x80\x05not a pickle"), 3, ("bad", b""), 4]

    def setup():
        other.put_many([1, 2])
        other.put_bytes(b"\x80\x05not a pickle")
        other.put(3)
        other.put_bytes(b"")
        other.put(4)

    def outcomes(ok, value):
        if ok:
            return list(value)
        if isinstance(value, DecodeError):
            return [("bad", value.payload)]
        assert isinstance(value, kind), value
        return []

    def check(_, inj, ok, value):
        got = outcomes(ok, value)
        while True:
            try:
                got += q.get_many(100, block=False)
            except DecodeError as exc:
                got.append(("bad", exc.payload))
            except queue.Empty:
                break
        assert got == expected, inj.fired
        assert_not_stalled(q, other)

    faults.sweep(setup, lambda _: q.get_many(100, timeout=5), check, exc=kind)


@needs_tracing
def test_3_get_many_raw_interrupted_anywhere_loses_nothing(pair):
    q, other = pair
    items = [b"a", b"", b"ccc", bytes(300)]

    def setup():
        other.put_many(items, raw=True)

    def check(_, inj, ok, value):
        got = value if ok else []
        while len(got) < len(items):
            got += q.get_many(100, timeout=1, raw=True)
        assert got == items, inj.fired
        assert_not_stalled(q, other)

    faults.sweep(setup, lambda _: q.get_many(100, timeout=5, raw=True), check)


# ---- 4. receive buffers are sliced to the received length -----------------

def test_4_truncated_pickle_is_not_completed_from_stale_bytes(q):
    previous = {"previous": "message", "n": list(range(50))}
    data = pickle.dumps(previous, 5)
    q.put(previous)
    assert q.get() == previous  # its bytes are now in the receive buffer
    for cut in (len(data) - 1, len(data) // 2, 3):
        q.put_bytes(data[:cut])
        with pytest.raises(DecodeError) as info:
            q.get()
        assert info.value.payload == data[:cut]


# ---- 5. bytes that look like a frame or a pickle ---------------------------

@pytest.mark.parametrize("payload", [
    b"SQB1" + b"\xff" * 12,                 # a frame head claiming 4G buffers
    b"SQB1\x01\x00\x00\x00" + bytes(40),    # a frame with nothing in it
    b"\x80\x05\x95garbage",                 # a pickle that is not one
    b"\x80",
    b"\x80\x05X\xff\xff\x00\x00abc.",        # a string longer than the message
])
def test_5_raw_bytes_that_look_like_frames_or_pickles(q, payload):
    q.put_bytes(payload)
    q.put("after")
    with pytest.raises(DecodeError) as info:
        q.get()
    assert info.value.payload == payload
    assert q.get() == "after"
    q.put_bytes(payload)
    with pytest.raises(DecodeError) as info:
        q.get_many(10)
    assert info.value.payload == payload


def test_5_large_raw_message_that_looks_like_a_frame(q):
    payload = b"SQB1" + os.urandom(BIG)
    q.put_bytes(payload)  # zero-copy, read in place
    with pytest.raises(DecodeError) as info:
        q.get()
    assert info.value.payload == payload
    assert q.empty() and q.get_stats()["bytes_used"] == 0


# ---- 6. task_done argument checks ------------------------------------------

def test_6_task_done_rejects_a_negative_count(q):
    q.put_many([1, 2])
    q.get_many(2)
    q.task_done()
    # -1 as a uint64 plus the one already done wraps around to "one fewer".
    with pytest.raises(ValueError):
        q.task_done(-1)
    assert q.unfinished_tasks == 1
    q.task_done()
    assert q.join(timeout=1) is True
    with pytest.raises(TypeError):
        q.task_done(1.5)
    q.task_done(0)  # nothing to mark: allowed
    with pytest.raises(ValueError):
        q.task_done()


# ---- 7. full() agrees with put_nowait --------------------------------------

@pytest.mark.parametrize("size", [0, 100, 1000, 2048])
def test_7_full_agrees_with_put_nowait(make_queue, size):
    """full() is true exactly when put_nowait() of the smallest message
    raises Full; the queue is filled first with messages of `size` bytes
    (2048: the ring's every byte; a pickled None still fits, in its slot)."""
    q = make_queue(maxsize=4096)
    if size:
        with pytest.raises(queue.Full):
            for _ in range(200):
                q.put_bytes(b"x" * size, block=False)
    checked = 0
    for _ in range(200):
        was_full = q.full()
        try:
            q.put_nowait(None)
        except queue.Full:
            assert was_full, (q.qsize(), q.get_stats()["bytes_used"])
            break
        assert not was_full, (q.qsize(), q.get_stats()["bytes_used"])
        checked += 1
    assert q.full() and checked
    assert q.max_items == 64  # the slot count: one per 64 bytes, at least 64


def test_7_references_carry_the_slot_count(make_queue):
    """A handle opened from a reference knows the creator's slots=, so its
    full() and max_items agree with what put_nowait() does."""
    q = make_queue(maxsize=1 << 20, slots=64)
    for i in range(64):
        q.put_nowait(i)
    other = q.get_reference().get_queue()
    try:
        assert other.max_items == q.max_items == 64
        assert q.full() and other.full()
        with pytest.raises(queue.Full):
            other.put_nowait(None)
        assert other.get_stats()["utilization"] == 1.0
    finally:
        other.close()


def test_7_max_items_reports_the_bound(make_queue):
    assert make_queue(max_items=3).max_items == 3
    assert make_queue(maxsize=1 << 20).max_items == 16384


# ---- 8. many small arrays stay in band --------------------------------------

def test_8_object_with_many_small_arrays_fits_as_its_pickle_does(make_queue):
    np = pytest.importorskip("numpy")
    arrays = [np.full(4, i, dtype=np.int32) for i in range(300)]
    plain = len(pickle.dumps(arrays, 5))
    oob = []
    head = pickle.dumps(arrays, 5, buffer_callback=oob.append)
    every_buffer_out_of_band = sage_queue.serialization.frame_layout(
        head, [memoryview(b).cast("B") for b in oob])[0]
    q = make_queue(maxsize=32768)  # max_message 16 KiB
    assert plain <= q.max_message < every_buffer_out_of_band
    q.put(arrays)
    got = q.get()
    assert len(got) == 300 and all((a == b).all() for a, b in zip(got, arrays))
    q.put_many([arrays])
    assert len(q.get_many(5)[0]) == 300
    # Mixed: one large array still goes out of band, the small ones in band.
    mixed = {"big": np.arange(20_000, dtype=np.int64), "small": arrays[:10]}
    head, buffers = sage_queue.serialization.dumps(mixed)
    assert [b.nbytes for b in buffers] == [160_000]
    q2 = make_queue()
    q2.put(mixed)
    got = q2.get()
    assert (got["big"] == mixed["big"]).all() and len(got["small"]) == 10


def test_8_frame_too_big_falls_back_to_the_pickle(make_queue):
    np = pytest.importorskip("numpy")
    # Buffers above the in-band limit whose frame (entries, 64-byte padding)
    # exceeds max_message while the plain pickle does not.
    arrays = [np.zeros(1100, dtype=np.uint8) for _ in range(7)]
    q = make_queue(maxsize=16384)  # max_message 8 KiB
    frame = sage_queue.serialization.frame_layout(*sage_queue.serialization.dumps(arrays))[0]
    assert len(pickle.dumps(arrays, 5)) <= q.max_message < frame
    q.put(arrays)
    assert all((a == 0).all() for a in q.get())


# ---- 9. nothing leaks --------------------------------------------------------

def test_9_destroy_after_close_removes_the_queue(qname):
    q = SageQueue(qname)
    q.close()
    q.destroy()
    assert not os.path.exists(helpers.segment_path(qname))
    with SageQueue(qname) as q:
        q.put(1)
    q.destroy()
    assert not os.path.exists(helpers.segment_path(qname))
    q.destroy()  # idempotent


def test_9_destroy_after_close_leaves_a_recreated_queue_alone(qname):
    q = SageQueue(qname)
    q.close()
    SageQueue(qname).destroy()
    time.sleep(0.002)
    newer = SageQueue(qname)
    try:
        q.destroy()
        assert os.path.exists(helpers.segment_path(qname))
    finally:
        newer.destroy()


def test_9_unnamed_queue_goes_with_its_last_handle():
    q = SageQueue()
    path = helpers.segment_path(q.name)
    other = q.get_reference().get_queue()
    q.close()
    assert os.path.exists(path)
    other.close()
    assert not os.path.exists(path)
    kept = SageQueue(auto_cleanup=False)  # still possible
    kept.close()
    assert os.path.exists(helpers.segment_path(kept.name))
    kept.destroy()
    assert not os.path.exists(helpers.segment_path(kept.name))


def test_9_close_detaches_despite_a_stored_traceback(make_queue, qname):
    watcher = make_queue(qname, max_items=1)
    q = SageQueue(qname)
    q.put(1)
    try:
        q.put_nowait(2)
    except queue.Full as exc:
        kept = exc  # its traceback holds the frames of the call
    assert watcher.get_stats()["attached"] == 2
    q.close()
    assert watcher.get_stats()["attached"] == 1
    del kept


def test_9_close_in_a_forked_child_detaches(make_queue, qname):
    q = make_queue(qname)
    blocked = threading.Thread(target=lambda: q.get(timeout=30))
    blocked.start()
    deadline = time.monotonic() + 10  # until the get sleeps in the queue
    while q.get_stats()["waiting_readers"] < 1:
        assert blocked.is_alive() and time.monotonic() < deadline, "the get never blocked"
        time.sleep(0.001)
    pid = os.fork()
    if pid == 0:  # the blocked thread does not exist here
        code = 1
        try:
            q.put("from child")  # re-attaches: a second attachment
            watcher = SageQueue(qname, attach=0)
            before = watcher.get_stats()["attached"]
            q.close()
            code = 0 if (before, watcher.get_stats()["attached"]) == (2, 1) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    blocked.join()
    assert os.WEXITSTATUS(status) == 0


EXIT_SCRIPT = """
import sys, threading, time
from sage_queue import SageQueue
q = SageQueue(sys.argv[1], auto_cleanup=True)
threading.Thread(target=q.get, daemon=True).start()
deadline = time.monotonic() + 10  # exit only once the get sleeps in the queue
while q.get_stats()["waiting_readers"] < 1:
    assert time.monotonic() < deadline, "the get never blocked"
    time.sleep(0.001)
"""


def test_9_auto_cleanup_with_a_thread_blocked_at_exit(qname):
    package = os.path.dirname(os.path.dirname(sage_queue.__file__))
    env = dict(os.environ, PYTHONPATH=package)
    out = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, qname], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert not os.path.exists(helpers.segment_path(qname))


def test_9_close_with_a_blocked_thread_closes_when_it_returns(make_queue, qname):
    watcher = make_queue(qname)
    q = SageQueue(qname)
    outcome = []

    def blocked():
        try:
            q.get(timeout=0.5)
        except queue.Empty as exc:
            outcome.append(exc)

    t = threading.Thread(target=blocked)
    t.start()
    deadline = time.monotonic() + 10  # until the get sleeps in the queue
    while watcher.get_stats()["waiting_readers"] < 1:
        assert t.is_alive() and time.monotonic() < deadline, "the get never blocked"
        time.sleep(0.001)
    q.close()
    assert watcher.get_stats()["attached"] == 2  # the get still runs
    t.join()
    assert outcome
    deadline = time.monotonic() + 5
    while watcher.get_stats()["attached"] != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert watcher.get_stats()["attached"] == 1


# ---- 10. references, raw batches, repr --------------------------------------

def test_10_reference_refuses_a_queue_recreated_under_its_name(qname):
    q = SageQueue(qname)
    ref = q.get_reference()
    q.destroy()
    time.sleep(0.002)
    newer = SageQueue(qname)
    try:
        with pytest.raises(QueueNotFoundError):
            ref.get_queue()
        assert ref.creator_pid == os.getpid() and ref.created_ns
        with pytest.raises(QueueNotFoundError):
            pickle.loads(pickle.dumps(ref)).get_queue()
        # A reference made without the identity opens whatever has the name.
        SageQueueRef(qname, "shm").get_queue().close()
        assert newer.get_reference().get_queue().name == qname
    finally:
        newer.destroy()


def test_10_put_many_raw_refuses_what_is_not_bytes(q):
    for bad in ([5], [b"ok", 5], ["text"]):
        with pytest.raises(TypeError):
            q.put_many(bad, raw=True)
    assert q.empty()


def test_10_repr_of_a_half_constructed_queue(qname):
    half = []

    class Spy(SageQueue):
        def __init__(self, *args, **kwargs):
            half.append(self)
            super().__init__(*args, **kwargs)

    with pytest.raises(sage_queue.BadNameError):
        Spy("bad name!")
    assert "closed" in repr(half[0])
    assert "closed" in repr(SageQueue.__new__(SageQueue))
    half[0].close()
    half[0].destroy()
    SageQueue.__new__(SageQueue).destroy()
    gc.collect()


# ---- held messages are put back on close ----------------------------------

def test_held_messages_go_back_to_the_queue_on_close(make_queue, qname):
    q = make_queue(qname)
    q.put_many([1, 2, 3])
    q.put_bytes(b"bad")
    q.put(4)
    assert q.get_many(10) == [1, 2, 3]  # b"bad" and 4 are held now
    assert q.qsize() == 2 and q.get_stats()["held"] == 2
    other = SageQueue(qname)
    q.close()
    with pytest.raises(DecodeError):
        other.get()
    assert other.get() == 4
    other.close()


@needs_tracing
@pytest.mark.skipif("posixmq" not in {t.name for t in sage_queue.transports() if t.ok},
                    reason="posixmq not built")
def test_2_put_many_one_at_a_time_is_exact_under_async_exceptions(qname):
    """On a transport without batches (posixmq) items go one at a time;
    .done still counts exactly what went in."""
    q = SageQueue(qname, transport="posixmq")
    items = [0, "one", b"two", 3]
    try:
        def check(_, inj, ok, value):
            got = drain(q)
            done = value if ok else getattr(value, "done", 0)
            assert got == items[:done], (inj.fired, done, got)

        points = faults.sweep(lambda: None, lambda _: q.put_many(items, timeout=5), check)
        assert points > 10
    finally:
        q.destroy()


# ---- two interrupts: the second lands while the first is being handled ----
# (Some later ones land in a finalizer -- a generator closed as the first
# one unwinds -- where Python reports and drops them, as it does a Ctrl-C.)
in_finalizers = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

def _settled(value, got, item, where):
    """The contract for an exception leaving a put: .done says how many
    went in; without .done, none did (it was raised as the call started)."""
    done = getattr(value, "done", None)
    assert got == [item] * (0 if done is None else done), (where, done, len(got))


@needs_again
@in_finalizers
@pytest.mark.parametrize("call", range(7))
def test_2_put_interrupted_thrice_says_exactly_whether_the_item_went_in(pair, call):
    """Two more KeyboardInterrupts at every pair of points after the first
    one (in the handlers that settle .done): whichever exception leaves
    still says exactly whether the item went in."""
    q, other = pair
    name, op, item, raw = _put_calls(q)[call]

    def check(_, inj, ok, value):
        got = drain(other, raw=raw)
        if ok:
            assert got == [item], name
        else:
            _settled(value, got, item, (name, inj.fired, inj.fired_again))
        assert_not_stalled(other, q)

    assert faults.sweep_again(lambda: None, lambda _: op(), check, times=2, window=16) > 3, name


@needs_again
@in_finalizers
def test_2_put_many_interrupted_twice_is_exact(pair):
    q, other = pair
    items = [0, "one", big(2), 3, b"six", big(5)]

    def check(_, inj, ok, value):
        got = drain(other)
        done = value if ok else getattr(value, "done", 0)
        assert got == items[:done], (inj.fired, inj.fired_again, done, len(got))
        assert_not_stalled(other, q)

    assert faults.sweep_again(lambda: None, lambda _: q.put_many(items, timeout=5), check,
                              window=12) > 30


def _get_case(q, other, which):
    """(setup, op, expected messages, raw) for a get that takes `which`."""
    if which == "small":
        return lambda: other.put({"n": 7}), lambda _: q.get(timeout=5), [{"n": 7}], False
    if which == "zero_copy":
        item = big(2)
        return lambda: other.put(item), lambda _: q.get(timeout=5), [item], False
    if which == "raw_zero_copy":
        item = bytes(big(3))
        return lambda: other.put_bytes(item), lambda _: q.get_bytes(timeout=5), [item], True
    items = list(range(6)) + [b"raw-looking", {"k": 1}, big(9)]
    return lambda: other.put_many(items), lambda _: q.get_many(100, timeout=5), items, False


@needs_again
@in_finalizers
@pytest.mark.parametrize("which", ["small", "zero_copy", "raw_zero_copy", "many"])
def test_3_get_interrupted_again_keeps_every_message(pair, which):
    """More interrupts while a get's handler keeps what it took: the
    handler's first call stores it, so nothing is lost."""
    q, other = pair
    setup, op, items, raw = _get_case(q, other, which)

    def check(_, inj, ok, value):
        first = (value if which == "many" else [value]) if ok else []
        assert first + drain(q, raw=raw) == items, (inj.fired, inj.fired_again)
        assert_not_stalled(q, other)

    assert faults.sweep_again(setup, op, check, times=2, window=14) > 5


def _drain_with_errors(q, got):
    while True:
        try:
            got += q.get_many(100, block=False)
        except DecodeError as exc:
            got.append(("bad", exc.payload))
        except queue.Empty:
            return got


@needs_again
@in_finalizers
@pytest.mark.parametrize("held", [False, True])
def test_3_get_many_with_a_bad_message_interrupted_again(pair, held):
    """The same around a message that does not decode, taken from the ring
    or from the messages a previous get_many held back."""
    q, other = pair
    bad = b"\x80\x05not a pickle"
    expected = [("bad", bad), 3, 4] if held else [1, 2, ("bad", bad), 3, 4]

    def setup():
        other.put_many([1, 2])
        other.put_bytes(bad)
        other.put_many([3, 4])
        if held:  # delivers 1, 2; holds the bad one and the rest
            assert q.get_many(100, timeout=5) == [1, 2]

    def check(_, inj, ok, value):
        if ok:
            got = list(value)
        elif isinstance(value, DecodeError):
            got = [("bad", value.payload)]
        else:
            got = []
        assert _drain_with_errors(q, got) == expected, (inj.fired, inj.fired_again)
        assert_not_stalled(q, other)

    assert faults.sweep_again(setup, lambda _: q.get_many(100, timeout=5), check,
                              window=20) > 10


# ---- found by review: buffers, bad large messages, join accounting ------

@needs_again
@in_finalizers
def test_3_get_interrupted_twice_gives_its_buffer_back(pair):
    """A second interrupt landing right after _get's handler stored the
    message: the receive buffer still goes back to the pool, or close()
    would wait for a call in flight forever (the handle stays attached)."""
    q, other = pair

    def setup():
        other.put({"n": 7})
        return SageQueue(q.name)  # a fresh consumer handle per run

    def check(c, inj, ok, value):
        got = ([value] if ok else []) + drain(c)
        assert got == [{"n": 7}], (inj.fired, inj.fired_again)
        c.close()
        deadline = time.monotonic() + 1
        while q.get_stats()["attached"] > 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert q.get_stats()["attached"] == 2, ("closed handle still attached",
                                                inj.fired, inj.fired_again)

    assert faults.sweep_again(setup, lambda c: c.get(timeout=5), check, times=1,
                              window=14) > 5


@needs_tracing
def test_3_large_bad_message_interrupted_is_reported_or_kept(pair):
    """A large message that does not decode (zero-copy get): an interrupt
    landing after its release replaces the DecodeError; the message is then
    still held, and the next get raises its DecodeError."""
    q, other = pair
    bad = b"SQB1" + os.urandom(BIG)

    def check(_, inj, ok, value):
        got = [("bad", value.payload)] if isinstance(value, DecodeError) else []
        while True:
            try:
                got += q.get_many(100, block=False)
            except DecodeError as exc:
                got.append(("bad", exc.payload))
            except queue.Empty:
                break
        assert got == [("bad", bad)], (inj.fired, repr(value)[:60])
        assert_not_stalled(q, other)

    assert faults.sweep(lambda: other.put_bytes(bad), lambda _: q.get(timeout=5), check) > 10


@needs_tracing
def test_9_close_interrupted_keeps_join_accounting(make_queue):
    """close() gives held messages back, each in one C call that puts it
    and marks its second task done: an interrupt anywhere leaves exactly
    one task per message (join() returns once they are done)."""
    owner = make_queue(maxsize=1 << 20)
    batch = [pickle.dumps("a", 5), b"junk", pickle.dumps("b", 5)]

    def setup():
        q = SageQueue(owner.name)
        owner.put_many(batch, raw=True)
        assert q.get_many(10) == ["a"]  # holds b"junk" and "b"
        return q

    def check(q, inj, ok, value):
        if not ok:
            q.close()  # again: finishes what was cut short
        join_reapers(q)
        assert sorted(drain(owner, raw=True)) == sorted(batch[1:]), inj.fired
        # Three messages were put and taken: three tasks, whatever happened.
        assert owner.unfinished_tasks == len(batch), (inj.fired, owner.unfinished_tasks)
        owner.task_done(len(batch))

    assert faults.sweep(setup, lambda q: q.close(), check) > 10


@needs_again
@in_finalizers
def test_3_prefetching_get_interrupted_again_keeps_every_message(pair):
    q, other = pair
    items = [1, {"k": 2}, big(3), 4, 5, b"x" * 70000, 7]

    def setup():
        other.put_many(items)
        return SageQueue(q.name, prefetch=3)

    def check(c, inj, ok, value):
        got = [value] if ok else []
        while True:
            try:
                got.append(c.get(block=False))
            except queue.Empty:
                break
        assert got == items, (inj.fired, inj.fired_again)
        assert not c._busy(), (inj.fired, inj.fired_again)
        c.close()

    assert faults.sweep_again(setup, lambda c: c.get(timeout=5), check, times=2,
                              window=14) > 10
