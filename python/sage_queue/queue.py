"""SageQueue: a queue.Queue-compatible queue shared between processes."""

from __future__ import annotations

import ctypes
import errno
import os
import queue as _stdqueue
import secrets
import sys
import threading
import time
import weakref
from array import array
from itertools import accumulate
from typing import Any, Dict, Iterable, List, Optional

from . import _lib
from . import serialization as _ser
from .errors import (DecodeError, MessageTooLarge, QueueClosedError, SageQueueError,
                     from_code)

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
_SLICE = _c_int64(_SLICE_NS)
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
    if (v < 0 or v > _SLICE_NS) and _get_ident() == _main_ident:
        return _SLICE
    return tmo
_monotonic = time.monotonic

_live: "weakref.WeakSet[SageQueue]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A lock held by a parent thread at fork time stays held in the child.
    for q in list(_live):
        q._close_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


class _Handle(ctypes.c_void_p):
    """An open C queue handle.

    Every thread inside a call holds a reference to it, so the handle is
    closed (by close(), or by a finalizer when close() found threads inside
    calls) only once no call can still be using it. This costs the hot
    paths nothing beyond reading one attribute."""


def _close_later(address: int, op: str) -> None:
    lib = _lib.lib()
    (lib.sage_queue_destroy if op == "destroy" else lib.sage_queue_close)(address)


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
    return _c_int64(int(timeout * 1e9))


class _RecvBuffer:
    """A reusable receive buffer, used by one thread at a time."""

    __slots__ = ("data", "view", "address", "capacity", "length", "length_ptr", "_pin")

    def __init__(self, size: int) -> None:
        self.data = bytearray(size)
        self.view = memoryview(self.data)
        address, self._pin = _lib.buffer_address(self.data)
        self.address = ctypes.c_void_p(address)
        self.capacity = _c_size_t(size)
        self.length = _c_size_t()
        self.length_ptr = ctypes.pointer(self.length)


