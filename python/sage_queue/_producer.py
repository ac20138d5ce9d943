"""The put paths of SageQueue: single messages, frames written in place,
batches, and what an exception says about what went in (``.done``)."""

from __future__ import annotations

import ctypes
import errno
import queue as _stdqueue
from array import array
from itertools import accumulate
from typing import Any, Dict, Iterable, List, Optional

from . import _entries
from . import _lib
from . import _waits as _w
from . import serialization as _ser
from ._handle import CAP_BATCH, NO_TOKEN, QUICK_MAX, Handle
from ._waits import FOREVER, NOWAIT, SLICE, cap, get_ident, monotonic, timeout_ns

_c_size_t = ctypes.c_size_t
_ENOTSUP = -errno.ENOTSUP
_EINPROGRESS = -errno.EINPROGRESS  # try_put: the handle's first call since fork
_encode = _ser.encode
_OOB = _ser.OOB_THRESHOLD
Full = _stdqueue.Full


# Immutable c_size_t objects for the lengths seen (a dict hit is cheaper
# than building one per call; shared objects are never mutated).
sizes: Dict[int, "ctypes.c_size_t"] = {}


def size_of(n: int) -> "ctypes.c_size_t":
    size = _c_size_t(n)
    if len(sizes) < 4096:
        sizes[n] = size
    return size


