"""Exceptions raised by sage_queue.

Would-block conditions use the standard ``queue.Empty`` and ``queue.Full``;
oversize messages and bad names raise ``ValueError`` (as ``MessageTooLarge``
and ``BadNameError``, which subclass both ``ValueError`` and
``SageQueueError``). Everything else raises a :class:`SageQueueError`
subclass chosen by the C return code. Every error carries the negative code
(``code``), libsagequeue's detail text for the failure (``detail``) and the
queue name where one is involved (``queue``).
"""

from __future__ import annotations

import errno
from typing import Optional

__all__ = [
    "SageQueueError",
    "TransportNotFoundError",
    "ABIMismatchError",
    "BadPluginError",
    "BadNameError",
    "QueueNotFoundError",
    "QueueExistsError",
    "PermissionDeniedError",
    "SegmentCorruptError",
    "NotSupportedError",
    "InvalidArgumentError",
    "OutOfSpaceError",
    "MessageTooLarge",
    "QueueClosedError",
    "DecodeError",
    "RemoteQueueError",
    "BY_CODE",
]

# Registry codes (include/sage/queue.h).
SAGE_ENOPLUGIN = -1001
SAGE_EBADABI = -1002
SAGE_EBADPLUGIN = -1003
SAGE_EBADNAME = -1004


class SageQueueError(OSError):
    """Base of every sage_queue error that is not Empty/Full.

    An ``OSError`` whose ``errno`` is the positive errno where the code is
    one (``None`` for registry codes); ``code`` keeps the raw negative code.
    """

    def __init__(self, message: str, code: int = 0, detail: str = "",
                 queue: Optional[str] = None) -> None:
        errno_value = -code if -1000 < code < 0 else None
        super().__init__(errno_value, message)
        self.code = code
        self.detail = detail
        self.queue = queue

    def __str__(self) -> str:
        return str(self.strerror)

    def __reduce__(self):
        return (_rebuild, (type(self), str(self.strerror), self.code, self.detail, self.queue))


def _rebuild(cls, message, code, detail, queue):
    return cls(message, code, detail, queue)


class TransportNotFoundError(SageQueueError):
    """No plugin file for the transport on the search path (SAGE_ENOPLUGIN)."""


class ABIMismatchError(SageQueueError):
    """The plugin was built for another ABI major or a newer minor (SAGE_EBADABI)."""


class BadPluginError(SageQueueError):
    """The plugin file is not a valid transport (SAGE_EBADPLUGIN)."""


class BadNameError(SageQueueError, ValueError):
    """Invalid queue or transport name (SAGE_EBADNAME)."""


class QueueNotFoundError(SageQueueError, FileNotFoundError):
    """The queue does not exist (-ENOENT), e.g. a reference to a destroyed queue."""


class QueueExistsError(SageQueueError, FileExistsError):
    """create=always and the queue already exists (-EEXIST)."""


class PermissionDeniedError(SageQueueError, PermissionError):
    """-EACCES / -EPERM: foreign owner, file mode, or an observe-only handle."""


class SegmentCorruptError(SageQueueError):
    """-EBADMSG: the segment is corrupt, truncated or not a SAGE queue."""


class NotSupportedError(SageQueueError):
    """-ENOTSUP: the transport lacks the operation."""


class OutOfSpaceError(SageQueueError):
    """-ENOSPC / -ENOMEM: no room for the segment."""


class InvalidArgumentError(SageQueueError, ValueError):
    """-EINVAL: an option or argument the transport refused (the message
    names it)."""


class MessageTooLarge(SageQueueError, ValueError):
    """-EMSGSIZE: the message can never fit in the queue."""


class QueueClosedError(SageQueueError, ValueError):
    """The SageQueue object was closed or destroyed in this process.

    A ``ValueError`` like operations on a closed file."""


class DecodeError(SageQueueError):
    """A message taken by get() cannot be decoded: it was put as raw bytes,
    or is a truncated or foreign pickle, a bad frame, an object of a class
    this process cannot load (the original error is ``__cause__``). That
    message, and only it, has been consumed: its bytes are in ``payload``."""

    def __init__(self, message: str, payload: bytes = b"", queue: Optional[str] = None) -> None:
        super().__init__(message, -errno.EBADMSG, "", queue)
        self.payload = payload

    def __reduce__(self):
        return (DecodeError, (str(self.strerror), self.payload, self.queue))


#: The exception class for each negative code (_lib.from_code builds them).
BY_CODE = {
    SAGE_ENOPLUGIN: TransportNotFoundError,
    SAGE_EBADABI: ABIMismatchError,
    SAGE_EBADPLUGIN: BadPluginError,
    SAGE_EBADNAME: BadNameError,
    -errno.ENOENT: QueueNotFoundError,
    -errno.EEXIST: QueueExistsError,
    -errno.EACCES: PermissionDeniedError,
    -errno.EPERM: PermissionDeniedError,
    -errno.EBADMSG: SegmentCorruptError,
    -errno.ENOTSUP: NotSupportedError,
    -errno.EINVAL: InvalidArgumentError,
    -errno.ENOSPC: OutOfSpaceError,
    -errno.ENOMEM: OutOfSpaceError,
    -errno.EMSGSIZE: MessageTooLarge,
}


class RemoteQueueError(SageQueueError):
    """The queue lives on another host or node and cannot be reached from
    here (no Ray, or its node is gone), or a proxy call failed in a way that
    leaves the outcome unknown. ``errno`` is EREMOTE."""

    def __init__(self, message: str, queue: Optional[str] = None) -> None:
        super().__init__(message, -errno.EREMOTE, "", queue)

    def __reduce__(self):
        return _rebuild_error, (type(self), str(self), self.queue, dict(self.__dict__))


def _rebuild_error(cls, message, queue, state):
    exc = cls.__new__(cls)
    RemoteQueueError.__init__(exc, message, queue)
    exc.__dict__.update(state)
    return exc
