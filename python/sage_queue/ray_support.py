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
methods. In an asyncio actor use :func:`get_async`, :func:`put_async`,
:func:`get_many_async` and :func:`put_many_async`, which wait in a worker
thread instead of blocking the event loop.

Nothing here imports Ray until Ray is in use, nor asyncio until it is
needed: the module is imported by ``get_queue()``, with or without Ray.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
import threading
import time
from collections import deque
from typing import Any, Dict, Iterable, List, Optional

from . import serialization as _ser
from .errors import MessageTooLarge, QueueClosedError, QueueNotFoundError, SageQueueError
from .queue import Empty, Full, SageQueue
from .ref import SageQueueRef

__all__ = [
    "NAMESPACE", "RemoteQueueError", "RemoteSageQueue", "QueueProxy",
    "host_identity", "ray_node_id", "locate", "open_remote", "proxy_name", "find_proxy",
    "get_async", "put_async", "get_many_async", "put_many_async", "worker_env",
]

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


class RemoteQueueError(SageQueueError):
    """The queue lives on another host or node and cannot be reached from
    here (no Ray, or its node is gone), or a proxy call failed in a way that
    leaves the outcome unknown. ``errno`` is EREMOTE."""

    def __init__(self, message: str, queue: Optional[str] = None) -> None:
        super().__init__(message, -errno.EREMOTE, "", queue)


# ------------------------------------------------------------ where am I

_host: Optional[str] = None


def host_identity() -> str:
    """``"<hostname>/<boot id>"``: two processes see the same value exactly
    when they run on the same machine, in the same boot."""
    global _host
    if _host is None:
        boot = ""
        for path in ("/proc/sys/kernel/random/boot_id", "/etc/machine-id"):
            try:
                with open(path) as f:
                    boot = f.read().strip()
                break
            except OSError:
                continue
        _host = f"{socket.gethostname()}/{boot}"
    return _host


def _hostname(identity: str) -> str:
    return identity.split("/", 1)[0]


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


def locate(ref: SageQueueRef) -> str:
    """Where ``ref`` must be opened from this process: "" to open its segment
    here, else the id of the Ray node whose proxy serves it.

    Raises RemoteQueueError when the queue is on another host and cannot be
    reached (no Ray here, or no live Ray node on that host)."""
    here = host_identity()
    same_host = not ref.host or ref.host == here
    node = ray_node_id()
    if node:
        if ref.node_id:
            if ref.node_id == node:
                return ""
            alive = {n["NodeID"] for n in _alive_nodes()}
            if ref.node_id in alive:
                return ref.node_id
            if same_host:  # a node id from an earlier Ray session, on this host
                return ""
            raise RemoteQueueError(
                f"queue '{ref.name}' lives on Ray node {ref.node_id} (host "
                f"'{_hostname(ref.host)}'), which is not alive in this Ray cluster",
                ref.name)
        if same_host:
            return ""
        # Made outside Ray on another host: find that host's Ray node.
        hostname = _hostname(ref.host)
        found = [n["NodeID"] for n in _alive_nodes() if n.get("NodeManagerHostname") == hostname]
        if len(found) == 1:
            return found[0]
        why = "no live Ray node" if not found else f"{len(found)} Ray nodes"
        raise RemoteQueueError(
            f"queue '{ref.name}' lives on host '{hostname}' (made outside Ray), and {why} "
            f"runs on that host; make the reference under Ray (ref.node_id) to reach it",
            ref.name)
    if same_host:
        return ""
    where = f"host '{_hostname(ref.host)}'"
    if ref.node_id:
        where += f" (Ray node {ref.node_id})"
    hint = ("; this process is not connected to Ray: connect it (ray.init(address=...)) "
            "to reach the queue through its node's proxy actor")
    if _hostname(ref.host) == _hostname(here):
        where += f" in another boot (boot id {ref.host.split('/', 1)[-1]})"
    raise RemoteQueueError(
        f"queue '{ref.name}' lives on {where}, not on this host '{_hostname(here)}': "
        f"without Ray a queue opens only on the host where it was made{hint}",
        ref.name)


# ----------------------------------------------------------------- proxy

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


