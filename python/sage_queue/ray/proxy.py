"""The proxy actor: serves one queue to callers on other Ray nodes."""

from __future__ import annotations

import errno
import os
import sys
import time
from typing import Any, Dict, List, Optional

from ..errors import QueueClosedError, QueueNotFoundError, RemoteQueueError
from ..queue import Empty, Full, SageQueue
from ..ref import SageQueueRef
from ._runtime import (CALL_BYTES, NAMESPACE, NOT_FOUND_LINGER, RESTART_WAIT, STREAM_IDLE,
                       TURN_TIMEOUT, WATCH_INTERVAL, _call, _ray, proxy_name)

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

