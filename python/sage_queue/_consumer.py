"""The get paths of SageQueue: one message into a reusable buffer, large
ones in place, batches, and the messages held for the next get when an
exception kept them from the caller."""

from __future__ import annotations

import ctypes
import errno
import queue as _stdqueue
from array import array
from collections import deque
from itertools import accumulate, chain, takewhile, tee
from typing import Any, List, Optional, Tuple

from . import _entries
from . import _lib
from . import _waits as _w
from . import serialization as _ser
from ._handle import BATCH_BUFFER, CAP_BATCH, NO_LEN, NO_TOKEN, NOTHING, RECV_BUFFER, \
    Handle, RecvBuffer
from ._waits import FOREVER, NOWAIT, SLICE, WAIT_RESUMED, WAIT_SLICE, cap, get_ident, monotonic, timeout_ns
from .errors import DecodeError

_c_size_t = ctypes.c_size_t
_loads = _ser._pickle_loads
_EAGAIN = -errno.EAGAIN
_EINPROGRESS = -errno.EINPROGRESS  # try_get: the handle's first call since fork
REFILL_SLICE_NS = 10_000_000  # a prefetch refill's wait per slice (see _get_held)
_EMSGSIZE = -errno.EMSGSIZE
_ENOTSUP = -errno.ENOTSUP
Empty = _stdqueue.Empty