class QueueProxy:
    """The actor that serves one queue to callers on other nodes.

    It runs on the queue's node (hard node affinity), holds one handle to
    it, and moves messages as the bytes the ring holds: callers pickle and
    unpickle, so the proxy never runs user code. Non-blocking attempts run
    on its event loop; waits run in worker threads, at most WAIT_SLICE each.
    Made by :func:`open_remote`; not meant to be created directly."""

    def __init__(self, name: str, transport: str, options: Dict[str, str]) -> None:
        self._name, self._transport, self._options = name, transport, dict(options)
        self._q: Optional[SageQueue] = None
        self._identity = (0, 0)
        from concurrent.futures import ThreadPoolExecutor

        self._waiters = ThreadPoolExecutor(64, thread_name_prefix="sageq-proxy")
        self._watcher: Any = None
        self._exiting = False
        self.served = {"calls": 0, "put": 0, "got": 0, "openers": 0}
        self._streams: Dict[str, list] = {}  # caller stream -> [next seq, Condition]
        global _in_proxy
        _in_proxy = True

    # -- lifetime

    def _identity_of(self, q: SageQueue) -> tuple:
        stats = q._stats_raw()
        return stats.get("created_ns", 0), stats.get("creator_pid", 0)

    def _still_current(self) -> bool:
        """True if the queue's name still names the segment this proxy has
        open (not destroyed, not re-created under the same name)."""
        opts = dict(self._options)
        if self._transport == "shm":
            opts["attach"] = "0"  # observe only: no attachment slot
        try:
            probe = SageQueue._attach(self._name, self._transport, opts)
        except QueueNotFoundError:
            return False
        try:
            return self._identity_of(probe) == self._identity
        finally:
            probe.close()

    async def open(self) -> Dict[str, Any]:
        """Opens the queue (once) and describes it. Raises QueueNotFoundError
        (and the proxy exits) if the queue does not exist or no longer is the
        one this proxy serves."""
        if self._q is None:
            try:
                self._q = SageQueue._attach(self._name, self._transport, self._options)
                self._identity = self._identity_of(self._q)
            except BaseException:
                self._exit_soon()
                raise
            import asyncio

            self._watcher = asyncio.get_running_loop().create_task(self._watch())
        elif not self._still_current():
            self._exit_soon()
            raise QueueNotFoundError(
                f"queue '{self._name}' was destroyed (its proxy actor is stopping)",
                -errno.ENOENT, "", self._name)
        self.served["openers"] += 1
        q = self._q
        ray = sys.modules["ray"]
        return {"capacity": q.capacity, "max_items": q.max_items,
                "max_message": q.max_message, "transport": q.transport,
                "node_id": ray.get_runtime_context().get_node_id(), "pid": os.getpid()}

    async def _watch(self) -> None:
        import asyncio

        while not self._exiting:
            await asyncio.sleep(WATCH_INTERVAL)
            try:
                current = self._still_current()
            except Exception:
                current = True  # cannot tell: keep serving
            if not current:
                self._exit_soon()
                return

    def _exit_soon(self) -> None:
        """Ends the actor through a call to itself (exit_actor must run in a
        method of the actor)."""
        if not self._exiting:
            self._exiting = True
            ray = sys.modules["ray"]
            ray.get_runtime_context().current_actor.shutdown.remote()

    def _close(self) -> None:
        if self._q is not None:
            self._q.close()  # closes when calls still in worker threads return

    async def _stop_watching(self) -> None:
        import asyncio

        self._exiting = True
        watcher = self._watcher
        if watcher is not None and watcher is not asyncio.current_task() and not watcher.done():
            watcher.cancel()
            await asyncio.wait([watcher], timeout=1.0)

    async def shutdown(self) -> None:
        """Closes the proxy's handle (the queue stays) and ends the actor."""
        await self._stop_watching()
        self._close()
        sys.modules["ray"].actor.exit_actor()

    async def destroy(self) -> None:
        """Destroys the queue and ends the actor."""
        await self._stop_watching()
        if self._q is not None:
            self._q.destroy()
        sys.modules["ray"].actor.exit_actor()

    def _queue(self) -> SageQueue:
        if self._q is None:
            raise QueueClosedError(f"proxy of queue '{self._name}' is not open",
                                   -errno.EBADF, "", self._name)
        return self._q

    async def _wait(self, fn, *args) -> Any:
        import asyncio

        return await asyncio.get_running_loop().run_in_executor(self._waiters, fn, *args)

    # -- traffic: messages are the ring's bytes (pickles, frames or raw)

    async def put_many(self, payloads: List[bytes], timeout: float) -> int:
        """Puts payloads in order; waits at most ``timeout`` seconds (0: not
        at all) for room. Returns how many (a prefix) went in."""
        q = self._queue()
        self.served["calls"] += 1
        try:
            done = q.put_many(payloads, False, raw=True)
        except Full as exc:
            done = getattr(exc, "done", 0)
            if timeout > 0:
                done += await self._wait(self._put_wait, q, payloads[done:], timeout)
        self.served["put"] += done
        return done

    @staticmethod
    def _put_wait(q: SageQueue, payloads: List[bytes], timeout: float) -> int:
        try:
            return q.put_many(payloads, True, timeout, raw=True)
        except Full as exc:
            return getattr(exc, "done", 0)

    async def get_many(self, max_items: int, timeout: float) -> List[bytes]:
        """Takes 1..max_items messages (their bytes), waiting at most
        ``timeout`` seconds (0: not at all); [] if none came."""
        q = self._queue()
        self.served["calls"] += 1
        try:
            got = q.get_many(max_items, False, raw=True)
        except Empty:
            if timeout <= 0:
                return []
            got = await self._wait(self._get_wait, q, max_items, timeout)
        # One local get_many returns what fits its receive buffer (256 KiB);
        # a reply carries up to max_items or CALL_BYTES.
        size = sum(map(len, got))
        while got and len(got) < max_items and size < CALL_BYTES:
            try:
                more = q.get_many(max_items - len(got), False, raw=True)
            except Empty:
                break
            got += more
            size += sum(map(len, more))
        self.served["got"] += len(got)
        return got

    @staticmethod
    def _get_wait(q: SageQueue, max_items: int, timeout: float) -> List[bytes]:
        try:
            return q.get_many(max_items, True, timeout, raw=True)
        except Empty:
            return []

    # -- ordered calls: one caller's calls applied in the order it made them
    # (Ray does not order the calls of an asyncio actor), so a caller can
    # keep several in flight.

    async def _in_turn(self, stream: str, seq: int, body) -> Any:
        import asyncio

        state = self._streams.get(stream)
        if state is None:
            state = self._streams[stream] = [0, asyncio.Condition()]
        turn = state[1]
        async with turn:
            await turn.wait_for(lambda: state[0] >= seq)
        try:
            return await body()
        finally:
            async with turn:
                state[0] = seq + 1
                turn.notify_all()

    async def put_ordered(self, stream: str, seq: int, payloads: List[bytes]) -> int:
        """Puts payloads after the stream's call seq-1, waiting for room as
        long as it takes. Returns len(payloads)."""
        return await self._in_turn(stream, seq, lambda: self._put_all(payloads))

    async def _put_all(self, payloads: List[bytes]) -> int:
        q = self._queue()
        self.served["calls"] += 1
        try:
            done = q.put_many(payloads, False, raw=True)
        except Full as exc:
            done = getattr(exc, "done", 0)
        while done < len(payloads):
            if self._exiting:
                raise QueueClosedError(f"the proxy of queue '{self._name}' is stopping",
                                       -errno.EBADF, "", self._name)
            done += await self._wait(self._put_wait, q, payloads[done:], WAIT_SLICE)
        self.served["put"] += done
        return done

    async def get_ordered(self, stream: str, seq: int, max_items: int,
                          timeout: float) -> List[bytes]:
        """get_many, after the stream's call seq-1."""
        return await self._in_turn(stream, seq, lambda: self.get_many(max_items, timeout))

    async def forget(self, *streams: str) -> None:
        """Drops the sequence state of a caller that closed."""
        for stream in streams:
            self._streams.pop(stream, None)

    async def depth(self) -> int:
        return self._queue().qsize()

    async def full(self) -> bool:
        return self._queue().full()

    async def task_done(self, count: int) -> None:
        self._queue().task_done(count)

    async def join(self, timeout: float) -> bool:
        return await self._wait(self._queue().join, timeout)

    async def unfinished(self) -> int:
        return self._queue().unfinished_tasks

    async def stats(self) -> Dict[str, Any]:
        stats = self._queue().get_stats()
        stats.update({f"proxy_{k}": v for k, v in self.served.items()})
        return stats

    async def counters(self) -> Dict[str, int]:
        """Calls and messages served (what tests check to see the proxy
        path taken)."""
        return dict(self.served)


