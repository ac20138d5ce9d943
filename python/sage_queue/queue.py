"""SageQueue: a queue.Queue-compatible queue shared between processes.

The class is assembled from one module per concern: _producer (puts),
_consumer (gets), _lifetime (close, destroy, fork, exit), _waits (timeouts
and retries) and _base (what the Ray layer's remote queue shares)."""

from __future__ import annotations

import ctypes
import errno
import operator
import os
import queue as _stdqueue
import secrets
import threading
import time
from collections import deque
from typing import Any, Dict, List, Optional, Tuple, Union

from . import _args
from . import _hooks
from . import _entries
from . import _lib
from . import _location
from . import _uri
from ._base import QueueBase
from ._consumer import Consumer
from ._handle import CAP_BATCH, CAP_CROSS_PROCESS, CAP_ZERO_COPY, Handle, RecvBuffer
from ._lifetime import Lifetime, track
from ._producer import Producer
from .linger import LingeringProducer
from ._waits import Waiting, cap, monotonic, timeout_ns
from .errors import InvalidArgumentError, NotSupportedError, QueueNotFoundError, SageQueueError
from .ref import SageQueueRef, _open_reference

__all__ = ["SageQueue", "Empty", "Full", "DEFAULT_CAPACITY"]

Empty = _stdqueue.Empty
Full = _stdqueue.Full

#: The shm transport's ring size when maxsize is None or <= 0 (other
#: transports have their own defaults and limits).
DEFAULT_CAPACITY = 1 << 20


# Options that only matter when a queue is created; the others (spin_ns,
# uid, allow_foreign, x-...) are per handle and travel in references.
# `slots` travels too (the queue ignores it when it exists), so a handle
# opened from a reference knows the item bound (see _item_bound).
_CREATE_ONLY = frozenset(
    {"capacity", "max_items", "mode", "create", "auto_cleanup", "slot_size", "attach_max"})

_c_int64 = ctypes.c_int64

def _unique_name() -> str:
    return f"sq-{os.getpid()}-{secrets.token_hex(6)}"


