"""Ray itself as the layer sees it: whether this process is connected, the
node it is on, where a reference's queue must be opened from, the proxy
actors' names, and calls that re-raise the callee's own exception.

Nothing here imports Ray: a process that has not imported it is not using
it."""

from __future__ import annotations

import os
import sys
from typing import Any, Dict, List, Optional

from .. import _location
from ..errors import RemoteQueueError
from ..ref import SageQueueRef

#: Ray namespace of the proxy actors (so openers in every job find them).
NAMESPACE = "sage_queue"

#: Longest a proxy thread waits on behalf of one caller; longer waits are a
#: loop of these on the caller's side, so a caller that dies leaves at most
#: this much waiting behind it.
WAIT_SLICE = 1.0

#: How often a proxy checks that its queue still exists.
WATCH_INTERVAL = 1.0

#: Bounds on one unordered put_many call, and on one get_many reply.
CALL_BYTES = 4 << 20
CALL_ITEMS = 4096

#: Bounds on one call of the ordered put pipeline: small enough that Ray
#: passes the arguments inline (under its 100 KiB limit for direct calls)
#: rather than through the object store.
PIPE_BYTES = 80 << 10
PIPE_ITEMS = 1024

#: Ordered put calls in flight per writer, and read-ahead get calls per
#: reader (prefetch > 1).
WINDOW = 4
READ_AHEAD = 2

#: Longest a read-ahead call waits in the proxy (bounds how long close()
#: waits for the calls in flight).
READ_SLICE = 0.25

#: A proxy forgets the sequence state of a caller's stream after this many
#: seconds without a call (a caller that died never says goodbye); a caller
#: idle for STREAM_FRESH seconds starts a new stream, so a live caller never
#: meets a forgotten one.
STREAM_IDLE = 30.0
STREAM_FRESH = 10.0

#: Longest an ordered call waits in the proxy for its predecessors to arrive.
TURN_TIMEOUT = 60.0

#: Longest a caller tries to reach a new proxy after its proxy died (an
#: actor that ended holds its name for a few seconds).
RESTART_WAIT = 20.0

#: How long a proxy started for a queue that does not exist stays to tell
#: other openers so (rather than leave them waiting for its name).
NOT_FOUND_LINGER = 2.0

#: Longest the flush at interpreter exit waits (for room, or for a proxy)
#: per queue before it gives up and reports what it could not send.
EXIT_TIMEOUT = 10.0


def _ray():
    """The ray module if this process is connected to Ray, else None. Never
    imports Ray: a process that has not imported it is not using it."""
    ray = sys.modules.get("ray")
    if ray is None:
        return None
    try:
        return ray if ray.is_initialized() else None
    except Exception:
        return None


def ray_node_id() -> str:
    """The Ray node id of this process, or "" when it is not under Ray."""
    ray = _ray()
    if ray is None:
        return ""
    try:
        return ray.get_runtime_context().get_node_id() or ""
    except Exception:
        return ""


def _alive_nodes() -> List[dict]:
    return [n for n in _ray().nodes() if n.get("Alive")]



def locate(ref: SageQueueRef) -> Optional[str]:
    """Where ``ref`` must be opened from this process: None to open its
    segment here, else the id of the Ray node whose proxy serves it.

    Raises RemoteQueueError when the queue is on another host and cannot be
    reached (no Ray here, or no live Ray node on that host)."""
    same_host = _location.same_host(ref)
    node = ray_node_id()
    if node:
        if ref.node_id:
            if ref.node_id == node:
                return None
            alive = {n["NodeID"] for n in _alive_nodes()}
            if ref.node_id in alive:
                return ref.node_id
            if same_host:  # a node id from an earlier Ray session, on this host
                return None
            raise RemoteQueueError(
                f"queue '{ref.name}' lives on Ray node {ref.node_id} (host "
                f"'{_location.hostname_of(ref.host)}'), which is not alive in this Ray cluster",
                ref.name)
        if same_host:
            return None
        # Made outside Ray on another host: find that host's Ray node.
        hostname = _location.hostname_of(ref.host)
        found = [n["NodeID"] for n in _alive_nodes() if n.get("NodeManagerHostname") == hostname]
        if len(found) == 1:
            return found[0]
        why = "no live Ray node" if not found else f"{len(found)} Ray nodes"
        raise RemoteQueueError(
            f"queue '{ref.name}' lives on host '{hostname}' (made outside Ray), and {why} "
            f"runs on that host; make the reference under Ray (ref.node_id) to reach it",
            ref.name)
    _location.refuse_elsewhere(ref)  # not under Ray: here, or nowhere
    return None


def proxy_name(node_id: str, transport: str, name: str) -> str:
    """The proxy actor's name (in namespace NAMESPACE) for a queue."""
    return f"sageq-proxy:{node_id}:{transport}:{name}"


def _unwrap(exc: BaseException) -> BaseException:
    """The original exception inside a Ray task error."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def _call(ref: Any) -> Any:
    """ray.get with the callee's own exception re-raised."""
    ray = sys.modules["ray"]
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        raise _unwrap(exc) from None



_DEAD = 4  # ray.core.generated.gcs_pb2.ActorTableData.DEAD


def _known_dead(actor: Any) -> bool:
    """True when this process already knows the actor is dead (Ray tells
    every holder of a handle): a call sent now would fail unsent, and would
    leave its messages in doubt for nothing."""
    try:
        return actor._get_local_state() == _DEAD
    except Exception:
        return False


def _on_destroy(name: str, transport: str) -> None:
    """Called by SageQueue.destroy(): stops this node's proxy of the queue,
    if one runs (the proxy would notice within WATCH_INTERVAL anyway)."""
    ray = _ray()
    if ray is None:
        return
    node = ray_node_id()
    if not node:
        return
    try:
        actor = ray.get_actor(proxy_name(node, transport, name), namespace=NAMESPACE)
    except Exception:
        return
    if _is_this_actor(ray, actor):
        return  # the proxy destroying its own queue: it ends itself
    try:
        ray.get(actor.shutdown.remote(), timeout=10)
    except ray.exceptions.GetTimeoutError:
        ray.kill(actor, no_restart=True)
    except Exception:
        pass  # shutdown ends the actor inside the call


def _is_this_actor(ray: Any, actor: Any) -> bool:
    try:
        return actor._actor_id.hex() == ray.get_runtime_context().get_actor_id()
    except Exception:
        return False


def worker_env() -> Dict[str, Any]:
    """A Ray ``runtime_env`` that passes this process's SAGE_QUEUE_LIB,
    SAGE_PLUGIN_PATH and PYTHONPATH to workers (needed when the package or
    library is not installed on the workers' default paths and Ray was not
    started from an environment that has them)::

        ray.init(runtime_env=sage_queue.ray.worker_env())
    """
    keys = ("SAGE_QUEUE_LIB", "SAGE_PLUGIN_PATH", "PYTHONPATH", "SAGE_TRANSPORT")
    return {"env_vars": {k: os.environ[k] for k in keys if k in os.environ}}