_proxy_class = None


def _proxy_actor_class():
    global _proxy_class
    if _proxy_class is None:
        ray = sys.modules["ray"]
        _proxy_class = ray.remote(QueueProxy)
    return _proxy_class


def find_proxy(ref: SageQueueRef, node_id: Optional[str] = None):
    """The proxy actor serving ``ref``'s queue on ``node_id`` (default: the
    node the reference names), or None if there is none."""
    ray = _ray()
    if ray is None:
        return None
    try:
        return ray.get_actor(proxy_name(node_id or ref.node_id, ref.transport, ref.name),
                             namespace=NAMESPACE)
    except ValueError:
        return None


def open_remote(ref: SageQueueRef, node_id: Optional[str] = None, *, prefetch: int = 1,
                batch: int = 1, linger: float = 0.002) -> "RemoteSageQueue":
    """Opens ``ref``'s queue through the proxy on ``node_id`` (default: the
    node recorded in the reference), starting the proxy if needed. Raises
    QueueNotFoundError if the queue does not exist there. See
    RemoteSageQueue for ``prefetch``, ``batch`` and ``linger``."""
    ray = _ray()
    if ray is None:
        raise RemoteQueueError(f"queue '{ref.name}': the proxy path needs Ray "
                               "(this process is not connected to Ray)", ref.name)
    node_id = node_id or ref.node_id
    if not node_id:
        raise RemoteQueueError(f"queue '{ref.name}': the reference names no Ray node", ref.name)
    actor, info = _start_proxy(ray, ref, node_id)
    return RemoteSageQueue(ref, node_id, actor, info, prefetch=prefetch, batch=batch,
                           linger=linger)