class Producer:
    """SageQueue's put side (a mixin: SageQueue holds the state; see
    _handle.py on where exceptions can land)."""

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
        data = _encode(item)
        if type(data) is not bytes:
            return self._put_object(item, data[0], data[1], block, timeout)
        self._calls += 1
        called = False  # see _settle_put
        try:
            # The hot path, inlined: one attribute read stands in for "open?".
            h = self._h
            if h is None:
                raise self._closed_error()
            n = len(data)
            if timeout is not None and block and not timeout >= 0:
                timeout_ns(block, timeout)  # raises, before anything is put
            if n <= QUICK_MAX:  # first without waiting, keeping the GIL
                called = True
                rc = _entries.try_put(h, data, n)
                if not rc:
                    return
                if not block and rc != _EINPROGRESS:  # (the first since fork: below)
                    return self._put_failed(h, data, rc, NOWAIT, 0.0)
            if block and timeout is None:
                size = sizes.get(n) or size_of(n)
                # cap(FOREVER), inlined: this is the hot path
                wait = SLICE if get_ident() == _w.main_ident else FOREVER
                called = True
                rc = _entries.put(h, data, size, wait)
                if rc:
                    self._put_failed(h, data, rc, FOREVER, 0.0)
            else:
                self._put_timed(h, data, block, timeout)
        except BaseException as exc:
            try:
                _settle_put(exc, called)
            except BaseException as again:  # a second interrupt while settling
                _settle_put(again, called)
                raise
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
            n = len(data)
            if timeout is not None and block and not timeout >= 0:
                timeout_ns(block, timeout)  # raises, before anything is put
            if n <= QUICK_MAX:  # as in put()
                called = True
                rc = _entries.try_put(h, data, n)
                if not rc:
                    return
                if not block and rc != _EINPROGRESS:  # (the first since fork: below)
                    return self._put_failed(h, data, rc, NOWAIT, 0.0)
            if block and timeout is None:
                size = sizes.get(n) or size_of(n)
                wait = SLICE if get_ident() == _w.main_ident else FOREVER
                called = True
                rc = _entries.put(h, data, size, wait)
                if rc:
                    self._put_failed(h, data, rc, FOREVER, 0.0)
            else:
                self._put_timed(h, data, block, timeout)
        except BaseException as exc:
            try:
                _settle_put(exc, called)
            except BaseException as again:  # a second interrupt while settling
                _settle_put(again, called)
                raise
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

    def _put_timed(self, h: Handle, data: bytes, block: bool, timeout: Optional[float]) -> None:
        called = False  # see _settle_put
        try:
            tmo = timeout_ns(block, timeout)
            start = monotonic() if tmo.value > 0 else 0.0
            size = sizes.get(len(data)) or size_of(len(data))
            wait = cap(tmo)
            called = True
            rc = _entries.put(h, data, size, wait)
            if rc:
                self._put_failed(h, data, rc, tmo, start)
        except BaseException as exc:
            try:
                _settle_put(exc, called)
            except BaseException as again:  # a second interrupt while settling
                _settle_put(again, called)
                raise
            raise

    def _put_failed(self, h: Handle, data: bytes, rc: int, tmo: "ctypes.c_int64",
                    start: float) -> None:
        """Retries after -EINTR; raises Full or the error otherwise."""
        called = False  # see _settle_put; the caller's call failed (rc)
        try:
            size = sizes.get(len(data)) or size_of(len(data))
            while rc:
                tmo, start = self._after_failure(rc, "put", len(data), tmo, start, Full)
                wait = cap(tmo)
                called = True
                rc = _entries.put(h, data, size, wait)
        except BaseException as exc:
            try:
                _settle_put(exc, called)
            except BaseException as again:  # a second interrupt while settling
                _settle_put(again, called)
                raise
            raise


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
                token = ctypes.c_uint64(NO_TOKEN)
                if self._write_in_place(h, token, head, buffers, size, offsets, block, timeout):
                    return
            self._put_timed(h, self._flatten(size, head, buffers, offsets), block, timeout)
        except BaseException as exc:
            # One handler settles .done for this frame (see _settle_put).
            if token is not None and token.value != NO_TOKEN:
                # Reserved and not committed: give the room back (if it was
                # committed, this fails harmlessly with -EINVAL: it went in).
                _set_done(exc, 1 if _entries.cancel(h, token) else 0)
            else:
                _settle_put(exc, False)
            raise
        finally:
            self._calls -= 1

    def _write_in_place(self, h: Handle, token: "ctypes.c_uint64", head: Optional[bytes],
                        buffers: List[memoryview], size: int, offsets: List[int], block: bool,
                        timeout: Optional[float]) -> bool:
        """Reserves size bytes, writes the frame into the ring and commits
        (False, with nothing done, if the transport has no reserve).

        The reservation's token lands in `token`, which the caller created
        (as NO_TOKEN) before its try: on any exception, the caller cancels
        what `token` holds. After a successful commit `token` still holds
        the (now settled) token; cancelling it then fails with -EINVAL,
        which tells the caller the message went in."""
        tmo = timeout_ns(block, timeout)
        start = monotonic() if tmo.value > 0 else 0.0
        ptr = ctypes.c_void_p()
        length = _c_size_t(size)
        rc = _entries.reserve(h, length, ctypes.byref(ptr), ctypes.byref(token), cap(tmo))
        if rc == _ENOTSUP:
            self._zero_copy = False
            return False
        while rc:
            tmo, start = self._after_failure(rc, "put", size, tmo, start, Full)
            rc = _entries.reserve(h, length, ctypes.byref(ptr), ctypes.byref(token), cap(tmo))
        dst = _lib.memory_at(ptr.value, size, True)
        try:
            if head is None:
                dst[:] = buffers[0]
            else:
                _ser.write_frame(dst, head, buffers, offsets)
        finally:
            dst.release()
        rc = _entries.commit(h, token)
        if rc:
            token.value = NO_TOKEN  # settled: a failed commit drops the record
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
            token = ctypes.c_uint64(NO_TOKEN)  # a zero-copy item's reservation
            timeout_ns(block, timeout)  # validates it
            deadline = monotonic() + timeout if block and timeout is not None else None
            if raw:
                # memoryview() refuses what is not bytes-like (bytes(5) would
                # make five zero bytes).
                payloads: List[Any] = [x if type(x) is bytes else memoryview(x).tobytes()
                                       for x in items]
                frames: List[int] = []
            else:
                items = items if type(items) is list else list(items)
                payloads = list(map(_encode, items))
                frames = [i for i, x in enumerate(payloads) if type(x) is not bytes]
                for i in frames:
                    payloads[i] = self._batch_frame(items[i], *payloads[i])
                frames = [i for i in frames if type(payloads[i]) is not bytes]
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
                left = None if deadline is None else max(deadline - monotonic(), 0.0)
                if j > i:
                    run = payloads if j - i == count else payloads[i:j]
                    if lengths is None or j - i != count:
                        lengths = array("Q", map(len, run))
                    first = total
                    if self._caps & CAP_BATCH:
                        blob = b"".join(run)
                        addresses = array("Q", accumulate(
                            lengths, initial=_lib.bytes_address(blob)))
                        tmo = timeout_ns(block, left)
                        start = monotonic() if tmo.value > 0 else 0.0
                        while True:
                            k = total - first
                            rc = _entries.put_batch(h, addresses.buffer_info()[0] + 8 * k,
                                            lengths.buffer_info()[0] + 8 * k,
                                            _c_size_t(j - i - k), ctypes.byref(done), cap(tmo))
                            # One statement, no call: nothing can land between.
                            total, done.value = total + done.value, 0
                            if rc == 0 and total - first >= j - i:
                                break
                            if rc == _ENOTSUP and total == first:
                                self._caps &= ~CAP_BATCH
                                break
                            if rc:
                                tmo, start = self._after_failure(rc, "put_many", max(lengths),
                                                                 tmo, start, Full)
                                if self._h is None:  # closed while this call waited
                                    raise self._closed_error()
                    if not self._caps & CAP_BATCH:
                        # One at a time: an exception from _put_timed says in
                        # .done whether its item went in (see the handler).
                        for data in payloads[i + total - first:j]:
                            left = None if deadline is None else max(deadline - monotonic(),
                                                                     0.0)
                            self._put_timed(h, data, block, left)
                            total += 1
                if j < count:  # large buffers: zero-copy, one message at a time
                    head, buffers, size = payloads[j]
                    left = None if deadline is None else max(deadline - monotonic(), 0.0)
                    offsets = _ser.frame_layout(head, buffers)[1]
                    if self._write_in_place(h, token, head, buffers, size, offsets, block,
                                            left):
                        total, token.value = total + 1, NO_TOKEN
                    else:
                        self._put_timed(h, self._flatten(size, head, buffers, offsets),
                                        block, left)
                        total += 1
                i = j + 1
            return total
        except BaseException as exc:
            # An item put alone (_put_timed) settled its own outcome in .done.
            # .done is written before any call (_trusted inlined): a second
            # interrupt may land at any call after it, and whatever leaves
            # then carries the answer too.
            n = total + (done.value if done is not None else 0)
            d = exc.__dict__
            mark = d["_sage_settled"] if "_sage_settled" in d else None
            if mark.__class__ is _Settled and mark.tb is exc.__traceback__.tb_next:
                n += d["done"]
            d["done"] = n
            try:
                d["_sage_settled"] = _Settled(exc.__traceback__)
                if token is not None and token.value != NO_TOKEN and h is not None:
                    # Reserved: cancel it, unless it was committed (then the
                    # cancel fails with -EINVAL and the item counts as put).
                    if _entries.cancel(h, token):
                        d["done"] = n + 1
                    token.value = NO_TOKEN
            except BaseException as again:
                again.__dict__["done"] = d["done"]
                raise
            raise
        finally:
            self._calls -= 1

    def _batch_frame(self, item: Any, head: bytes, buffers: List[memoryview]) -> Any:
        """How a frame goes in a batch: (head, buffers, size) when its large
        buffers should go zero-copy, else as bytes."""
        size, offsets = _ser.frame_layout(head, buffers)
        if size > self._max_message:
            return _ser.dumps_plain(item)  # the frame does not fit: the pickle may
        if self._zero_copy and _ser.buffers_size(buffers) >= _OOB:
            return (head, buffers, size)
        return self._flatten(size, head, buffers, offsets)




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
        _set_done(exc, 1 if called and _entries.last_put_result() == 0 else 0)