class Consumer:
    """SageQueue's get side (a mixin: SageQueue holds the state; see
    _handle.py on where exceptions can land)."""

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
        if self._gh is None and self._prefetch:  # (one attribute read otherwise)
            return self._get_prefetched(block, timeout)
        return self._get(block, timeout, False)

    def get_nowait(self) -> Any:
        """get(block=False)."""
        return self._get(False, None, False)

    def get_bytes(self, block: bool = True, timeout: Optional[float] = None) -> bytes:
        """Removes and returns the next message's bytes, unpickled (the raw
        path; a pickled message comes back as its pickle). Blocking as get()."""
        return self._get(block, timeout, True)

    def _get_prefetched(self, block: bool = True, timeout: Optional[float] = None) -> Any:
        """get() while prefetch is on: the oldest prefetched message when
        one is there, without going through _get. In flight (in _calls)
        while it owns one, as _get_held."""
        held = self._held
        entry = NOTHING
        self._calls += 1
        try:
            if held and self._h is not None:
                entry = held[0]
                del held[0]  # no call between these two: atomic under the GIL
                if type(entry) is bytes and entry and entry[0] == 0x80:
                    try:
                        return _loads(entry)
                    except Exception as exc:
                        raise self._bad(entry, exc)
                return self._unheld(entry, False)
        except BaseException as exc:
            if entry is not NOTHING and exc.__class__ is not DecodeError:
                held.appendleft(entry)
            raise
        finally:
            self._calls -= 1
        return self._get(block, timeout, False)

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
        length = buf.length  # NO_LEN while in the pool; the C call writes what it took
        item = NOTHING
        try:
            h = self._gh
            if h is None:  # closed, or messages held
                spare, buf = buf, None
                pool.append(spare)
                item = self._get_held(block, timeout, raw)
                return item
            if timeout is not None and block and not timeout >= 0:
                timeout_ns(block, timeout)  # raises, before anything is taken
            # First without waiting, keeping the GIL; it returns the length.
            n = _entries.try_get(buf.request_ptr)
            if n < 0:
                rc = n
                # -EINPROGRESS: the handle's first call since fork is the
                # waiting call's (it may wait to re-attach), whatever the timeout.
                if not block:
                    tmo, start = NOWAIT, 0.0
                    if rc == _EINPROGRESS:
                        rc = _entries.get(h, buf.address, buf.capacity, buf.length_ptr, NOWAIT)
                elif timeout is None:
                    tmo, start = FOREVER, 0.0
                    if rc == _EAGAIN or rc == _EINPROGRESS:
                        first = SLICE if get_ident() == _w.main_ident else FOREVER  # cap(tmo)
                        rc = _entries.get(h, buf.address, buf.capacity, buf.length_ptr, first)
                else:
                    tmo = timeout_ns(block, timeout)
                    start = monotonic() if tmo.value > 0 else 0.0
                    if (rc == _EAGAIN and tmo.value) or rc == _EINPROGRESS:
                        rc = _entries.get(h, buf.address, buf.capacity, buf.length_ptr, cap(tmo))
                while rc:
                    if rc == _EMSGSIZE:
                        size = length.value
                        length.value = NO_LEN  # nothing taken
                        item = self._get_large(h, size, tmo, start, raw)
                        spare, buf = buf, None
                        pool += spare.alone
                        return item
                    tmo, start = self._after_failure(rc, "get", 0, tmo, start, Empty)
                    rc = _entries.get(h, buf.address, buf.capacity, buf.length_ptr, cap(tmo))
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
            length.value = NO_LEN
            spare, buf = buf, None
            pool += spare.alone
            return item
        except BaseException as exc:
            # Taken, not handed over: keep it for the next get (before the
            # buffer goes back: still in flight, see _shut).
            saved = NOTHING
            if item is not NOTHING:
                saved = item if raw else (item,)
            if buf is not None:  # still this call's
                n = length.value
                if saved is NOTHING and n <= RECV_BUFFER and exc.__class__ is not DecodeError:
                    saved = buf.data[:n]
                length.value = NO_LEN
            try:
                if saved is not NOTHING:
                    self._gh = None
                    self._held.append(saved)
            finally:  # also when another exception lands right after the store
                if buf is not None:
                    pool += buf.alone
            raise

    def _new_buffer(self) -> RecvBuffer:
        buf = RecvBuffer(RECV_BUFFER, self._h)
        self._bufs += 1
        return buf

    def _get_held(self, block: bool, timeout: Optional[float], raw: bool) -> Any:
        """get() while messages are held (or the queue is closed): the
        oldest held message, else the ring's next. In flight (counted in
        _calls) while it may hold one (see _shut)."""
        held = self._held
        entry = item = NOTHING
        self._calls += 1
        try:
            if self._h is None:
                raise self._closed_error()
            if held:
                entry = held[0]
                del held[0]  # no call between these two: atomic under the GIL
            elif self._prefetch > 1:
                # Prefetching: a batch of what is ready goes to _held, then
                # the oldest comes from there. One thread refills at a time
                # (batches enter _held in the ring's order), waiting for
                # data in slices of REFILL_SLICE so the others' timeouts
                # hold; a non-blocking get does not wait for it at all.
                if timeout is not None and block and not timeout >= 0:
                    timeout_ns(block, timeout)  # raises, as get() does
                deadline = monotonic() + timeout if block and timeout is not None else None
                slices = 0
                while entry is NOTHING and self._prefetch > 1:
                    if held:  # another thread refilled meanwhile
                        entry = held[0]
                        del held[0]
                        break
                    if not block and self._refill_lock.locked():
                        raise Empty
                    wait = _refill_wait(block, deadline, slices)  # Empty once past the deadline
                    slices += 1
                    with self._refill_lock:
                        if not held:
                            try:
                                self._get_batch(self._prefetch, block, None, raw, True, wait)
                            except Empty:
                                if wait is NOWAIT or not wait.value & WAIT_SLICE:
                                    raise  # (the caller's own time is up)
                        if held:
                            entry = held[0]
                            del held[0]
            if not held and self._prefetch < 2:
                self._gh = self._h
            if entry is NOTHING:  # another thread took the last one
                item = self._get(block, timeout, raw)
            elif type(entry) is bytes and entry and entry[0] == 0x80 and not raw:
                try:  # a pickle, as _get decodes one (the prefetch path)
                    item = _loads(entry)
                except Exception as exc:
                    raise self._bad(entry, exc)
            else:
                item = self._unheld(entry, raw)
            return item
        except BaseException as exc:
            if entry is not NOTHING and exc.__class__ is not DecodeError:
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

    def _get_large(self, h: Handle, size: int, tmo: "ctypes.c_int64", start: float,
                   raw: bool) -> Any:
        """Takes a message larger than the receive buffer: in place where
        the transport has zero-copy (one copy out of the ring), else into
        a buffer of its size. The caller is in flight (see _busy)."""
        while True:
            if self._zero_copy:
                ptr, length = ctypes.c_void_p(), _c_size_t()
                token = ctypes.c_uint64(NO_TOKEN)
                copy_out = map(_lib.copy_at, (ptr,), (length,))  # used at most once
                item = NOTHING
                try:
                    rc = _entries.peek(h, ctypes.byref(ptr), ctypes.byref(length), ctypes.byref(token),
                               cap(tmo))
                    if rc == _ENOTSUP:
                        self._zero_copy = False
                        continue
                    if rc == 0:
                        view = _lib.memory_at(ptr.value or 0, length.value, False)
                        try:
                            item = view.tobytes() if raw else self._decode(view)
                        finally:
                            view.release()
                        _entries.release(h, token)
                        token.value = NO_TOKEN
                        return item
                except BaseException as exc:
                    # Keep what was taken (one call each), then release the
                    # record in any case: the finally runs even when a second
                    # exception lands right after the store.
                    bad = None  # an undecodable message's bytes, held until released
                    try:
                        if item is not NOTHING:
                            self._gh = None
                            self._held.append(item if raw else (item,))
                        elif token.value != NO_TOKEN:
                            self._gh = None
                            if exc.__class__ is DecodeError:
                                # Its bytes are in the error; held too, at
                                # the front, until the release is done: an
                                # exception landing after the release would
                                # replace the error (the message).
                                bad = exc.payload
                                self._held.appendleft(bad)
                            else:
                                # Peeked, not decoded: copy it out before the
                                # release takes it, in the call that stores it.
                                self._held.extend(copy_out)
                    finally:
                        if token.value != NO_TOKEN:  # peeked, not released
                            _entries.release(h, token)  # -EINVAL if it was already
                    if bad is not None:
                        held = self._held
                        if held and held[0] is bad:  # no call: it leaves as the error
                            del held[0]
                        # (else another get took it meanwhile, as this error)
                    raise
            else:
                buf = RecvBuffer(size)
                length = buf.length
                length.value = NO_LEN
                item = NOTHING
                try:
                    rc = _entries.get(h, buf.address, buf.capacity, buf.length_ptr, cap(tmo))
                    if rc == _EMSGSIZE:
                        size = length.value
                        continue
                    if rc == 0:
                        data = buf.view[:length.value]
                        item = data.tobytes() if raw else self._decode(data)
                        return item
                except BaseException as exc:
                    if item is not NOTHING:
                        self._gh = None
                        self._held.append(item if raw else (item,))
                    elif length.value <= size and exc.__class__ is not DecodeError:
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
        return self._get_batch(max_items, block, timeout, raw, False)

    def _get_batch(self, max_items: int, block: bool, timeout: Optional[float], raw: bool,
                   hold: bool, wait: "Optional[ctypes.c_int64]" = None) -> List[Any]:
        """get_many(); with hold, the messages go to _held (in the call that
        takes them: nothing is lost if an exception lands after it), raw
        (a large one decoded unless raw), and are also returned. `wait`, if
        given, is the C timeout to use (a prefetch slice, with its flags)."""
        if self._gh is None and not hold:
            got = self._take_held(max_items, raw)
            if got:
                return got
        if max_items == 1 or not self._caps & CAP_BATCH:
            if hold:
                self._prefetch = 0
                return []
            return [self._get(block, timeout, raw)]
        fast = bad = err = None  # exceptions (see the finally clause)
        self._calls += 1
        try:
            h = self._h
            if h is None:
                raise self._closed_error()
            tmo = timeout_ns(block, timeout) if wait is None else wait
            start = monotonic() if tmo.value > 0 else 0.0
            count = _c_size_t(0)  # the C call writes how many it took
            buf = self._batch_buffer()
            state = buf.batch
            if state is None or state[0] < max_items:
                state = buf.batch = _batch_state(buf.view, max_items)
            _, lengths, taken = state  # the C call writes the lengths; taken: see the handler
            pieces: Optional[List[bytes]] = None
            back = None  # with pieces: what goes back on an exception, reversed
            items: List[Any] = []
            err = None   # the DecodeError raised for pieces[0]
            try:
                while True:
                    rc = _entries.get_batch(h, buf.address, buf.capacity, lengths.buffer_info()[0],
                                    _c_size_t(max_items), ctypes.byref(count), cap(tmo))
                    if rc == 0:
                        break
                    if count.value:  # took some, then failed: keep them, report it
                        pieces, back = _split(buf.view, lengths, count.value)
                        raise self._error(rc, "get_many")
                    if rc == _EMSGSIZE:
                        self._batch = buf
                        buf = None  # (no call in between: see _get)
                        item = self._get_large(h, lengths[0], tmo, start, raw)
                        if hold:  # decoded as the caller wants it, no copy more
                            self._gh = None
                            self._held.append(item if raw else (item,))
                        return [item]
                    if rc == _ENOTSUP:
                        self._caps &= ~CAP_BATCH
                        self._prefetch = 0  # it needs batches
                        self._batch = buf
                        buf = None
                        if hold:  # _get_held goes on without a batch
                            return []
                        item = self._get(block, timeout, raw)
                        return [item]
                    tmo, start = self._after_failure(rc, "get_many", 0, tmo, start, Empty)
                n = count.value
                pieces, back = _split(buf.view, lengths, n)
                lengths[:n] = _UNTAKEN * n  # ready for the next call (taken unread)
                self._batch = buf
                buf = None
                if hold:  # raw pieces, whatever the caller's raw
                    moved, pieces = pieces, None  # (no call: see the handler)
                    self._gh = None
                    self._held.extend(moved)
                    return moved
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
                            # wait for the next calls, in order. (Once they
                            # are held, only pieces[:k] would go back.)
                            head = reversed(pieces[:k])
                            back, moved = head, pieces[k:]
                            self._gh = None
                            self._held.extend(moved)
                            return items
                        head = reversed(pieces[:1])
                        err, back, moved = bad, head, pieces[1:]
                        self._gh = None
                        self._held.extend(moved)
                        raise err
                    items.append(value)
                if fast is not None:  # every message decodes: it came from elsewhere
                    raise fast
                return items
            except BaseException as exc:
                # What this call took and did not hand over goes to _held
                # in one call, the first this handler makes: another
                # exception may land after any call (a Ctrl-C storm), and it
                # would leave with them. The iterators were made earlier.
                if buf is not None and pieces is None and count.value:
                    # Taken, not yet split: `taken` splits and copies the
                    # pieces out of buf as _held takes them.
                    self._gh = None
                    self._held.extend(taken)
                elif pieces is not None and exc is not err:
                    # Split: the raw pieces not yet held go back to the
                    # front, in order (decoded ones are decoded again).
                    # (err: pieces[0] goes as the error, the rest are held.)
                    self._gh = None
                    self._held.extendleft(back)
                if buf is not None:  # still this call's
                    buf.batch = None  # taken was read, or lengths not reset
                    self._batch = buf
                raise
        finally:
            # Their tracebacks hold this frame, which holds them: a cycle
            # that would keep self alive until the cyclic GC runs.
            fast = bad = err = None
            self._calls -= 1

    def _take_held(self, max_items: int, raw: bool) -> List[Any]:
        """Up to max_items held messages, oldest first (stopping before one
        that cannot be decoded, unless it is the first: then its
        DecodeError); [] if none is held. In flight (counted in _calls) as
        _get_held is; close() may give held messages back meanwhile."""
        held = self._held
        out: List[Any] = []
        taken = deque()  # the entries taken, latest first (see the handler)
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
                taken.appendleft(entry)  # nor before this one
                try:
                    value = self._unheld(entry, raw)
                except DecodeError:
                    del taken[0]  # no call: it leaves as the error, or goes back
                    if not out:
                        raise
                    held.appendleft(entry)
                    break
                out.append(value)
            if not held and self._prefetch < 2:
                self._gh = self._h
            return out
        except BaseException:
            # What this call took goes back to the front, in order, in the
            # first call this handler makes (taken is reversed already): a
            # second exception landing after it loses nothing.
            if taken:
                self._gh = None
                held.extendleft(taken)
            raise
        finally:
            self._calls -= 1

    def _batch_buffer(self) -> RecvBuffer:
        buf = self.__dict__.pop("_batch", None)
        return buf if buf is not None else RecvBuffer(BATCH_BUFFER)