def _start_proxy(ray, ref: SageQueueRef, node_id: str):
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    options = {k: v for k, v in ref.options.items() if k != "create"}
    last: Optional[BaseException] = None
    for _ in range(5):  # a proxy that is stopping may still hold the name
        actor = _proxy_actor_class().options(
            name=proxy_name(node_id, ref.transport, ref.name), namespace=NAMESPACE,
            lifetime="detached", get_if_exists=True, num_cpus=0, max_restarts=0,
            max_concurrency=1000,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
        ).remote(ref.name, ref.transport, options)
        try:
            return actor, _call(actor.open.remote())
        except ray.exceptions.RayActorError as exc:
            last = exc
            time.sleep(0.05)
    raise RemoteQueueError(f"cannot start the proxy of queue '{ref.name}' on Ray node "
                           f"{node_id}: {last}", ref.name)


# ------------------------------------------------------------ the client

_SMALL_TYPES = frozenset({str, int, float, bool, type(None), complex})


def _encode(item: Any) -> bytes:
    """The message put() would write for item (a pickle or a frame)."""
    kind = type(item)
    if kind in _SMALL_TYPES or (kind is bytes and len(item) < _ser.OOB_THRESHOLD):
        return _ser._pickle_dumps(item, _ser.PROTOCOL)  # no buffer can hide in these
    return _ser.dumps_inband(item)


