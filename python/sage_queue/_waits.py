"""Waits and timeouts: queue.Queue's (block, timeout) as the C calls' timeout_ns.

Ctrl-C while the main thread waits: a signal that lands inside the C wait
interrupts it (-EINTR) and Python runs its handler at once, but one that
lands just outside (in the spin, between wake-ups) would not wake a futex
already re-entered. So blocking calls made by the main thread wait in
slices of SLICE_NS, and Python runs pending handlers between them: Ctrl-C
is then honoured within a slice at worst. Other threads never get signals
delivered by Python and wait in one piece.

A wait cut in slices counts as one blocked call and at most one timeout
(sage/transport.h, SAGE_WAIT_*): every slice but the last says WAIT_SLICE
(its end is no timeout), every call after the first says WAIT_RESUMED (not
blocked again). Flags ride in timeout_ns; the library strips them for
transports that do not take them.
"""

from __future__ import annotations

import ctypes
import errno
import os
import threading
import time
from typing import Optional, Tuple

from . import _lib

_c_int64 = ctypes.c_int64

FOREVER = _c_int64(-1)
NOWAIT = _c_int64(0)
SLICE_NS = 50_000_000
WAIT_SLICE = 1 << 61
WAIT_RESUMED = 1 << 60
NS_MAX = (1 << 59) - 1  # ~18 years: longer timeouts wait this long
SLICE = _c_int64(SLICE_NS | WAIT_SLICE)
SLICE_RESUMED = _c_int64(SLICE_NS | WAIT_SLICE | WAIT_RESUMED)
FOREVER_RESUMED = _c_int64(NS_MAX | WAIT_RESUMED)

_EAGAIN = -errno.EAGAIN
_ETIMEDOUT = -errno.ETIMEDOUT
_EINTR = -errno.EINTR
_EMSGSIZE = -errno.EMSGSIZE

get_ident = threading.get_ident
monotonic = time.monotonic

#: The main thread's id (Python runs signal handlers there only); a forked
#: child's main thread is the thread that forked.
main_ident = threading.main_thread().ident


def _reset_main_ident() -> None:
    global main_ident
    main_ident = threading.main_thread().ident


os.register_at_fork(after_in_child=_reset_main_ident)


def cap(tmo: "ctypes.c_int64") -> "ctypes.c_int64":
    """The timeout for one C call: tmo, or a slice of it on the main
    thread."""
    v = tmo.value
    if (v < 0 or v & NS_MAX > SLICE_NS) and get_ident() == main_ident:
        return SLICE_RESUMED if v & WAIT_RESUMED else SLICE
    return tmo


def timeout_ns(block: bool, timeout: Optional[float]) -> "ctypes.c_int64":
    """The C timeout for queue.Queue's (block, timeout) pair."""
    if not block:
        return NOWAIT
    if timeout is None:
        return FOREVER
    if timeout < 0:
        raise ValueError("'timeout' must be a non-negative number")
    return _c_int64(min(int(timeout * 1e9), NS_MAX))


class Waiting:
    """What a queue does when a C call fails (mixed into SageQueue, which
    provides _too_big and _error)."""

    def _after_failure(self, rc: int, what: str, size: int, tmo: "ctypes.c_int64",
                       start: float, would_block: type) -> Tuple["ctypes.c_int64", float]:
        """Handles a failed call: after -EINTR, or a slice that ended with
        time left (cap), runs Python's signal handlers and returns the
        (timeout, start) to retry with; else raises."""
        v = tmo.value
        if rc == _EINTR or (rc == _ETIMEDOUT and v != 0):
            _lib.run_signal_handlers()
            if v < 0 or tmo is FOREVER_RESUMED:
                return FOREVER_RESUMED, start
            now = monotonic()
            left = (v & NS_MAX) - int((now - start) * 1e9)
            if v == 0:  # (interrupted: -EINTR) a non-blocking call, again
                return NOWAIT, now
            if left > 0 or rc == _EINTR:
                # The rest of the wait (a slice's rest is a slice). Cut
                # short with its time used up, one more look (1 ns): the
                # wait ends in the transport, which counts its timeout.
                return _c_int64(max(left, 1) | WAIT_RESUMED | (v & WAIT_SLICE)), now
        if rc == _EAGAIN or rc == _ETIMEDOUT:
            raise would_block()
        if rc == _EMSGSIZE and what != "get":
            raise self._too_big(size, _lib.last_error())
        raise self._error(rc, what)
