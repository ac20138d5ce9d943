"""Queues from configuration (issue 15): URIs, dict specs, SAGE's queue
descriptors and their load formula, and administration from Python."""

import multiprocessing as mp
import os
import pickle
import queue
import shlex
from urllib.parse import unquote

import pytest

import sage_queue
from helpers import unique_name
from sage_queue import InvalidArgumentError, QueueNotFoundError, SageQueueError, open_queue
from sage_queue import _uri
from sage_queue.sage_runtime import SageQueueDescriptor, resolve_descriptor

SRCDIR = os.environ.get("SAGE_TEST_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def _cases():
    with open(os.path.join(SRCDIR, "tests", "uri_cases.txt")) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                yield line.split(None, 2)


def _as_transport_keys(kwargs):
    """The Python keyword arguments as the transport takes them."""
    out = {}
    for key, value in kwargs.items():
        key = "capacity" if key == "maxsize" else key
        out[key] = ("1" if value else "0") if isinstance(value, bool) else str(value)
    return out


@pytest.mark.parametrize("case", list(_cases()), ids=lambda c: c[1])
def test_the_shared_uri_cases(case):
    kind, uri, rest = case[0], case[1], case[2] if len(case) > 2 else ""
    if kind == "bad":
        with pytest.raises(InvalidArgumentError) as info:
            _uri.parse_uri(uri)
        assert rest.strip() in str(info.value)
        return
    transport, name, *pairs = shlex.split(rest)
    want = dict(p.split("=", 1) for p in pairs)
    want = {k: unquote(v) for k, v in want.items()}
    got = _uri.parse_uri(uri)
    assert (got[0], got[1]) == (transport, name)
    assert _as_transport_keys(got[2]) == want


def test_open_queue_from_a_uri_and_back(make_queue):
    name = unique_name()
    q = open_queue(f"shm://{name}?maxsize=8KiB&max_items=10&spin_ns=0")
    try:
        assert (q.transport, q.name, q.capacity, q.max_items) == ("shm", name, 8192, 10)
        assert q.uri == f"shm://{name}?maxsize=8192&max_items=10&spin_ns=0"
        again = open_queue(q.uri)
        q.put("hello")
        assert again.get(timeout=5) == "hello"
        again.close()
    finally:
        q.destroy()


def test_dict_specs_and_overrides():
    name = unique_name()
    q = open_queue({"transport": "shm", "name": name, "maxsize": "16K"}, max_items=3)
    try:
        assert (q.capacity, q.max_items) == (16384, 3)
        for i in range(3):
            q.put_nowait(i)
        with pytest.raises(queue.Full):
            q.put_nowait(3)
    finally:
        q.destroy()


@pytest.mark.parametrize("spec, text", [
    ("shm://", "empty queue name"),
    ("jobs", "expected <transport>://<name>"),
    ("shm://q?maxsize=big", "bad size 'big' for 'maxsize'"),
    ({"name": "q", "auto_cleanup": "maybe"}, "bad value 'maybe' for 'auto_cleanup'"),
    ({"maxsize": 4096}, "no 'name'"),
])
def test_bad_specs_name_the_part(spec, text):
    with pytest.raises(InvalidArgumentError) as info:
        open_queue(spec)
    assert text in str(info.value)
    assert isinstance(info.value, ValueError)


def test_unknown_keys_and_transports_are_named():
    with pytest.raises(InvalidArgumentError) as info:
        open_queue(f"shm://{unique_name()}?colour=red")
    assert "unknown option 'colour'" in str(info.value)
    with pytest.raises(sage_queue.TransportNotFoundError) as info:
        open_queue(f"nosuch://{unique_name()}")
    assert "nosuch" in str(info.value)


# ---- SAGE's descriptors ------------------------------------------------------

def _child_puts(data, items):
    d = resolve_descriptor(data)
    for item in items:
        d.put(item, timeout=10)
    d.close()


def test_descriptor_to_dict_in_a_spawned_process():
    d = SageQueueDescriptor(unique_name(), maxsize="64K", max_items=100)
    data = d.to_dict()
    assert data["queue_type"] == "sage_queue" and data["can_serialize"] is True
    assert data["metadata"] == {"maxsize": "64K", "max_items": 100}
    try:
        d.queue_instance  # created here
        ctx = mp.get_context("spawn")
        p = ctx.Process(target=_child_puts, args=(data, ["a", {"b": 2}]))
        p.start()
        p.join(60)
        assert p.exitcode == 0
        assert [d.get(timeout=10), d.get(timeout=10)] == ["a", {"b": 2}]
    finally:
        d.destroy()


def test_descriptor_pickles_and_clones():
    d = SageQueueDescriptor(unique_name(), max_items=8)
    try:
        d.put("x")
        other = pickle.loads(pickle.dumps(d))  # reattaches by name
        assert other.queue_id == d.queue_id and other.get(timeout=5) == "x"
        twin = d.clone()
        assert twin.queue_id == d.queue_id and twin.metadata == d.metadata
        assert twin._queue is None  # nothing opened until used
        renamed = d.clone(d.queue_id + "-b")
        assert renamed.queue_id.endswith("-b") and renamed.metadata == d.metadata
        other.close()
    finally:
        d.destroy()
    with pytest.raises(ValueError):
        resolve_descriptor({"queue_type": "ray_queue", "queue_id": "q", "metadata": {}})


def _load(q):
    """SAGE's load formula for an edge."""
    if hasattr(q, "qsize") and getattr(q, "maxsize", None):
        return q.qsize() / q.maxsize
    return q.get_buffer_stats()["utilization"]


def test_half_full_is_half_either_way():
    d = SageQueueDescriptor(unique_name(), max_items=64)
    try:
        for i in range(32):
            d.put(i)
        assert _load(d) == pytest.approx(0.5, abs=0.1)
        assert d.get_buffer_stats()["utilization"] == pytest.approx(0.5, abs=0.1)
        assert d.queue_instance.get_buffer_stats()["utilization"] == pytest.approx(0.5, abs=0.1)
    finally:
        d.destroy()
    # by bytes: a 64 KiB ring half full of large messages
    d = SageQueueDescriptor(unique_name(), maxsize="64K")
    try:
        for _ in range(4):
            d.put_nowait(b"x" * 7000)
        assert d.get_buffer_stats()["utilization"] == pytest.approx(0.5, abs=0.1)
    finally:
        d.destroy()


# ---- administration ------------------------------------------------------------

def _attach_and_die(name):
    q = sage_queue.SageQueue(name)
    q.put("left behind")
    os._exit(0)  # no close: its attachment goes stale


def test_list_remove_and_collect():
    name, busy = unique_name(), sage_queue.SageQueue(unique_name())
    try:
        listed = {i["name"]: i for i in sage_queue.list_queues("shm")}
        assert listed[busy.name]["state"] == "live" and listed[busy.name]["attached"] == 1
        with pytest.raises(SageQueueError) as info:
            sage_queue.remove_queue(busy.name)
        assert "in use by 1 process" in str(info.value)
        p = mp.get_context("fork").Process(target=_attach_and_die, args=(name,))
        p.start()
        p.join(30)
        stale = {i["name"]: i for i in sage_queue.list_queues("shm")}[name]
        assert stale["state"] == "stale" and stale["items"] == 1
        # Only this test's queues: others (other tests, other users' work)
        # may be stale right now on this machine.
        dry = sage_queue.collect_stale(dry_run=True, pattern=name)
        assert {"name": name, "transport": "shm", "action": "would_remove"}.items() <= \
            next(r for r in dry if r["name"] == name).items()
        assert name in {i["name"] for i in sage_queue.list_queues("shm")}
        done = sage_queue.cleanup_invalid_queues(pattern=name)  # the original name
        assert next(r for r in done if r["name"] == name)["action"] == "removed"
        assert [r["name"] for r in done] == [name]
        assert busy.name not in {r["name"] for r in sage_queue.collect_stale(dry_run=True)}
        with pytest.raises(QueueNotFoundError):
            sage_queue.destroy_queue(name)
        busy.close()
        sage_queue.remove_queue(busy.name)
        assert busy.name not in {i["name"] for i in sage_queue.list_all_sage_queues("shm")}
    finally:
        busy.close()
        for n in (name, busy.name):
            try:
                sage_queue.remove_queue(n, force=True)
            except QueueNotFoundError:
                pass
