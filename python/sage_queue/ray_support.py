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

What may be lost (docs/RAY.md, "What a failure may lose"): a process that
dies loses what it held (its write-behind buffer, its read-ahead); a live
process never loses a message because a proxy died. A proxy that dies loses
only what it held itself: messages it had taken for a get whose reply never
left, and put calls under way whose outcome is then *in doubt* (each such
message is in the queue once, or not at all, and is reported to the caller
in :class:`ProxyDiedError`). Completed read-ahead is kept, unsent messages
are sent again through a new proxy or handed back, a normal exit or garbage
collection flushes, and the asyncio helpers never drop a taken message.

Nothing here imports Ray until Ray is in use, nor asyncio until it is
needed: the module is imported by ``get_queue()``, with or without Ray.
"""

from __future__ import annotations

import atexit
import errno
import os
import socket
import sys
import threading
import time
import weakref
from collections import deque
from typing import Any, Dict, Iterable, List, Optional

from . import serialization as _ser
from .errors import MessageTooLarge, QueueClosedError, QueueNotFoundError, SageQueueError
from .queue import Empty, Full, SageQueue
from .ref import SageQueueRef

__all__ = [
    "NAMESPACE", "RemoteQueueError", "ProxyDiedError", "BufferedInDoubtError",
    "RemoteSageQueue", "QueueProxy",
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


class RemoteQueueError(SageQueueError):
    """The queue lives on another host or node and cannot be reached from
    here (no Ray, or its node is gone), or a proxy call failed in a way that
    leaves the outcome unknown. ``errno`` is EREMOTE."""

    def __init__(self, message: str, queue: Optional[str] = None) -> None:
        super().__init__(message, -errno.EREMOTE, "", queue)

    def __reduce__(self):
        return _rebuild_error, (type(self), str(self), self.queue, dict(self.__dict__))


def _rebuild_error(cls, message, queue, state):
    exc = cls.__new__(cls)
    RemoteQueueError.__init__(exc, message, queue)
    exc.__dict__.update(state)
    return exc


class ProxyDiedError(RemoteQueueError):
    """The proxy died (or became unreachable) while it was putting messages
    for this caller, and a new proxy now serves the queue.

    ``done``: messages of the call known to be in the queue (a prefix of
    what it was given). ``in_doubt``: how many messages after those the dead
    proxy may or may not have put: each is in the queue once, or not at all.
    Messages after ``done + in_doubt`` were not put. ``payloads``: the bytes
    of the in-doubt messages (and of any that could not be sent at all),
    for calls whose caller no longer holds them (write-behind, close()).
    Resume from ``done + in_doubt`` to never duplicate, or from ``done`` to
    never lose (at the price of possible duplicates)."""

    def __init__(self, message: str, queue: Optional[str] = None, *, done: int = 0,
                 in_doubt: int = 0, payloads: Optional[List[bytes]] = None) -> None:
        super().__init__(message, queue)
        self.done = done
        self.in_doubt = in_doubt
        self.payloads = list(payloads or [])


class BufferedInDoubtError(ProxyDiedError):
    """Raised by the call after a proxy died while it was putting messages
    buffered earlier (write-behind): those in doubt are in ``payloads``
    (each is in the queue once, or not at all); the other buffered messages
    were sent again through a new proxy. The call that raises it did
    nothing (``done`` and ``in_doubt`` are 0): repeat it."""


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


#: What an ordered call of a stream the proxy has forgotten returns (it
#: applied nothing).
REFUSED = -1


class _Stream:
    """A caller's ordered calls, as the proxy sees them."""

    __slots__ = ("next", "turn", "stalled", "busy", "last")

    def __init__(self, turn: Any) -> None:
        self.next = 0          # the sequence number whose turn it is
        self.turn = turn       # asyncio.Condition
        self.stalled = False   # a put fell short: later puts apply nothing until a resume
        self.busy = 0          # calls of the stream in the proxy now
        self.last = time.monotonic()


