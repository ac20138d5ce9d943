"""RemoteSageQueue's put side: one call at a time, the ordered pipeline of
calls in flight, write-behind buffering, and what a proxy that died leaves
in doubt."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Iterable, List, Optional

from .. import serialization as _ser
from ..queue import Full
from ._exit import _hook_actor_exit, _limit
from ._runtime import (CALL_BYTES, CALL_ITEMS, PIPE_BYTES, PIPE_ITEMS, STREAM_FRESH, WAIT_SLICE,
                       WINDOW, _call, _known_dead)
from .errors import BufferedInDoubtError
from .proxy import REFUSED

_FAIL = object()

class _Died(Exception):
    """The proxy died under the ordered put pipeline: ``doubt`` (messages it
    may or may not have put, in order) and ``unsent`` (certainly not put,
    in order, after them); ``error`` is set when no new proxy could be
    reached."""

    def __init__(self, doubt: List[bytes], unsent: List[bytes],
                 error: Optional[BaseException]) -> None:
        super().__init__("proxy died")
        self.doubt, self.unsent, self.error = doubt, unsent, error


class _Yield(Exception):
    """A background flush gives way to close()."""


class _TimeUp(Exception):
    """A flush ran out of time (at exit) while the queue was full."""




class Writer:
    """The put side of RemoteSageQueue (a mixin: RemoteSageQueue holds the
    state)."""

    # -- sending, one call at a time

    def _send(self, payloads: List[bytes], block: bool, timeout: Optional[float],
              deadline: Optional[float] = None) -> int:
        """Puts payloads one call at a time (nothing of ours in flight);
        queue.Full with .done when block is false or the time ran out;
        ProxyDiedError (done, in_doubt) when the proxy died under a call.
        When a call falls short, the next one carries a single message and
        waits for room: a call that waits holds at most one message."""
        if timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        ray = sys.modules["ray"]
        if deadline is None and block and timeout is not None:
            deadline = time.monotonic() + timeout
        done = 0
        short = False
        while done < len(payloads):
            limit = _limit(deadline)
            if not block or not short:
                wait = 0.0
            elif limit is None:
                wait = WAIT_SLICE
            else:
                wait = min(max(limit - time.monotonic(), 0.0), WAIT_SLICE)
            if short and wait > 0:
                part = payloads[done:done + 1]
            else:
                part = next(_chunks(payloads[done:done + CALL_ITEMS], CALL_BYTES, CALL_ITEMS))
            try:
                actor, epoch = self._live()
            except BaseException as gone:
                gone.done, gone.in_doubt, gone.payloads = done, 0, []
                raise
            try:
                got = _call(actor.put_many.remote(part, wait))
            except ray.exceptions.RayActorError as exc:
                error = self._died_error("a put", done, part, len(payloads) - done - len(part))
                try:
                    self._restart(epoch, exc)
                except BaseException as gone:
                    gone.done, gone.in_doubt, gone.payloads = done, len(part), part
                    raise
                raise error from None
            done += got
            short = got < len(part)
            if short and (not block or (limit is not None and time.monotonic() >= limit)):
                exc = Full()
                exc.done = done
                raise exc
        return done

    # -- the ordered pipeline (under _lock)

    def _wready(self) -> None:
        """The write stream to use now: a fresh one after a proxy change or
        a long pause (the proxy forgets idle streams)."""
        now = time.monotonic()
        if self._wepoch != self._epoch or now - self._wlast > STREAM_FRESH:
            old = self._wstream
            self._wstream, self._wseq, self._wepoch = self._new_stream("w"), 0, self._epoch
            self._forget(old)
        self._wlast = now

    def _psend(self, chunk: List[bytes], wait: float, resume: bool) -> None:
        self._wready()
        ref = self._actor.put_ordered.remote(self._wstream, self._wseq, chunk, wait, resume)
        self._wseq += 1
        self._window.append((ref, chunk, self._wepoch))

    def _next_chunk(self) -> List[bytes]:
        pending = self._pending
        limit = PIPE_BYTES if len(pending[0]) <= PIPE_BYTES // 4 else CALL_BYTES
        chunk = [pending.popleft()]
        size = len(chunk[0])
        while pending and len(chunk) < PIPE_ITEMS and size + len(pending[0]) <= limit:
            size += len(pending[0])
            chunk.append(pending.popleft())
        return chunk

    def _pcollect(self) -> None:
        """Waits for the oldest ordered put call. When it fell short, the
        stream stalled: the calls after it applied nothing, and the rest go
        back to the front of the pending messages, to follow a call that
        waits for room."""
        ray = sys.modules["ray"]
        ref, chunk, epoch = self._window[0]
        try:
            got = _call(ref)
        except ray.exceptions.RayActorError as exc:
            raise self._pdied(exc, epoch) from None
        except BaseException:
            # The proxy could not put (its queue is closing, or broken): the
            # stream is abandoned, and so are the calls after this one.
            self._window.clear()
            self._pending.clear()
            self._stalled = False
            self._wepoch = -1
            raise
        self._window.popleft()
        if got == len(chunk):
            self._confirmed += got
            self._stalled = False
            return
        if got == REFUSED:  # the proxy forgot the stream: start a new one
            self._wepoch = -1
        got = max(got, 0)
        self._confirmed += got
        rest = chunk[got:]
        for _, later, _ in self._window:
            rest += later
        self._window.clear()
        self._pending.extendleft(reversed(rest))
        self._stalled = True

    def _pdied(self, exc: BaseException, epoch: int) -> _Died:
        """The proxy died under the pipeline: sorts the calls in flight into
        put (a prefix), in doubt and not put, and starts a new proxy."""
        results = []
        for ref, chunk, _ in self._window:
            try:
                results.append((chunk, _call(ref)))
            except BaseException:
                results.append((chunk, _FAIL))
        self._window.clear()
        doubt: List[bytes] = []
        unsent: List[bytes] = []
        short = False
        for chunk, got in results:
            if short:
                unsent += chunk          # after a short call nothing applies
            elif got is _FAIL:
                doubt += chunk           # may have been applied, in part or whole
            elif got == len(chunk):
                self._confirmed += len(doubt) + got  # so were all before it
                doubt = []
            else:
                got = max(got, 0)
                if got:
                    self._confirmed += len(doubt)
                    doubt = []
                self._confirmed += got
                unsent += chunk[got:]
                short = True
        unsent += self._pending
        self._pending.clear()
        self._stalled = False
        self._wepoch = -1
        self._losses["puts_in_doubt"] += len(doubt)
        try:
            self._restart(epoch, exc)
        except BaseException as gone:
            return _Died(doubt, unsent, gone)
        return _Died(doubt, unsent, None)

    def _pump(self, drain: bool, deadline: Optional[float] = None,
              background: bool = False) -> None:
        """Moves pending messages into ordered calls, at most WINDOW in
        flight; with ``drain``, until every call has come back. Raises
        _Died, _TimeUp (deadline passed while the queue was full), _Yield
        (background, and close() began)."""
        while True:
            if (self._window or self._pending) and _known_dead(self._actor):
                if self._window:
                    self._pcollect()  # raises _Died: sorts them, starts a new proxy
                    continue
                try:
                    self._live()
                except BaseException as gone:
                    unsent = list(self._pending)
                    self._pending.clear()
                    self._stalled = False
                    raise _Died([], unsent, gone) from None
            if self._window and self._wepoch != self._epoch:
                self._pcollect()  # calls to a replaced proxy come back first
                continue
            if self._stalled and self._pending:
                if self._window:
                    self._pcollect()
                    continue
                if background and self._closing:
                    raise _Yield
                limit = _limit(deadline)
                wait = WAIT_SLICE if limit is None else min(limit - time.monotonic(), WAIT_SLICE)
                if wait <= 0:
                    raise _TimeUp
                self._psend([self._pending.popleft()], wait, True)
                self._pcollect()
                continue
            if self._pending and len(self._window) < WINDOW:
                self._psend(self._next_chunk(), 0.0, False)
                continue
            if self._window and (drain or self._pending):
                self._pcollect()
                continue
            return

    def _behind(self, drain: bool, deadline: Optional[float] = None,
                background: bool = False) -> None:
        """Sends the write-behind buffer (and anything pending) through the
        pipeline. When the proxy dies, what was certainly not put is sent
        again through the new one; what is in doubt is reported with
        ProxyDiedError once the rest went in."""
        if self._buffer:
            self._pending.extend(self._buffer)
            self._buffer, self._buffer_bytes = [], 0
        doubt: List[bytes] = []
        while True:
            try:
                self._pump(drain, deadline, background)
                break
            except (_TimeUp, _Yield) as stop:
                if doubt:  # reported with what is left (close), or by the next call
                    if isinstance(stop, _TimeUp):
                        stop.doubt = doubt
                    else:
                        self._note(self._buffered_in_doubt(doubt))
                raise
            except _Died as died:
                doubt += died.doubt
                if died.error is not None:
                    died.error.payloads = doubt + died.unsent
                    raise died.error
                self._pending.extendleft(reversed(died.unsent))
        if doubt:
            raise self._buffered_in_doubt(doubt)

    def _buffered_in_doubt(self, doubt: List[bytes]) -> BufferedInDoubtError:
        return BufferedInDoubtError(
            f"the proxy of queue '{self._name}' died while it was putting buffered messages: "
            f"{len(doubt)} may or may not have gone in (each is in the queue once or not at "
            "all; their bytes are in .payloads); the others were sent through a new proxy. "
            "The call that raised this did nothing", self._name, payloads=doubt)

    def _note(self, exc: BaseException) -> None:
        """Keeps a background error for the next call (in-doubt reports
        add up; a fatal error wins, carrying every payload)."""
        old = self._error
        if old is None:
            self._error = exc
            return
        payloads = list(getattr(old, "payloads", [])) + list(getattr(exc, "payloads", []))
        if isinstance(old, BufferedInDoubtError) and isinstance(exc, BufferedInDoubtError):
            self._error = self._buffered_in_doubt(payloads)
        else:
            keep = old if not isinstance(old, BufferedInDoubtError) else exc
            keep.payloads = payloads
            self._error = keep

    def _sync(self) -> None:
        """Before any call other than a buffered put: nothing of ours is
        still buffered or in flight, and earlier background errors raise."""
        self._check()
        if self._buffer or self._window or self._pending:
            with self._lock:
                self._behind(True)

    def flush(self) -> None:
        """Sends every buffered put and waits until the queue has them."""
        self._sync()

    def _flush_loop(self) -> None:
        with self._lock:
            while not self._closed and not self._closing:
                if not self._buffer:
                    self._wake.wait()
                    continue
                left = self._first_buffered + self.linger - time.monotonic()
                if left > 0:
                    self._wake.wait(left)
                    continue
                try:
                    self._behind(False, background=True)
                except _Yield:
                    return
                except BaseException as exc:  # reported by the next call
                    self._note(exc)

    def _buffer_put(self, data: bytes) -> None:
        if self._hook_retry:
            self._hook_retry = not _hook_actor_exit()
        with self._lock:
            self._check()
            if not self._buffer:
                self._first_buffered = time.monotonic()
                if self._flusher is None:
                    self._flusher = threading.Thread(target=self._ghost._flush_loop, daemon=True,
                                                     name=f"sageq-flush-{self._name}")
                    self._flusher.start()
                self._wake.notify()
            self._buffer.append(data)
            self._buffer_bytes += len(data)
            if len(self._buffer) >= self.batch or self._buffer_bytes >= PIPE_BYTES:
                try:
                    self._behind(False)
                except BufferedInDoubtError as exc:
                    self._note(exc)  # this item was taken: the next call reports it

    # -- put

    def put(self, item: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        """As SageQueue.put (with ``batch`` > 1, a blocking put without
        timeout may return once the item is buffered here)."""
        self._put_data(_ser.dumps_inband(item), block, timeout)

    def put_bytes(self, data: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        """As SageQueue.put_bytes."""
        self._put_data(data if type(data) is bytes else memoryview(data).tobytes(),
                       block, timeout)

    def _put_data(self, data: bytes, block: bool, timeout: Optional[float]) -> None:
        if len(data) > self.max_message:
            raise self._too_big(len(data))
        if self.batch > 1 and block and timeout is None:
            self._buffer_put(data)
            return
        self._sync()
        self._send([data], block, timeout)

    def put_many(self, items: Iterable[Any], block: bool = True,
                 timeout: Optional[float] = None, *, raw: bool = False) -> int:
        """As SageQueue.put_many: every item is serialised before anything is
        sent. Blocking without timeout: an ordered pipeline of calls, done
        when all went in. Otherwise one call at a time, raising queue.Full
        with ``.done`` (a prefix went in) on time-out. If the proxy dies,
        raises ProxyDiedError: ``.done`` items (a prefix) went in, the next
        ``.in_doubt`` may have, the rest did not."""
        if timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        if raw:
            payloads = [x if type(x) is bytes else memoryview(x).tobytes() for x in items]
        else:
            payloads = [_ser.dumps_inband(x) for x in items]
        if not payloads:
            return 0
        largest = max(map(len, payloads))
        if largest > self.max_message:
            raise self._too_big(largest)
        self._sync()
        if block and timeout is None:
            with self._lock:
                self._check()
                start = self._confirmed
                self._pending.extend(payloads)
                try:
                    self._pump(True)
                except _TimeUp:  # only at interpreter exit
                    self._pending.clear()
                    exc = Full()
                    exc.done = self._confirmed - start
                    raise exc from None
                except _Died as died:
                    done = self._confirmed - start
                    if died.error is not None:
                        died.error.done, died.error.in_doubt = done, len(died.doubt)
                        died.error.payloads = died.doubt
                        raise died.error
                    raise self._died_error("a put_many", done, died.doubt,
                                           len(died.unsent)) from None
            return len(payloads)
        return self._send(payloads, block, timeout)



def _chunks(payloads: List[bytes], max_bytes: int, max_items: int) -> Iterable[List[bytes]]:
    if len(payloads) <= max_items and sum(map(len, payloads)) <= max_bytes:
        yield payloads
        return
    start = size = 0
    for i, data in enumerate(payloads):
        if i > start and (i - start >= max_items or size + len(data) > max_bytes):
            yield payloads[start:i]
            start, size = i, 0
        size += len(data)
    yield payloads[start:]