class RemoteSageQueue:
    """A queue on another Ray node, reached through its proxy actor.

    The same API as :class:`~sage_queue.SageQueue` (``put/get`` with
    ``block``/``timeout``, ``*_nowait``, ``put_many/get_many``,
    ``put_bytes/get_bytes``, ``qsize/empty/full``, ``task_done/join``,
    ``get_stats``, ``get_reference``, ``close/destroy``, pickling), with the
    same exceptions; every call is one or more Ray calls to the proxy, so it
    costs a round trip (about a millisecond) where a local call costs about
    a microsecond. Items are pickled and unpickled here, exactly as a local
    put/get would; the proxy moves bytes.

    Batching:

    * ``put_many``/``get_many`` move a batch per call, and are the way to
      move volume. A blocking ``put_many`` without timeout sends its batch
      as a pipeline of calls of up to PIPE_BYTES / PIPE_ITEMS (up to WINDOW
      in flight, applied in order by the proxy) and returns when all went
      in.
    * ``batch=N`` (default 1: off): ``put(item)`` with block=True and no
      timeout returns once the item is buffered here; a buffer goes out
      when it holds N items (or PIPE_BYTES), ``linger`` seconds after its
      first item, or before any other call on this object, through the
      same ordered pipeline. An error in a background send (the queue was
      destroyed) is raised by the next call. Buffered items are lost if
      this process dies.
    * ``prefetch=N`` (default 1: off): ``get()`` and ``get_many()`` take up
      to N (or max_items) messages per call, hand them out from a local
      buffer, and keep READ_AHEAD calls in flight while the caller works.
      Messages taken for this object are invisible to other consumers (the
      buffered ones count in its ``qsize()``); ``close()`` puts them back at
      the tail of the queue; a crash loses them. ``get(block=False)`` sees
      only what has already arrived here while read-ahead calls are in
      flight.

    Puts with a timeout or ``block=False`` are one call at a time (so
    ``queue.Full`` can say how many went in). ``join()`` and
    ``task_done()`` go to the queue itself, so they count across every
    process and node.
    """

    is_remote = True

    def __init__(self, ref: SageQueueRef, node_id: str, actor: Any, info: Dict[str, Any], *,
                 prefetch: int = 1, batch: int = 1, linger: float = 0.002) -> None:
        if prefetch < 1 or batch < 1:
            raise ValueError("prefetch and batch must be >= 1")
        self._ref = ref
        self._node_id = node_id
        self._actor = actor
        self._info = info
        self._name = ref.name
        self._closed = False
        self.prefetch = prefetch
        self.batch = batch
        self.linger = linger
        self._inbox: deque = deque()
        self._ahead: deque = deque()            # read-ahead get calls in flight
        self._rlock = threading.Lock()          # the read-ahead calls and their sequence
        self._lock = threading.RLock()          # write buffer, send window, sequence numbers
        self._buffer: List[bytes] = []
        self._buffer_bytes = 0
        self._first_buffered = 0.0
        self._window: deque = deque()           # ordered put calls in flight
        stream = f"{os.getpid()}-{id(self):x}-{time.monotonic_ns():x}"
        self._wstream, self._rstream = "w" + stream, "r" + stream
        self._wseq = self._rseq = 0
        self._error: Optional[BaseException] = None
        self._flusher: Optional[threading.Thread] = None
        self._wake = threading.Condition(self._lock)

    # -- properties

    @property
    def name(self) -> str:
        return self._name

    @property
    def transport(self) -> str:
        return self._info["transport"]

    @property
    def maxsize(self) -> int:
        return self._info["capacity"]

    capacity = maxsize

    @property
    def max_items(self) -> int:
        return self._info["max_items"]

    @property
    def max_message(self) -> int:
        return self._info["max_message"]

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def node_id(self) -> str:
        """The Ray node the queue lives on (where its proxy runs)."""
        return self._node_id

    @property
    def proxy(self) -> Any:
        """The proxy actor's handle."""
        return self._actor

    @property
    def unfinished_tasks(self) -> int:
        self._sync()
        return self._rpc(self._actor.unfinished.remote())

    # -- plumbing

    def _check(self) -> None:
        if self._closed:
            raise QueueClosedError(f"queue '{self._name}' is closed in this process",
                                   -errno.EBADF, "", self._name)
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _rpc(self, ref: Any) -> Any:
        ray = sys.modules["ray"]
        try:
            return _call(ref)
        except ray.exceptions.RayActorError as exc:
            raise self._proxy_died(exc) from None

    def _proxy_died(self, exc: BaseException) -> BaseException:
        """The error for a call whose proxy died: the queue was destroyed (the
        usual reason), or its node went away. Calls in flight are dropped."""
        ray = sys.modules["ray"]
        self._window.clear()
        self._ahead.clear()
        self._wseq = self._rseq = 0  # a new proxy starts its streams at 0
        try:
            self._actor, _ = _start_proxy(ray, self._ref, self._node_id)
        except QueueNotFoundError as gone:
            return gone
        except Exception:
            return RemoteQueueError(f"the proxy of queue '{self._name}' on Ray node "
                                    f"{self._node_id} died: {exc}", self._name)
        return RemoteQueueError(f"the proxy of queue '{self._name}' died during a call "
                                f"(its outcome is unknown); a new proxy serves it: {exc}",
                                self._name)

    def _too_big(self, size: int) -> MessageTooLarge:
        return MessageTooLarge(
            f"message of {size} bytes can never fit in queue '{self._name}': the largest is "
            f"{self.max_message} bytes (capacity {self.capacity} bytes)",
            -errno.EMSGSIZE, "", self._name)

    def _decode(self, data: bytes) -> Any:
        if data[:1] == b"\x80":
            return _ser._pickle_loads(data)
        view = memoryview(data)
        if _ser.is_frame(view):
            return _ser.loads(view)
        from .errors import DecodeError

        raise DecodeError(
            f"message of {len(data)} bytes on queue '{self._name}' is not a pickled "
            "object (it was put as raw bytes; use get_bytes())", data, self._name)

    # -- sending

    def _send(self, payloads: List[bytes], block: bool, timeout: Optional[float]) -> int:
        """Puts payloads one call at a time (nothing of ours in flight);
        queue.Full with .done when block is false or the time ran out."""
        if timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        deadline = None if not block or timeout is None else time.monotonic() + timeout
        done = 0
        for chunk in _chunks(payloads, CALL_BYTES, CALL_ITEMS):
            sent = 0
            while sent < len(chunk):
                if not block:
                    wait = 0.0
                elif deadline is None:
                    wait = WAIT_SLICE
                else:
                    wait = min(max(deadline - time.monotonic(), 0.0), WAIT_SLICE)
                part = chunk if sent == 0 else chunk[sent:]
                sent += self._rpc(self._actor.put_many.remote(part, wait))
                if sent < len(chunk) and (not block or (deadline is not None
                                                          and time.monotonic() >= deadline)):
                    exc = Full()
                    exc.done = done + sent
                    raise exc
            done += sent
        return done

    def _pipe(self, payloads: List[bytes]) -> None:
        """Sends payloads as ordered calls (lock held), with at most WINDOW
        in flight; the proxy applies them in sequence, waiting for room as
        long as it takes."""
        # Small messages go in calls Ray passes inline; large ones go through
        # the object store anyway, where bigger calls cost less per byte.
        limit = PIPE_BYTES if max(map(len, payloads)) <= PIPE_BYTES // 4 else CALL_BYTES
        for chunk in _chunks(payloads, limit, PIPE_ITEMS):
            while len(self._window) >= WINDOW:
                self._rpc(self._window.popleft())
            self._window.append(self._actor.put_ordered.remote(self._wstream, self._wseq, chunk))
            self._wseq += 1

    def _drain(self) -> None:
        """Waits for every put call in flight (lock held)."""
        while self._window:
            self._rpc(self._window.popleft())

    def _flush_locked(self) -> None:
        if self._buffer:
            payloads, self._buffer, self._buffer_bytes = self._buffer, [], 0
            self._pipe(payloads)

    def _sync(self) -> None:
        """Before any call other than a buffered put: nothing of ours is
        still buffered or in flight, and earlier background errors raise."""
        self._check()
        if self._buffer or self._window:
            with self._lock:
                self._flush_locked()
                self._drain()

    def flush(self) -> None:
        """Sends every buffered put and waits until the queue has them."""
        self._sync()

    def _flush_loop(self) -> None:
        with self._lock:
            while not self._closed:
                if not self._buffer:
                    self._wake.wait()
                    continue
                left = self._first_buffered + self.linger - time.monotonic()
                if left > 0:
                    self._wake.wait(left)
                    continue
                try:
                    self._flush_locked()
                except BaseException as exc:  # reported by the next call
                    self._error = exc
                    self._buffer, self._buffer_bytes = [], 0

    def _buffer_put(self, data: bytes) -> None:
        with self._lock:
            self._check()
            if not self._buffer:
                self._first_buffered = time.monotonic()
                if self._flusher is None:
                    self._flusher = threading.Thread(target=self._flush_loop, daemon=True,
                                                     name=f"sageq-flush-{self._name}")
                    self._flusher.start()
                self._wake.notify()
            self._buffer.append(data)
            self._buffer_bytes += len(data)
            if len(self._buffer) >= self.batch or self._buffer_bytes >= PIPE_BYTES:
                self._flush_locked()

    # -- put

    def put(self, item: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        """As SageQueue.put (with ``batch`` > 1, a blocking put without
        timeout may return once the item is buffered here)."""
        self._put_data(_encode(item), block, timeout)

    def put_nowait(self, item: Any) -> None:
        self.put(item, False)

    def put_bytes(self, data: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        """As SageQueue.put_bytes."""
        self._put_data(data if type(data) is bytes else memoryview(data).tobytes(),
                       block, timeout)

    def _put_data(self, data: bytes, block: bool, timeout: Optional[float]) -> None:
        if len(data) > self.max_message:
            raise self._too_big(len(data))
        if self.batch > 1 and block and timeout is None:
            self._buffer_put(data)
            return
        self._sync()
        self._send([data], block, timeout)

    def put_many(self, items: Iterable[Any], block: bool = True,
                 timeout: Optional[float] = None, *, raw: bool = False) -> int:
        """As SageQueue.put_many: every item is serialised before anything is
        sent. Blocking without timeout: an ordered pipeline of calls, done
        when all went in. Otherwise one call at a time, raising queue.Full
        with ``.done`` (a prefix went in) on time-out."""
        if timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        if raw:
            payloads = [x if type(x) is bytes else memoryview(x).tobytes() for x in items]
        else:
            payloads = [_encode(x) for x in items]
        if not payloads:
            return 0
        largest = max(map(len, payloads))
        if largest > self.max_message:
            raise self._too_big(largest)
        self._check()
        if block and timeout is None:
            with self._lock:
                self._flush_locked()
                self._pipe(payloads)
                self._drain()
            return len(payloads)
        self._sync()
        return self._send(payloads, block, timeout)

    # -- get

    def _fetch(self, max_items: int, block: bool, timeout: Optional[float]) -> List[bytes]:
        """One call at a time (prefetch 1)."""
        if timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        deadline = None if not block or timeout is None else time.monotonic() + timeout
        while True:
            if not block:
                wait = 0.0
            elif deadline is None:
                wait = WAIT_SLICE
            else:
                wait = min(max(deadline - time.monotonic(), 0.0), WAIT_SLICE)
            got = self._rpc(self._actor.get_many.remote(max_items, wait))
            if got:
                return got
            if not block or (deadline is not None and time.monotonic() >= deadline):
                raise Empty

    def _read(self, want: int, wait: float) -> None:
        self._ahead.append(self._actor.get_ordered.remote(self._rstream, self._rseq, want, wait))
        self._rseq += 1

    def _pull(self, max_items: int, block: bool, timeout: Optional[float]) -> List[bytes]:
        """The read-ahead path (prefetch > 1): the messages of the oldest
        call in flight (or of a new one); the window is then refilled."""
        if timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        deadline = None if not block or timeout is None else time.monotonic() + timeout
        if not self._rlock.acquire(block, -1 if deadline is None else timeout):
            raise Empty  # another thread of this object is reading
        try:
            got = self._pull_locked(max_items, block, deadline)
        finally:
            self._rlock.release()
        return got

    def _pull_locked(self, max_items: int, block: bool, deadline: Optional[float]) -> List[bytes]:
        ray = sys.modules["ray"]
        want = max(self.prefetch, max_items)
        while True:
            fresh = not self._ahead
            if fresh:
                self._read(want, READ_SLICE if block else 0.0)
            if not block:
                wait = None if fresh else 0.0
            elif deadline is None:
                wait = None
            else:
                wait = max(deadline - time.monotonic(), 0.0)
            ready, _ = ray.wait([self._ahead[0]], timeout=wait)
            if not ready:
                raise Empty  # the calls stay in flight for the next get
            got = self._rpc(self._ahead.popleft())
            if got or block:
                while len(self._ahead) < READ_AHEAD:
                    self._read(want, READ_SLICE)
            if got:
                return got
            if not block or (deadline is not None and time.monotonic() >= deadline):
                raise Empty

    def _get(self, block: bool, timeout: Optional[float]) -> bytes:
        try:
            return self._inbox.popleft()
        except IndexError:
            pass
        self._sync()
        if self.prefetch > 1:
            got = self._pull(self.prefetch, block, timeout)
        else:
            got = self._fetch(1, block, timeout)
        if len(got) > 1:
            self._inbox.extend(got[1:])
        return got[0]

    def get(self, block: bool = True, timeout: Optional[float] = None) -> Any:
        """As SageQueue.get."""
        self._check()
        return self._decode(self._get(block, timeout))

    def get_nowait(self) -> Any:
        return self.get(False)

    def get_bytes(self, block: bool = True, timeout: Optional[float] = None) -> bytes:
        """As SageQueue.get_bytes."""
        self._check()
        return self._get(block, timeout)

    def get_many(self, max_items: int = 1024, block: bool = True,
                 timeout: Optional[float] = None, *, raw: bool = False) -> List[Any]:
        """As SageQueue.get_many: waits for one message, then takes what is
        ready, up to max_items, in one proxy call."""
        if max_items < 1:
            raise ValueError("max_items must be >= 1")
        self._check()
        if self._inbox:
            got = [self._inbox.popleft() for _ in range(min(max_items, len(self._inbox)))]
        elif self.prefetch > 1:
            self._sync()
            got = self._pull(max_items, block, timeout)
            if len(got) > max_items:
                self._inbox.extend(got[max_items:])
                del got[max_items:]
        else:
            self._sync()
            got = self._fetch(max_items, block, timeout)
        if raw:
            return got
        decode = self._decode
        return [decode(x) for x in got]

    # -- size and tasks

    def qsize(self) -> int:
        """Messages queued (a snapshot), plus any prefetched here."""
        self._sync()
        return self._rpc(self._actor.depth.remote()) + len(self._inbox)

    def __len__(self) -> int:
        return self.qsize()

    def __bool__(self) -> bool:
        return True

    def empty(self) -> bool:
        return self.qsize() == 0

    def full(self) -> bool:
        self._sync()
        return self._rpc(self._actor.full.remote())

    def task_done(self, count: int = 1) -> None:
        self._sync()
        self._rpc(self._actor.task_done.remote(count))

    def join(self, timeout: Optional[float] = None) -> bool:
        if timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        self._sync()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = WAIT_SLICE if deadline is None else \
                min(max(deadline - time.monotonic(), 0.0), WAIT_SLICE)
            if self._rpc(self._actor.join.remote(wait)):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False

    # -- stats, references, lifetime

    def get_stats(self) -> Dict[str, Any]:
        """The queue's statistics (as SageQueue.get_stats) plus ``proxy``
        (True), ``proxy_node``, ``prefetched`` (buffered here) and the
        proxy's counters (``proxy_calls``, ``proxy_put``, ``proxy_got``,
        ``proxy_openers``)."""
        self._sync()
        stats = self._rpc(self._actor.stats.remote())
        stats.update(proxy=True, proxy_node=self._node_id, prefetched=len(self._inbox))
        return stats

    def get_reference(self) -> SageQueueRef:
        return self._ref

    def __reduce__(self):
        from .ref import _open_reference

        self._sync()
        return _open_reference, (self._ref,)

    def _end(self) -> None:
        with self._lock:
            self._closed = True
            self._wake.notify_all()

    def close(self) -> None:
        """Sends buffered puts, returns prefetched messages (and those of
        read-ahead calls in flight) to the queue's tail, and detaches this
        object (the proxy stays for other openers). Idempotent."""
        if self._closed:
            return
        try:
            self._sync()
            left = list(self._inbox)
            self._inbox.clear()
            while self._ahead:
                left += self._rpc(self._ahead.popleft())
            if left:
                self._send(left, True, None)
            self._actor.forget.remote(self._wstream, self._rstream)
        finally:
            self._end()

    def destroy(self) -> None:
        """Removes the queue (through its proxy, which then ends) and closes
        this object."""
        if self._closed:
            return
        ray = sys.modules["ray"]
        try:
            self._sync()
        finally:
            self._end()
            self._inbox.clear()
            self._ahead.clear()
        try:
            ray.get(self._actor.destroy.remote())
        except ray.exceptions.RayActorError:
            pass  # it exits as part of the call
        except ray.exceptions.RayTaskError as exc:
            raise _unwrap(exc) from None

    def __enter__(self) -> "RemoteSageQueue":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"via proxy on node {self._node_id[:12]}"
        return f"<RemoteSageQueue {self._name!r} transport={self.transport} {state}>"


def _chunks(payloads: List[bytes], max_bytes: int, max_items: int) -> Iterable[List[bytes]]:
    if len(payloads) <= max_items and sum(map(len, payloads)) <= max_bytes:
        yield payloads
        return
    start = size = 0
    for i, data in enumerate(payloads):
        if i > start and (i - start >= max_items or size + len(data) > max_bytes):
            yield payloads[start:i]
            start, size = i, 0
        size += len(data)
    yield payloads[start:]


# ----------------------------------------------------------- asyncio

_executor: Any = None
_executor_lock = threading.Lock()
_NOTHING = object()
_ASYNC_SLICE = 0.2


def _pool() -> Any:
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                from concurrent.futures import ThreadPoolExecutor

                _executor = ThreadPoolExecutor(32, thread_name_prefix="sageq-async")
    return _executor


class _Handoff:
    """Passes what a worker thread took to the awaiting coroutine, or back
    to the queue when that coroutine was cancelled meanwhile."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cancelled = False
        self.value: Any = _NOTHING


async def _take(q: Any, take, block: bool, timeout: Optional[float], give_back) -> Any:
    import asyncio

    loop = asyncio.get_running_loop()
    remote = getattr(q, "is_remote", False)  # every call is a round trip: never on the loop
    if not block:
        return await loop.run_in_executor(_pool(), take, False, None) if remote \
            else take(False, None)
    if not remote:
        try:
            return take(False, None)
        except Empty:
            pass
    if timeout is not None and timeout < 0:
        raise ValueError("'timeout' must be a non-negative number")
    handoff = _Handoff()

    def wait() -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not handoff.cancelled:
            left = _ASYNC_SLICE if deadline is None else \
                min(deadline - time.monotonic(), _ASYNC_SLICE)
            if left <= 0:
                raise Empty
            try:
                value = take(True, left)
            except Empty:
                continue
            with handoff.lock:
                if not handoff.cancelled:
                    handoff.value = value
                    return
            give_back(value)  # the coroutine is gone
            return

    try:
        await loop.run_in_executor(_pool(), wait)
    except asyncio.CancelledError:
        with handoff.lock:
            handoff.cancelled = True
            value, handoff.value = handoff.value, _NOTHING
        if value is not _NOTHING:
            give_back(value)
        raise
    return handoff.value


async def get_async(q: Any, block: bool = True, timeout: Optional[float] = None) -> Any:
    """``await get_async(q)``: q.get() without blocking the event loop (the
    wait runs in a worker thread). If the awaiting task is cancelled after
    the message was taken, the message is put back at the tail."""
    take = lambda b, t: q.get(b, t)  # noqa: E731
    return await _take(q, take, block, timeout, q.put)


async def get_many_async(q: Any, max_items: int = 1024, block: bool = True,
                         timeout: Optional[float] = None) -> List[Any]:
    """``await get_many_async(q, n)``: q.get_many(n) without blocking the
    event loop (cancellation as get_async)."""
    take = lambda b, t: q.get_many(max_items, b, t)  # noqa: E731
    return await _take(q, take, block, timeout, q.put_many)


async def put_async(q: Any, item: Any, block: bool = True,
                    timeout: Optional[float] = None) -> None:
    """``await put_async(q, item)``: q.put() without blocking the event loop
    while the queue is full. If the awaiting task is cancelled while it
    waits, the item may still be put."""
    if not getattr(q, "is_remote", False):
        try:
            return q.put(item, False)
        except Full:
            if not block:
                raise
    import asyncio

    await asyncio.get_running_loop().run_in_executor(_pool(), q.put, item, block, timeout)


async def put_many_async(q: Any, items: Iterable[Any], block: bool = True,
                         timeout: Optional[float] = None) -> int:
    """``await put_many_async(q, items)``: q.put_many() without blocking the
    event loop (the whole call runs in a worker thread)."""
    import asyncio

    items = list(items)
    return await asyncio.get_running_loop().run_in_executor(
        _pool(), lambda: q.put_many(items, block, timeout))


# ------------------------------------------------------------ hooks, setup

_in_proxy = False


def _on_destroy(name: str, transport: str) -> None:
    """Called by SageQueue.destroy(): stops this node's proxy of the queue,
    if one runs (the proxy would notice within WATCH_INTERVAL anyway)."""
    ray = _ray()
    if ray is None or _in_proxy:
        return
    node = ray_node_id()
    if not node:
        return
    try:
        actor = ray.get_actor(proxy_name(node, transport, name), namespace=NAMESPACE)
    except Exception:
        return
    try:
        ray.get(actor.shutdown.remote(), timeout=10)
    except ray.exceptions.GetTimeoutError:
        ray.kill(actor, no_restart=True)
    except Exception:
        pass  # shutdown ends the actor inside the call


def worker_env() -> Dict[str, Any]:
    """A Ray ``runtime_env`` that passes this process's SAGE_QUEUE_LIB,
    SAGE_PLUGIN_PATH and PYTHONPATH to workers (needed when the package or
    library is not installed on the workers' default paths and Ray was not
    started from an environment that has them)::

        ray.init(runtime_env=sage_queue.ray_support.worker_env())
    """
    keys = ("SAGE_QUEUE_LIB", "SAGE_PLUGIN_PATH", "PYTHONPATH", "SAGE_TRANSPORT")
    return {"env_vars": {k: os.environ[k] for k in keys if k in os.environ}}
