"""When a SageQueue's C handle closes: close() and destroy() with calls
still inside it, messages held for a get given back, fork and exit."""

from __future__ import annotations

import atexit
import ctypes
import errno
import os
import threading
import time
import warnings
import weakref
from typing import Any, Dict, Optional

from . import _hooks
from . import _lib
from . import serialization as _ser
from ._handle import CAP_CROSS_PROCESS, Handle
from .errors import QueueNotFoundError, SageQueueError



# Open queues of this process (fork and exit handle them).
_live: "weakref.WeakSet[Any]" = weakref.WeakSet()
# Queues closed while calls were inside them: a reaper closes their C handle
# once the last call left (see Lifetime._shut).
_reaping: "Dict[int, Any]" = {}


def _after_fork_in_child() -> None:
    # A lock held by a parent thread at fork time stays held in the child,
    # and the parent's threads inside calls do not exist here: their calls
    # will never leave, so this process's in-call counts start from zero.
    for q in list(_live):
        q._close_lock = threading.Lock()
        q._refill_lock = threading.Lock()
        q._calls, q._bufs = 0, len(q._pool)
        # Messages the parent held are the parent's to hand over: a copy
        # here would deliver them twice.
        q._held.clear()
        q._gh = q._h if q._prefetch < 2 else None
        if not q._caps & CAP_CROSS_PROCESS:
            # The child has a private copy of an in-process queue: using it
            # would put into (and take from) nobody's queue. The inherited
            # handle is left as it is (closing it would act on the copy).
            q._h = q._gh = None
            q._closed_why = str(q._local_only("it cannot be used in a forked child"))
            _live.discard(q)
    for q in list(_reaping.values()):
        q._close_lock = threading.Lock()
        q._refill_lock = threading.Lock()
        q._calls, q._bufs = 0, len(q._pool)
        q._held.clear()  # the parent's: it gives them back
        q._reap_now()


os.register_at_fork(after_in_child=_after_fork_in_child)


def track(q: Any) -> None:
    """Counts an open queue among this process's (see _live)."""
    _live.add(q)


class Lifetime:
    """SageQueue's handle lifetime (a mixin: SageQueue holds the state)."""

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
        other = type(self).__new__(type(self))
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

    def _give_back(self, h: Handle) -> int:
        """Puts the messages this object holds back into the queue (at its
        tail) through h, under _close_lock; returns how many did not fit
        (lost). Each leaves _held before its put (calls still inside may
        take held ones at the same time) and goes back to its head if an
        exception lands before the put went in (the put's result is in
        `send`, read without a call: see _producer.py). Each one put back is
        marked done once, in the same C call: its first put counted it as
        unfinished already (join())."""
        held = self._held
        send = _lib.Send(h.value, 1)
        request, put_back = ctypes.byref(send), _lib.lib().sage_queue_put_back_r
        lost = 0
        while True:
            if not held:
                return lost
            entry, send.result = held[0], 1
            del held[0]  # no call between these two: this call owns it now
            try:
                data = _held_bytes(entry)
                if data is None:
                    lost += 1
                elif put_back(request, data, len(data)) != 0:
                    lost += 1
            except BaseException:
                if send.result != 0:
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
        actor of the queue, if one runs (see sage_queue.ray)."""
        if self.__dict__.get("_h") is not None:
            if not self._shut("destroy"):
                return self.destroy()  # closed meanwhile
        elif not self._destroy_closed():
            return
        _hooks.queue_destroyed(self._name, self._transport)

    def _destroy_closed(self) -> bool:
        """destroy() after close(): reopens the queue by name and destroys
        it if it is the one this object had open."""
        if self.__dict__.get("_identity") is None or self._destroyed:
            return False
        try:
            other = type(self)._attach(self._name, self._transport, self._handle_options)
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

    def __del__(self) -> None:
        try:
            if self._h is not None:
                self._shut("close")
        except Exception:
            pass



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

