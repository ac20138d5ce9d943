"""Pickle protocol 5 with out-of-band buffers, and the raw-bytes path."""

import os
import pickle
from array import array

import pytest

import helpers
from sage_queue import SageQueue, serialization as ser


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return (self.x, self.y) == (other.x, other.y)


BIG = ser.OOB_THRESHOLD


def test_small_objects_are_plain_in_band_pickles():
    for obj in (1, "s", b"x" * 100, bytearray(b"ab"), {"k": [1, 2]}, Point(1, 2)):
        head, buffers = ser.dumps(obj)
        assert buffers is None and head[:2] == b"\x80\x05"
        assert pickle.loads(head) == obj


def test_large_top_level_buffers_go_out_of_band_without_copy():
    data = os.urandom(BIG)
    head, buffers = ser.dumps(data)
    assert len(head) < 64 and len(buffers) == 1
    assert buffers[0].obj is data  # a view of the caller's bytes, not a copy
    mutable = bytearray(BIG)
    head, buffers = ser.dumps(mutable)
    assert buffers[0].obj is mutable and not buffers[0].readonly


def test_frame_round_trip_and_alignment():
    pieces = [os.urandom(BIG + 3), bytearray(os.urandom(BIG * 2))]
    head, buffers = ser.dumps(pieces[0])
    size, offsets = ser.frame_layout(head, buffers)
    assert all(o % ser.ALIGN == 0 for o in offsets)
    frame = bytearray(size)
    ser.write_frame(memoryview(frame), head, buffers, offsets)
    assert frame[:4] == ser.MAGIC
    assert ser.loads(memoryview(frame)) == pieces[0]
    with pytest.raises(ValueError):
        ser.loads(memoryview(b"raw"))


def test_nested_large_bytes_travel_in_band_but_intact(q):
    obj = {"a": os.urandom(BIG * 2), "b": [os.urandom(10)]}
    q.put(obj)
    assert q.get() == obj


@pytest.mark.parametrize("kind", [bytes, bytearray])
@pytest.mark.parametrize("size", [0, 1, BIG - 1, BIG, 3 * BIG + 5])
def test_bytes_like_types_survive(q, kind, size):
    value = kind(os.urandom(size))
    q.put(value)
    back = q.get()
    assert type(back) is kind and back == value


def test_memoryview_in_and_out(q):
    raw = os.urandom(BIG * 2)
    q.put(memoryview(raw))
    back = q.get()
    assert isinstance(back, memoryview) and back.tobytes() == raw
    shaped = memoryview(bytearray(raw)).cast("i", [BIG // 8, 4])
    q.put(shaped)
    back = q.get()
    assert back.format == "i" and back.shape == shaped.shape
    assert back.tolist() == shaped.tolist()
    small = memoryview(b"abc")
    q.put([small])
    assert [v.tobytes() for v in q.get()] == [b"abc"]
    q.put(memoryview(raw)[::2])  # not contiguous: copied in band
    assert q.get().tobytes() == raw[::2]


def test_custom_classes_and_arrays(q):
    items = [Point(1, [2, 3]), array("d", [1.5] * 10), array("b", range(100)) * 1000]
    for item in items:
        q.put(item)
    for item in items:
        assert q.get() == item


def test_frames_and_pickles_mixed_in_batches(q):
    big = os.urandom(BIG)
    q.put(1)
    q.put(big)
    q.put({"two": 2})
    q.put(os.urandom(BIG * 5))  # larger than the batch buffer: taken alone
    got = []
    while len(got) < 4:
        got += q.get_many(10)
    assert got[:3] == [1, big, {"two": 2}] and len(got[3]) == BIG * 5


def test_put_many_with_large_items(q):
    big = bytearray(os.urandom(BIG * 2))
    q.put_many([1, big, 2])
    got = []
    while len(got) < 3:
        got += q.get_many(10)
    assert got == [1, big, 2] and type(got[1]) is bytearray


@pytest.fixture
def mem_transport(monkeypatch):
    """The in-process 'mem' fixture transport: no zero-copy, no get_batch."""
    fixtures = os.environ.get("SAGE_TEST_FIXTURES", "")
    if not os.path.exists(os.path.join(fixtures, "sage-mem.so")):
        pytest.skip("fixture plugins are built by make check")
    monkeypatch.setenv("SAGE_PLUGIN_PATH",
                       os.pathsep.join([os.environ["SAGE_PLUGIN_PATH"], fixtures]))
    q = SageQueue(helpers.unique_name(), maxsize=1 << 20, transport="mem")
    yield q
    q.destroy()


def test_fallbacks_without_zero_copy_or_batch(mem_transport):
    q = mem_transport
    assert q.transport == "mem"
    big = os.urandom(BIG * 3)
    items = [1, big, bytearray(big), {"x": big}, memoryview(big)]
    for item in items:
        q.put(item)
    back = [q.get(timeout=5) for _ in items]
    assert back[:4] == items[:4] and back[4].tobytes() == big
    q.put_bytes(bytearray(big))
    assert q.get_bytes() == big
    q.put_many([1, 2, 3])
    got = []
    while len(got) < 3:
        got += q.get_many(10)
    assert got == [1, 2, 3]
    assert q.qsize() == 0 and q.empty()


def test_short_bytes_pickle_form_loads_as_pickle_does():
    for n in range(256):
        item = bytes((i * 7) % 256 for i in range(n))
        data = ser.SHORT_BYTES_HEAD[n] + item + ser.STOP
        assert pickle.loads(data) == item and type(pickle.loads(data)) is bytes


def test_short_and_long_bytes_round_trip_through_the_queue(q):
    items = [b"", b"\x80", b"x" * 255, b"y" * 256, bytes(range(200))]
    for item in items:
        q.put(item)
    assert [q.get(timeout=1) for _ in items] == items