class QueueProxy:
    """The actor that serves one queue to callers on other nodes.

    It runs on the queue's node (hard node affinity), holds one handle to
    it, and moves messages as the bytes the ring holds: callers pickle and
    unpickle, so the proxy never runs user code. Non-blocking attempts run
    on its event loop; waits run in worker threads, at most WAIT_SLICE each.

    A call never keeps what it did to itself: a put applies what fits and
    replies (when nothing fits it waits, at most its slice, for room for one
    message, puts it and what else fits, and replies); a get waits holding
    nothing, takes, and replies. So a proxy killed at any point holds at
    most the messages of the calls it was finishing, and never waits more
    than a slice on behalf of a caller that died.

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
        self._streams: Dict[str, _Stream] = {}
        self._forgotten: Dict[str, float] = {}   # stream -> when (refused from then on)
        self._stream_idle = STREAM_IDLE
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
            import asyncio

            try:
                self._q = SageQueue._attach(self._name, self._transport, self._options)
                self._identity = self._identity_of(self._q)
            except QueueNotFoundError:
                # Stays a moment to answer other openers at once: an actor
                # that ended holds its name for seconds.
                if self._watcher is None:
                    self._watcher = asyncio.get_running_loop().create_task(self._linger())
                raise
            except BaseException:
                self._exit_soon()
                raise
            if self._watcher is not None:
                self._watcher.cancel()
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
                "node_id": ray.get_runtime_context().get_node_id(), "pid": os.getpid(),
                "creator_pid": self._identity[1], "created_ns": self._identity[0]}

    async def _linger(self) -> None:
        import asyncio

        await asyncio.sleep(NOT_FOUND_LINGER)
        if self._q is None:
            self._exit_soon()

    async def _watch(self) -> None:
        import asyncio

        while not self._exiting:
            await asyncio.sleep(WATCH_INTERVAL)
            self._expire_streams()
            try:
                current = self._still_current()
            except Exception:
                current = True  # cannot tell: keep serving
            if not current:
                self._exit_soon()
                return

    def _expire_streams(self) -> None:
        """Forgets the streams of callers that stopped calling (a caller that
        died never calls forget)."""
        now = time.monotonic()
        for name, st in list(self._streams.items()):
            if st.busy == 0 and now - st.last > self._stream_idle:
                del self._streams[name]
                self._forgotten[name] = now
        for name, when in list(self._forgotten.items()):
            if now - when > 10 * self._stream_idle:
                del self._forgotten[name]

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

    async def _apply(self, payloads: List[bytes], wait: float) -> int:
        """Puts what fits of payloads now (a prefix); if nothing fits, waits
        at most ``wait`` seconds for room for the first one, then puts it and
        what else fits. Returns how many went in."""
        q = self._queue()
        self.served["calls"] += 1
        try:
            done = q.put_many(payloads, False, raw=True)
        except Full as exc:
            done = getattr(exc, "done", 0)
            if done == 0 and wait > 0:
                done = await self._wait(self._put_wait, q, payloads, wait)
        self.served["put"] += done
        return done

    @staticmethod
    def _put_wait(q: SageQueue, payloads: List[bytes], wait: float) -> int:
        try:
            q.put_bytes(payloads[0], True, wait)
        except Full:
            return 0
        done = 1
        if len(payloads) > 1:
            try:
                done += q.put_many(payloads[1:], False, raw=True)
            except Full as exc:
                done += getattr(exc, "done", 0)
        return done

    async def put_many(self, payloads: List[bytes], timeout: float) -> int:
        """Puts a prefix of payloads: what fits now, or, when nothing does,
        what fits once there is room for the first (waiting at most
        ``timeout`` seconds, 0: not at all). Returns how many went in."""
        return await self._apply(payloads, timeout)

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
        """Runs body(state) after the stream's call seq-1; REFUSED (nothing
        done) for a stream this proxy forgot."""
        import asyncio

        st = self._streams.get(stream)
        if st is None:
            if stream in self._forgotten:
                return REFUSED
            st = self._streams[stream] = _Stream(asyncio.Condition())
        st.busy += 1
        st.last = time.monotonic()
        try:
            async with st.turn:
                try:
                    await asyncio.wait_for(st.turn.wait_for(lambda: st.next >= seq),
                                           TURN_TIMEOUT)
                except asyncio.TimeoutError:
                    raise RemoteQueueError(
                        f"queue '{self._name}': call {seq} of stream {stream} waited "
                        f"{TURN_TIMEOUT:.0f} s for call {st.next} (out of sequence)",
                        self._name) from None
            try:
                return await body(st)
            finally:
                async with st.turn:
                    st.next = max(st.next, seq + 1)
                    st.turn.notify_all()
        finally:
            st.busy -= 1
            st.last = time.monotonic()

    async def put_ordered(self, stream: str, seq: int, payloads: List[bytes],
                          wait: float = 0.0, resume: bool = False) -> int:
        """After the stream's call seq-1: puts a prefix of payloads as
        put_many does (waiting at most ``wait`` seconds when nothing fits).
        When it falls short the stream stalls: its later calls apply nothing
        (and return 0) until one with ``resume``, so a caller that resends
        the rest in order never reorders. Returns how many went in, REFUSED
        for a forgotten stream."""

        async def body(st: _Stream) -> int:
            if st.stalled and not resume:
                return 0
            st.stalled = False
            done = await self._apply(payloads, wait)
            if done < len(payloads):
                st.stalled = True
            return done

        return await self._in_turn(stream, seq, body)

    async def get_ordered(self, stream: str, seq: int, max_items: int,
                          timeout: float) -> List[bytes]:
        """get_many, after the stream's call seq-1 ([] for a forgotten
        stream)."""

        async def body(st: _Stream) -> List[bytes]:
            return await self.get_many(max_items, timeout)

        got = await self._in_turn(stream, seq, body)
        return [] if got == REFUSED else got

    async def forget(self, *streams: str) -> None:
        """Drops the sequence state of a caller's streams; their later calls
        are refused (they apply nothing)."""
        now = time.monotonic()
        for stream in streams:
            self._streams.pop(stream, None)
            self._forgotten[stream] = now

    async def streams(self) -> Dict[str, Dict[str, Any]]:
        """The callers' streams this proxy keeps: next sequence number,
        calls in the proxy now, stalled, seconds since the last call."""
        now = time.monotonic()
        return {name: {"next": st.next, "busy": st.busy, "stalled": st.stalled,
                       "idle_s": now - st.last} for name, st in self._streams.items()}

    async def tune(self, stream_idle: Optional[float] = None) -> None:
        """Changes this proxy's STREAM_IDLE (tests)."""
        if stream_idle is not None:
            self._stream_idle = float(stream_idle)

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
    _same_queue(ref, (getattr(ref, "creator_pid", 0), getattr(ref, "created_ns", 0)), info)
    return RemoteSageQueue(ref, node_id, actor, info, prefetch=prefetch, batch=batch,
                           linger=linger)


def _same_queue(ref: SageQueueRef, want: tuple, info: Dict[str, Any]) -> None:
    """QueueNotFoundError if the proxy serves another queue than ``want``
    ((creator pid, creation time) of the queue meant; (0, 0): any), that is
    the queue was destroyed and another was created under its name."""
    have = (info.get("creator_pid", 0), info.get("created_ns", 0))
    if want[1] and have[1] and want != have:
        raise QueueNotFoundError(
            f"queue '{ref.name}' (transport {ref.transport}) was destroyed: the queue now "
            f"under that name was created later (by process {have[0]}), not the one this "
            f"reference names (created by process {want[0]})", -errno.ENOENT, "", ref.name)


