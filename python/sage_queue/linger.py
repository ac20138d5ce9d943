"""Producer linger: puts buffered and sent with one batch call.

``q.lingering(max_items=64, max_delay=0.001)`` returns a LingeringProducer
whose put() buffers the message (pickled at once) and returns; the buffer
goes into the queue with one put_many() call when it holds max_items
messages, when its oldest message has waited max_delay seconds (a
background thread), on flush(), and on close() (also at interpreter exit).
What that means for its users (docs/PYTHON.md, "Producer linger"):

* A message is in the queue only once flushed: consumers, qsize() and
  join() do not see buffered ones (``pending`` counts them). A crash of
  this process loses them (up to max_items, at most max_delay old).
* Order: one producer's messages enter the queue in the order put (a
  message with out-of-band buffers, which is not buffered, flushes the
  buffer first).
* put() raises queue.Full, with the message not buffered, only when the
  buffer is full and cannot be flushed within its timeout.
* A flush by the background thread that fails (the queue was closed) keeps
  the messages buffered and raises its exception from the next put() or
  flush() (its ``.done``, if any, counts that flush's batch, not the
  message of the put that raises it: that one was not buffered).
* Closing the queue does not flush its lingering producers: close them
  first (``with q.lingering() as p:`` does).
* Asynchronous exceptions (Ctrl-C): one landing in put() may leave the
  message buffered or not (SageQueue.put() is the exact form); a flush
  interrupted anywhere, its handler included, keeps what put_many() did not
  put, at the front of the buffer.

Locks: _lock guards the buffer and is held only briefly (a put with room
never waits for a flush); _flush_lock serialises flushes, which may wait
for room, so batches enter the queue in the order they were buffered.
"""

from __future__ import annotations

import atexit
import os
import queue as _stdqueue
import threading
import warnings
import weakref
from typing import Any, List, Optional

from . import serialization as _ser
from ._waits import monotonic

Full = _stdqueue.Full
_SLICE = 0.01  # the thread's wait for room per try (it holds _flush_lock meanwhile)
IDLE_ROUNDS = 100  # empty rounds (of max_delay, >= 1 ms) before the thread sleeps
_live: "weakref.WeakSet[LingeringProducer]" = weakref.WeakSet()


