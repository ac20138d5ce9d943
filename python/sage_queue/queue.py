"""SageQueue: a queue.Queue-compatible queue shared between processes."""

from __future__ import annotations

import atexit
import ctypes
import errno
import operator
import os
import queue as _stdqueue
import secrets
import sys
import threading
import time
import warnings
import weakref
from array import array
from collections import deque
from itertools import accumulate
from typing import Any, Dict, Iterable, List, Optional, Tuple

from . import _lib
from . import serialization as _ser
from .errors import (DecodeError, MessageTooLarge, NotSupportedError, QueueClosedError,
                     QueueNotFoundError, SageQueueError, from_code)

__all__ = ["SageQueue", "Empty", "Full", "DEFAULT_CAPACITY"]

Empty = _stdqueue.Empty
Full = _stdqueue.Full

#: The shm transport's ring size when maxsize is None or <= 0 (other
#: transports have their own defaults and limits).
DEFAULT_CAPACITY = 1 << 20

_EAGAIN = -errno.EAGAIN
_ETIMEDOUT = -errno.ETIMEDOUT
_EINTR = -errno.EINTR
_EMSGSIZE = -errno.EMSGSIZE
_ENOTSUP = -errno.ENOTSUP

_OOB = _ser.OOB_THRESHOLD
# Types pickled directly (no buffer hook: they cannot hold a PickleBuffer).
_PLAIN = frozenset({bytes, str, int, float, bool, type(None), complex})
_dumps = _ser._pickle_dumps
_SHORT_BYTES_HEAD = _ser.SHORT_BYTES_HEAD
_STOP = _ser.STOP
# Small plain values: no buffer can hide in them.
_PLAIN_SMALL = frozenset({str, int, float, bool, type(None), complex})

_CAP_CROSS_PROCESS = 1 << 2
_CAP_ZERO_COPY = 1 << 4
_CAP_BATCH = 1 << 5

# Receive buffers: messages up to this size are copied into a per-thread
# reusable buffer and decoded there; larger ones are read in place
# (peek/release) where the transport offers zero-copy.
_RECV_BUFFER = _ser.OOB_THRESHOLD
_BATCH_BUFFER = 1 << 18

# Options that only matter when a queue is created; the others (spin_ns,
# uid, allow_foreign, x-...) are per handle and travel in references.
_CREATE_ONLY = frozenset(
    {"capacity", "max_items", "mode", "create", "auto_cleanup", "slots", "attach_max"})

_c_int64 = ctypes.c_int64
_c_size_t = ctypes.c_size_t
_FOREVER = _c_int64(-1)
_NOWAIT = _c_int64(0)

# Ctrl-C while the main thread waits: a signal that lands inside the C
# wait interrupts it (-EINTR) and Python runs its handler at once, but one
# that lands just outside (in the spin, between wake-ups) would not wake a
# futex already re-entered. So blocking calls made by the main thread wait
# in slices of _SLICE_NS, and Python runs pending handlers between them:
# Ctrl-C is then honoured within a slice at worst. Other threads never get
# signals delivered by Python and wait in one piece.
_SLICE_NS = 50_000_000
# A wait cut in slices counts as one blocked call and at most one timeout
# (sage/transport.h, SAGE_WAIT_*): every slice but the last says SLICE (its
# end is no timeout), every call after the first says RESUMED (not blocked
# again). Flags ride in timeout_ns; the library strips them for transports
# that do not take them.
_WAIT_SLICE = 1 << 61
_WAIT_RESUMED = 1 << 60
_NS_MAX = (1 << 59) - 1  # ~18 years: longer timeouts wait this long
_SLICE = _c_int64(_SLICE_NS | _WAIT_SLICE)
_SLICE_RESUMED = _c_int64(_SLICE_NS | _WAIT_SLICE | _WAIT_RESUMED)
_FOREVER_RESUMED = _c_int64(_NS_MAX | _WAIT_RESUMED)
_get_ident = threading.get_ident
_main_ident = threading.main_thread().ident


def _reset_main_ident() -> None:
    global _main_ident
    _main_ident = threading.main_thread().ident


os.register_at_fork(after_in_child=_reset_main_ident)


def _cap(tmo: "ctypes.c_int64") -> "ctypes.c_int64":
    """The timeout for one C call: tmo, or a slice of it on the main
    thread (see _SLICE_NS)."""
    v = tmo.value
    if (v < 0 or v & _NS_MAX > _SLICE_NS) and _get_ident() == _main_ident:
        return _SLICE_RESUMED if v & _WAIT_RESUMED else _SLICE
    return tmo
_monotonic = time.monotonic

_live: "weakref.WeakSet[SageQueue]" = weakref.WeakSet()
# Queues closed while calls were inside them: a reaper closes their C handle
# once the last call left (see SageQueue._shut).
_reaping: "Dict[int, SageQueue]" = {}


def _after_fork_in_child() -> None:
    # A lock held by a parent thread at fork time stays held in the child,
    # and the parent's threads inside calls do not exist here: their calls
    # will never leave, so this process's in-call counts start from zero.
    for q in list(_live):
        q._close_lock = threading.Lock()
        q._calls, q._bufs = 0, len(q._pool)
        # Messages the parent held are the parent's to hand over: a copy
        # here would deliver them twice.
        q._held.clear()
        q._gh = q._h
        if not q._caps & _CAP_CROSS_PROCESS:
            # The child has a private copy of an in-process queue: using it
            # would put into (and take from) nobody's queue. The inherited
            # handle is left as it is (closing it would act on the copy).
            q._h = q._gh = None
            q._closed_why = str(q._local_only("it cannot be used in a forked child"))
            _live.discard(q)
    for q in list(_reaping.values()):
        q._close_lock = threading.Lock()
        q._calls, q._bufs = 0, len(q._pool)
        q._held.clear()  # the parent's: it gives them back
        q._reap_now()


os.register_at_fork(after_in_child=_after_fork_in_child)


class _Handle(ctypes.c_void_p):
    """An open C queue handle (see SageQueue._shut for when it is closed)."""


# Asynchronous exceptions and the windows they leave
# --------------------------------------------------
# A KeyboardInterrupt (or whatever a signal handler raises, or an exception
# sent to a thread) is raised where CPython checks for pending work: when a
# function starts, at a loop's back edge, and right after a call to anything
# that is not a Python function returns (a ctypes call into the library, a
# builtin). It is never raised between two other bytecodes, nor when a
# Python function returns into its caller.
#
# So every step that takes something from the ring (a message, a record to
# write, a peeked record) happens inside a try whose handler settles it, and
# what the step produced is written by C into a ctypes object created before
# the try (a token, a length, a count), initialised to a sentinel: the
# handler always knows what the call did even when its return value was
# lost. Reservations are cancelled, peeked records released (after copying
# them out), and messages taken but not yet handed to the caller are kept in
# SageQueue._held and handed out first by the next get on the same object.
# The tests (tests/python/faults.py) raise an exception at every one of
# those points in turn and check that nothing is lost, duplicated or stuck.
_NO_TOKEN = (1 << 64) - 1   # never a token (shm: lane 0xffffffff does not exist)
_NO_LEN = (1 << 64) - 1     # larger than any buffer: "nothing received"
_NOTHING = object()


# Immutable c_size_t objects for the lengths seen (a dict hit is cheaper
# than building one per call; shared objects are never mutated).
_sizes: Dict[int, "ctypes.c_size_t"] = {}


def _size_of(n: int) -> "ctypes.c_size_t":
    size = _c_size_t(n)
    if len(_sizes) < 4096:
        _sizes[n] = size
    return size


