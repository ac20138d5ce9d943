"""Where a reference says its queue lives, and what opening it elsewhere
does when this process is not under Ray (Ray imported, not initialized)."""

import dataclasses
import errno
import pickle

import pytest
import ray

import ray_helpers as h
from sage_queue import SageQueue, SageQueueError, SageQueueRef
from sage_queue import ray as sq_ray
from sage_queue.ray import RemoteQueueError

FAKE_NODE = "ab" * 28


@pytest.fixture(autouse=True)
def no_ray():
    assert not ray.is_initialized()


def test_host_identity_is_hostname_and_boot_id():
    import socket

    host = sq_ray.host_identity()
    name, boot = host.split("/", 1)
    assert name == socket.gethostname() and boot
    assert sq_ray.ray_node_id() == ""


def test_reference_records_the_host(make_queue):
    q = make_queue()
    ref = q.get_reference()
    assert ref.host == sq_ray.host_identity()
    assert ref.node_id == ""  # not under Ray
    assert sq_ray.locate(ref) is None
    located = dataclasses.replace(ref, node_id=FAKE_NODE)
    assert len(pickle.dumps(located)) < 400  # with the creator identity (issue 18, item 10)
    # same host, a node id from a Ray session: opens here without Ray
    other = located.get_queue()
    assert isinstance(other, SageQueue)
    other.close()


def test_reference_from_another_host_raises_naming_it(make_queue):
    q = make_queue()
    ref = dataclasses.replace(q.get_reference(), host="elsewhere.example/0000-1111")
    with pytest.raises(RemoteQueueError) as info:
        ref.get_queue()
    err = info.value
    assert isinstance(err, SageQueueError) and err.errno == errno.EREMOTE
    assert "elsewhere.example" in str(err) and q.name in str(err)
    assert err.queue == q.name
    # unpickling a queue whose reference names another host fails the same way
    blob = pickle.dumps(ref)
    with pytest.raises(RemoteQueueError):
        pickle.loads(blob).get_queue()
    # with a Ray node id, the message says how to reach it
    ray_ref = dataclasses.replace(ref, node_id=FAKE_NODE)
    with pytest.raises(RemoteQueueError) as info:
        ray_ref.get_queue()
    assert FAKE_NODE in str(info.value) and "ray.init" in str(info.value)


def test_same_hostname_other_boot_is_another_host(make_queue):
    q = make_queue()
    hostname = sq_ray.host_identity().split("/")[0]
    ref = dataclasses.replace(q.get_reference(), host=f"{hostname}/not-this-boot")
    with pytest.raises(RemoteQueueError) as info:
        ref.get_queue()
    assert "another boot" in str(info.value)


def test_reference_without_location_opens_here(make_queue):
    q = make_queue()
    q.put("old style")
    ref = SageQueueRef(q.name, q.transport)  # as made before refs had a location
    other = ref.get_queue()
    assert isinstance(other, SageQueue) and other.get(timeout=5) == "old style"
    other.close()


def test_remote_open_needs_ray(make_queue):
    q = make_queue()
    ref = dataclasses.replace(q.get_reference(), node_id=FAKE_NODE)
    with pytest.raises(RemoteQueueError) as info:
        sq_ray.open_remote(ref)
    assert "Ray" in str(info.value)


def test_worker_env_passes_the_library_paths(monkeypatch):
    monkeypatch.setenv("SAGE_QUEUE_LIB", "/x/libsagequeue.so")
    env = sq_ray.worker_env()["env_vars"]
    assert env["SAGE_QUEUE_LIB"] == "/x/libsagequeue.so"
    assert h.PREFIX  # helpers import without a running Ray