def _refill_wait(block: bool, deadline: Optional[float], slices: int) -> "ctypes.c_int64":
    """The C timeout of a prefetch refill's next wait: NOWAIT without block;
    a slice of REFILL_SLICE_NS (flagged, so the stats count the get's wait
    once: blocked once, a timeout only for its last slice); the last piece
    unflagged, at least 1 ns once the deadline passed in a slice: the wait
    then ends in the transport, which counts its timeout."""
    if not block:
        return NOWAIT
    flags = WAIT_RESUMED if slices else 0
    if deadline is not None:
        left = int((deadline - monotonic()) * 1e9)
        if left <= REFILL_SLICE_NS:
            return ctypes.c_int64(max(left, 1 if slices else 0) | flags)
    return ctypes.c_int64(REFILL_SLICE_NS | WAIT_SLICE | flags)


def _split(view: memoryview, lengths: array, count: int) -> Tuple[List[bytes], Any]:
    """The first count messages packed in view, each as bytes, and an
    iterator over them in reverse (made here: returning makes no call)."""
    if not count:
        return [], iter(())
    ends = list(accumulate(lengths[:count]))
    data = view[:ends[-1]].tobytes()  # one copy; slicing bytes is cheap
    pieces = list(map(data.__getitem__, map(slice, [0] + ends[:-1], ends)))
    return pieces, reversed(pieces)


# Lengths the batch call did not write: a message's length is never this.
_UNTAKEN = array("Q", [NO_LEN])


def _batch_state(view: memoryview, max_items: int) -> Tuple[int, array, Any]:
    """(max_items, lengths for that many, an iterator over the messages a
    batch call packs into view), each message as bytes, copied out as the
    iterator is consumed: lengths is read then, up to its first _UNTAKEN.
    Built of C iterators only, so consuming it (held.extend) runs no Python
    code: no exception can land inside."""
    lengths = _UNTAKEN * max_items
    ends, starts_after = tee(accumulate(takewhile(NO_LEN.__ne__, lengths)))
    pieces = map(bytes, map(view.__getitem__, map(slice, chain((0,), starts_after), ends)))
    return max_items, lengths, pieces


