"""The C handle and what every data path shares: sentinels, sizes, receive
buffers, and where an asynchronous exception can land."""

from __future__ import annotations

import ctypes

from . import _lib
from . import serialization as _ser

_c_size_t = ctypes.c_size_t

CAP_CROSS_PROCESS = 1 << 2
CAP_ZERO_COPY = 1 << 4
CAP_BATCH = 1 << 5

# Receive buffers: messages up to this size are copied into a per-thread
# reusable buffer and decoded there; larger ones are read in place
# (peek/release) where the transport offers zero-copy.
RECV_BUFFER = _ser.OOB_THRESHOLD
BATCH_BUFFER = 1 << 18
# Messages up to this size go through the quick calls first (_lib.quick()),
# which hold the interpreter lock for one copy of at most this many bytes.
QUICK_MAX = RECV_BUFFER


class Handle(ctypes.c_void_p):
    """An open C queue handle (see _lifetime.Lifetime._shut for when it is closed)."""


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
# the try (a token, a length, a count, a put's result in a Send request),
# initialised to a sentinel: the handler always knows what the call did even
# when its return value was lost (for puts, see "Settling .done" in
# _producer.py). Reservations are cancelled, peeked records released (after copying
# them out), and messages taken but not yet handed to the caller are kept in
# SageQueue._held and handed out first by the next get on the same object.
# The tests (tests/python/faults.py) raise an exception at every one of
# those points in turn, and more while the first is handled, and check that
# nothing is lost, duplicated or stuck.
NO_TOKEN = (1 << 64) - 1   # never a token (shm: lane 0xffffffff does not exist)
NO_LEN = (1 << 64) - 1     # larger than any buffer: "nothing received"
NOTHING = object()


class RecvBuffer:
    """A reusable receive buffer, used by one thread at a time. With the
    queue's handle it also carries a sage_queue_try_get request for it."""

    __slots__ = ("data", "view", "address", "capacity", "request", "request_ptr", "length",
                 "length_ptr", "_pin", "n", "last", "alone", "batch")

    def __init__(self, size: int, handle: "Handle | None" = None) -> None:
        self.data = bytearray(size)
        self.view = memoryview(self.data)
        address, self._pin = _lib.buffer_address(self.data)
        self.address = ctypes.c_void_p(address)
        self.capacity = _c_size_t(size)
        self.request = _lib.Recv(handle.value if handle is not None else None, address, size,
                                 NO_LEN)
        self.request_ptr = ctypes.pointer(self.request)
        # The request's len: both calls write the length taken there.
        self.length = _c_size_t.from_buffer(self.request, _lib.Recv.len.offset)
        self.length_ptr = ctypes.pointer(self.length)
        # view[:n] for the last n seen: messages are decoded from a view of
        # exactly their bytes (a truncated pickle must not read on into an
        # older message's), and one of the same size reuses it.
        self.n = 0
        self.last = self.view[:0]
        # (self,): `pool += buf.alone` puts it back with no call (see _get).
        self.alone = (self,)
        # As a batch buffer: (max items, lengths, iterator over the pieces)
        # for get_many, made once and kept while unused (_consumer.py).
        self.batch = None