class LingeringProducer:
    """put() through a buffer flushed by count, age, flush() or close()."""

    def __init__(self, queue: Any, max_items: int = 64, max_delay: Optional[float] = 0.001) -> None:
        if not isinstance(max_items, int) or max_items < 1:
            raise ValueError("max_items must be an int >= 1")
        if max_delay is not None and not 0 <= max_delay <= threading.TIMEOUT_MAX:
            raise ValueError("max_delay must be None (no age limit) or a number of seconds "
                             f">= 0 and <= {threading.TIMEOUT_MAX}")
        self._queue = queue
        self._max = max_items
        self._delay = max_delay
        self._items: List[bytes] = []
        self._flushing = 0  # messages of the batch being put now
        self._first = 0.0  # when the oldest buffered message was put
        self._failed: Optional[BaseException] = None
        self._closed = False
        self._closing = False  # close() is flushing: new puts are refused
        self._flusher: Optional[threading.Thread] = None
        self._idle = False  # the thread waits for a notify (see _flush_when_due)
        self._max_message = queue.max_message
        self._new_locks()
        _live.add(self)

    def _new_locks(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._flush_lock = threading.Lock()

    @property
    def pending(self) -> int:
        """Messages buffered or being flushed, not yet in the queue."""
        return len(self._items) + self._flushing

    @property
    def queue(self) -> Any:
        return self._queue

    def put(self, item: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        """Buffers item (pickled now, so later changes to it do not show)."""
        data = _ser.encode(item)
        if type(data) is not bytes:  # out-of-band buffers: put as it is, in its turn
            with self._lock:
                self._check()
            deadline = monotonic() + timeout if block and timeout is not None else None
            self._flush(block, timeout)  # (another put may buffer in between)
            left = None if deadline is None else max(deadline - monotonic(), 0.0)
            self._queue.put(item, block, left)
            return
        self._add(data, block, timeout)

    def put_nowait(self, item: Any) -> None:
        self.put(item, False)

    def put_bytes(self, data: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        """Buffers a bytes-like object as it is (get_bytes() returns it)."""
        self._add(data if type(data) is bytes else memoryview(data).tobytes(), block, timeout)

    def _add(self, data: bytes, block: bool, timeout: Optional[float]) -> None:
        if len(data) > self._max_message:
            raise self._queue._too_big(len(data))
        while True:
            with self._lock:
                if self._closed or self._closing or self._failed is not None:
                    self._check()
                items = self._items
                # _flushing first: a failed flush's restore (no lock) moves
                # its count into _items, so in this order the sum can only
                # read high. (A batch in flight counts.)
                flushing = self._flushing
                n = len(items)
                if n + flushing < self._max:
                    items.append(data)
                    if n == 0:
                        self._first = monotonic()
                        self._start_flusher()
                    break
            # Full buffer: flush it first (Full: data is not buffered).
            self._flush(block, timeout)
        if n + 1 >= self._max:
            try:  # now if there is room and no flush is under way; else by
                self._flush(False, None)  # the next put or the thread
            except Full:
                pass

    def flush(self, block: bool = True, timeout: Optional[float] = None) -> None:
        """Puts every buffered message into the queue (put_many's blocking;
        queue.Full leaves the rest buffered)."""
        with self._lock:
            self._check()
        self._flush(block, timeout)

    def _check(self) -> None:
        if self._closed or self._closing:
            raise ValueError("this LingeringProducer is closed")
        failed, self._failed = self._failed, None
        if failed is not None:
            raise failed

    def _flush(self, block: bool, timeout: Optional[float]) -> None:
        """Takes the flush lock within the timeout (queue.Full if another
        flush holds it that long), then flushes in the time left."""
        lock = self._flush_lock
        if not block:
            got = lock.acquire(False)
        elif timeout is None:
            got = lock.acquire()
        else:
            deadline = monotonic() + timeout
            got = lock.acquire(True, timeout)
            timeout = max(deadline - monotonic(), 0.0)
        if not got:
            raise Full
        try:
            self._flush_locked(block, timeout)
        finally:
            lock.release()

    def _flush_locked(self, block: bool, timeout: Optional[float]) -> None:
        # Under _flush_lock. The buffer is swapped out inside the try, so
        # the handler knows what this flush owns: what put_many did not
        # put (its .done says how many it did; none without one) goes back
        # to the front. (put_many is Python: nothing lands as it returns.)
        batch: List[bytes] = []
        try:
            with self._lock:
                batch, self._items = self._items, []
                self._flushing = len(batch)
            if batch:
                self._queue.put_many(batch, block, timeout, raw=True)
            batch = []
            self._flushing = 0
        except BaseException as exc:
            if batch:
                # One statement, no call (no lock either): another interrupt
                # landing in this handler would leave with the batch. It
                # moves the batch's count from _flushing into _items, which
                # _add reads in that order (see there). The buffer's age
                # may then read young: the flush failed (no room, or an
                # interrupt), and the next put or flush tries again.
                d = exc.__dict__
                self._items[:0], self._flushing = batch[d["done"] if "done" in d else 0:], 0
            raise

    def _start_flusher(self) -> None:
        """Under _lock, as the buffer gets its first message."""
        if self._delay is None:
            return
        if self._flusher is None:
            self._flusher = threading.Thread(
                target=_flush_when_due, args=(weakref.ref(self), self._lock, self._cond),
                daemon=True, name=f"sage_queue linger {self._queue.name}")
            self._flusher.start()
        elif self._idle:  # else it wakes by itself: no thread switch per batch
            self._cond.notify()

    def close(self, timeout: Optional[float] = None) -> None:
        """Flushes (waiting up to timeout for room) and stops the
        background thread; the queue stays open. Idempotent. queue.Full
        leaves it open, with what did not fit still buffered."""
        with self._lock:
            if self._closed or self._closing:
                return
            failed, self._failed = self._failed, None
            self._closing = True  # puts from now on are refused: none is left behind
        try:
            self._flush(True, timeout)
        except BaseException:
            with self._lock:
                self._closing = False
                if self._failed is None:
                    self._failed = failed
            raise
        with self._lock:
            self._closed = True
            self._closing = False
            self._cond.notify()
        if failed is not None:
            raise failed

    def __del__(self) -> None:
        # Dropped unclosed (the thread keeps a producer whose buffer is not
        # empty, so this is one without it: max_delay None): put what it
        # holds if there is room now, else say it is lost.
        if getattr(self, "_items", None) and not self._closed:
            try:
                self._flush(False, None)
            except BaseException as exc:
                warnings.warn(f"queue '{self._queue.name}': a LingeringProducer dropped unclosed "
                              f"lost {len(self._items)} message(s) ({exc!r})", RuntimeWarning)

    def __enter__(self) -> "LingeringProducer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<LingeringProducer queue={self._queue.name!r} pending={self.pending} "
                f"max_items={self._max} max_delay={self._delay}>")


def _flush_when_due(ref: "weakref.ref[LingeringProducer]", lock: Any, cond: Any) -> None:
    """The background thread: flushes a buffer whose oldest message is
    max_delay old. While puts come it wakes by its own timer (once per
    max_delay at most), so a put never has to wake it (a thread switch
    costs the producer more than a batch saves); after IDLE_ROUNDS empty
    rounds it waits for the next put's notify, waking once a second to
    end when the producer is gone.
    It holds a reference to the producer only while something is
    buffered, so a producer dropped unclosed is put by it first. It ends
    with close()."""
    empty_rounds = 0
    while True:
        with lock:
            p = ref()
            if p is None or p._closed:
                return
            if not p._items:
                empty_rounds += 1
                p._idle = empty_rounds > IDLE_ROUNDS
                wait = 1.0 if p._idle else max(p._delay, 0.001)
                p = None
                cond.wait(wait)
                continue
            empty_rounds = 0
            p._idle = False
            wait = p._first + p._delay - monotonic()
            if wait > 0:  # (keeping p: what it buffered is put even if it is dropped)
                cond.wait(wait)
                continue
        try:  # due: outside _lock, so puts with room go on meanwhile
            p._flush(True, _SLICE)
        except Full:
            pass
        except Exception as exc:  # kept for the next put/flush
            with lock:
                p._failed = exc
                p = None
                cond.wait(1.0)
        p = None


def _flush_at_exit() -> None:
    for p in list(_live):
        if p._closed:
            continue
        try:
            p.close(timeout=5.0)
        except BaseException as exc:
            n = p.pending
            if n:
                warnings.warn(f"queue '{p._queue.name}': {n} lingering message(s) could not be "
                              f"put at exit ({exc!r}); they are lost", RuntimeWarning)


def _after_fork_in_child() -> None:
    # The buffered messages are the parent's to put; the thread is not here.
    for p in list(_live):
        p._items = []
        p._flushing = 0
        p._flusher = None
        p._idle = False
        p._new_locks()


atexit.register(_flush_at_exit)
os.register_at_fork(after_in_child=_after_fork_in_child)
