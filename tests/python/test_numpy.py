"""NumPy arrays travel out of band and come back intact."""

import hashlib
import multiprocessing as mp

import pytest

import helpers

np = pytest.importorskip("numpy")

MiB = 1 << 20


def test_one_mib_array_round_trip(make_queue):
    q = make_queue(maxsize=8 * MiB)
    arr = np.random.default_rng(1).random(MiB // 8)
    assert arr.nbytes == MiB
    for _ in range(3):
        q.put(arr)
    for _ in range(3):
        back = q.get()
        assert back.dtype == arr.dtype and back.shape == arr.shape
        assert np.array_equal(back, arr)
        assert back.flags.writeable and back.flags.c_contiguous
    stats = q.get_stats()
    # out of band: the message is the array plus a small header, not a
    # pickle that copies it in band again
    assert stats["bytes_put"] < 3 * (MiB + 1024)


def test_64_mib_array_round_trip_across_processes(make_queue):
    q = make_queue(maxsize=256 * MiB)
    ctx = mp.get_context("fork")
    p = ctx.Process(target=helpers.numpy_producer, args=(q.get_reference(), 64 * MiB, 7))
    p.start()
    msg = q.get(timeout=120)
    p.join(60)
    assert p.exitcode == 0
    arr = msg["array"]
    assert arr.nbytes == 64 * MiB and arr.dtype == np.uint8
    assert hashlib.sha256(arr.tobytes()).hexdigest() == msg["sha"]


@pytest.mark.parametrize("make", [
    lambda: np.arange(200_000, dtype=np.int32).reshape(400, 500),
    lambda: np.asfortranarray(np.arange(100_000, dtype=np.float64).reshape(250, 400)),
    lambda: np.arange(300_000, dtype=np.int64)[::3],  # not contiguous: in band
    lambda: np.zeros(50_000, dtype=[("a", "i4"), ("b", "f8")]),
    lambda: np.arange(10, dtype=np.complex128),  # small: in band
    lambda: np.array(["text", "more"] * 10_000),
])
def test_array_kinds(make_queue, make):
    q = make_queue(maxsize=8 * MiB)
    arr = make()
    q.put({"arr": arr, "tag": 1})
    back = q.get()["arr"]
    assert back.dtype == arr.dtype and back.shape == arr.shape
    assert np.array_equal(back, arr)
    if arr.flags.c_contiguous or arr.flags.f_contiguous:
        assert back.flags.f_contiguous == arr.flags.f_contiguous


def test_read_only_array_stays_read_only(make_queue):
    q = make_queue(maxsize=8 * MiB)
    arr = np.ones(MiB // 8)
    arr.flags.writeable = False
    q.put(arr)
    back = q.get()
    assert not back.flags.writeable and np.array_equal(back, arr)


def test_several_arrays_in_one_message(make_queue):
    q = make_queue(maxsize=8 * MiB)
    arrays = [np.full(40_000, i, dtype=np.float32) for i in range(4)]
    q.put(arrays)
    back = q.get()
    assert all(np.array_equal(a, b) for a, b in zip(arrays, back))