def _start_proxy(ray, ref: SageQueueRef, node_id: str, patience: float = RESTART_WAIT):
    """The queue's proxy on node_id (started if none runs) and what its
    open() said. A proxy that is stopping, or that died, may still hold the
    name for a while: tries for ``patience`` seconds."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    options = {k: v for k, v in ref.options.items() if k != "create"}
    last: Optional[BaseException] = None
    deadline = time.monotonic() + patience
    pause = 0.02
    while True:
        try:
            actor = _proxy_actor_class().options(
                name=proxy_name(node_id, ref.transport, ref.name), namespace=NAMESPACE,
                lifetime="detached", get_if_exists=True, num_cpus=0, max_restarts=0,
                max_concurrency=1000,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
            ).remote(ref.name, ref.transport, options)
            return actor, _call(actor.open.remote())
        except ray.exceptions.RayActorError as exc:
            last = exc
        except ValueError as exc:  # the name is taken by an actor being removed
            if "already taken" not in str(exc) and "exists" not in str(exc):
                raise
            last = exc
        if time.monotonic() >= deadline:
            break
        time.sleep(pause)
        pause = min(pause * 2, 0.5)
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


class _Died(Exception):
    """The proxy died under the ordered put pipeline: ``doubt`` (messages it
    may or may not have put, in order) and ``unsent`` (certainly not put,
    in order, after them); ``error`` is set when no new proxy could be
    reached."""

    def __init__(self, doubt: List[bytes], unsent: List[bytes],
                 error: Optional[BaseException]) -> None:
        super().__init__("proxy died")
        self.doubt, self.unsent, self.error = doubt, unsent, error


class _Yield(Exception):
    """A background flush gives way to close()."""


class _TimeUp(Exception):
    """A flush ran out of time (at exit) while the queue was full."""


_FAIL = object()
_DEAD = 4  # ray.core.generated.gcs_pb2.ActorTableData.DEAD


def _known_dead(actor: Any) -> bool:
    """True when this process already knows the actor is dead (Ray tells
    every holder of a handle): a call sent now would fail unsent, and would
    leave its messages in doubt for nothing."""
    try:
        return actor._get_local_state() == _DEAD
    except Exception:
        return False

#: Set at interpreter exit: the time by which flushes give up.
_exit_deadline: Optional[float] = None


def _limit(deadline: Optional[float]) -> Optional[float]:
    if _exit_deadline is None:
        return deadline
    return _exit_deadline if deadline is None else min(deadline, _exit_deadline)


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
      same ordered pipeline. An error in a background send is raised by
      the next call. close(), garbage collection and a normal interpreter
      exit send what is buffered; a process that dies loses it.
    * ``prefetch=N`` (default 1: off): ``get()`` and ``get_many()`` take up
      to N (or max_items) messages per call, hand them out from a local
      buffer, and keep READ_AHEAD calls in flight while the caller works.
      Messages taken for this object are invisible to other consumers (the
      buffered ones, and those of finished read-ahead calls, count in its
      ``qsize()``); close(), garbage collection and a normal interpreter
      exit put them back at the tail of the queue; a process that dies
      loses them. ``get(block=False)`` sees only what has already arrived
      here while read-ahead calls are in flight.

    When the proxy dies, this object starts a new one (or finds the one
    another opener started) and goes on: read-ahead that had arrived is
    kept, calls that change nothing are repeated, gets go on, and puts
    whose outcome the dead proxy took with it raise :class:`ProxyDiedError`
    saying how many went in and how many are in doubt (docs/RAY.md, "What a
    failure may lose").

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
        self._epoch = 0                         # bumped whenever the proxy is replaced
        self._plock = threading.Lock()          # replacing the proxy
        self._info = info
        self._name = ref.name
        self._closed = False
        self._closing = False
        self._close_lock = threading.Lock()
        self.prefetch = prefetch
        self.batch = batch
        self.linger = linger
        # read side (prefetch > 1: under _rlock)
        self._inbox: deque = deque()
        self._ahead: deque = deque()            # (ref, epoch, want): read-ahead calls in flight
        self._rlock = threading.Lock()
        # write side (under _lock)
        self._lock = threading.RLock()
        self._buffer: List[bytes] = []
        self._buffer_bytes = 0
        self._first_buffered = 0.0
        self._window: deque = deque()           # (ref, chunk, epoch): ordered put calls in flight
        self._pending: deque = deque()          # messages for the pipeline, not yet in a call
        self._stalled = False                   # the first pending message did not fit
        self._confirmed = 0                     # messages the pipeline knows went in
        self._error: Optional[BaseException] = None
        self._flusher: Optional[threading.Thread] = None
        self._wake = threading.Condition(self._lock)
        # the caller's streams (ordered calls), renewed with each proxy
        self._base = f"{os.getpid()}-{id(self):x}-{time.monotonic_ns():x}"
        self._made = 0
        self._wstream = self._rstream = ""
        self._wepoch = self._repoch = -1
        self._wseq = self._rseq = 0
        self._wlast = self._rlast = 0.0
        self._losses = {"proxy_restarts": 0, "read_loss_bound": 0, "puts_in_doubt": 0}
        _track(self)

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
        """The proxy actor's handle (the current one)."""
        return self._actor

    @property
    def unfinished_tasks(self) -> int:
        self._sync()
        return self._ask("unfinished")

    # -- plumbing

    def _check(self) -> None:
        if self._closed or self._closing:
            raise QueueClosedError(f"queue '{self._name}' is closed in this process",
                                   -errno.EBADF, "", self._name)
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _restart(self, epoch: int, exc: BaseException) -> None:
        """A call to the proxy of ``epoch`` met RayActorError: a live proxy
        (a new one, or the same one after a transient error) now serves
        this object under a new epoch, so every stream starts afresh.
        Raises QueueNotFoundError if the queue is gone (the usual reason a
        proxy ends), RemoteQueueError if no proxy can be reached."""
        ray = sys.modules["ray"]
        with self._plock:
            if self._epoch != epoch:
                return  # another thread did it
            patience = RESTART_WAIT
            if _exit_deadline is not None:
                patience = min(patience, max(_exit_deadline - time.monotonic(), 0.0))
            try:
                actor, info = _start_proxy(ray, self._ref, self._node_id, patience)
                # never go on with another queue re-created under the name
                _same_queue(self._ref, (self._info.get("creator_pid", 0),
                                        self._info.get("created_ns", 0)), info)
                self._actor = actor
            except QueueNotFoundError:
                raise
            except Exception as why:
                raise RemoteQueueError(
                    f"the proxy of queue '{self._name}' on Ray node {self._node_id} died "
                    f"({exc}) and no new one can be reached: {why}", self._name) from None
            self._epoch += 1
            self._losses["proxy_restarts"] += 1

    def _live(self) -> tuple:
        """The proxy to send a call to, and its epoch: a new one first if
        this one is known to be dead."""
        actor, epoch = self._actor, self._epoch
        if _known_dead(actor):
            self._restart(epoch, RemoteQueueError("the proxy actor is dead", self._name))
            actor, epoch = self._actor, self._epoch
        return actor, epoch

    def _ask(self, method: str, *args: Any) -> Any:
        """A call that changes nothing a repeat could double: repeated on a
        new proxy when the proxy died."""
        ray = sys.modules["ray"]
        while True:
            actor, epoch = self._actor, self._epoch
            try:
                return _call(getattr(actor, method).remote(*args))
            except ray.exceptions.RayActorError as exc:
                self._restart(epoch, exc)

    def _forget(self, *streams: str) -> None:
        streams = tuple(s for s in streams if s)
        if streams and not _known_dead(self._actor):
            try:
                self._actor.forget.remote(*streams)
            except Exception:
                pass

    def _new_stream(self, kind: str) -> str:
        self._made += 1
        return f"{kind}{self._base}-{self._made}"

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

    def _died_error(self, what: str, done: int, doubt: List[bytes],
                    unsent: int = 0) -> ProxyDiedError:
        tail = f"; {unsent} after them were not put" if unsent else ""
        self._losses["puts_in_doubt"] += len(doubt)
        return ProxyDiedError(
            f"the proxy of queue '{self._name}' died during {what}: {done} message(s) went "
            f"in, the next {len(doubt)} may or may not have (each is in the queue once or "
            f"not at all){tail}; a new proxy serves the queue", self._name,
            done=done, in_doubt=len(doubt), payloads=doubt)

    # -- sending, one call at a time

    def _send(self, payloads: List[bytes], block: bool, timeout: Optional[float],
              deadline: Optional[float] = None) -> int:
        """Puts payloads one call at a time (nothing of ours in flight);
        queue.Full with .done when block is false or the time ran out;
        ProxyDiedError (done, in_doubt) when the proxy died under a call.
        When a call falls short, the next one carries a single message and
        waits for room: a call that waits holds at most one message."""
        if timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        ray = sys.modules["ray"]
        if deadline is None and block and timeout is not None:
            deadline = time.monotonic() + timeout
        done = 0
        short = False
        while done < len(payloads):
            limit = _limit(deadline)
            if not block or not short:
                wait = 0.0
            elif limit is None:
                wait = WAIT_SLICE
            else:
                wait = min(max(limit - time.monotonic(), 0.0), WAIT_SLICE)
            if short and wait > 0:
                part = payloads[done:done + 1]
            else:
                part = next(_chunks(payloads[done:done + CALL_ITEMS], CALL_BYTES, CALL_ITEMS))
            try:
                actor, epoch = self._live()
            except BaseException as gone:
                gone.done, gone.in_doubt, gone.payloads = done, 0, []
                raise
            try:
                got = _call(actor.put_many.remote(part, wait))
            except ray.exceptions.RayActorError as exc:
                error = self._died_error("a put", done, part, len(payloads) - done - len(part))
                try:
                    self._restart(epoch, exc)
                except BaseException as gone:
                    gone.done, gone.in_doubt, gone.payloads = done, len(part), part
                    raise
                raise error from None
            done += got
            short = got < len(part)
            if short and (not block or (limit is not None and time.monotonic() >= limit)):
                exc = Full()
                exc.done = done
                raise exc
        return done

    # -- the ordered pipeline (under _lock)

    def _wready(self) -> None:
        """The write stream to use now: a fresh one after a proxy change or
        a long pause (the proxy forgets idle streams)."""
        now = time.monotonic()
        if self._wepoch != self._epoch or now - self._wlast > STREAM_FRESH:
            old = self._wstream
            self._wstream, self._wseq, self._wepoch = self._new_stream("w"), 0, self._epoch
            self._forget(old)
        self._wlast = now

    def _psend(self, chunk: List[bytes], wait: float, resume: bool) -> None:
        self._wready()
        ref = self._actor.put_ordered.remote(self._wstream, self._wseq, chunk, wait, resume)
        self._wseq += 1
        self._window.append((ref, chunk, self._wepoch))

    def _next_chunk(self) -> List[bytes]:
        pending = self._pending
        limit = PIPE_BYTES if len(pending[0]) <= PIPE_BYTES // 4 else CALL_BYTES
        chunk = [pending.popleft()]
        size = len(chunk[0])
        while pending and len(chunk) < PIPE_ITEMS and size + len(pending[0]) <= limit:
            size += len(pending[0])
            chunk.append(pending.popleft())
        return chunk

    def _pcollect(self) -> None:
        """Waits for the oldest ordered put call. When it fell short, the
        stream stalled: the calls after it applied nothing, and the rest go
        back to the front of the pending messages, to follow a call that
        waits for room."""
        ray = sys.modules["ray"]
        ref, chunk, epoch = self._window[0]
        try:
            got = _call(ref)
        except ray.exceptions.RayActorError as exc:
            raise self._pdied(exc, epoch) from None
        except BaseException:
            # The proxy could not put (its queue is closing, or broken): the
            # stream is abandoned, and so are the calls after this one.
            self._window.clear()
            self._pending.clear()
            self._stalled = False
            self._wepoch = -1
            raise
        self._window.popleft()
        if got == len(chunk):
            self._confirmed += got
            self._stalled = False
            return
        if got == REFUSED:  # the proxy forgot the stream: start a new one
            self._wepoch = -1
        got = max(got, 0)
        self._confirmed += got
        rest = chunk[got:]
        for _, later, _ in self._window:
            rest += later
        self._window.clear()
        self._pending.extendleft(reversed(rest))
        self._stalled = True

    def _pdied(self, exc: BaseException, epoch: int) -> _Died:
        """The proxy died under the pipeline: sorts the calls in flight into
        put (a prefix), in doubt and not put, and starts a new proxy."""
        ray = sys.modules["ray"]
        results = []
        for ref, chunk, _ in self._window:
            try:
                results.append((chunk, _call(ref)))
            except BaseException:
                results.append((chunk, _FAIL))
        self._window.clear()
        doubt: List[bytes] = []
        unsent: List[bytes] = []
        short = False
        for chunk, got in results:
            if short:
                unsent += chunk          # after a short call nothing applies
            elif got is _FAIL:
                doubt += chunk           # may have been applied, in part or whole
            elif got == len(chunk):
                self._confirmed += len(doubt) + got  # so were all before it
                doubt = []
            else:
                got = max(got, 0)
                if got:
                    self._confirmed += len(doubt)
                    doubt = []
                self._confirmed += got
                unsent += chunk[got:]
                short = True
        unsent += self._pending
        self._pending.clear()
        self._stalled = False
        self._wepoch = -1
        self._losses["puts_in_doubt"] += len(doubt)
        try:
            self._restart(epoch, exc)
        except BaseException as gone:
            return _Died(doubt, unsent, gone)
        return _Died(doubt, unsent, None)

    def _pump(self, drain: bool, deadline: Optional[float] = None,
              background: bool = False) -> None:
        """Moves pending messages into ordered calls, at most WINDOW in
        flight; with ``drain``, until every call has come back. Raises
        _Died, _TimeUp (deadline passed while the queue was full), _Yield
        (background, and close() began)."""
        while True:
            if (self._window or self._pending) and _known_dead(self._actor):
                if self._window:
                    self._pcollect()  # raises _Died: sorts them, starts a new proxy
                    continue
                try:
                    self._live()
                except BaseException as gone:
                    unsent = list(self._pending)
                    self._pending.clear()
                    self._stalled = False
                    raise _Died([], unsent, gone) from None
            if self._window and self._wepoch != self._epoch:
                self._pcollect()  # calls to a replaced proxy come back first
                continue
            if self._stalled and self._pending:
                if self._window:
                    self._pcollect()
                    continue
                if background and self._closing:
                    raise _Yield
                limit = _limit(deadline)
                wait = WAIT_SLICE if limit is None else min(limit - time.monotonic(), WAIT_SLICE)
                if wait <= 0:
                    raise _TimeUp
                self._psend([self._pending.popleft()], wait, True)
                self._pcollect()
                continue
            if self._pending and len(self._window) < WINDOW:
                self._psend(self._next_chunk(), 0.0, False)
                continue
            if self._window and (drain or self._pending):
                self._pcollect()
                continue
            return

    def _behind(self, drain: bool, deadline: Optional[float] = None,
                background: bool = False) -> None:
        """Sends the write-behind buffer (and anything pending) through the
        pipeline. When the proxy dies, what was certainly not put is sent
        again through the new one; what is in doubt is reported with
        ProxyDiedError once the rest went in."""
        if self._buffer:
            self._pending.extend(self._buffer)
            self._buffer, self._buffer_bytes = [], 0
        doubt: List[bytes] = []
        while True:
            try:
                self._pump(drain, deadline, background)
                break
            except (_TimeUp, _Yield) as stop:
                if doubt:  # reported with what is left (close), or by the next call
                    if isinstance(stop, _TimeUp):
                        stop.doubt = doubt
                    else:
                        self._note(self._buffered_in_doubt(doubt))
                raise
            except _Died as died:
                doubt += died.doubt
                if died.error is not None:
                    died.error.payloads = doubt + died.unsent
                    raise died.error
                self._pending.extendleft(reversed(died.unsent))
        if doubt:
            raise self._buffered_in_doubt(doubt)

    def _buffered_in_doubt(self, doubt: List[bytes]) -> BufferedInDoubtError:
        return BufferedInDoubtError(
            f"the proxy of queue '{self._name}' died while it was putting buffered messages: "
            f"{len(doubt)} may or may not have gone in (each is in the queue once or not at "
            "all; their bytes are in .payloads); the others were sent through a new proxy. "
            "The call that raised this did nothing", self._name, payloads=doubt)

    def _note(self, exc: BaseException) -> None:
        """Keeps a background error for the next call (in-doubt reports
        add up; a fatal error wins, carrying every payload)."""
        old = self._error
        if old is None:
            self._error = exc
            return
        payloads = list(getattr(old, "payloads", [])) + list(getattr(exc, "payloads", []))
        if isinstance(old, BufferedInDoubtError) and isinstance(exc, BufferedInDoubtError):
            self._error = self._buffered_in_doubt(payloads)
        else:
            keep = old if not isinstance(old, BufferedInDoubtError) else exc
            keep.payloads = payloads
            self._error = keep

    def _sync(self) -> None:
        """Before any call other than a buffered put: nothing of ours is
        still buffered or in flight, and earlier background errors raise."""
        self._check()
        if self._buffer or self._window or self._pending:
            with self._lock:
                self._behind(True)

    def flush(self) -> None:
        """Sends every buffered put and waits until the queue has them."""
        self._sync()

    def _flush_loop(self) -> None:
        with self._lock:
            while not self._closed and not self._closing:
                if not self._buffer:
                    self._wake.wait()
                    continue
                left = self._first_buffered + self.linger - time.monotonic()
                if left > 0:
                    self._wake.wait(left)
                    continue
                try:
                    self._behind(False, background=True)
                except _Yield:
                    return
                except BaseException as exc:  # reported by the next call
                    self._note(exc)

    def _buffer_put(self, data: bytes) -> None:
        if self._hook_retry:
            self._hook_retry = not _hook_actor_exit()
        with self._lock:
            self._check()
            if not self._buffer:
                self._first_buffered = time.monotonic()
                if self._flusher is None:
                    self._flusher = threading.Thread(target=self._ghost._flush_loop, daemon=True,
                                                     name=f"sageq-flush-{self._name}")
                    self._flusher.start()
                self._wake.notify()
            self._buffer.append(data)
            self._buffer_bytes += len(data)
            if len(self._buffer) >= self.batch or self._buffer_bytes >= PIPE_BYTES:
                try:
                    self._behind(False)
                except BufferedInDoubtError as exc:
                    self._note(exc)  # this item was taken: the next call reports it

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
        with ``.done`` (a prefix went in) on time-out. If the proxy dies,
        raises ProxyDiedError: ``.done`` items (a prefix) went in, the next
        ``.in_doubt`` may have, the rest did not."""
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
        self._sync()
        if block and timeout is None:
            with self._lock:
                self._check()
                start = self._confirmed
                self._pending.extend(payloads)
                try:
                    self._pump(True)
                except _TimeUp:  # only at interpreter exit
                    self._pending.clear()
                    exc = Full()
                    exc.done = self._confirmed - start
                    raise exc from None
                except _Died as died:
                    done = self._confirmed - start
                    if died.error is not None:
                        died.error.done, died.error.in_doubt = done, len(died.doubt)
                        died.error.payloads = died.doubt
                        raise died.error
                    raise self._died_error("a put_many", done, died.doubt,
                                           len(died.unsent)) from None
            return len(payloads)
        return self._send(payloads, block, timeout)

    # -- get

    def _fetch(self, max_items: int, block: bool, timeout: Optional[float]) -> List[bytes]:
        """One call at a time (prefetch 1)."""
        if timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        ray = sys.modules["ray"]
        deadline = None if not block or timeout is None else time.monotonic() + timeout
        while True:
            if not block:
                wait = 0.0
            elif deadline is None:
                wait = WAIT_SLICE
            else:
                wait = min(max(deadline - time.monotonic(), 0.0), WAIT_SLICE)
            actor, epoch = self._live()
            try:
                got = _call(actor.get_many.remote(max_items, wait))
            except ray.exceptions.RayActorError as exc:
                self._losses["read_loss_bound"] += max_items  # what the dead proxy may have held
                self._restart(epoch, exc)
                got = []
            if got:
                return got
            if not block or (deadline is not None and time.monotonic() >= deadline):
                raise Empty

    def _rready(self) -> None:
        now = time.monotonic()
        if self._repoch != self._epoch or now - self._rlast > STREAM_FRESH:
            if self._ahead:
                self._harvest()  # calls of the old stream come back first
            old = self._rstream
            self._rstream, self._rseq, self._repoch = self._new_stream("r"), 0, self._epoch
            self._forget(old)
        self._rlast = now

    def _read(self, want: int, wait: float) -> None:
        if _known_dead(self._actor):
            if self._ahead:
                self._harvest()
            self._live()
        self._rready()
        ref = self._actor.get_ordered.remote(self._rstream, self._rseq, want, wait)
        self._rseq += 1
        self._ahead.append((ref, self._repoch, want))

    def _harvest(self) -> None:
        """Waits for every read-ahead call (under _rlock): what they brought
        goes to the inbox, in order; a call the proxy died under is counted
        in ``read_loss_bound`` (what the dead proxy may have taken for it),
        and a new proxy is started."""
        ray = sys.modules["ray"]
        failed = None
        while self._ahead:
            ref, epoch, want = self._ahead.popleft()
            try:
                self._inbox.extend(_call(ref))
            except ray.exceptions.RayActorError as exc:
                self._losses["read_loss_bound"] += want
                failed = (epoch, exc)
        if failed is not None:
            self._restart(*failed)

    def _absorb(self) -> None:
        """Moves the read-ahead calls that came back into the inbox (under
        _rlock)."""
        ray = sys.modules["ray"]
        while self._ahead:
            ready, _ = ray.wait([self._ahead[0][0]], timeout=0)
            if not ready:
                return
            ref, epoch, want = self._ahead[0]
            try:
                got = _call(ref)
            except ray.exceptions.RayActorError:
                self._harvest()
                return
            self._ahead.popleft()
            self._inbox.extend(got)

    def _pull(self, max_items: int, block: bool, timeout: Optional[float]) -> List[bytes]:
        """The read-ahead path (prefetch > 1): what the inbox holds, else
        the messages of the oldest call in flight (or of a new one); the
        window is then refilled."""
        if timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        deadline = None if not block or timeout is None else time.monotonic() + timeout
        if self._hook_retry:
            self._hook_retry = not _hook_actor_exit()
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
            if self._closing:
                self._check()
            if self._inbox:
                return [self._inbox.popleft() for _ in range(min(max_items, len(self._inbox)))]
            if self._ahead and self._ahead[0][1] != self._epoch:
                self._harvest()  # calls to a replaced proxy: keep what they brought
                continue
            fresh = not self._ahead
            if fresh:
                self._read(want, READ_SLICE if block else 0.0)
            if not block:
                wait = None if fresh else 0.0
            elif deadline is None:
                wait = None
            else:
                wait = max(deadline - time.monotonic(), 0.0)
            ready, _ = ray.wait([self._ahead[0][0]], timeout=wait)
            if not ready:
                raise Empty  # the calls stay in flight for the next get
            try:
                got = _call(self._ahead[0][0])
            except ray.exceptions.RayActorError:
                self._harvest()  # keeps what the other calls brought, restarts
                continue
            self._ahead.popleft()
            self._inbox.extend(got)  # before any refill (which may harvest into the inbox)
            if got or block:
                while len(self._ahead) < READ_AHEAD:
                    self._read(want, READ_SLICE)
            if got:
                continue
            if not block or (deadline is not None and time.monotonic() >= deadline):
                raise Empty

    def _get(self, block: bool, timeout: Optional[float]) -> bytes:
        if self.prefetch > 1:
            if not self._inbox:
                self._sync()
            got = self._pull(1, block, timeout)
        else:
            try:
                return self._inbox.popleft()
            except IndexError:
                pass
            self._sync()
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
        if self.prefetch > 1:
            if not self._inbox:
                self._sync()
            got = self._pull(max_items, block, timeout)
        elif self._inbox:
            got = [self._inbox.popleft() for _ in range(min(max_items, len(self._inbox)))]
        else:
            self._sync()
            got = self._fetch(max_items, block, timeout)
        if raw:
            return got
        decode = self._decode
        return [decode(x) for x in got]

    # -- size and tasks

    def _local(self) -> int:
        """Messages taken for this object and not handed out yet: the inbox
        and the read-ahead calls that came back."""
        if self._ahead and self._rlock.acquire(False):
            try:
                self._absorb()
            finally:
                self._rlock.release()
        return len(self._inbox)

    def qsize(self) -> int:
        """Messages queued (a snapshot), plus those taken for this object
        and not handed out yet (prefetched, and finished read-ahead)."""
        self._sync()
        depth = self._ask("depth")
        return depth + self._local()

    def __len__(self) -> int:
        return self.qsize()

    def __bool__(self) -> bool:
        return True

    def empty(self) -> bool:
        return self.qsize() == 0

    def full(self) -> bool:
        self._sync()
        return self._ask("full")

    def task_done(self, count: int = 1) -> None:
        """As SageQueue.task_done. If the proxy dies under the call, raises
        ProxyDiedError (``in_doubt``: count, which may or may not have been
        counted)."""
        ray = sys.modules["ray"]
        self._sync()
        actor, epoch = self._live()
        try:
            _call(actor.task_done.remote(count))
        except ray.exceptions.RayActorError as exc:
            self._restart(epoch, exc)
            raise ProxyDiedError(
                f"the proxy of queue '{self._name}' died during task_done({count}): it may "
                "or may not have been counted", self._name, in_doubt=count) from None

    def join(self, timeout: Optional[float] = None) -> bool:
        if timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        self._sync()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = WAIT_SLICE if deadline is None else \
                min(max(deadline - time.monotonic(), 0.0), WAIT_SLICE)
            if self._ask("join", wait):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False

    # -- stats, references, lifetime

    def get_stats(self) -> Dict[str, Any]:
        """The queue's statistics (as SageQueue.get_stats) plus ``proxy``
        (True), ``proxy_node``, ``prefetched`` (taken for this object, not
        handed out yet), the proxy's counters (``proxy_calls``,
        ``proxy_put``, ``proxy_got``, ``proxy_openers``) and this object's
        record of proxy failures: ``proxy_restarts``, ``puts_in_doubt``
        (messages reported in ProxyDiedError) and ``read_loss_bound`` (the
        most messages dead proxies may have taken for this object's gets
        and lost with them)."""
        self._sync()
        stats = self._ask("stats")
        stats.update(self._losses)
        stats.update(proxy=True, proxy_node=self._node_id, prefetched=self._local())
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
        _untrack(self)

    def close(self) -> None:
        """Sends buffered puts, returns the messages taken for this object
        (prefetched, and those of read-ahead calls) to the queue's tail, and
        detaches this object (the proxy stays for other openers).
        Idempotent. If the proxy dies meanwhile, what was certainly not put
        goes through a new proxy; messages left in doubt are reported with
        ProxyDiedError (``.payloads``), after the rest went back."""
        self._close(None)

    def _close(self, deadline: Optional[float]) -> None:
        if not self._close_lock.acquire(timeout=-1 if _exit_deadline is None
                                        else max(_exit_deadline - time.monotonic(), 0.0)):
            return  # at exit: another thread is still closing it
        try:
            if self._closed:
                return
            self._closing = True
            errors: List[BaseException] = []
            try:
                with self._lock:
                    self._wake.notify_all()  # a background flush gives way
                    try:
                        self._behind(True, deadline)
                    except _TimeUp as up:
                        left = getattr(up, "doubt", []) + list(self._pending)
                        self._pending.clear()
                        errors.append(self._lost_at_exit("buffered", left))
                    except BaseException as exc:
                        errors.append(exc)
                with self._rlock:
                    try:
                        self._harvest()
                    except BaseException:
                        pass  # no proxy: the put-back below says so, if any is due
                    left = list(self._inbox)
                    self._inbox.clear()
                if left:
                    try:
                        # A proxy that died unnoticed would leave the whole
                        # put-back in doubt: make sure this one lives first.
                        try:
                            self._ask("counters")
                        except BaseException as exc:
                            exc.payloads = left
                            raise
                        self._put_back(left, deadline)
                    except BaseException as exc:
                        errors.append(exc)
                self._forget(self._wstream, self._rstream)
            finally:
                self._end()
            if self._error is not None:
                errors.insert(0, self._error)
                self._error = None
            if errors:
                raise _combine(errors)
        finally:
            self._close_lock.release()

    def _lost_at_exit(self, what: str, payloads: List[bytes]) -> RemoteQueueError:
        exc = RemoteQueueError(f"queue '{self._name}' stayed full at exit: {len(payloads)} "
                               f"{what} message(s) could not be sent", self._name)
        exc.payloads = payloads
        return exc

    def _put_back(self, payloads: List[bytes], deadline: Optional[float]) -> None:
        """Puts messages taken for this object back at the queue's tail."""
        doubt: List[bytes] = []
        while payloads:
            try:
                self._send(payloads, True, None, deadline)
                break
            except ProxyDiedError as exc:
                doubt += payloads[exc.done:exc.done + exc.in_doubt]
                payloads = payloads[exc.done + exc.in_doubt:]
            except Full as exc:
                raise self._lost_at_exit("prefetched", payloads[exc.done:]) from None
            except BaseException as exc:
                exc.payloads = doubt + payloads[getattr(exc, "done", 0):]
                raise
        if doubt:
            raise ProxyDiedError(
                f"the proxy of queue '{self._name}' died while close() put back prefetched "
                f"messages: {len(doubt)} may or may not have gone back (their bytes are in "
                ".payloads); the others did", self._name, in_doubt=len(doubt), payloads=doubt)

    def destroy(self) -> None:
        """Removes the queue (through its proxy, which then ends) and closes
        this object."""
        if self._closed:
            return
        ray = sys.modules["ray"]
        try:
            self._sync()
        finally:
            self._closing = True
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


