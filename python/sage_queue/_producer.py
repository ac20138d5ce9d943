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
from . import serialization as _ser
from ._handle import CAP_BATCH, NO_TOKEN, QUICK_MAX, Handle
from ._waits import cap, monotonic, timeout_ns

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


# Settling .done
# --------------
# Every exception that leaves a put once it started carries .done (how many
# messages went in). An interrupt can land right after the call that put the
# message returned, which loses its return value; a second one can land in
# the handler that works the answer out (a Ctrl-C storm). So each put path
# keeps its answer where C writes it and Python reads it without a call: the
# result field of a Send request (sage_queue_try_put / put_r / commit_r
# write it before they return), put_batch's count. A handler's first
# statement sets .done from those, with no call before it, so nothing can
# land between the exception and its .done; whatever a later call in the
# handler raises (cancelling a reservation) gets the same .done.
#
# The quick call (try_put) leaves its result in the queue's own request,
# self._send: it keeps the GIL, and a signal's exception is raised before
# any other thread can run, so its handler reads that call's result. (An
# exception another thread sends, PyThreadState_SetAsyncExc, is raised after
# a thread switch there: a thread of the same SageQueue putting at that
# instant could leave its own result.) The calls that may wait release the
# GIL; each operation passes its own request to them.
_QUICK = object()  # rc while the quick call runs: its result is self._send.result


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
        rc = send = None  # see "Settling .done"
        try:
            # The hot path, inlined: one attribute read stands in for "open?".
            h = self._h
            if h is None:
                raise self._closed_error()
            n = len(data)
            if timeout is not None and block and not timeout >= 0:
                timeout_ns(block, timeout)  # raises, before anything is put
            if n <= QUICK_MAX:  # first without waiting, keeping the GIL
                rc = _QUICK
                rc = _entries.try_put(self._send_p, data, n)
                if not rc:
                    return
            send = _lib.Send(h.value, 1)
            self._put_waiting(send, data, block, timeout, rc)
        except BaseException as exc:
            exc.__dict__["done"] = 1 if (rc is _QUICK and self._send.result == 0
                                         or send is not None and send.result == 0) else 0
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
        rc = send = None  # as in put()
        try:
            h = self._h
            if h is None:
                raise self._closed_error()
            n = len(data)
            if timeout is not None and block and not timeout >= 0:
                timeout_ns(block, timeout)  # raises, before anything is put
            if n <= QUICK_MAX:
                rc = _QUICK
                rc = _entries.try_put(self._send_p, data, n)
                if not rc:
                    return
            send = _lib.Send(h.value, 1)
            self._put_waiting(send, data, block, timeout, rc)
        except BaseException as exc:
            exc.__dict__["done"] = 1 if (rc is _QUICK and self._send.result == 0
                                         or send is not None and send.result == 0) else 0
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
        send = None
        try:
            h = self._h
            if h is None:
                raise self._closed_error()
            send = _lib.Send(h.value, 1)
            self._put_waiting(send, head, block, timeout)
        except BaseException as exc:
            exc.__dict__["done"] = 1 if send is not None and send.result == 0 else 0
            raise
        finally:
            self._calls -= 1

    def _put_waiting(self, send: "_lib.Send", data: bytes, block: bool,
                     timeout: Optional[float], rc: Any = None) -> None:
        """Puts data through calls that may wait (after a quick try that
        returned rc, if one was made), retrying after -EINTR and between
        slices; raises Full or the error. Each call leaves its result in
        send.result, which the caller's handler reads: this frame sets no
        .done of its own."""
        tmo = timeout_ns(block, timeout)
        start = monotonic() if tmo.value > 0 else 0.0
        size = sizes.get(len(data)) or size_of(len(data))
        request = ctypes.byref(send)
        if rc is not None and not block and rc != _EINPROGRESS:
            # The quick try was the put (no wait): Full, the error, or a retry.
            tmo, start = self._after_failure(rc, "put", len(data), tmo, start, Full)
        while True:
            rc = _entries.put(request, data, size, cap(tmo))
            if not rc:
                return
            tmo, start = self._after_failure(rc, "put", len(data), tmo, start, Full)

    def _put_frame(self, head: Optional[bytes], buffers: List[memoryview], size: int,
                   offsets: List[int], block: bool, timeout: Optional[float]) -> None:
        """Puts a frame of head + buffers (with head None: the single
        buffer, raw): written straight into the ring where the transport
        allows, else assembled and put."""
        if size > self._max_message:
            raise self._too_big(size)
        token = send = None  # a reservation's token, on the zero-copy path
        self._calls += 1
        try:
            h = self._h
            if h is None:
                raise self._closed_error()
            send = _lib.Send(h.value, 1)
            if self._zero_copy and _ser.buffers_size(buffers) >= _OOB:
                token = ctypes.c_uint64(NO_TOKEN)
                if self._write_in_place(h, send, token, head, buffers, size, offsets, block,
                                        timeout):
                    return
            self._put_waiting(send, self._flatten(size, head, buffers, offsets), block, timeout)
        except BaseException as exc:
            done = 1 if send is not None and send.result == 0 else 0
            exc.__dict__["done"] = done
            if not done and token is not None and token.value != NO_TOKEN:
                try:  # reserved, not committed: give its room back
                    _entries.cancel(h, token)
                    token.value = NO_TOKEN
                except BaseException as again:  # no call in between: the same answer
                    again.__dict__["done"] = done
                    raise
            raise
        finally:
            self._calls -= 1

    def _write_in_place(self, h: Handle, send: "_lib.Send", token: "ctypes.c_uint64",
                        head: Optional[bytes], buffers: List[memoryview], size: int,
                        offsets: List[int], block: bool, timeout: Optional[float]) -> bool:
        """Reserves size bytes, writes the frame into the ring and commits
        (False, with nothing done, if the transport has no reserve).

        The reservation's token lands in `token`, which the caller created
        (as NO_TOKEN) before its try; the commit's result lands in
        send.result (0: the message is in). On any exception the caller
        cancels what `token` holds unless the commit went in."""
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
        rc = _entries.commit(ctypes.byref(send), token)
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
        done = token = h = send = None    # see "Settling .done"
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
            send = _lib.Send(h.value, 1)  # an item put alone: its result
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
                        # One at a time; send.result says whether the one in
                        # flight went in (one statement counts it and resets).
                        for data in payloads[i + total - first:j]:
                            left = None if deadline is None else max(deadline - monotonic(),
                                                                     0.0)
                            self._put_waiting(send, data, block, left)
                            total, send.result = total + 1, 1
                if j < count:  # large buffers: zero-copy, one message at a time
                    head, buffers, size = payloads[j]
                    left = None if deadline is None else max(deadline - monotonic(), 0.0)
                    offsets = _ser.frame_layout(head, buffers)[1]
                    if self._write_in_place(h, send, token, head, buffers, size, offsets,
                                            block, left):
                        total, token.value, send.result = total + 1, NO_TOKEN, 1
                    else:
                        self._put_waiting(send, self._flatten(size, head, buffers, offsets),
                                          block, left)
                        total, send.result = total + 1, 1
                i = j + 1
            return total
        except BaseException as exc:
            # Items counted in total, the batch call's share in done, and the
            # item in flight alone (send.result): no call before .done is set.
            n = (total + (done.value if done is not None else 0)
                 + (1 if send is not None and send.result == 0 else 0))
            exc.__dict__["done"] = n
            if (token is not None and token.value != NO_TOKEN and h is not None
                    and not (send is not None and send.result == 0)):
                try:  # reserved, not committed: give its room back
                    _entries.cancel(h, token)
                    token.value = NO_TOKEN
                except BaseException as again:  # no call in between: the same answer
                    again.__dict__["done"] = n
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
