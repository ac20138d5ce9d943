"""asyncio helpers for any queue (SageQueue, RemoteSageQueue, or anything
with their methods): waits run in worker threads, never on the event loop.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from typing import Any, Iterable, List, Optional

from .queue import Empty, Full

__all__ = ["get_async", "get_many_async", "put_async", "put_many_async"]

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