def _combine(errors: List[BaseException]) -> BaseException:
    """One error for close(): the first that is not an in-doubt report (or
    the first), carrying the payloads of all."""
    payloads: List[bytes] = []
    for exc in errors:
        payloads += list(getattr(exc, "payloads", None) or [])
    main = next((e for e in errors if not isinstance(e, ProxyDiedError)), errors[0])
    if len(errors) > 1 or payloads:
        try:
            main.payloads = payloads
            if isinstance(main, ProxyDiedError):
                main.in_doubt = len(payloads)
        except AttributeError:
            pass
    return main


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


# ------------------------------------------- closing at exit and when collected
#
# The state of a RemoteSageQueue lives in its __dict__, which a "ghost"
# object shares: the background flusher and the finalizer hold the ghost,
# never the object, so an object nobody holds is collected, and its ghost
# then sends its buffer and puts back its read-ahead (in the janitor
# thread: a finalizer may run anywhere). At interpreter exit (before Ray's
# own exit handler, which was registered earlier) every open object is
# closed, each within EXIT_TIMEOUT.

_open_lock = threading.Lock()
_open_ghosts: Dict[int, RemoteSageQueue] = {}
_exit_hooked = False
_janitor_cv = threading.Condition()
_janitor_jobs: deque = deque()
_janitor: Optional[threading.Thread] = None


