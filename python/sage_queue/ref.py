"""SageQueueRef: a small picklable handle that reopens a queue elsewhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict

from . import _hooks

__all__ = ["SageQueueRef"]


@dataclass(frozen=True)
class SageQueueRef:
    """Names a queue: what another process needs to open it.

    Pickles to a few dozen bytes. ``get_queue()`` opens the existing queue
    and never creates one: if the queue was destroyed (or never existed) it
    raises :class:`~sage_queue.errors.QueueNotFoundError`.

    ``capacity`` and ``max_items`` are informational (as the queue was when
    the reference was made); ``options`` are per-handle transport options
    (e.g. ``spin_ns``) that the reopened handle uses too.

    ``host`` (``"<hostname>/<boot id>"``) and ``node_id`` (the Ray node id,
    when the reference was made under Ray) say where the segment lives; a
    reference without them opens wherever it is used.

    ``creator_pid`` and ``created_ns`` identify the queue the reference was
    made for (its segment records who created it and when): ``get_queue()``
    refuses another queue created later under the same name, as it refuses
    a destroyed one. A reference without them (0) opens whatever queue has
    the name.
    """

    name: str
    transport: str
    options: Dict[str, str] = field(default_factory=dict)
    capacity: int = 0
    max_items: int = 0
    host: str = ""
    node_id: str = ""
    creator_pid: int = 0
    created_ns: int = 0

    def get_queue(self, **remote_options: Any) -> Any:
        """Opens the queue from this process (a new handle; close it when
        done). Raises QueueNotFoundError if it no longer exists (or its name
        now belongs to another queue, created since the reference was made),
        TransportNotFoundError if the transport is not installed here.

        Where the queue lives elsewhere (another Ray node), returns a
        :class:`~sage_queue.ray.RemoteSageQueue` that reaches it through a
        proxy actor on its node, taking ``remote_options`` (``prefetch``,
        ``batch``, ``linger``; ignored for a local open). Without Ray, a
        queue on another host raises
        :class:`~sage_queue.errors.RemoteQueueError` naming the host."""
        return _hooks.open_reference(self, **remote_options)

    def __hash__(self) -> int:
        return hash((self.name, self.transport))

    def __reduce__(self):
        # The values only, not the field names: a reference stays small.
        return (SageQueueRef, (self.name, self.transport, self.options, self.capacity,
                               self.max_items, self.host, self.node_id, self.creator_pid,
                               self.created_ns))


def _open_reference(ref: SageQueueRef) -> Any:
    """Unpickling target of SageQueue.__reduce__."""
    return ref.get_queue()