class SageQueue:
    """A FIFO queue of Python objects shared by threads and processes.

    ``SageQueue(name=None, maxsize=None, *, max_items=0,
    transport=None, auto_cleanup=False, **options)`` opens queue ``name``,
    creating it if it does not exist (``name=None`` makes a unique name).

    * ``maxsize``: the ring size in **bytes** (as in SAGE's earlier queue;
      the shm transport rounds it up to a power of two, minimum 4096). The
      largest message is half of it. ``None`` (or <= 0) takes the
      transport's default (1 MiB for shm; posixmq's comes from the kernel's
      limits). Ignored when the queue already exists.
    * ``max_items``: an additional bound on queued messages, like
      ``queue.Queue(maxsize=...)``; 0 means only the bytes bound.
    * ``transport``: the plugin to use; default ``$SAGE_TRANSPORT`` or
      ``"shm"``.
    * ``auto_cleanup``: remove the queue when its last handle closes.
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

    Processes: pickling a SageQueue pickles a :class:`SageQueueRef`, so it
    can be passed to multiprocessing (fork, spawn, forkserver) or a
    ``ProcessPoolExecutor``; after a plain ``os.fork()`` the child re-attaches
    on first use.

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
                 auto_cleanup: bool = False, **options: Any) -> None:
        self._h: Optional[ctypes.c_void_p] = None
        if name is None:
            name = _unique_name()
        if not isinstance(name, str):
            raise TypeError(f"queue name must be a str, not {type(name).__name__}")
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

    @classmethod
    def _attach(cls, name: str, transport: Optional[str], options: Dict[str, str]) -> "SageQueue":
        """Opens an existing queue (create=never): -ENOENT raises
        QueueNotFoundError, never creates one."""
        q = cls.__new__(cls)
        q._h = None
        q._open(name, transport, dict(options, create="never"))
        return q

    def _open(self, name: str, transport: Optional[str], opts: Dict[str, str]) -> None:
        lib = _lib.lib()
        if _put is None:
            _bind_hot_paths()
        handle = _Handle()
        rc = lib.sage_queue_open(transport.encode() if transport else None, name.encode(),
                                 _lib.options_array(opts), ctypes.byref(handle))
        if rc != 0:
            where = f" on transport '{transport}'" if transport else ""
            raise from_code(rc, _lib.last_error(), f"cannot open queue '{name}'{where}", name)
        self._name = name
        self._transport = _lib.text(lib.sage_queue_transport_name(handle))
        self._handle_options = {k: v for k, v in opts.items() if k not in _CREATE_ONLY}
        caps = lib.sage_transport_capabilities(self._transport.encode())
        self._caps = caps if caps > 0 else 0
        self._zero_copy = bool(self._caps & _CAP_ZERO_COPY)
        self._close_lock = threading.Lock()
        self._pool: List[_RecvBuffer] = []
        self._h = handle
        self._pid = os.getpid()
        try:
            stats = self._stats_raw()
        except BaseException:
            self._h = None
            lib.sage_queue_close(handle)
            raise
        self._capacity = stats.get("capacity", 0)
        self._max_message = stats.get("max_message", 0) or self._capacity // 2
        self._max_items = stats.get("max_items", 0)
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
        """The item bound (0: only the capacity bounds the queue)."""
        return self._max_items

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
        return QueueClosedError(f"queue '{self._name}' is closed in this process",
                                -errno.EBADF, "", self._name)

    def _enter(self) -> ctypes.c_void_p:
        """The open handle (the caller's reference keeps it open), or
        QueueClosedError."""
        h = self._h
        if h is None:
            raise self._closed_error()
        return h

    def _error(self, rc: int, what: str) -> SageQueueError:
        return from_code(rc, _lib.last_error(), f"{what} on queue '{self._name}'", self._name)

    def _too_big(self, size: int, detail: str = "") -> MessageTooLarge:
        """detail: sage_last_error(), only when a C call just failed (a
        success leaves an older failure's text there)."""
        return MessageTooLarge(
            f"message of {size} bytes can never fit in queue '{self._name}': the largest is "
            f"{self._max_message} bytes (capacity {self._capacity} bytes)",
            _EMSGSIZE, detail, self._name)

    # ------------------------------------------------------------------- put

    def put(self, item: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        """Puts item (pickled, protocol 5) at the tail.

        Blocks while there is no room if block is true: forever when timeout
        is None, else at most timeout seconds, then raises queue.Full.
        block=False raises queue.Full at once (timeout is ignored).
        Raises the pickler's exception for an unpicklable item and
        ValueError (MessageTooLarge) for one larger than max_message; in
        both cases the queue is unchanged.
        """
        kind = type(item)
        if kind is bytes and len(item) < 256:
            data = _SHORT_BYTES_HEAD[len(item)] + item + _STOP
        elif kind in _PLAIN and (kind is not bytes or len(item) < _OOB):
            data = _dumps(item, 5)
        else:
            data, buffers = _ser.dumps(item)
            if buffers is not None:
                return self._put_frame(data, buffers, block, timeout)
        # The hot path, inlined: one attribute read stands in for "open?".
        h = self._h
        if h is None:
            raise self._closed_error()
        if block and timeout is None:
            size = _sizes.get(len(data)) or _size_of(len(data))
            # _cap(_FOREVER), inlined: this is the hot path
            rc = _put(h, data, size, _SLICE if _get_ident() == _main_ident else _FOREVER)
            if rc:
                self._put_failed(h, data, rc, _FOREVER, 0.0)
        else:
            self._put_timed(h, data, block, timeout)

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
                return self._put_frame(None, [view], block, timeout)
            data = view.tobytes()
        h = self._h
        if h is None:
            raise self._closed_error()
        if block and timeout is None:
            size = _sizes.get(len(data)) or _size_of(len(data))
            # _cap(_FOREVER), inlined: this is the hot path
            rc = _put(h, data, size, _SLICE if _get_ident() == _main_ident else _FOREVER)
            if rc:
                self._put_failed(h, data, rc, _FOREVER, 0.0)
        else:
            self._put_timed(h, data, block, timeout)

    def _put_message(self, data: bytes, block: bool, timeout: Optional[float]) -> None:
        self._put_timed(self._enter(), data, block, timeout)

    def _put_timed(self, h: _Handle, data: bytes, block: bool, timeout: Optional[float]) -> None:
        tmo = _timeout_ns(block, timeout)
        start = _monotonic() if tmo.value > 0 else 0.0
        rc = _put(h, data, (_sizes.get(len(data)) or _size_of(len(data))), _cap(tmo))
        if rc:
            self._put_failed(h, data, rc, tmo, start)

    def _put_failed(self, h: _Handle, data: bytes, rc: int, tmo: "ctypes.c_int64",
                    start: float) -> None:
        """Retries after -EINTR; raises Full or the error otherwise."""
        while rc:
            tmo, start = self._after_failure(rc, "put", len(data), tmo, start, Full)
            rc = _put(h, data, (_sizes.get(len(data)) or _size_of(len(data))), _cap(tmo))

    def _after_failure(self, rc: int, what: str, size: int, tmo: "ctypes.c_int64",
                       start: float, would_block: type) -> "tuple[ctypes.c_int64, float]":
        """Handles a failed call: after -EINTR, or a slice that ended with
        time left (_cap), runs Python's signal handlers and returns the
        (timeout, start) to retry with; else raises."""
        if rc == _EINTR or (rc == _ETIMEDOUT and tmo.value != 0):
            _lib.run_signal_handlers()
            if tmo.value < 0:
                return tmo, start
            now = _monotonic()
            left = tmo.value - int((now - start) * 1e9)
            if left > 0 or (rc == _EINTR and tmo.value == 0):
                return _c_int64(max(left, 0)), now
        if rc == _EAGAIN or rc == _ETIMEDOUT:
            raise would_block()
        if rc == _EMSGSIZE and what != "get":
            raise self._too_big(size, _lib.last_error())
        raise self._error(rc, what)

    def _put_frame(self, head: Optional[bytes], buffers: List[memoryview], block: bool,
                   timeout: Optional[float]) -> None:
        """Writes a message straight into the ring (reserve/commit): a frame
        of head + buffers, or with head None the single buffer raw."""
        if head is None:
            size, offsets = buffers[0].nbytes, [0]
        else:
            size, offsets = _ser.frame_layout(head, buffers)
        if size > self._max_message:
            raise self._too_big(size)
        if not self._zero_copy or _ser.buffers_size(buffers) < _OOB:
            return self._put_message(self._flatten(size, head, buffers, offsets), block, timeout)
        tmo = _timeout_ns(block, timeout)
        start = _monotonic() if tmo.value > 0 else 0.0
        h = self._enter()
        ptr, token = ctypes.c_void_p(), ctypes.c_uint64()
        args = (h, _c_size_t(size), ctypes.byref(ptr), ctypes.byref(token))
        rc = _reserve(*args, _cap(tmo))
        if rc == _ENOTSUP:
            self._zero_copy = False
            return self._put_message(self._flatten(size, head, buffers, offsets),
                                     block, timeout)
        while rc:
            tmo, start = self._after_failure(rc, "put", size, tmo, start, Full)
            rc = _reserve(*args, _cap(tmo))
        try:
            dst = _lib.memory_at(ptr.value, size, True)
            try:
                if head is None:
                    dst[:] = buffers[0]
                else:
                    _ser.write_frame(dst, head, buffers, offsets)
            finally:
                dst.release()
        except BaseException:
            _cancel(h, token)
            raise
        rc = _commit(h, token)
        if rc:
            raise self._error(rc, "commit")

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
        or oversize item raises with the queue unchanged. Blocking as put();
        on time-out queue.Full is raised with ``.done`` set to how many
        items (a prefix) were put. Returns the number of items put.
        """
        _timeout_ns(block, timeout)  # validates it
        deadline = _monotonic() + timeout if block and timeout is not None else None
        if raw:
            payloads: List[Any] = [x if type(x) is bytes else bytes(x) for x in items]
            frames: List[int] = []
        else:
            encode = self._encode_for_batch
            payloads = [_dumps(x, 5) if type(x) in _PLAIN_SMALL else encode(x) for x in items]
            frames = [i for i, x in enumerate(payloads) if type(x) is not bytes]
        count = len(payloads)
        if count == 0:
            return 0
        if not frames:  # the common case: one run of in-band messages
            self._put_run(payloads, block, timeout)
            return count
        largest = max(len(x) if type(x) is bytes else x[2] for x in payloads)
        if largest > self._max_message:
            raise self._too_big(largest)
        i = 0
        for j in frames + [count]:
            left = None if deadline is None else max(deadline - _monotonic(), 0.0)
            try:
                if j > i:
                    self._put_run(payloads[i:j], block, left)
                if j < count:  # large buffers: zero-copy, one message at a time
                    head, buffers = payloads[j][:2]
                    self._put_frame(head, buffers, block, left)
            except Full as exc:
                exc.done = i + getattr(exc, "done", 0)
                raise
            i = j + 1
        return count

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
        if self._zero_copy and _ser.buffers_size(buffers) >= _OOB:
            return (head, buffers, size)
        return self._flatten(size, head, buffers, offsets)

    def _put_run(self, payloads: List[bytes], block: bool, timeout: Optional[float]) -> None:
        """Puts in-band messages with put_batch (Full.done: how many went).
        Raises MessageTooLarge, with nothing put, if one can never fit."""
        count = len(payloads)
        lengths = array("Q", map(len, payloads))
        if max(lengths) > self._max_message:
            raise self._too_big(max(lengths))
        if not self._caps & _CAP_BATCH:
            self._put_each(payloads, block, timeout)
            return
        blob = b"".join(payloads)
        addresses = array("Q", accumulate(lengths, initial=_lib.bytes_address(blob)))
        tmo = _timeout_ns(block, timeout)
        start = _monotonic() if tmo.value > 0 else 0.0
        done, total = _c_size_t(), 0
        h = self._enter()
        while True:
            rc = _put_batch(h, addresses.buffer_info()[0] + 8 * total,
                            lengths.buffer_info()[0] + 8 * total,
                            _c_size_t(count - total), ctypes.byref(done), _cap(tmo))
            total += done.value
            if rc == 0 and total >= count:
                return
            if rc == _ENOTSUP and total == 0:
                self._caps &= ~_CAP_BATCH
                self._put_each(payloads, block, timeout)
                return
            try:
                tmo, start = self._after_failure(rc, "put_many", max(lengths), tmo, start, Full)
            except Full as exc:
                exc.done = total
                raise

    def _put_each(self, payloads: List[bytes], block: bool, timeout: Optional[float]) -> int:
        deadline = _monotonic() + timeout if block and timeout is not None else None
        for i, data in enumerate(payloads):
            left = None if deadline is None else max(deadline - _monotonic(), 0.0)
            try:
                self._put_message(data, block, left)
            except Full as exc:
                exc.done = i
                raise
        return len(payloads)

    # ------------------------------------------------------------------- get

    def get(self, block: bool = True, timeout: Optional[float] = None) -> Any:
        """Removes and returns the item at the head.

        Blocks while the queue is empty if block is true: forever when
        timeout is None, else at most timeout seconds, then raises
        queue.Empty. block=False raises queue.Empty at once. A message that
        was put as raw bytes raises DecodeError (holding the bytes).
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
        h = self._h
        if h is None:
            raise self._closed_error()
        if block and timeout is None:
            tmo, start = _FOREVER, 0.0
            first = _SLICE if _get_ident() == _main_ident else _FOREVER  # _cap(tmo)
        else:
            tmo = _timeout_ns(block, timeout)
            start = _monotonic() if tmo.value > 0 else 0.0
            first = _cap(tmo)
        pool = self._pool
        try:
            buf = pool.pop()
        except IndexError:
            buf = _RecvBuffer(_RECV_BUFFER)
        try:
            rc = _get(h, buf.address, buf.capacity, buf.length_ptr, first)
            while rc:
                if rc == _EMSGSIZE:
                    return self._get_large(h, buf.length.value, tmo, start, raw)
                tmo, start = self._after_failure(rc, "get", 0, tmo, start, Empty)
                rc = _get(h, buf.address, buf.capacity, buf.length_ptr, _cap(tmo))
            n = buf.length.value
            if raw:
                return buf.view[:n].tobytes()
            if n and buf.data[0] == 0x80:
                # A pickle ends at its STOP opcode; the bytes after it are
                # ignored, so the buffer needs no slicing.
                return _loads(buf.data)
            return self._decode(buf.view[:n])
        finally:
            pool.append(buf)

    def _decode(self, data: memoryview) -> Any:
        try:
            return _ser.loads(data)
        except ValueError:
            if _ser.is_frame(data):
                raise
            raise DecodeError(
                f"message of {data.nbytes} bytes on queue '{self._name}' is not a pickled "
                "object (it was put as raw bytes; use get_bytes())",
                data.tobytes(), self._name) from None

    def _get_large(self, h: ctypes.c_void_p, size: int, tmo: "ctypes.c_int64", start: float,
                   raw: bool) -> Any:
        """Takes a message larger than the receive buffer: in place where
        the transport has zero-copy (one copy out of the ring), else into
        a buffer of its size."""
        while True:
            if self._zero_copy:
                ptr, length, token = ctypes.c_void_p(), _c_size_t(), ctypes.c_uint64()
                rc = _peek(h, ctypes.byref(ptr), ctypes.byref(length), ctypes.byref(token),
                           _cap(tmo))
                if rc == _ENOTSUP:
                    self._zero_copy = False
                    continue
                if rc == 0:
                    try:
                        view = _lib.memory_at(ptr.value or 0, length.value, False)
                        try:
                            return view.tobytes() if raw else self._decode(view)
                        finally:
                            view.release()
                    finally:
                        _release(h, token)
            else:
                buf = _RecvBuffer(size)
                rc = _get(h, buf.address, buf.capacity, buf.length_ptr, _cap(tmo))
                if rc == 0:
                    data = buf.view[:buf.length.value]
                    return data.tobytes() if raw else self._decode(data)
                if rc == _EMSGSIZE:
                    size = buf.length.value
                    continue
            tmo, start = self._after_failure(rc, "get", 0, tmo, start, Empty)

    def get_many(self, max_items: int = 1024, block: bool = True,
                 timeout: Optional[float] = None, *, raw: bool = False) -> List[Any]:
        """Waits (as get()) for at least one message, then takes as many as
        are ready, up to max_items, with one call into the transport.
        Returns a list of 1..max_items items (bytes with raw=True).
        Raises queue.Empty as get() does."""
        if max_items < 1:
            raise ValueError("max_items must be >= 1")
        if max_items == 1 or not self._caps & _CAP_BATCH:
            return [self._get(block, timeout, raw)]
        tmo = _timeout_ns(block, timeout)
        start = _monotonic() if tmo.value > 0 else 0.0
        lengths = array("Q", bytes(8 * max_items))
        count = _c_size_t()
        h = self._enter()
        buf = self._batch_buffer()
        try:
            while True:
                rc = _get_batch(h, buf.address, buf.capacity, lengths.buffer_info()[0],
                                _c_size_t(max_items), ctypes.byref(count), _cap(tmo))
                if rc == 0:
                    break
                if rc == _EMSGSIZE:
                    return [self._get_large(h, lengths[0], tmo, start, raw)]
                if rc == _ENOTSUP:
                    self._caps &= ~_CAP_BATCH
                    return [self._get(block, timeout, raw)]
                tmo, start = self._after_failure(rc, "get_many", 0, tmo, start, Empty)
            return self._split(buf.view, lengths, count.value, raw)
        finally:
            self._batch = buf

    def _batch_buffer(self) -> _RecvBuffer:
        buf = self.__dict__.pop("_batch", None)
        return buf if buf is not None else _RecvBuffer(_BATCH_BUFFER)

    def _split(self, view: memoryview, lengths: array, count: int, raw: bool) -> List[Any]:
        ends = list(accumulate(lengths[:count]))
        starts = [0] + ends[:-1]
        data = view[:ends[-1]].tobytes()  # one copy; slicing bytes is cheap
        if raw:
            return list(map(data.__getitem__, map(slice, starts, ends)))
        pieces = list(map(data.__getitem__, map(slice, starts, ends)))
        if bytes(map(data.__getitem__, starts)).count(0x80) == count:
            return list(map(_loads, pieces))  # all pickles
        return [_loads(p) if p and p[0] == 0x80 else self._decode(memoryview(p))
                for p in pieces]

    # ----------------------------------------------------------- size, tasks

    def _depth(self) -> tuple:
        items, size = ctypes.c_uint64(), ctypes.c_uint64()
        h = self._enter()
        rc = _lib.lib().sage_queue_depth(h, ctypes.byref(items), ctypes.byref(size))
        if rc:
            raise self._error(rc, "depth")
        return items.value, size.value

    def qsize(self) -> int:
        """Messages queued now (a snapshot: other processes may change it)."""
        return self._depth()[0]

    def __len__(self) -> int:
        return self.qsize()

    def __bool__(self) -> bool:
        return True

    def empty(self) -> bool:
        """True if no message is queued now (a snapshot)."""
        return self._depth()[0] == 0

    def full(self) -> bool:
        """True if max_items messages are queued or the ring's bytes are all
        in use (a snapshot; a smaller message may still fit)."""
        items, size = self._depth()
        return bool(self._max_items and items >= self._max_items) or size >= self._capacity

    def task_done(self, count: int = 1) -> None:
        """Marks count taken messages as processed, for join(), in every
        process. Raises ValueError if called more times than messages were
        put (as queue.Queue does)."""
        h = self._enter()
        rc = _lib.lib().sage_queue_task_done(h, count)
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
        h = self._enter()
        while True:
            rc = _lib.lib().sage_queue_join(h, _cap(tmo))
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
        h = self._enter()
        n = _lib.lib().sage_queue_stats_values(h, values, len(names))
        if n < 0:
            raise self._error(n, "stats")
        return dict(zip(names[:n], values[:n]))

    def get_stats(self) -> Dict[str, Any]:
        """Every shared statistic of the queue (exact, across processes,
        read without stopping traffic), plus SAGE's legacy keys:
        buffer_size, available_read, available_write, utilization (0..1),
        readers, writers, ref_count, total_bytes_written, total_bytes_read,
        message_count; and name and transport."""
        stats: Dict[str, Any] = self._stats_raw()
        capacity = stats.get("capacity", self._capacity)
        used = stats.get("bytes_used", 0)
        attached = stats.get("attached", 0)
        stats.update(
            name=self._name,
            transport=self._transport,
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
        """A small picklable reference that reopens this queue elsewhere."""
        from .ref import SageQueueRef

        from .ray_support import host_identity, ray_node_id

        return SageQueueRef(self._name, self._transport, dict(self._handle_options),
                            self._capacity, self._max_items, host_identity(), ray_node_id())

    def __reduce__(self):
        from .ref import _open_reference

        if self._h is None:
            raise self._closed_error()
        return _open_reference, (self.get_reference(),)

    def _shut(self, op: str) -> None:
        with self._close_lock:
            h = self._h
            if h is None:
                return
            self._h = None  # from here on, new calls raise QueueClosedError
        _live.discard(self)
        lib = _lib.lib()
        # References: `h` here and getrefcount's argument. Any more belong
        # to threads inside calls on the handle.
        if sys.getrefcount(h) <= 2:
            rc = (lib.sage_queue_destroy if op == "destroy" else lib.sage_queue_close)(h)
            if rc < 0:
                raise self._error(rc, op)
            return
        # Close when the last of those calls returns; remove the name now.
        finalizer = weakref.finalize(h, _close_later, h.value, "close")
        finalizer.atexit = False  # never under a thread still blocked at exit
        if op == "destroy":
            owner = {k: v for k, v in self._handle_options.items() if k == "uid"}
            rc = lib.sage_queue_unlink(self._transport.encode(), self._name.encode(),
                                       _lib.options_array(owner))
            if rc not in (0, -errno.ENOENT):
                raise self._error(rc, op)

    def close(self) -> None:
        """Detaches this handle; the queue and its messages stay for other
        handles and later opens. Idempotent. Later calls on this object
        raise QueueClosedError."""
        self._shut("close")

    def destroy(self) -> None:
        """Removes the queue's name and closes this handle. Processes still
        attached keep working until they close; new opens no longer find
        it. Idempotent on this object. Under Ray, also stops this node's
        proxy actor of the queue, if one runs (see ray_support)."""
        first = self._h is not None
        self._shut("destroy")
        if first and "ray" in sys.modules:
            from .ray_support import _on_destroy

            _on_destroy(self._name, self._transport)

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
        if self._h is None:
            return f"<SageQueue {self._name!r} transport={self._transport} closed>"
        try:
            items, size = self._depth()
            state = f"items={items} bytes_used={size}"
        except Exception as exc:  # a repr must not raise
            state = f"error={exc}"
        bound = f" max_items={self._max_items}" if self._max_items else ""
        return (f"<SageQueue {self._name!r} transport={self._transport} "
                f"capacity={self._capacity}{bound} {state}>")


# Hot-path bindings (no errcheck; see _lib's docstring), bound when the
# first queue opens so that importing the package never loads the library.
_put = _get = _put_batch = _get_batch = None
_reserve = _commit = _cancel = _peek = _release = None
_loads = _ser._pickle_loads
_names: Optional[List[str]] = None


def _bind_hot_paths() -> None:
    global _put, _get, _put_batch, _get_batch, _reserve, _commit, _cancel, _peek, _release
    lib = _lib.lib()
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