def _track(q: RemoteSageQueue) -> None:
    global _exit_hooked
    ghost = object.__new__(RemoteSageQueue)
    object.__setattr__(ghost, "__dict__", q.__dict__)
    q._ghost = ghost
    fin = weakref.finalize(q, _collected, ghost)
    fin.atexit = False  # _at_exit closes it, before Ray's exit handler
    q._finalizer = fin
    with _open_lock:
        _open_ghosts[id(ghost)] = ghost
        if not _exit_hooked:
            atexit.register(_at_exit)
            _exit_hooked = True
    q._hook_retry = not _hook_actor_exit()


def _untrack(q: RemoteSageQueue) -> None:
    with _open_lock:
        _open_ghosts.pop(id(q._ghost), None)
    q._finalizer.detach()


def _collected(ghost: RemoteSageQueue) -> None:
    """The object was garbage-collected without close(): the janitor
    closes its ghost."""
    global _janitor
    if ghost._closed:
        return
    with _janitor_cv:
        _janitor_jobs.append(ghost)
        _janitor_cv.notify()
        if _janitor is None or not _janitor.is_alive():
            try:
                _janitor = threading.Thread(target=_janitor_loop, daemon=True,
                                            name="sageq-janitor")
                _janitor.start()
            except RuntimeError:  # interpreter shutting down: _at_exit closes it
                _janitor = None