def _option_text(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if key == "mode" and isinstance(value, int):
        return format(value, "o")
    return str(value)



def _has_auto_cleanup(transport: Optional[str]) -> bool:
    """Whether the transport that `transport` selects takes auto_cleanup."""
    chosen = _lib.lib().sage_transport_choose(transport.encode() if transport else None)
    return (chosen or b"").decode() in ("shm", "posixmq")



class SageQueue(Producer, Consumer, Lifetime, Waiting, QueueBase):
    """A FIFO queue of Python objects shared by threads and processes.

    ``SageQueue(name=None, maxsize=None, *, max_items=0,
    transport=None, auto_cleanup=None, **options)`` opens queue ``name``,
    creating it if it does not exist (``name=None`` makes a unique name).

    * ``maxsize``: the ring size in **bytes** (as in SAGE's earlier queue;
      the shm transport rounds it up to a power of two, minimum 4096). The
      largest message is half of it. ``None`` (or <= 0) takes the
      transport's default (1 MiB for shm; posixmq's comes from the kernel's
      limits). Ignored when the queue already exists.
    * ``max_items``: an additional bound on queued messages, like
      ``queue.Queue(maxsize=...)``; 0 leaves the transport's own bound
      (shm: its slot count; ``q.max_items`` reports the bound in force).
    * ``transport``: the plugin to use; default ``$SAGE_TRANSPORT`` or
      ``"shm"``.
    * ``auto_cleanup``: remove the queue when its last handle closes.
      Default: on for an unnamed queue on shm or posixmq (nobody else knows
      its name but from a reference), off for a named one and for other
      transports unless asked.
    * ``options``: further transport options (``create="never"``,
      ``mode=0o660``, ``spin_ns=...``, ...; see docs/PYTHON.md).

    It implements the whole ``queue.Queue`` interface with its semantics
    (``put/get/put_nowait/get_nowait/qsize/empty/full/task_done/join``,
    raising ``queue.Empty`` and ``queue.Full``), plus batches, a raw-bytes
    path, statistics and explicit lifetime control.

    Thread safety: every method may be called from any thread at once;
    blocking calls release the GIL. ``close()`` while other threads are
    inside an operation makes new operations fail at once and closes the
    handle when the last of them returns.

    Exceptions, including asynchronous ones (Ctrl-C): a message taken from
    the queue is never lost in this process -- one an exception kept from
    reaching the caller is held by this object and returned first by its
    next get; reservations and in-place reads are always settled;
    ``put_many`` reports exactly what went in (see docs/PYTHON.md, "What an
    exception leaves behind").

    Processes: pickling a SageQueue pickles a :class:`SageQueueRef`, so it
    can be passed to multiprocessing (fork, spawn, forkserver) or a
    ``ProcessPoolExecutor``. After a plain ``os.fork()`` the child goes on
    with the inherited handle (shm re-attaches the child on its first call).
    A queue on a transport that cannot cross processes (no
    ``cross_process`` capability) refuses both: pickling raises
    NotSupportedError, and in a forked child its calls raise
    QueueClosedError saying why.

    Errors: ``queue.Full``/``queue.Empty`` for would-block and time-outs;
    ``ValueError`` (``MessageTooLarge``) for a message that can never fit,
    ``ValueError`` (``BadNameError``) for a bad name, ``ValueError`` for a
    negative timeout, ``QueueClosedError`` (a ``ValueError``) after close;
    other failures raise a :class:`~sage_queue.errors.SageQueueError`
    subclass whose message names the queue and the cause.
    """

    # ---------------------------------------------------------------- setup

    def __init__(self, name: Optional[str] = None, maxsize: Union[int, str, None] = None,
                 *, max_items: int = 0, transport: Optional[str] = None,
                 auto_cleanup: Optional[bool] = None, prefetch: int = 0,
                 **options: Any) -> None:
        self._init_state()
        if auto_cleanup is None:
            # Nobody else knows a generated name unless given a reference:
            # the queue goes with its last handle (where the transport has
            # that option: the in-tree shm and posixmq; a third party's may
            # not).
            auto_cleanup = name is None and _has_auto_cleanup(transport)
        if name is None:
            name = _unique_name()
        if not isinstance(name, str):
            raise TypeError(f"queue name must be a str, not {type(name).__name__}")
        self._name = name
        maxsize = _args.maxsize_bytes(maxsize)
        max_items = _args.item_count(max_items)
        prefetch = operator.index(prefetch)
        if prefetch < 0:
            raise ValueError("prefetch must be >= 0")
        opts: Dict[str, str] = {}
        if maxsize is not None and maxsize > 0:
            opts["capacity"] = str(maxsize)
        if max_items:
            opts["max_items"] = str(max_items)
        if auto_cleanup:
            opts["auto_cleanup"] = "1"
        for key, value in options.items():
            opts[key] = _option_text(key, value)
        opened_at = time.time_ns()
        try:
            self._open(name, transport, opts)
        except InvalidArgumentError as exc:
            raise _args.explain_capacity(exc, maxsize) from None
        pid, created_ns = self._identity or (0, 0)
        created = pid == os.getpid() and created_ns >= opened_at
        _args.warn_if_sizes_ignored(self, maxsize, max_items, created)
        if prefetch:
            try:
                self.prefetch = prefetch
            except NotSupportedError:  # no batches: leave nothing behind
                self._shut("destroy" if created else "close")
                raise

    def _init_state(self) -> None:
        """What every method may rely on, even on a half-constructed or
        closed object."""
        self._h: Optional[Handle] = None
        # The get paths' handle: None while closed or while messages are
        # held (they go first), so one attribute read covers both.
        self._gh: Optional[Handle] = None
        # Calls inside the C handle right now, besides gets (see _shut).
        # `+= 1` and `-= 1` on it cannot be interrupted (nor run
        # concurrently) under the GIL: see "Asynchronous exceptions" above.
        self._calls = 0
        # Messages this object took from the ring but could not hand over
        # (an exception landed first; a batch stopped at a bad message):
        # raw payloads (bytes/bytearray) or decoded objects as 1-tuples.
        self._held: "deque[Any]" = deque()
        self._close_lock = threading.Lock()
        self._pending: Optional[Handle] = None  # closed, waiting for calls to leave
        self._identity: Optional[Tuple[int, int]] = None
        self._auto_cleanup = False
        self._destroyed = False
        self._closed_why = ""  # why calls fail other than close() (a fork)
        self._caps = 0
        # Receive buffers: idle ones in _pool; _bufs counts them all, so
        # _bufs - len(_pool) gets are in flight.
        self._pool: List[RecvBuffer] = []
        self._bufs = 0
        self._prefetch = 0  # see the prefetch property
        self._refill_lock = threading.Lock()

    @classmethod
    def _attach(cls, name: str, transport: Optional[str], options: Dict[str, str]) -> "SageQueue":
        """Opens an existing queue (create=never): -ENOENT raises
        QueueNotFoundError, never creates one."""
        q = cls.__new__(cls)
        q._init_state()
        q._name = name
        q._open(name, transport, dict(options, create="never"))
        return q

    def _open(self, name: str, transport: Optional[str], opts: Dict[str, str]) -> None:
        lib = _lib.lib()
        _entries.bind()
        self._transport = transport or ""
        handle = Handle()
        try:
            rc = lib.sage_queue_open(transport.encode() if transport else None, name.encode(),
                                     _lib.options_array(opts), ctypes.byref(handle))
            if rc != 0:
                where = f" on transport '{transport}'" if transport else ""
                raise _lib.from_code(rc, _lib.last_error(), f"cannot open queue '{name}'{where}",
                                name)
            self._name = name
            self._transport = _lib.text(lib.sage_queue_transport_name(handle))
            self._handle_options = {k: v for k, v in opts.items() if k not in _CREATE_ONLY}
            caps = lib.sage_transport_capabilities(self._transport.encode())
            self._caps = caps if caps > 0 else 0
            self._zero_copy = bool(self._caps & CAP_ZERO_COPY)
            names = _lib.stat_names()
            values = (ctypes.c_uint64 * len(names))()
            n = lib.sage_queue_stats_values(handle, values, len(names))
            if n < 0:
                raise self._error(n, "stats")
            stats = dict(zip(names[:n], values[:n]))
            self._capacity = stats.get("capacity", 0)
            self._max_message = stats.get("max_message", 0) or self._capacity // 2
            self._max_items = stats.get("max_items", 0)
            self._item_bound = _item_bound(self._transport, stats, opts)
            self._identity = (stats.get("creator_pid", 0), stats.get("created_ns", 0))
            self._auto_cleanup = opts.get("auto_cleanup") == "1"
            self._send = _lib.Send(handle.value, 1)  # the quick put's request
            self._send_p = ctypes.pointer(self._send)
            self._h = self._gh = handle
            handle = None
        finally:
            if handle is not None and handle.value:  # opened, then failed or interrupted
                lib.sage_queue_close(handle)
        track(self)

    # ------------------------------------------------------------ properties

    @property
    def prefetch(self) -> int:
        """Messages a get takes from the ring at once (0: one at a time).

        With ``prefetch = n`` (n >= 2; opt-in, per object, not carried by
        references) a get that finds none taken already takes up to n that
        are ready with one batch call (waiting, as get() does, for the
        first only) and returns the oldest; the next gets return the rest,
        in order, without a call into the transport. Those taken and not
        yet returned count in ``prefetched`` and in this object's
        ``qsize()`` (not in other handles'); no other consumer can have
        them, so consumers that prefetch share work in runs, not message
        by message. close() puts them back at the tail of the queue; a
        crash of this process loses them, as any message taken. Needs a
        transport with batches (NotSupportedError). Threads sharing a
        prefetching object take turns to refill, waiting in 10 ms slices:
        a timed get may overrun its timeout by a few slices when several
        wait at once."""
        return self._prefetch

    @prefetch.setter
    def prefetch(self, n: int) -> None:
        n = operator.index(n)
        if n < 0:
            raise ValueError("prefetch must be >= 0")
        if n > 1 and not self._caps & CAP_BATCH:
            raise NotSupportedError(
                f"queue '{self._name}': transport '{self._transport}' has no batch get, "
                "which prefetch needs", -errno.ENOTSUP, "", self._name)
        self._prefetch = n if n > 1 else 0
        if self._h is not None:
            self._gh = None if n > 1 or self._held else self._h

    def lingering(self, max_items: int = 64, max_delay: Optional[float] = 0.001) -> LingeringProducer:
        """A producer for this queue whose put() buffers messages and puts
        them with one batch call once max_items are buffered or the oldest
        is max_delay seconds old (None: by count, flush() and close() only).
        Opt-in; what it changes is in sage_queue.linger's docstring."""
        return LingeringProducer(self, max_items, max_delay)

    @property
    def prefetched(self) -> int:
        """Messages this object took (prefetched, or kept after an
        exception) and has not returned yet."""
        return len(self._held)

    @property
    def closed(self) -> bool:
        return self._h is None

    @property
    def uri(self) -> str:
        """A URI that reopens this queue (``open_queue(q.uri)``): transport,
        name, size, and the options this handle was opened with."""
        kwargs: Dict[str, Any] = {"maxsize": self._capacity}
        if self._max_items:
            kwargs["max_items"] = self._max_items
        kwargs.update(self._handle_options)
        return _uri.format_uri(self._transport, self._name, kwargs)

    @property
    def unfinished_tasks(self) -> int:
        """Messages put and not yet marked done with task_done(), counted
        across every process."""
        return self._stats_raw()["unfinished"]

    # ---------------------------------------------------------- in-flight ops

    def _local_only(self, what: str) -> NotSupportedError:
        return NotSupportedError(
            f"queue '{self._name}' is on transport '{self._transport}', which cannot share a "
            f"queue between processes (no cross_process capability): {what}",
            -errno.ENOTSUP, "", self._name)

    def _error(self, rc: int, what: str) -> SageQueueError:
        return _lib.from_code(rc, _lib.last_error(), f"{what} on queue '{self._name}'",
                              self._name)

    def _call(self, fn: Any, *args: Any) -> Any:
        """fn(handle, *args) for the calls off the hot paths, counted in
        _calls (see _shut)."""
        self._calls += 1
        try:
            h = self._h
            if h is None:
                raise self._closed_error()
            return fn(h, *args)
        finally:
            self._calls -= 1

    # ------------------------------------------------------------------- put

    # ----------------------------------------------------------- size, tasks

    def _depth(self) -> tuple:
        items, size = ctypes.c_uint64(), ctypes.c_uint64()
        rc = self._call(_lib.lib().sage_queue_depth, ctypes.byref(items), ctypes.byref(size))
        if rc:
            raise self._error(rc, "depth")
        return items.value, size.value

    def qsize(self) -> int:
        """Messages queued now (a snapshot: other processes may change it),
        counting those this object holds for its next get."""
        return self._depth()[0] + len(self._held)

    def __len__(self) -> int:
        return self.qsize()

    def __bool__(self) -> bool:
        return True

    def empty(self) -> bool:
        """True if a get() on this object would find nothing now (a
        snapshot)."""
        return not self._held and self._depth()[0] == 0

    def full(self) -> bool:
        """True if max_items messages are queued now (a snapshot): then
        put_nowait() of the smallest message raises Full. (On shm the
        smallest message, pickled or raw, lives in its slot and needs no
        ring bytes; a transport without an item bound is full when too few
        bytes are free for any message.) A larger message may not fit a
        queue that is not full, and messages taken but not yet released (a
        zero-copy peek, a get in progress) still hold their slots."""
        items, size = self._depth()
        bound = self._item_bound
        if bound:
            return items >= bound
        return self._capacity - size < _MIN_RECORD

    def task_done(self, count: int = 1) -> None:
        """Marks count taken messages as processed, for join(), in every
        process. Raises ValueError if called more times than messages were
        put (as queue.Queue does), or for a negative count."""
        count = operator.index(count)
        if count < 0:
            raise ValueError(f"task_done() count must be >= 0, not {count}")
        rc = self._call(_lib.lib().sage_queue_task_done, count)
        if rc == -errno.EINVAL:  # the library's text says it all, with the counts
            raise ValueError(_lib.last_error()
                             or f"task_done() called too many times on queue '{self._name}'")
        if rc:
            raise self._error(rc, "task_done")

    def join(self, timeout: Optional[float] = None) -> bool:
        """Blocks until every message put (by any process) has been marked
        done with task_done(). With a timeout, returns False if that did not
        happen in time; returns True otherwise."""
        tmo = timeout_ns(True, timeout)
        start = monotonic()
        join = _lib.lib().sage_queue_join
        while True:
            rc = self._call(join, cap(tmo))
            if rc == 0:
                return True
            try:
                tmo, start = self._after_failure(rc, "join", 0, tmo, start, Empty)
            except Empty:
                return False

    # ----------------------------------------------------------------- stats

    def _stats_raw(self) -> Dict[str, int]:
        names = _lib.stat_names()
        values = (ctypes.c_uint64 * len(names))()
        n = self._call(_lib.lib().sage_queue_stats_values, values, len(names))
        if n < 0:
            raise self._error(n, "stats")
        return dict(zip(names[:n], values[:n]))

    def get_stats(self) -> Dict[str, Any]:
        """Every shared statistic of the queue (exact, across processes,
        read without stopping traffic), plus SAGE's legacy keys:
        buffer_size, available_read (payload bytes put and not yet taken),
        available_write (free ring bytes), utilization (0..1: the larger of
        the ring-byte and the message-slot fractions; small messages live
        in their slots and hold no ring bytes), readers, writers,
        ref_count, total_bytes_written, total_bytes_read, message_count;
        and name, transport, and held (messages this object took and keeps
        for its next get)."""
        stats: Dict[str, Any] = self._stats_raw()
        capacity = stats.get("capacity", self._capacity)
        used = stats.get("bytes_used", 0)
        attached = stats.get("attached", 0)
        bound = self._item_bound
        by_items = stats.get("items", 0) / bound if bound else 0.0
        by_bytes = (used / capacity) if capacity else 0.0
        stats.update(
            name=self._name,
            transport=self._transport,
            held=len(self._held),
            buffer_size=capacity,
            available_read=_payload_bytes_queued(stats),
            available_write=max(capacity - used, 0),
            utilization=min(max(by_bytes, by_items), 1.0),
            readers=attached,
            writers=attached,
            ref_count=attached,
            total_bytes_written=stats.get("bytes_put", 0),
            total_bytes_read=stats.get("bytes_got", 0),
            message_count=stats.get("items", 0),
        )
        return stats

    def get_buffer_stats(self) -> Dict[str, Any]:
        """get_stats(), whose ``utilization`` is the fraction of the queue in
        use (0..1): the larger of the ring-byte and the message-slot
        fractions (SAGE's load formula reads it)."""
        return self.get_stats()

    # -------------------------------------------------------------- lifetime

    def get_reference(self) -> SageQueueRef:
        """A small picklable reference that reopens this queue elsewhere
        (this queue only: not another one created later under its name)."""
        if self._h is not None and not self._caps & CAP_CROSS_PROCESS:
            raise self._local_only("a reference to it would open nothing in another process")
        pid, created = self._identity or (0, 0)
        return SageQueueRef(self._name, self._transport, dict(self._handle_options),
                            self._capacity, self._item_bound, _location.host_identity(),
                            _hooks.node_id(),
                            pid, created)

    def __reduce__(self):
        if self._h is None:
            raise self._closed_error()
        return _open_reference, (self.get_reference(),)

    def __repr__(self) -> str:
        name = self.__dict__.get("_name", "?")
        transport = self.__dict__.get("_transport", "?")
        if self.__dict__.get("_h") is None:
            return f"<SageQueue {name!r} transport={transport} closed>"
        try:
            items, size = self._depth()
            state = f"items={items} bytes_used={size}"
        except Exception as exc:  # a repr must not raise
            state = f"error={exc}"
        if self._held:
            state += f" held={len(self._held)}"
        bound = f" max_items={self._max_items}" if self._max_items else ""
        return (f"<SageQueue {name!r} transport={transport} "
                f"capacity={self._capacity}{bound} {state}>")


# Records take whole 8-byte units: fewer free bytes than this and no message
# fits (a transport without an item bound; shm keeps small ones in slots).
_MIN_RECORD = 8


def _next_pow2(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()


def _payload_bytes_queued(stats: Dict[str, int]) -> int:
    """Payload bytes put and not yet taken (approximate: the per-handle
    counters are read one after another, and messages lost with a dead
    consumer stay counted until the queue is empty)."""
    if not stats.get("items"):
        return 0
    return max(stats.get("bytes_put", 0) - stats.get("bytes_got", 0), 0)


def _item_bound(transport: str, stats: Dict[str, int], opts: Dict[str, str]) -> int:
    """The most messages the queue holds: its max_items, or the transport's
    own bound. The shm transport does not report its slot count; it is
    derived as plugin/shm/segment.c plans it, from the slots= this handle
    was opened with (references carry the creator's), else the default."""
    if stats.get("max_items"):
        return stats["max_items"]
    if transport != "shm":
        return 0
    slots = int(opts.get("slots", 0) or 0)
    if not slots:
        slots = min(stats.get("capacity", 0) // 64, 1 << 24)
    return _next_pow2(max(slots, 64))




def _open_here(ref: SageQueueRef) -> SageQueue:
    """Opens a reference's queue on this host: the queue it names, never
    another one created under its name since."""
    q = SageQueue._attach(ref.name, ref.transport, ref.options)
    if ref.created_ns and q._identity not in (None, (0, 0)) and \
            q._identity != (ref.creator_pid, ref.created_ns):
        q.close()
        raise QueueNotFoundError(
            f"queue '{ref.name}' (transport {ref.transport}) was destroyed: the queue "
            f"now under that name was created later (by process {q._identity[0]}), "
            f"not the one this reference names (created by process {ref.creator_pid})",
            -errno.ENOENT, "", ref.name)
    return q


_hooks.provide_local_opener(_open_here)
