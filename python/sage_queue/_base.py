"""What SageQueue and the Ray layer's RemoteSageQueue share: queue.Queue's
shape, the sizes learnt when the queue opened, and how a message that
cannot be decoded or can never fit is reported."""

from __future__ import annotations

import errno
from typing import Any

from . import serialization as _ser
from .errors import DecodeError, MessageTooLarge, QueueClosedError


class QueueBase:
    """The shared part of a queue object. A subclass sets _name,
    _transport, _capacity, _max_message and _item_bound when it opens, and
    provides put, get, qsize, close and closed."""

    is_remote = False
    _closed_why = ""  # why calls fail other than close() (a fork)

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
        """The most messages the queue holds at once: the max_items given
        when it was created or, without one, the transport's own bound (shm:
        its slot count, one per 64 bytes of ring, at least 64, at most
        2**24). 0 if the transport reports none."""
        return self._item_bound

    @property
    def max_message(self) -> int:
        """The largest message, in bytes, that can ever be put."""
        return self._max_message

    def put_nowait(self, item: Any) -> None:
        """put(item, block=False)."""
        self.put(item, False)

    def get_nowait(self) -> Any:
        """get(block=False)."""
        return self.get(False)

    def __len__(self) -> int:
        return self.qsize()

    def __bool__(self) -> bool:
        return True

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _closed_error(self) -> QueueClosedError:
        return QueueClosedError(self._closed_why or f"queue '{self._name}' is closed in this process",
                                -errno.EBADF, "", self._name)

    def _too_big(self, size: int, detail: str = "") -> MessageTooLarge:
        """detail: sage_last_error(), only when a C call just failed (a
        success leaves an older failure's text there)."""
        return MessageTooLarge(
            f"message of {size} bytes can never fit in queue '{self._name}': the largest is "
            f"{self._max_message} bytes (capacity {self._capacity} bytes)",
            -errno.EMSGSIZE, detail, self._name)

    def _decode(self, data: Any) -> Any:
        """Decodes one message (its exact bytes); DecodeError if it cannot
        be decoded, for whatever reason."""
        try:
            return _ser.loads(data if type(data) is memoryview else memoryview(data))
        except Exception as exc:
            raise self._bad(data, exc)

    def _bad(self, data: Any, cause: BaseException) -> BaseException:
        """What to raise when decoding data raised cause: a DecodeError if
        data does not decode (cause is its __cause__), else cause itself --
        it came from elsewhere (a signal handler's exception landing as the
        decode returned), and the caller keeps the message for its next get.
        A second decode that fails otherwise than the first is raised: one of
        the two came from elsewhere (the caller keeps the message too)."""
        view = memoryview(data)
        try:
            _ser.loads(view)
        except Exception as again:
            if type(again) is not type(cause):
                raise
        else:
            return cause
        if not view.nbytes or (view[0] != 0x80 and not _ser.is_frame(view)):
            what = "is not a pickled object (it was put as raw bytes? use get_bytes())"
        else:
            what = f"cannot be decoded: {type(cause).__name__}: {cause}"
        err = DecodeError(f"message of {view.nbytes} bytes on queue '{self._name}' {what}",
                          view.tobytes(), self._name)
        err.__cause__ = cause
        return err