def _janitor_loop() -> None:
    while True:
        with _janitor_cv:
            while not _janitor_jobs:
                if not _janitor_cv.wait(30.0) and not _janitor_jobs:
                    return
            ghost = _janitor_jobs.popleft()
        _close_reporting(ghost, None, "was garbage-collected")


def _close_reporting(ghost: RemoteSageQueue, deadline: Optional[float], why: str) -> None:
    try:
        ghost._close(deadline)
    except BaseException as exc:
        lost = getattr(exc, "payloads", None)
        count = f" ({len(lost)} message(s) not known to be in the queue)" if lost else ""
        print(f"sage_queue: closing remote queue '{ghost._name}' that {why} failed{count}: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)


def _close_all(why: str) -> None:
    """Closes every open RemoteSageQueue of this process, within
    EXIT_TIMEOUT: write-behind buffers go out, read-ahead goes back to the
    queue."""
    global _exit_deadline
    if _ray() is None:
        return
    _exit_deadline = time.monotonic() + EXIT_TIMEOUT
    with _open_lock:
        ghosts = list(_open_ghosts.values())
    for ghost in ghosts:
        _close_reporting(ghost, None, why)


def _at_exit() -> None:
    """A driver's interpreter exit (its handler runs before Ray's own, which
    was registered earlier). In a Ray worker Python's exit handlers run after
    Ray has stopped: actors close their queues in __ray_shutdown__ instead."""
    _close_all("was open at exit")


_hooked_actor: Any = None  # the actor (id) whose __ray_shutdown__ closes our queues


def _hook_actor_exit() -> bool:
    """In an actor, closes every open RemoteSageQueue when the actor ends
    gracefully (exit_actor(), its last handle gone): Ray calls the actor's
    ``__ray_shutdown__`` then, while it can still make calls, so this wraps
    the instance's (the class's own runs first). A Ray worker runs Python's
    exit handlers only after Ray stopped, too late to send anything.
    Returns False when it should be tried again (the actor is still in its
    constructor)."""
    global _hooked_actor
    ray = _ray()
    if ray is None:
        return True
    try:
        worker = ray._private.worker.global_worker
        if worker.mode != ray.WORKER_MODE or worker.actor_id.is_nil():
            return True  # a driver or a task worker: nothing to wrap
        if _hooked_actor is not None and worker.actor_id == _hooked_actor:
            return True
        instance = worker.actors.get(worker.actor_id)
    except Exception:
        return True
    if instance is None:
        return False  # still in its constructor: tried again on the next put or get
    previous = getattr(instance, "__ray_shutdown__", None)

    def __ray_shutdown__() -> None:
        try:
            if previous is not None:
                previous()
        finally:
            _close_all("was open when its actor ended")

    try:
        instance.__ray_shutdown__ = __ray_shutdown__
    except Exception:
        pass  # __slots__: nothing to do but close() by hand
    _hooked_actor = worker.actor_id
    return True



# ----------------------------------------------------------- asyncio
#
# A helper first tries without blocking on the event loop (local queues: a
# call costs microseconds); when it must wait, the wait runs in a worker
# thread of an elastic pool, in slices of _ASYNC_SLICE, and stops at the
# next slice once the awaiting task is cancelled. The pool starts a thread
# whenever none is idle (idle ones end after a while), so waiters never
# queue behind each other: a thousand idle waiters cost a thousand parked
# threads, never a stalled await. Anything a worker took after its task was
# cancelled goes back to the queue from a worker thread, never from the
# event loop.

_NOTHING = object()
_ASYNC_SLICE = 0.2


class _ElasticPool:
    """Runs each job in a thread at once: an idle one, or a new one. Idle
    threads end after ``idle`` seconds."""

    def __init__(self, name: str, idle: float = 30.0) -> None:
        self._name = name
        self._idle_for = idle
        self._cv = threading.Condition()
        self._jobs: deque = deque()
        self._idle = 0
        self._made = 0

    def submit(self, fn, *args: Any) -> Any:
        from concurrent.futures import Future

        future: Any = Future()
        with self._cv:
            self._jobs.append((future, fn, args))
            if self._idle >= len(self._jobs):
                self._cv.notify()
                return future
            self._made += 1
            name = f"{self._name}-{self._made}"
        threading.Thread(target=self._work, daemon=True, name=name).start()
        return future

    def _work(self) -> None:
        while True:
            with self._cv:
                self._idle += 1
                deadline = time.monotonic() + self._idle_for
                while not self._jobs:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self._idle -= 1
                        return
                    self._cv.wait(left)
                self._idle -= 1
                future, fn, args = self._jobs.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)


