"""Error mapping: ValueError for bad names and oversize messages, the
SageQueueError family for the rest, each naming the queue and the cause."""

import errno
import os
import pickle
import subprocess
import sys

import pytest

import helpers
import sage_queue
from sage_queue import (BadNameError, MessageTooLarge, SageQueue, SageQueueError,
                        SegmentCorruptError)


@pytest.mark.parametrize("name", ["", ".hidden", "-dash", "_under", "has space", "a/b",
                                  "x" * 129, "caf\u00e9"])
def test_bad_queue_names(name):
    with pytest.raises(ValueError) as info:
        SageQueue(name)
    assert isinstance(info.value, BadNameError)
    assert info.value.code == -1004
    assert "invalid queue name" in str(info.value)


def test_longest_valid_name(make_queue):
    name = helpers.unique_name()
    name = name + "x" * (128 - len(name))
    q = make_queue(name)
    assert q.name == name


@pytest.mark.parametrize("transport", ["Shm", "bad-name", "a b"])
def test_bad_transport_names(qname, transport):
    with pytest.raises(BadNameError) as info:
        SageQueue(qname, transport=transport)
    assert "transport" in str(info.value)


def test_non_string_name():
    with pytest.raises(TypeError):
        SageQueue(123)


def test_oversize_message_raises_value_error_and_changes_nothing(make_queue):
    q = make_queue(maxsize=8192)
    for item in (b"x" * 5000, "y" * 5000, bytearray(5000), [b"z" * 3000, b"w" * 3000],
                 b"big" * 100_000):
        with pytest.raises(ValueError) as info:
            q.put(item)
        assert isinstance(info.value, MessageTooLarge)
        text = str(info.value)
        assert q.name in text and "8192" in text and "4096" in text
    with pytest.raises(ValueError):
        q.put_bytes(b"x" * 4097)
    with pytest.raises(ValueError):
        q.put_many([1, b"x" * 5000])
    q.put_bytes(b"x" * 4096)  # exactly the limit fits
    assert q.get_bytes() == b"x" * 4096
    stats = q.get_stats()
    assert stats["total_put"] == 1 and stats["items"] == 0


class Unpicklable:
    def __reduce__(self):
        raise TypeError("refuses to pickle")


def test_unpicklable_raises_in_caller_and_queue_unchanged(q):
    q.put("before")
    before = q.get_stats()
    for bad in (lambda: 0, Unpicklable(), [1, 2, Unpicklable()],
                {"lock": __import__("threading").Lock()}):
        with pytest.raises((TypeError, pickle.PicklingError, AttributeError)):
            q.put(bad)
        with pytest.raises((TypeError, pickle.PicklingError, AttributeError)):
            q.put_many([1, 2, bad])
    after = q.get_stats()
    assert after["total_put"] == before["total_put"] == 1
    assert after["bytes_used"] == before["bytes_used"]
    assert q.get() == "before" and q.empty()


def test_unknown_option_is_an_error_naming_the_key(qname):
    with pytest.raises(SageQueueError) as info:
        SageQueue(qname, colour="blue")
    assert info.value.code == -errno.EINVAL and "colour" in str(info.value)
    assert qname in str(info.value)


def test_corrupt_segment_raises_segment_corrupt_error(qname):
    path = helpers.segment_path(qname)
    with open(path, "wb") as f:
        f.write(b"\x00" * 8192)
    try:
        with pytest.raises(SegmentCorruptError) as info:
            SageQueue(qname)
        assert info.value.code == -errno.EBADMSG
        assert qname in str(info.value) and info.value.detail
    finally:
        os.unlink(path)


def test_observe_only_handle_refuses_put(make_queue, qname):
    make_queue(qname)
    watcher = SageQueue(qname, attach=0)
    try:
        with pytest.raises(sage_queue.PermissionDeniedError) as info:
            watcher.put(1)
        assert "observe" in str(info.value)
        assert watcher.get_stats()["capacity"] == 1 << 20
    finally:
        watcher.close()


def test_errors_survive_pickling():
    err = sage_queue.QueueNotFoundError("gone", -errno.ENOENT, "detail text", "qq")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err) and back.code == err.code and back.queue == "qq"
    assert str(back) == "gone" and back.detail == "detail text"
    assert isinstance(back, FileNotFoundError) and back.errno == errno.ENOENT


FIXTURE_SCRIPT = """
import sys
import sage_queue
try:
    sage_queue.SageQueue("pyt-never-created", transport=sys.argv[1])
except sage_queue.SageQueueError as exc:
    print(type(exc).__name__, exc.code)
else:
    print("opened")
"""


@pytest.mark.parametrize("transport,expected", [
    ("badmajor", "ABIMismatchError -1002"),
    ("newminor", "ABIMismatchError -1002"),
    ("misnamed", "BadPluginError -1003"),
    ("noentry", "BadPluginError -1003"),
    ("nullop", "BadPluginError -1003"),
])
def test_registry_errors_map_to_classes(transport, expected):
    fixtures = os.environ.get("SAGE_TEST_FIXTURES", "")
    if not os.path.exists(os.path.join(fixtures, f"sage-{transport}.so")):
        pytest.skip("fixture plugins are built by make check")
    package = os.path.dirname(os.path.dirname(sage_queue.__file__))
    env = dict(os.environ, SAGE_PLUGIN_PATH=fixtures,
               PYTHONPATH=os.pathsep.join([package, os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", FIXTURE_SCRIPT, transport], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == expected, out.stderr


def test_refused_option_is_an_invalid_argument_error(qname):
    """-EINVAL from open (a bad option value) is InvalidArgumentError, a
    ValueError, and its message names the option."""
    with pytest.raises(sage_queue.InvalidArgumentError) as info:
        sage_queue.SageQueue(qname, capacity="lots")
    assert isinstance(info.value, ValueError)
    assert "capacity" in str(info.value)