def _unique_name() -> str:
    return f"sq-{os.getpid()}-{secrets.token_hex(6)}"


def _option_text(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if key == "mode" and isinstance(value, int):
        return format(value, "o")
    return str(value)


def _timeout_ns(block: bool, timeout: Optional[float]) -> "ctypes.c_int64":
    """The C timeout for queue.Queue's (block, timeout) pair."""
    if not block:
        return _NOWAIT
    if timeout is None:
        return _FOREVER
    if timeout < 0:
        raise ValueError("'timeout' must be a non-negative number")
    return _c_int64(min(int(timeout * 1e9), _NS_MAX))


class _RecvBuffer:
    """A reusable receive buffer, used by one thread at a time."""

    __slots__ = ("data", "view", "address", "capacity", "length", "length_ptr", "_pin",
                 "n", "last", "alone")

    def __init__(self, size: int) -> None:
        self.data = bytearray(size)
        self.view = memoryview(self.data)
        address, self._pin = _lib.buffer_address(self.data)
        self.address = ctypes.c_void_p(address)
        self.capacity = _c_size_t(size)
        self.length = _c_size_t(_NO_LEN)
        self.length_ptr = ctypes.pointer(self.length)
        # view[:n] for the last n seen: messages are decoded from a view of
        # exactly their bytes (a truncated pickle must not read on into an
        # older message's), and one of the same size reuses it.
        self.n = 0
        self.last = self.view[:0]
        # (self,): `pool += buf.alone` puts it back with no call (see _get).
        self.alone = (self,)


def _has_auto_cleanup(transport: Optional[str]) -> bool:
    """Whether the transport that `transport` selects takes auto_cleanup."""
    chosen = _lib.lib().sage_transport_choose(transport.encode() if transport else None)
    return (chosen or b"").decode() in ("shm", "posixmq")


class SageQueue:
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

    def __init__(self, name: Optional[str] = None, maxsize: Optional[int] = None,
                 *, max_items: int = 0, transport: Optional[str] = None,
                 auto_cleanup: Optional[bool] = None, **options: Any) -> None:
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
        if max_items < 0:
            raise ValueError("max_items must be >= 0")
        opts: Dict[str, str] = {}
        if maxsize is not None and maxsize > 0:
            opts["capacity"] = str(int(maxsize))
        if max_items:
            opts["max_items"] = str(int(max_items))
        if auto_cleanup:
            opts["auto_cleanup"] = "1"
        for key, value in options.items():
            opts[key] = _option_text(key, value)
        self._open(name, transport, opts)

    def _init_state(self) -> None:
        """What every method may rely on, even on a half-constructed or
        closed object."""
        self._h: Optional[_Handle] = None
        # The get paths' handle: None while closed or while messages are
        # held (they go first), so one attribute read covers both.
        self._gh: Optional[_Handle] = None
        # Calls inside the C handle right now, besides gets (see _shut).
        # `+= 1` and `-= 1` on it cannot be interrupted (nor run
        # concurrently) under the GIL: see "Asynchronous exceptions" above.
        self._calls = 0
        # Messages this object took from the ring but could not hand over
        # (an exception landed first; a batch stopped at a bad message):
        # raw payloads (bytes/bytearray) or decoded objects as 1-tuples.
        self._held: "deque[Any]" = deque()
        self._close_lock = threading.Lock()
        self._pending: Optional[_Handle] = None  # closed, waiting for calls to leave
        self._identity: Optional[Tuple[int, int]] = None
        self._auto_cleanup = False
        self._destroyed = False
        self._closed_why = ""  # why calls fail other than close() (a fork)
        self._caps = 0
        # Receive buffers: idle ones in _pool; _bufs counts them all, so
        # _bufs - len(_pool) gets are in flight.
        self._pool: List[_RecvBuffer] = []
        self._bufs = 0

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
        if _put is None:
            _bind_hot_paths()
        self._transport = transport or ""
        handle = _Handle()
        try:
            rc = lib.sage_queue_open(transport.encode() if transport else None, name.encode(),
                                     _lib.options_array(opts), ctypes.byref(handle))
            if rc != 0:
                where = f" on transport '{transport}'" if transport else ""
                raise from_code(rc, _lib.last_error(), f"cannot open queue '{name}'{where}",
                                name)
            self._name = name
            self._transport = _lib.text(lib.sage_queue_transport_name(handle))
            self._handle_options = {k: v for k, v in opts.items() if k not in _CREATE_ONLY}
            caps = lib.sage_transport_capabilities(self._transport.encode())
            self._caps = caps if caps > 0 else 0
            self._zero_copy = bool(self._caps & _CAP_ZERO_COPY)
            self._pid = os.getpid()
            names = _stat_names()
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
            self._h = self._gh = handle
            handle = None
        finally:
            if handle is not None and handle.value:  # opened, then failed or interrupted
                lib.sage_queue_close(handle)
        _live.add(self)

    # ------------------------------------------------------------ properties

    @property
    def name(self) -> str:
        """The queue's name (what other processes open)."""
        return self._name

    @property
    def transport(self) -> str:
        """The transport plugin serving this queue."""
        return self._transport

    @property
    def maxsize(self) -> int:
        """Ring capacity in bytes (queue.Queue's maxsize counts items; see
        max_items for that)."""
        return self._capacity

    capacity = maxsize

    @property
    def max_items(self) -> int:
        """The most messages the queue holds at once: the max_items given
        when it was created or, without one, the transport's own bound (shm:
        its slot count, one per 64 bytes of ring, at least 64, at most
        2**24). 0 if the transport reports none."""
        return self._item_bound

    @property
    def max_message(self) -> int:
        """The largest message, in bytes, that can ever be put."""
        return self._max_message

    @property
    def closed(self) -> bool:
        return self._h is None

    @property
    def unfinished_tasks(self) -> int:
        """Messages put and not yet marked done with task_done(), counted
        across every process."""
        return self._stats_raw()["unfinished"]

    # ---------------------------------------------------------- in-flight ops

    def _closed_error(self) -> QueueClosedError:
        return QueueClosedError(self._closed_why or f"queue '{self._name}' is closed in this process",
                                -errno.EBADF, "", self._name)

    def _local_only(self, what: str) -> NotSupportedError:
        return NotSupportedError(
            f"queue '{self._name}' is on transport '{self._transport}', which cannot share a "
            f"queue between processes (no cross_process capability): {what}",
            -errno.ENOTSUP, "", self._name)

    def _error(self, rc: int, what: str) -> SageQueueError:
        return from_code(rc, _lib.last_error(), f"{what} on queue '{self._name}'", self._name)

    def _too_big(self, size: int, detail: str = "") -> MessageTooLarge:
        """detail: sage_last_error(), only when a C call just failed (a
        success leaves an older failure's text there)."""
        return MessageTooLarge(
            f"message of {size} bytes can never fit in queue '{self._name}': the largest is "
            f"{self._max_message} bytes (capacity {self._capacity} bytes)",
            _EMSGSIZE, detail, self._name)

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

    def put(self, item: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        """Puts item (pickled, protocol 5) at the tail.

        Blocks while there is no room if block is true: forever when timeout
        is None, else at most timeout seconds, then raises queue.Full.
        block=False raises queue.Full at once (timeout is ignored).
        Raises the pickler's exception for an unpicklable item and
        ValueError (MessageTooLarge) for one larger than max_message; in
        both cases the queue is unchanged. Every exception that leaves put()
        once it started carries ``.done``: 1 if the item is in the queue
        (once), 0 if not -- an asynchronous one (KeyboardInterrupt) may land
        just as the put completes. One without ``.done`` was raised as the
        call started: nothing was put (docs/PYTHON.md, "What an exception
        leaves behind").
        """
        kind = type(item)
        if kind is bytes and len(item) < 256:
            data = _SHORT_BYTES_HEAD[len(item)] + item + _STOP
        elif kind in _PLAIN and (kind is not bytes or len(item) < _OOB):
            data = _dumps(item, 5)
        else:
            data, buffers = _ser.dumps(item)
            if buffers is not None:
                return self._put_object(item, data, buffers, block, timeout)
        self._calls += 1
        called = False  # see _settle_put
        try:
            # The hot path, inlined: one attribute read stands in for "open?".
            h = self._h
            if h is None:
                raise self._closed_error()
            if block and timeout is None:
                size = _sizes.get(len(data)) or _size_of(len(data))
                # _cap(_FOREVER), inlined: this is the hot path
                wait = _SLICE if _get_ident() == _main_ident else _FOREVER
                called = True
                rc = _put(h, data, size, wait)
                if rc:
                    self._put_failed(h, data, rc, _FOREVER, 0.0)
            else:
                self._put_timed(h, data, block, timeout)
        except BaseException as exc:
            _settle_put(exc, called)
            raise
        finally:
            self._calls -= 1

    def put_nowait(self, item: Any) -> None:
        """put(item, block=False)."""
        self.put(item, False)

    def put_bytes(self, data: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        """Puts a bytes-like object as it is (no pickling); get_bytes()
        returns it as bytes. Blocking and errors as put()."""
        if type(data) is not bytes:
            view = memoryview(data)
            if self._zero_copy and view.nbytes >= _OOB and view.c_contiguous:
                if view.format != "B" or view.ndim != 1:
                    view = view.cast("B")
                return self._put_frame(None, [view], view.nbytes, [0], block, timeout)
            data = view.tobytes()
        self._calls += 1
        called = False  # see _settle_put
        try:
            h = self._h
            if h is None:
                raise self._closed_error()
            if block and timeout is None:
                size = _sizes.get(len(data)) or _size_of(len(data))
                wait = _SLICE if _get_ident() == _main_ident else _FOREVER
                called = True
                rc = _put(h, data, size, wait)
                if rc:
                    self._put_failed(h, data, rc, _FOREVER, 0.0)
            else:
                self._put_timed(h, data, block, timeout)
        except BaseException as exc:
            _settle_put(exc, called)
            raise
        finally:
            self._calls -= 1

    def _put_object(self, item: Any, head: bytes, buffers: Optional[List[memoryview]],
                    block: bool, timeout: Optional[float]) -> None:
        """put() of an item that holds buffers (or is too big): head and
        buffers are _ser.dumps(item)."""
        if buffers is not None:
            size, offsets = _ser.frame_layout(head, buffers)
            if size <= self._max_message:
                return self._put_frame(head, buffers, size, offsets, block, timeout)
            # The frame's entries and padding do not fit: the plain pickle may.
            head = _ser.dumps_plain(item)
        if len(head) > self._max_message:
            raise self._too_big(len(head))
        self._calls += 1
        try:
            h = self._h
            if h is None:
                raise self._closed_error()
            self._put_timed(h, head, block, timeout)
        except BaseException as exc:
            _settle_put(exc, False)
            raise
        finally:
            self._calls -= 1

    def _put_timed(self, h: _Handle, data: bytes, block: bool, timeout: Optional[float]) -> None:
        called = False  # see _settle_put
        try:
            tmo = _timeout_ns(block, timeout)
            start = _monotonic() if tmo.value > 0 else 0.0
            size = _sizes.get(len(data)) or _size_of(len(data))
            wait = _cap(tmo)
            called = True
            rc = _put(h, data, size, wait)
            if rc:
                self._put_failed(h, data, rc, tmo, start)
        except BaseException as exc:
            _settle_put(exc, called)
            raise

    def _put_failed(self, h: _Handle, data: bytes, rc: int, tmo: "ctypes.c_int64",
                    start: float) -> None:
        """Retries after -EINTR; raises Full or the error otherwise."""
        called = False  # see _settle_put; the caller's call failed (rc)
        try:
            size = _sizes.get(len(data)) or _size_of(len(data))
            while rc:
                tmo, start = self._after_failure(rc, "put", len(data), tmo, start, Full)
                wait = _cap(tmo)
                called = True
                rc = _put(h, data, size, wait)
        except BaseException as exc:
            _settle_put(exc, called)
            raise

    def _after_failure(self, rc: int, what: str, size: int, tmo: "ctypes.c_int64",
                       start: float, would_block: type) -> "tuple[ctypes.c_int64, float]":
        """Handles a failed call: after -EINTR, or a slice that ended with
        time left (_cap), runs Python's signal handlers and returns the
        (timeout, start) to retry with; else raises."""
        v = tmo.value
        if rc == _EINTR or (rc == _ETIMEDOUT and v != 0):
            _lib.run_signal_handlers()
            if v < 0 or tmo is _FOREVER_RESUMED:
                return _FOREVER_RESUMED, start
            now = _monotonic()
            left = (v & _NS_MAX) - int((now - start) * 1e9)
            if left > 0:
                return _c_int64(left | _WAIT_RESUMED), now
            if rc == _EINTR and v == 0:
                return _NOWAIT, now
        if rc == _EAGAIN or rc == _ETIMEDOUT:
            raise would_block()
        if rc == _EMSGSIZE and what != "get":
            raise self._too_big(size, _lib.last_error())
        raise self._error(rc, what)

    def _put_frame(self, head: Optional[bytes], buffers: List[memoryview], size: int,
                   offsets: List[int], block: bool, timeout: Optional[float]) -> None:
        """Puts a frame of head + buffers (with head None: the single
        buffer, raw): written straight into the ring where the transport
        allows, else assembled and put."""
        if size > self._max_message:
            raise self._too_big(size)
        token = None  # a reservation's token, on the zero-copy path
        self._calls += 1
        try:
            h = self._h
            if h is None:
                raise self._closed_error()
            if self._zero_copy and _ser.buffers_size(buffers) >= _OOB:
                token = ctypes.c_uint64(_NO_TOKEN)
                if self._write_in_place(h, token, head, buffers, size, offsets, block, timeout):
                    return
            self._put_timed(h, self._flatten(size, head, buffers, offsets), block, timeout)
        except BaseException as exc:
            # One handler settles .done for this frame (see _settle_put).
            if token is not None and token.value != _NO_TOKEN:
                # Reserved and not committed: give the room back (if it was
                # committed, this fails harmlessly with -EINVAL: it went in).
                _set_done(exc, 1 if _cancel(h, token) else 0)
            else:
                _settle_put(exc, False)
            raise
        finally:
            self._calls -= 1

    def _write_in_place(self, h: _Handle, token: "ctypes.c_uint64", head: Optional[bytes],
                        buffers: List[memoryview], size: int, offsets: List[int], block: bool,
                        timeout: Optional[float]) -> bool:
        """Reserves size bytes, writes the frame into the ring and commits
        (False, with nothing done, if the transport has no reserve).

        The reservation's token lands in `token`, which the caller created
        (as _NO_TOKEN) before its try: on any exception, the caller cancels
        what `token` holds. After a successful commit `token` still holds
        the (now settled) token; cancelling it then fails with -EINVAL,
        which tells the caller the message went in."""
        tmo = _timeout_ns(block, timeout)
        start = _monotonic() if tmo.value > 0 else 0.0
        ptr = ctypes.c_void_p()
        length = _c_size_t(size)
        rc = _reserve(h, length, ctypes.byref(ptr), ctypes.byref(token), _cap(tmo))
        if rc == _ENOTSUP:
            self._zero_copy = False
            return False
        while rc:
            tmo, start = self._after_failure(rc, "put", size, tmo, start, Full)
            rc = _reserve(h, length, ctypes.byref(ptr), ctypes.byref(token), _cap(tmo))
        dst = _lib.memory_at(ptr.value, size, True)
        try:
            if head is None:
                dst[:] = buffers[0]
            else:
                _ser.write_frame(dst, head, buffers, offsets)
        finally:
            dst.release()
        rc = _commit(h, token)
        if rc:
            token.value = _NO_TOKEN  # settled: a failed commit drops the record
            raise self._error(rc, "commit")
        return True

    @staticmethod
    def _flatten(size: int, head: Optional[bytes], buffers: List[memoryview],
                 offsets: List[int]) -> bytes:
        """The message as one bytes object (transports without zero-copy)."""
        if head is None:
            return buffers[0].tobytes()
        frame = bytearray(size)
        _ser.write_frame(memoryview(frame), head, buffers, offsets)
        return bytes(frame)

    def put_many(self, items: Iterable[Any], block: bool = True, timeout: Optional[float] = None,
                 *, raw: bool = False) -> int:
        """Puts every item, in order, with one call into the transport per
        run of messages that fits (one wake-up for the batch).

        Items are pickled (raw=True: bytes-like items are put as they are).
        Every item is serialised before anything is put, so an unpicklable
        or oversize item raises with the queue unchanged. Blocking as put().
        Returns the number of items put.

        Whatever exception leaves put_many() after it started putting --
        queue.Full on time-out, KeyboardInterrupt, QueueClosedError when
        another thread closed the queue, any error -- carries ``.done``:
        how many items (a prefix) went in, exactly, each once. An exception
        without ``.done`` came before anything was put.
        """
        # No call before the try: an exception that leaves without .done
        # was raised as put_many() started, with nothing put.
        total = 0                         # items known to be in the queue
        done = token = h = None
        self._calls += 1
        try:
            done = _c_size_t(0)           # written by put_batch: its share
            token = ctypes.c_uint64(_NO_TOKEN)  # a zero-copy item's reservation
            _timeout_ns(block, timeout)  # validates it
            deadline = _monotonic() + timeout if block and timeout is not None else None
            if raw:
                # memoryview() refuses what is not bytes-like (bytes(5) would
                # make five zero bytes).
                payloads: List[Any] = [x if type(x) is bytes else memoryview(x).tobytes()
                                       for x in items]
                frames: List[int] = []
            else:
                encode = self._encode_for_batch
                payloads = [_dumps(x, 5) if type(x) in _PLAIN_SMALL else encode(x)
                            for x in items]
                frames = [i for i, x in enumerate(payloads) if type(x) is not bytes]
            count = len(payloads)
            if count == 0:
                return 0
            if frames:
                lengths = None
                largest = max(len(x) if type(x) is bytes else x[2] for x in payloads)
            else:  # the common case: one run of in-band messages
                lengths = array("Q", map(len, payloads))
                largest = max(lengths)
            if largest > self._max_message:
                raise self._too_big(largest)
            h = self._h
            if h is None:
                raise self._closed_error()
            i = 0
            for j in frames + [count]:
                if self._h is None:  # closed by another thread meanwhile
                    raise self._closed_error()
                left = None if deadline is None else max(deadline - _monotonic(), 0.0)
                if j > i:
                    run = payloads if j - i == count else payloads[i:j]
                    if lengths is None or j - i != count:
                        lengths = array("Q", map(len, run))
                    first = total
                    if self._caps & _CAP_BATCH:
                        blob = b"".join(run)
                        addresses = array("Q", accumulate(
                            lengths, initial=_lib.bytes_address(blob)))
                        tmo = _timeout_ns(block, left)
                        start = _monotonic() if tmo.value > 0 else 0.0
                        while True:
                            k = total - first
                            rc = _put_batch(h, addresses.buffer_info()[0] + 8 * k,
                                            lengths.buffer_info()[0] + 8 * k,
                                            _c_size_t(j - i - k), ctypes.byref(done), _cap(tmo))
                            # One statement, no call: nothing can land between.
                            total, done.value = total + done.value, 0
                            if rc == 0 and total - first >= j - i:
                                break
                            if rc == _ENOTSUP and total == first:
                                self._caps &= ~_CAP_BATCH
                                break
                            if rc:
                                tmo, start = self._after_failure(rc, "put_many", max(lengths),
                                                                 tmo, start, Full)
                                if self._h is None:  # closed while this call waited
                                    raise self._closed_error()
                    if not self._caps & _CAP_BATCH:
                        # One at a time: an exception from _put_timed says in
                        # .done whether its item went in (see the handler).
                        for data in payloads[i + total - first:j]:
                            left = None if deadline is None else max(deadline - _monotonic(),
                                                                     0.0)
                            self._put_timed(h, data, block, left)
                            total += 1
                if j < count:  # large buffers: zero-copy, one message at a time
                    head, buffers, size = payloads[j]
                    left = None if deadline is None else max(deadline - _monotonic(), 0.0)
                    offsets = _ser.frame_layout(head, buffers)[1]
                    if self._write_in_place(h, token, head, buffers, size, offsets, block,
                                            left):
                        total, token.value = total + 1, _NO_TOKEN
                    else:
                        self._put_timed(h, self._flatten(size, head, buffers, offsets),
                                        block, left)
                        total += 1
                i = j + 1
            return total
        except BaseException as exc:
            # An item put alone (_put_timed) settled its own outcome in .done.
            n = total + (done.value if done is not None else 0)
            if _trusted(exc):
                n += exc.__dict__["done"]
            _set_done(exc, n)
            if token is not None and token.value != _NO_TOKEN and h is not None:
                # Reserved: cancel it, unless it was committed (then the
                # cancel fails with -EINVAL and the item counts as put).
                if _cancel(h, token):
                    exc.__dict__["done"] = n + 1
                token.value = _NO_TOKEN
            raise
        finally:
            self._calls -= 1

    def _encode_for_batch(self, item: Any) -> Any:
        """bytes for a message that goes in a batch, or (head, buffers,
        size) for one whose large buffers should go zero-copy."""
        kind = type(item)
        if kind in _PLAIN and (kind is not bytes or len(item) < _OOB):
            return _dumps(item, 5)
        head, buffers = _ser.dumps(item)
        if buffers is None:
            return head
        size, offsets = _ser.frame_layout(head, buffers)
        if size > self._max_message:
            return _ser.dumps_plain(item)  # the frame does not fit: the pickle may
        if self._zero_copy and _ser.buffers_size(buffers) >= _OOB:
            return (head, buffers, size)
        return self._flatten(size, head, buffers, offsets)

    # ------------------------------------------------------------------- get

    def get(self, block: bool = True, timeout: Optional[float] = None) -> Any:
        """Removes and returns the item at the head.

        Blocks while the queue is empty if block is true: forever when
        timeout is None, else at most timeout seconds, then raises
        queue.Empty. block=False raises queue.Empty at once. A message that
        cannot be decoded (put as raw bytes, a bad pickle) raises
        DecodeError holding its bytes; it is consumed, and only it.
        A message taken from the queue is never lost to an exception: if one
        lands before get() hands it over (KeyboardInterrupt), this object
        keeps it and the next get on it returns it first.
        """
        return self._get(block, timeout, False)

    def get_nowait(self) -> Any:
        """get(block=False)."""
        return self._get(False, None, False)

    def get_bytes(self, block: bool = True, timeout: Optional[float] = None) -> bytes:
        """Removes and returns the next message's bytes, unpickled (the raw
        path; a pickled message comes back as its pickle). Blocking as get()."""
        return self._get(block, timeout, True)

    def _get(self, block: bool, timeout: Optional[float], raw: bool) -> Any:
        # In flight while it holds a receive buffer out of the pool (see
        # _busy): it takes one, with no call in between, before reading _gh.
        # `buf` is None from just before it goes back (`spare, buf = buf,
        # None` then `pool += spare.alone`: nothing can land in between), so
        # the handler below knows whether this call still owns it -- once
        # back, another thread may be using it. Going back is no call (not
        # pool.append): nothing can land between it and handing the item
        # over, so an item is held only while this call is in flight, and
        # a close() in another thread gives it back (see _reap_now).
        pool = self._pool
        if pool:
            buf = pool[-1]
            del pool[-1]
        else:
            buf = self._new_buffer()
        length = buf.length  # _NO_LEN while in the pool; the C call writes what it took
        item = _NOTHING
        try:
            h = self._gh
            if h is None:  # closed, or messages held
                spare, buf = buf, None
                pool.append(spare)
                item = self._get_held(block, timeout, raw)
                return item
            if block and timeout is None:
                tmo, start = _FOREVER, 0.0
                first = _SLICE if _get_ident() == _main_ident else _FOREVER  # _cap(tmo)
            else:
                tmo = _timeout_ns(block, timeout)
                start = _monotonic() if tmo.value > 0 else 0.0
                first = _cap(tmo)
            rc = _get(h, buf.address, buf.capacity, buf.length_ptr, first)
            while rc:
                if rc == _EMSGSIZE:
                    size = length.value
                    length.value = _NO_LEN  # nothing taken
                    item = self._get_large(h, size, tmo, start, raw)
                    spare, buf = buf, None
                    pool += spare.alone
                    return item
                tmo, start = self._after_failure(rc, "get", 0, tmo, start, Empty)
                rc = _get(h, buf.address, buf.capacity, buf.length_ptr, _cap(tmo))
            n = length.value
            if n == buf.n:
                data = buf.last
            else:
                data = buf.last = buf.view[:n]
                buf.n = n
            if raw:
                item = data.tobytes()
            elif n and buf.data[0] == 0x80:
                try:
                    item = _loads(data)
                except Exception as exc:
                    raise self._bad(data, exc)
            else:
                item = self._decode(data)
            length.value = _NO_LEN
            spare, buf = buf, None
            pool += spare.alone
            return item
        except BaseException as exc:
            # Taken, not handed over: keep it for the next get (before the
            # buffer goes back: still in flight, see _shut).
            saved = _NOTHING
            if item is not _NOTHING:
                saved = item if raw else (item,)
            if buf is not None:  # still this call's
                n = length.value
                if saved is _NOTHING and n <= _RECV_BUFFER and type(exc) is not DecodeError:
                    saved = buf.data[:n]
                length.value = _NO_LEN
            if saved is not _NOTHING:
                self._gh = None
                self._held.append(saved)
            if buf is not None:
                pool += buf.alone
            raise

    def _new_buffer(self) -> _RecvBuffer:
        buf = _RecvBuffer(_RECV_BUFFER)
        self._bufs += 1
        return buf

    def _get_held(self, block: bool, timeout: Optional[float], raw: bool) -> Any:
        """get() while messages are held (or the queue is closed): the
        oldest held message, else the ring's next. In flight (counted in
        _calls) while it may hold one (see _shut)."""
        held = self._held
        entry = item = _NOTHING
        self._calls += 1
        try:
            if self._h is None:
                raise self._closed_error()
            if held:
                entry = held[0]
                del held[0]  # no call between these two: atomic under the GIL
            if not held:
                self._gh = self._h
            if entry is _NOTHING:  # another thread took the last one
                item = self._get(block, timeout, raw)
            else:
                item = self._unheld(entry, raw)
            return item
        except BaseException as exc:
            if entry is not _NOTHING and type(exc) is not DecodeError:
                self._gh = None
                held.appendleft(entry)
            raise
        finally:
            self._calls -= 1

    def _unheld(self, entry: Any, raw: bool) -> Any:
        """A held message as get() (or with raw, get_bytes()) returns it."""
        if type(entry) is tuple:  # decoded already
            return _ser.dumps_inband(entry[0]) if raw else entry[0]
        if raw:
            return bytes(entry)
        return self._decode(memoryview(entry))

    def _decode(self, data: Any) -> Any:
        """Decodes one message (its exact bytes); DecodeError if it cannot
        be decoded, for whatever reason."""
        try:
            return _ser.loads(data)
        except Exception as exc:
            raise self._bad(data, exc)

    def _bad(self, data: Any, cause: BaseException) -> BaseException:
        """What to raise when decoding data raised cause: a DecodeError if
        data does not decode (cause is its __cause__), else cause itself --
        it came from elsewhere (a signal handler's exception landing as the
        decode returned), and the caller keeps the message for its next get.
        A second decode that fails otherwise than the first is raised: one of
        the two came from elsewhere (the caller keeps the message too)."""
        view = memoryview(data)
        try:
            _ser.loads(view)
        except Exception as again:
            if type(again) is not type(cause):
                raise
        else:
            return cause
        if not view.nbytes or (view[0] != 0x80 and not _ser.is_frame(view)):
            what = "is not a pickled object (it was put as raw bytes? use get_bytes())"
        else:
            what = f"cannot be decoded: {type(cause).__name__}: {cause}"
        err = DecodeError(f"message of {view.nbytes} bytes on queue '{self._name}' {what}",
                          view.tobytes(), self._name)
        err.__cause__ = cause
        return err

    def _get_large(self, h: _Handle, size: int, tmo: "ctypes.c_int64", start: float,
                   raw: bool) -> Any:
        """Takes a message larger than the receive buffer: in place where
        the transport has zero-copy (one copy out of the ring), else into
        a buffer of its size. The caller is in flight (see _busy)."""
        while True:
            if self._zero_copy:
                ptr, length = ctypes.c_void_p(), _c_size_t()
                token = ctypes.c_uint64(_NO_TOKEN)
                item = _NOTHING
                try:
                    rc = _peek(h, ctypes.byref(ptr), ctypes.byref(length), ctypes.byref(token),
                               _cap(tmo))
                    if rc == _ENOTSUP:
                        self._zero_copy = False
                        continue
                    if rc == 0:
                        view = _lib.memory_at(ptr.value or 0, length.value, False)
                        try:
                            item = view.tobytes() if raw else self._decode(view)
                        finally:
                            view.release()
                        _release(h, token)
                        token.value = _NO_TOKEN
                        return item
                except BaseException as exc:
                    if token.value != _NO_TOKEN:  # peeked, not released
                        try:
                            if item is _NOTHING and type(exc) is not DecodeError:
                                # Copy it out before the release takes it: one
                                # call that copies and stores.
                                self._gh = None
                                self._held.extend(map(_lib.bytes_at, (ptr.value or 0,),
                                                      (length.value,)))
                        finally:
                            _release(h, token)  # -EINVAL if already released
                    if item is not _NOTHING:
                        self._gh = None
                        self._held.append(item if raw else (item,))
                    raise
            else:
                buf = _RecvBuffer(size)
                length = buf.length
                length.value = _NO_LEN
                item = _NOTHING
                try:
                    rc = _get(h, buf.address, buf.capacity, buf.length_ptr, _cap(tmo))
                    if rc == _EMSGSIZE:
                        size = length.value
                        continue
                    if rc == 0:
                        data = buf.view[:length.value]
                        item = data.tobytes() if raw else self._decode(data)
                        return item
                except BaseException as exc:
                    if item is not _NOTHING:
                        self._gh = None
                        self._held.append(item if raw else (item,))
                    elif length.value <= size and type(exc) is not DecodeError:
                        self._gh = None
                        self._held.append(buf.data[:length.value])
                    raise
            tmo, start = self._after_failure(rc, "get", 0, tmo, start, Empty)

    def get_many(self, max_items: int = 1024, block: bool = True,
                 timeout: Optional[float] = None, *, raw: bool = False) -> List[Any]:
        """Waits (as get()) for at least one message, then takes as many as
        are ready, up to max_items, with one call into the transport.
        Returns a list of 1..max_items items (bytes with raw=True).
        Raises queue.Empty as get() does.

        A message that cannot be decoded ends the list before it; the next
        call raises its DecodeError (carrying its bytes), and the messages
        after it stay for the calls after that, in order. As with get(),
        messages taken and not handed over because an exception landed are
        kept by this object and returned first by its next get."""
        if max_items < 1:
            raise ValueError("max_items must be >= 1")
        if self._gh is None:
            got = self._take_held(max_items, raw)
            if got:
                return got
        if max_items == 1 or not self._caps & _CAP_BATCH:
            return [self._get(block, timeout, raw)]
        self._calls += 1
        try:
            h = self._h
            if h is None:
                raise self._closed_error()
            tmo = _timeout_ns(block, timeout)
            start = _monotonic() if tmo.value > 0 else 0.0
            lengths = array("Q", bytes(8 * max_items))
            count = _c_size_t(0)  # the C call writes how many it took
            buf = self._batch_buffer()
            pieces: Optional[List[bytes]] = None
            items: List[Any] = []
            end = None   # pieces[end:] were moved to _held already
            err = None   # the DecodeError raised for pieces[0]
            try:
                while True:
                    rc = _get_batch(h, buf.address, buf.capacity, lengths.buffer_info()[0],
                                    _c_size_t(max_items), ctypes.byref(count), _cap(tmo))
                    if rc == 0:
                        break
                    if count.value:  # took some, then failed: keep them, report it
                        pieces = _split(buf.view, lengths, count.value)
                        raise self._error(rc, "get_many")
                    if rc == _EMSGSIZE:
                        self._batch = buf
                        buf = None  # (no call in between: see _get)
                        item = self._get_large(h, lengths[0], tmo, start, raw)
                        return [item]
                    if rc == _ENOTSUP:
                        self._caps &= ~_CAP_BATCH
                        self._batch = buf
                        buf = None
                        item = self._get(block, timeout, raw)
                        return [item]
                    tmo, start = self._after_failure(rc, "get_many", 0, tmo, start, Empty)
                pieces = _split(buf.view, lengths, count.value)
                self._batch = buf
                buf = None
                if raw:
                    return pieces
                try:
                    items = list(map(_loads, pieces))  # all pickles: the fast way
                    return items
                except Exception as exc:
                    # A message that is no plain pickle, or an exception
                    # from elsewhere (a signal handler's): the loop tells.
                    fast = exc
                items = []
                for k, piece in enumerate(pieces):
                    try:
                        if piece[:1] == b"\x80":
                            value = _loads(piece)
                        else:
                            fast = None  # explained: the fast way failed here at the latest
                            value = _ser.loads(memoryview(piece))
                    except Exception as exc:
                        bad = self._bad(piece, exc)
                        if bad is exc:  # not the message's fault
                            raise
                        if fast is not None and type(exc) is not type(fast):
                            raise fast  # the fast way met something else first
                        if items:
                            # Deliver what came before it; it and the rest
                            # wait for the next calls, in order.
                            end = k
                            self._gh = None
                            self._held.extend(pieces[k:])
                            return items
                        err = bad
                        end = 1
                        self._gh = None
                        self._held.extend(pieces[1:])
                        raise err
                    items.append(value)
                if fast is not None:  # every message decodes: it came from elsewhere
                    raise fast
                return items
            except BaseException as exc:
                if buf is not None:  # still this call's
                    if pieces is None and count.value:  # taken, not yet split
                        pieces = _split(buf.view, lengths, count.value)
                    self._batch = buf
                # err: pieces[0] goes as the error, the rest are held; no
                # call then (one that could land would replace err).
                if pieces is not None and exc is not err:
                    first = len(items)
                    back = [(x,) for x in items] + pieces[first:end]
                    if back:
                        # Before whatever this call moved to _held already.
                        self._gh = None
                        self._held.extendleft(reversed(back))
                raise
        finally:
            self._calls -= 1

    def _take_held(self, max_items: int, raw: bool) -> List[Any]:
        """Up to max_items held messages, oldest first (stopping before one
        that cannot be decoded, unless it is the first: then its
        DecodeError); [] if none is held. In flight (counted in _calls) as
        _get_held is; close() may give held messages back meanwhile."""
        held = self._held
        out: List[Any] = []
        entry = _NOTHING
        self._calls += 1
        try:
            if self._h is None:
                raise self._closed_error()
            while len(out) < max_items:
                # (A loop's back edge can let another thread in: test
                # `held` right before taking from it.)
                if not held:
                    break
                entry = held[0]
                del held[0]  # no call between these two: atomic under the GIL
                try:
                    value = self._unheld(entry, raw)
                except DecodeError:
                    if not out:
                        entry = _NOTHING  # delivered, as the error
                        raise
                    entry, back = _NOTHING, entry
                    held.appendleft(back)
                    break
                entry = _NOTHING
                out.append(value)
            if not held:
                self._gh = self._h
            return out
        except BaseException:
            # No call unless there is something to put back: one that
            # could land here would replace a DecodeError (the message).
            if out or entry is not _NOTHING:
                back = out if raw else [(x,) for x in out]
                if entry is not _NOTHING:
                    back.append(entry)
                self._gh = None
                held.extendleft(reversed(back))
            raise
        finally:
            self._calls -= 1

    def _batch_buffer(self) -> _RecvBuffer:
        buf = self.__dict__.pop("_batch", None)
        return buf if buf is not None else _RecvBuffer(_BATCH_BUFFER)

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
        """True if put_nowait() of the smallest message would raise Full
        now (a snapshot): max_items messages are queued, or too few bytes
        of the ring are free for any message. A larger message may not fit
        a queue that is not full."""
        items, size = self._depth()
        bound = self._item_bound
        return bool(bound and items >= bound) or self._capacity - size < _MIN_RECORD

    def task_done(self, count: int = 1) -> None:
        """Marks count taken messages as processed, for join(), in every
        process. Raises ValueError if called more times than messages were
        put (as queue.Queue does), or for a negative count."""
        count = operator.index(count)
        if count < 0:
            raise ValueError(f"task_done() count must be >= 0, not {count}")
        rc = self._call(_lib.lib().sage_queue_task_done, count)
        if rc == -errno.EINVAL:
            raise ValueError(f"task_done() called too many times on queue '{self._name}': "
                             + _lib.last_error())
        if rc:
            raise self._error(rc, "task_done")

    def join(self, timeout: Optional[float] = None) -> bool:
        """Blocks until every message put (by any process) has been marked
        done with task_done(). With a timeout, returns False if that did not
        happen in time; returns True otherwise."""
        tmo = _timeout_ns(True, timeout)
        start = _monotonic()
        join = _lib.lib().sage_queue_join
        while True:
            rc = self._call(join, _cap(tmo))
            if rc == 0:
                return True
            try:
                tmo, start = self._after_failure(rc, "join", 0, tmo, start, Empty)
            except Empty:
                return False

    # ----------------------------------------------------------------- stats

    def _stats_raw(self) -> Dict[str, int]:
        names = _stat_names()
        values = (ctypes.c_uint64 * len(names))()
        n = self._call(_lib.lib().sage_queue_stats_values, values, len(names))
        if n < 0:
            raise self._error(n, "stats")
        return dict(zip(names[:n], values[:n]))

    def get_stats(self) -> Dict[str, Any]:
        """Every shared statistic of the queue (exact, across processes,
        read without stopping traffic), plus SAGE's legacy keys:
        buffer_size, available_read, available_write, utilization (0..1),
        readers, writers, ref_count, total_bytes_written, total_bytes_read,
        message_count; and name, transport, and held (messages this object
        took and keeps for its next get)."""
        stats: Dict[str, Any] = self._stats_raw()
        capacity = stats.get("capacity", self._capacity)
        used = stats.get("bytes_used", 0)
        attached = stats.get("attached", 0)
        stats.update(
            name=self._name,
            transport=self._transport,
            held=len(self._held),
            buffer_size=capacity,
            available_read=used,
            available_write=max(capacity - used, 0),
            utilization=(used / capacity) if capacity else 0.0,
            readers=attached,
            writers=attached,
            ref_count=attached,
            total_bytes_written=stats.get("bytes_put", 0),
            total_bytes_read=stats.get("bytes_got", 0),
            message_count=stats.get("items", 0),
        )
        return stats

    # -------------------------------------------------------------- lifetime

    def get_reference(self) -> "SageQueueRef":
        """A small picklable reference that reopens this queue elsewhere
        (this queue only: not another one created later under its name)."""
        from .ref import SageQueueRef

        from .ray_support import host_identity, ray_node_id

        if self._h is not None and not self._caps & _CAP_CROSS_PROCESS:
            raise self._local_only("a reference to it would open nothing in another process")
        pid, created = self._identity or (0, 0)
        return SageQueueRef(self._name, self._transport, dict(self._handle_options),
                            self._capacity, self._item_bound, host_identity(), ray_node_id(),
                            pid, created)

    def __reduce__(self):
        from .ref import _open_reference

        if self._h is None:
            raise self._closed_error()
        return _open_reference, (self.get_reference(),)

    def _shut(self, op: str) -> bool:
        """Closes (or destroys) the handle; False if it was closed already.

        Threads may be inside calls on it. Each call announces itself
        before it reads _h (or _gh) -- it counts itself in _calls, or a get
        takes a receive buffer out of the pool -- and withdraws when it is
        done with the handle (and with _held); neither step can be split by
        a thread switch or an asynchronous exception (no call in between,
        see the top of this module). So once _h is None and _busy() is
        false, no call can use the handle or add to _held. The handle waits
        in _pending (and the object in _reaping) until _reap_now closes it;
        if calls are inside (or an exception interrupts this), the name is
        removed now (destroy) and a reaper thread closes it when the last
        of them has left (or close() again, or exit, if even that was cut
        short)."""
        lock = self.__dict__.get("_close_lock")
        if lock is None:  # never initialised
            return False
        h = None
        key = id(self)
        try:
            with lock:
                h = self._h
                if h is None:
                    return False
                self._h = self._gh = None  # from here on, new calls raise QueueClosedError
                self._pending = h
                _reaping[key] = self
            _live.discard(self)
            if op == "destroy":
                self._held.clear()  # the queue goes, and everything in it
            rc = self._reap_now(op)
            if rc is None and op == "destroy":  # calls inside: the reaper only closes
                self._unlink()
            self._destroyed = op == "destroy"
            if rc is not None and rc < 0:
                raise self._error(rc, op)
            return True
        finally:
            if h is not None and self._pending is h:  # calls inside, or interrupted
                threading.Thread(target=self._reap, name=f"sage_queue close {self._name}",
                                 daemon=True).start()

    def _unlink(self) -> None:
        """Removes the queue's name (destroy while calls are inside)."""
        owner = {k: v for k, v in self._handle_options.items() if k == "uid"}
        rc = _lib.lib().sage_queue_unlink(self._transport.encode(), self._name.encode(),
                                          _lib.options_array(owner))
        if rc == -errno.ENOTSUP:  # no unlink op: destroy through a handle of our own
            rc = self._destroy_by_name()
        if rc not in (0, -errno.ENOENT):
            raise self._error(rc, "destroy")

    def _destroy_by_name(self) -> int:
        """Removes the queue's name through a second handle (destroy is
        mandatory; unlink, the usual way, is optional). 0 or -errno. Opens
        with this handle's own options, which every transport took: if the
        queue went meanwhile, that makes a new one, destroyed at once."""
        other = SageQueue.__new__(SageQueue)
        other._init_state()
        other._name = self._name
        try:
            other._open(self._name, self._transport, dict(self._handle_options))
        except SageQueueError as exc:
            return exc.code if exc.code < 0 else -errno.EIO
        other._shut("destroy")
        return 0

    def _busy(self) -> bool:
        """Whether calls are inside the handle: counted in _calls, or gets
        holding a receive buffer."""
        return self._calls > 0 or self._bufs > len(self._pool)

    def _reap(self) -> None:
        delay = 0.001
        while self._reap_now() is None:
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _reap_now(self, op: str = "close") -> Optional[int]:
        """Gives back what this object holds through the pending handle
        (unless the queue goes: destroy), then, if no call is inside,
        closes it (op "destroy": destroys it). None if calls are inside
        (the handle stays pending: calls still inside may hold more), else
        the close's result (0 if nothing was pending). A give-back cut
        short by an exception leaves the rest held: the next one goes on."""
        lib = _lib.lib()
        lost = 0
        try:
            with self._close_lock:  # (_pending is closed only under it)
                h = self._pending
                if h is None:
                    return 0
                if op == "close" and not self._destroyed:
                    lost = self._give_back(h)
                if self._busy():
                    return None
                shut = lib.sage_queue_destroy if op == "destroy" else lib.sage_queue_close
                self._pending = None
                rc = shut(h)
            _reaping.pop(id(self), None)
            return rc
        finally:
            if lost:
                warnings.warn(f"queue '{self._name}': {lost} message(s) taken but not handed "
                              "over could not be put back when it closed; they are lost",
                              RuntimeWarning, stacklevel=4)

    def _give_back(self, h: _Handle) -> int:
        """Puts the messages this object holds back into the queue (at its
        tail) through h, under _close_lock; returns how many did not fit
        (lost). Each leaves _held before its put (calls still inside may
        take held ones at the same time) and goes back to its head if an
        exception lands before the put went in (sage_last_put_result())."""
        held = self._held
        put = _lib.lib().sage_queue_put
        lost = 0
        while True:
            if not held:
                return lost
            entry = held[0]
            del held[0]  # no call between these two: this call owns it now
            called = False
            try:
                data = _held_bytes(entry)
                if data is None:
                    lost += 1
                else:
                    size = len(data)
                    called = True
                    lost += put(h, data, size, 0) != 0
            except BaseException:
                if not called or _last_result() != 0:
                    held.appendleft(entry)
                raise

    def _give_back_open(self) -> None:
        """At exit, with calls in flight: gives back what this object holds
        through its still-open handle."""
        with self._close_lock:
            h = self._h if self._h is not None else self._pending
            lost = self._give_back(h) if h is not None and not self._destroyed else 0
        if lost:
            warnings.warn(f"queue '{self._name}': {lost} held message(s) could not be put "
                          "back at exit; they are lost", RuntimeWarning)

    def close(self) -> None:
        """Detaches this handle; the queue and its messages stay for other
        handles and later opens. Messages this object held for its next get
        are put back (at the tail). Idempotent. Later calls on this object
        raise QueueClosedError."""
        if not self._shut("close") and self.__dict__.get("_pending") is not None:
            self._reap_now()  # a close cut short (see _shut): finish it if it can

    def destroy(self) -> None:
        """Removes the queue's name and closes this handle. Processes still
        attached keep working until they close; new opens no longer find
        it. After close() (or a with block), removes the queue this object
        had open if it still exists (not another one created under the same
        name since). Idempotent. Under Ray, also stops this node's proxy
        actor of the queue, if one runs (see ray_support)."""
        if self.__dict__.get("_h") is not None:
            if not self._shut("destroy"):
                return self.destroy()  # closed meanwhile
        elif not self._destroy_closed():
            return
        if "ray" in sys.modules:
            from .ray_support import _on_destroy

            _on_destroy(self._name, self._transport)

    def _destroy_closed(self) -> bool:
        """destroy() after close(): reopens the queue by name and destroys
        it if it is the one this object had open."""
        if self.__dict__.get("_identity") is None or self._destroyed:
            return False
        try:
            other = SageQueue._attach(self._name, self._transport, self._handle_options)
        except QueueNotFoundError:
            self._destroyed = True
            return False
        if other._identity != self._identity and self._identity != (0, 0):
            other.close()  # not ours: a new queue under the same name
            self._destroyed = True
            return False
        other._shut("destroy")
        self._destroyed = True
        return True

    def __enter__(self) -> "SageQueue":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if self._h is not None:
                self._shut("close")
        except Exception:
            pass

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


class _Settled:
    """exc._sage_settled: the traceback entry of the put frame that set
    exc.done last (see _settle_put). Pickles as 0 (a traceback cannot, and
    exceptions travel between processes), which matches no entry."""

    __slots__ = ("tb",)

    def __init__(self, tb: Any) -> None:
        self.tb = tb

    def __reduce__(self) -> Any:
        return int, ()


def _set_done(exc: BaseException, n: int) -> None:
    """exc.done = n, said by the frame whose handler runs now."""
    exc.__dict__["done"] = n
    exc.__dict__["_sage_settled"] = _Settled(exc.__traceback__)


def _trusted(exc: BaseException) -> bool:
    """Whether exc.done is the answer of the put frame that the frame
    whose handler runs now called, in this propagation.

    In a handler, exc.__traceback__ starts with this frame's entry, and
    tb_next is the entry of the callee the exception came out of (a bare
    `raise` adds none). The callee's handler marked its own entry (see
    _set_done); an exception raised again (one instance a signal handler
    raises each time) gets new entries, so an old mark never matches, nor
    does one raised at the callee's entry, before its handler."""
    mark = exc.__dict__.get("_sage_settled")
    return type(mark) is _Settled and mark.tb is exc.__traceback__.tb_next


def _settle_put(exc: BaseException, called: bool) -> None:
    """Says on an exception leaving a single-message put whether the
    message went in: exc.done = 1 or 0 (the answer of an inner put frame
    this one called stands: see _trusted).

    `called` is set right before the C put, after every argument is
    computed, so no asynchronous exception can land between the two; once
    the call began, sage_last_put_result() is its outcome even when an
    exception (KeyboardInterrupt as it returned) replaced the return value
    (only sage_queue_put changes it)."""
    if _trusted(exc):
        exc.__dict__["_sage_settled"].tb = exc.__traceback__  # for this frame's caller
    else:
        _set_done(exc, 1 if called and _last_result() == 0 else 0)


def _held_bytes(entry: Any) -> Optional[bytes]:
    """A held message's bytes; None for a decoded one that can no longer
    be pickled (an exception from elsewhere, such as a signal handler's,
    propagates: the retry tells them apart)."""
    if type(entry) is not tuple:
        return bytes(entry)
    try:
        return _ser.dumps_inband(entry[0])
    except Exception:
        try:
            _ser.dumps_inband(entry[0])
        except Exception:
            return None
        raise


def _split(view: memoryview, lengths: array, count: int) -> List[bytes]:
    """The first count messages packed in view, each as bytes."""
    if not count:
        return []
    ends = list(accumulate(lengths[:count]))
    data = view[:ends[-1]].tobytes()  # one copy; slicing bytes is cheap
    return list(map(data.__getitem__, map(slice, [0] + ends[:-1], ends)))


# The shm transport's records take whole 8-byte units: fewer free bytes than
# this and no message fits.
_MIN_RECORD = 8


def _next_pow2(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()


def _item_bound(transport: str, stats: Dict[str, int], opts: Dict[str, str]) -> int:
    """The most messages the queue holds: its max_items, or the transport's
    own bound. The shm transport does not report its slot count; it is
    derived as plugin/shm/segment.c plans it (slots= given when the queue
    was created elsewhere is not visible here)."""
    if stats.get("max_items"):
        return stats["max_items"]
    if transport != "shm":
        return 0
    slots = int(opts.get("slots", 0) or 0)
    if not slots:
        slots = min(stats.get("capacity", 0) // 64, 1 << 24)
    return _next_pow2(max(slots, 64))


def _at_exit() -> None:
    """Gives back held messages and honours auto_cleanup at exit, also for
    a queue with a thread still blocked in it (which keeps its handle open:
    the name is removed if no other process is attached)."""
    busy = []
    for q in list(_live):
        try:
            if q._busy():
                busy.append(q)
                q._give_back_open()
            elif q._held or q._auto_cleanup:
                q.close()
        except Exception:
            pass
    for q in list(_reaping.values()):  # closed with calls inside: their reaper may not run
        try:
            q._reap_now()
        except Exception:
            pass
    for q in busy:
        try:
            if not q._auto_cleanup:
                continue
            h = q._h
            if h is not None and q._stats_raw().get("attached", 0) <= 1:
                owner = {k: v for k, v in q._handle_options.items() if k == "uid"}
                _lib.lib().sage_queue_unlink(q._transport.encode(), q._name.encode(),
                                             _lib.options_array(owner))
        except Exception:
            pass


atexit.register(_at_exit)


# Hot-path bindings (no errcheck; see _lib's docstring), bound when the
# first queue opens so that importing the package never loads the library.
_put = _get = _put_batch = _get_batch = _last_result = None
_reserve = _commit = _cancel = _peek = _release = None
_loads = _ser._pickle_loads
_names: Optional[List[str]] = None


def _bind_hot_paths() -> None:
    global _put, _get, _put_batch, _get_batch, _reserve, _commit, _cancel, _peek, _release
    global _last_result
    lib = _lib.lib()
    _last_result = lib.sage_last_put_result
    _put, _get = _lib.fast().sage_queue_put, _lib.fast().sage_queue_get
    _put_batch, _get_batch = lib.sage_queue_put_batch, lib.sage_queue_get_batch
    _reserve, _commit, _cancel = lib.sage_queue_reserve, lib.sage_queue_commit, lib.sage_queue_cancel
    _peek, _release = lib.sage_queue_peek, lib.sage_queue_release


def _stat_names() -> List[str]:
    global _names
    if _names is None:
        lib = _lib.lib()
        _names = [_lib.text(lib.sage_stats_name(i)) for i in range(lib.sage_stats_count())]
    return _names