_async_pool = _ElasticPool("sageq-async")


class _Handoff:
    """Passes what a worker thread took to the awaiting coroutine, or back
    to the queue when that coroutine was cancelled meanwhile."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cancelled = False
        self.value: Any = _NOTHING


def _give_back(give_back, value: Any) -> None:
    try:
        give_back(value)
    except BaseException as exc:
        print(f"sage_queue: could not put back a message taken for a cancelled await: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)


def _retrieve(future: Any) -> None:
    if not future.cancelled():
        future.exception()


async def _in_worker(fn, handoff: _Handoff) -> Any:
    """Runs fn in a worker thread; if the awaiting task is cancelled, tells
    the worker (handoff.cancelled) and lets it finish in the background."""
    import asyncio

    inner = asyncio.wrap_future(_async_pool.submit(fn))
    inner.add_done_callback(_retrieve)  # an error after a cancel is not "never retrieved"
    try:
        return await asyncio.shield(inner)
    except asyncio.CancelledError:
        with handoff.lock:
            handoff.cancelled = True
        raise


async def _take(q: Any, take, block: bool, timeout: Optional[float], give_back) -> Any:
    if timeout is not None and timeout < 0:
        raise ValueError("'timeout' must be a non-negative number")
    remote = getattr(q, "is_remote", False)  # every call is a round trip: never on the loop
    if not remote:
        try:
            return take(False, None)
        except Empty:
            if not block:
                raise
    handoff = _Handoff()
    deadline = None if not block or timeout is None else time.monotonic() + timeout

    def wait() -> None:
        while True:
            with handoff.lock:
                if handoff.cancelled:
                    return
            if not block:
                value = take(False, None)
            else:
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
            _give_back(give_back, value)  # the coroutine is gone; this is a worker thread
            return

    try:
        await _in_worker(wait, handoff)
    except BaseException:
        with handoff.lock:
            handoff.cancelled = True
            value, handoff.value = handoff.value, _NOTHING
        if value is not _NOTHING:  # taken, never delivered: back to the queue, off the loop
            _async_pool.submit(_give_back, give_back, value)
        raise
    return handoff.value


async def get_async(q: Any, block: bool = True, timeout: Optional[float] = None) -> Any:
    """``await get_async(q)``: q.get() without blocking the event loop (the
    wait runs in a worker thread of its own). If the awaiting task is
    cancelled after the message was taken, the message is put back at the
    tail of the queue (from a worker thread): never dropped, possibly
    reordered."""
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
    while the queue is full. A cancelled put_async stops trying within
    0.2 s; the item is in the queue only if an attempt under way when the
    task was cancelled succeeded."""
    if timeout is not None and timeout < 0:
        raise ValueError("'timeout' must be a non-negative number")
    remote = getattr(q, "is_remote", False)
    if not remote:
        try:
            return q.put(item, False)
        except Full:
            if not block:
                raise
    if remote and (not block or (timeout is None and getattr(q, "batch", 1) > 1)):
        handoff = _Handoff()  # one call: non-blocking, or write-behind (returns once buffered)
        return await _in_worker(lambda: q.put(item, block, timeout), handoff)
    handoff = _Handoff()
    deadline = None if timeout is None else time.monotonic() + timeout

    def attempt() -> None:
        while True:
            with handoff.lock:
                if handoff.cancelled:
                    return
            left = _ASYNC_SLICE if deadline is None else \
                min(deadline - time.monotonic(), _ASYNC_SLICE)
            if left <= 0:
                raise Full
            try:
                return q.put(item, True, left)
            except Full:
                continue

    await _in_worker(attempt, handoff)


