"""SAGE Queue: shared-memory message queues for processes and Ray actors.

Loads libsagequeue with ctypes (no compiled extension)::

    from sage_queue import SageQueue
    q = SageQueue("jobs", maxsize=1 << 20)   # bytes of ring
    q.put({"id": 1}); q.get()
    ref = q.get_reference()                  # picklable; ref.get_queue() elsewhere
    q.destroy()
"""

from __future__ import annotations

from .errors import (ABIMismatchError, BadNameError, BadPluginError, DecodeError,
                     InvalidArgumentError, MessageTooLarge, NotSupportedError,
                     OutOfSpaceError, PermissionDeniedError, QueueClosedError, QueueExistsError,
                     QueueNotFoundError, SageQueueError, SegmentCorruptError,
                     TransportNotFoundError)
from ._plugins import TransportInfo, transports, version
from ._version import __version__
from .admin import (cleanup_invalid_queues, collect_stale, destroy_queue, list_all_sage_queues,
                    list_queues, remove_queue)
from .config import open_queue
from .queue import DEFAULT_CAPACITY, Empty, Full, SageQueue
from .linger import LingeringProducer
from .ref import SageQueueRef
# The Ray layer registers its hooks with the core as it is imported; it
# imports Ray itself only once Ray is in use.
from . import ray as _ray_layer  # noqa: E402,F401  (isort: keep after the core)

__all__ = [
    "SageQueue", "SageQueueRef", "LingeringProducer", "Empty", "Full", "DEFAULT_CAPACITY",
    "SageQueueError", "TransportNotFoundError", "ABIMismatchError", "BadPluginError",
    "BadNameError", "QueueNotFoundError", "QueueExistsError", "PermissionDeniedError",
    "SegmentCorruptError", "NotSupportedError", "InvalidArgumentError", "OutOfSpaceError",
    "MessageTooLarge",
    "QueueClosedError", "DecodeError",
    "TransportInfo", "transports", "version", "__version__", "open_queue",
    "list_queues", "remove_queue", "collect_stale",
    "list_all_sage_queues", "destroy_queue", "cleanup_invalid_queues",
]
