"""Ray support: where a queue lives, and how it is reached from other nodes.

A SAGE Queue is a segment in one machine's shared memory. Under Ray, the
processes that use it may sit on other nodes, so a :class:`SageQueueRef`
records where its segment lives:

* ``node_id``: the Ray node of the process that made the reference, when
  that process runs under Ray (``ray.get_runtime_context().get_node_id()``);
* ``host``: the host identity, ``"<hostname>/<boot id>"``, always.

``ref.get_queue()`` (and unpickling a ``SageQueue``) asks :func:`locate`
where to open the queue. On the owning node (same node id, or, without Ray,
the same host) it opens the segment directly: the ordinary
:class:`~sage_queue.SageQueue`. On any other node it never creates a new
empty queue there: it returns a :class:`RemoteSageQueue`, which talks to a
small proxy actor (:class:`QueueProxy`) pinned to the owning node with hard
node affinity, one per queue, shared by every remote opener (a named,
detached actor found with ``get_if_exists``). Without Ray, opening a
reference made on another host raises :class:`RemoteQueueError` naming the
host.

Routing keys on node ids, not on whether the segment happens to be visible:
two Ray nodes on one machine (``ray.cluster_utils.Cluster``) share
``/dev/shm``, yet a process on the second node still goes through the proxy.

The proxy lives as long as its queue: ``destroy()`` by the creator (or by
any opener) stops it, and it checks every second that its queue still exists
under its name (the same segment, not one re-created with the same name),
closing its handle and exiting when it does not.

Blocking calls: a local ``SageQueue`` call releases the GIL while it waits,
so a threaded actor (``max_concurrency > 1``) keeps serving its other
methods. In an asyncio actor use :func:`~sage_queue.aio.get_async`, :func:`~sage_queue.aio.put_async`,
:func:`~sage_queue.aio.get_many_async` and :func:`~sage_queue.aio.put_many_async`, which wait in a worker
thread instead of blocking the event loop.

What may be lost (docs/RAY.md, "What a failure may lose"): a process that
dies loses what it held (its write-behind buffer, its read-ahead); a live
process never loses a message because a proxy died. A proxy that dies loses
only what it held itself: messages it had taken for a get whose reply never
left, and put calls under way whose outcome is then *in doubt* (each such
message is in the queue once, or not at all, and is reported to the caller
in :class:`ProxyDiedError`). Completed read-ahead is kept, unsent messages
are sent again through a new proxy or handed back, a normal exit or garbage
collection flushes, and the asyncio helpers never drop a taken message.

Nothing here imports Ray until Ray is in use. The package imports this
layer, which registers with the core (sage_queue._hooks) how a reference
opens on another node, which node this process is on, and what a destroy
must also stop; the core never imports it. The layer's modules: _runtime
(Ray as seen from here, locate), proxy (the actor), remote
(RemoteSageQueue, with its _writer and _reader sides), _exit (closing what
was left open), errors.
"""


from __future__ import annotations

from typing import Any, Optional

from .. import _hooks
from .._location import host_identity
from ..aio import get_async, get_many_async, put_async, put_many_async
from ..errors import RemoteQueueError
from ..ref import SageQueueRef
from ._runtime import (NAMESPACE, WAIT_SLICE, _on_destroy, locate, proxy_name, ray_node_id,
                       worker_env)
from .errors import BufferedInDoubtError, ProxyDiedError
from .proxy import QueueProxy, find_proxy
from .remote import RemoteSageQueue, open_remote

__all__ = [
    "NAMESPACE", "WAIT_SLICE", "RemoteQueueError", "ProxyDiedError", "BufferedInDoubtError",
    "RemoteSageQueue", "QueueProxy",
    "host_identity", "ray_node_id", "locate", "open_remote", "proxy_name", "find_proxy",
    "get_async", "put_async", "get_many_async", "put_many_async", "worker_env",
]


def _open_elsewhere(ref: SageQueueRef, **remote_options: Any) -> Optional[RemoteSageQueue]:
    """A RemoteSageQueue when ref's queue lives on another Ray node; None
    to open it here."""
    node = locate(ref)
    return open_remote(ref, node, **remote_options) if node else None


_hooks.provide_remote(_open_elsewhere, ray_node_id, _on_destroy)