async def put_many_async(q: Any, items: Iterable[Any], block: bool = True,
                         timeout: Optional[float] = None) -> int:
    """``await put_many_async(q, items)``: q.put_many() without blocking the
    event loop. Local queues: the items go in slices of waiting; a
    cancelled call stops within 0.2 s, having put a prefix of the items.
    Remote queues: the whole call runs in a worker thread (the ordered
    pipeline), and goes on to the end when the task is cancelled."""
    if timeout is not None and timeout < 0:
        raise ValueError("'timeout' must be a non-negative number")
    items = list(items)
    handoff = _Handoff()
    if getattr(q, "is_remote", False):
        return await _in_worker(lambda: q.put_many(items, block, timeout), handoff)
    try:
        return q.put_many(items, False)
    except Full as exc:
        if not block:
            raise
        start = getattr(exc, "done", 0)
    deadline = None if timeout is None else time.monotonic() + timeout

    def attempt() -> int:
        done = start
        while done < len(items):
            with handoff.lock:
                if handoff.cancelled:
                    return done
            left = _ASYNC_SLICE if deadline is None else \
                min(deadline - time.monotonic(), _ASYNC_SLICE)
            if left <= 0:
                exc = Full()
                exc.done = done
                raise exc
            try:
                done += q.put_many(items[done:], True, left)
            except Full as exc:
                done += getattr(exc, "done", 0)
        return done

    return await _in_worker(attempt, handoff)


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
