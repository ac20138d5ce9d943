"""SAGE's queue descriptors over SAGE Queue (docs/CONFIG.md).

The SAGE runtime builds each queue from a descriptor: ``queue_type``,
``queue_id``, ``metadata``, ``can_serialize``, a lazily opened
``queue_instance``, the ``queue.Queue`` calls forwarded to it,
``to_dict()``/``from_dict()``, ``clone()``, and ``resolve_descriptor(dict)``
to rebuild one. :class:`SageQueueDescriptor` is that contract with
``queue_type == "sage_queue"``: its metadata holds the keys of a queue URI
(``transport``, ``maxsize``, ``max_items``, ``auto_cleanup``, transport
options), and it pickles as its dict, so another process or Ray actor
reattaches to the queue by name.

Load: SAGE computes an edge's load as ``qsize() / maxsize`` when both
exist, else ``get_buffer_stats()["utilization"]``. A descriptor's
``maxsize`` is the queue's item bound (as ``queue.Queue``'s is), so the
first is the fraction of message slots in use; ``utilization`` is the larger
of that and the fraction of ring bytes in use. Both are 0..1."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from . import _uri
from .config import open_queue
from .queue import SageQueue

__all__ = ["SageQueueDescriptor", "resolve_descriptor", "QUEUE_TYPE"]

QUEUE_TYPE = "sage_queue"


class SageQueueDescriptor:
    """A SAGE queue descriptor whose queue is a SageQueue.

    ``SageQueueDescriptor("input_task1", maxsize="8MiB", max_items=1000)``
    (the keys of a queue URI; ``transport`` defaults to $SAGE_TRANSPORT or
    shm). The queue opens (or is created) on first use and is shared by
    every process that resolves the same descriptor."""

    queue_type = QUEUE_TYPE
    can_serialize = True

    def __init__(self, queue_id: str, metadata: Optional[Mapping[str, Any]] = None,
                 **keys: Any) -> None:
        if not isinstance(queue_id, str) or not queue_id:
            raise TypeError("queue_id must be a non-empty str")
        meta = dict(metadata or {})
        meta.update(keys)
        # Checked now (a bad key is an error where the descriptor is made).
        _uri.parse_spec(dict(meta, name=queue_id))
        self.queue_id = queue_id
        self.metadata = meta
        self._queue: Optional[SageQueue] = None

    # -- the queue

    @property
    def queue_instance(self) -> SageQueue:
        """The SageQueue, opened (or created) on first use."""
        if self._queue is None or self._queue.closed:
            self._queue = open_queue(dict(self.metadata, name=self.queue_id))
        return self._queue

    @property
    def uri(self) -> str:
        transport, name, kwargs = _uri.parse_spec(dict(self.metadata, name=self.queue_id))
        return _uri.format_uri(transport or self.queue_instance.transport, name, kwargs)

    @property
    def maxsize(self) -> int:
        """The queue's item bound (queue.Queue's meaning: SAGE divides
        qsize() by it)."""
        return self.queue_instance.max_items

    def put(self, item: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        self.queue_instance.put(item, block, timeout)

    def put_nowait(self, item: Any) -> None:
        self.queue_instance.put_nowait(item)

    def get(self, block: bool = True, timeout: Optional[float] = None) -> Any:
        return self.queue_instance.get(block, timeout)

    def get_nowait(self) -> Any:
        return self.queue_instance.get_nowait()

    def qsize(self) -> int:
        return self.queue_instance.qsize()

    def empty(self) -> bool:
        return self.queue_instance.empty()

    def full(self) -> bool:
        return self.queue_instance.full()

    def task_done(self) -> None:
        self.queue_instance.task_done()

    def join(self, timeout: Optional[float] = None) -> bool:
        return self.queue_instance.join(timeout)

    def get_buffer_stats(self) -> Dict[str, Any]:
        return self.queue_instance.get_buffer_stats()

    def close(self) -> None:
        """Closes this process's handle (the queue stays for the others)."""
        if self._queue is not None:
            self._queue.close()

    def destroy(self) -> None:
        """Removes the queue."""
        self.queue_instance.destroy()

    # -- the descriptor contract

    def to_dict(self) -> Dict[str, Any]:
        return {"queue_type": self.queue_type, "queue_id": self.queue_id,
                "metadata": dict(self.metadata), "can_serialize": self.can_serialize}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SageQueueDescriptor":
        kind = data.get("queue_type", QUEUE_TYPE)
        if kind != QUEUE_TYPE:
            raise ValueError(f"queue_type {kind!r} is not {QUEUE_TYPE!r}")
        return cls(data["queue_id"], data.get("metadata") or {})

    def clone(self, new_queue_id: Optional[str] = None) -> "SageQueueDescriptor":
        """The same settings, for queue ``new_queue_id`` (default: this
        one), with no queue opened yet."""
        return type(self)(new_queue_id or self.queue_id, self.metadata)

    def __reduce__(self) -> Any:
        return resolve_descriptor, (self.to_dict(),)

    def __repr__(self) -> str:
        state = "open" if self._queue is not None and not self._queue.closed else "not open"
        return f"<SageQueueDescriptor {self.queue_id!r} {self.metadata} {state}>"


def resolve_descriptor(data: Mapping[str, Any]) -> SageQueueDescriptor:
    """A descriptor rebuilt from ``{"queue_type", "queue_id", "metadata"}``
    (what to_dict() gives)."""
    if not isinstance(data, Mapping) or "queue_id" not in data:
        raise ValueError("a descriptor dict needs 'queue_id' (and 'queue_type', 'metadata')")
    return SageQueueDescriptor.from_dict(data)
