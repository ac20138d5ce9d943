"""RemoteSageQueue: a queue on another Ray node, reached through its proxy
actor."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from typing import Any, Dict, List, Optional

from .._base import QueueBase
from ..errors import QueueNotFoundError, RemoteQueueError
from ..queue import Full
from ..ref import SageQueueRef, _open_reference
from . import _exit
from ._exit import _track, _untrack
from ._reader import Reader
from ._runtime import RESTART_WAIT, WAIT_SLICE, _call, _known_dead, _ray, _unwrap
from ._writer import Writer, _TimeUp
from .errors import ProxyDiedError
from .proxy import _same_queue, _start_proxy

class RemoteSageQueue(Writer, Reader, QueueBase):
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
        self._transport = info["transport"]
        self._capacity = info["capacity"]
        self._max_message = info["max_message"]
        self._item_bound = info["max_items"]
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
            raise self._closed_error()
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
            if _exit.exit_deadline() is not None:
                patience = min(patience, max(_exit.exit_deadline() - time.monotonic(), 0.0))
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

    def _died_error(self, what: str, done: int, doubt: List[bytes],
                    unsent: int = 0) -> ProxyDiedError:
        tail = f"; {unsent} after them were not put" if unsent else ""
        self._losses["puts_in_doubt"] += len(doubt)
        return ProxyDiedError(
            f"the proxy of queue '{self._name}' died during {what}: {done} message(s) went "
            f"in, the next {len(doubt)} may or may not have (each is in the queue once or "
            f"not at all){tail}; a new proxy serves the queue", self._name,
            done=done, in_doubt=len(doubt), payloads=doubt)

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
        if not self._close_lock.acquire(timeout=-1 if _exit.exit_deadline() is None
                                        else max(_exit.exit_deadline() - time.monotonic(), 0.0)):
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


