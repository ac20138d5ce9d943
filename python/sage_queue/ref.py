"""SageQueueRef: a small picklable handle that reopens a queue elsewhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict

if TYPE_CHECKING:
    from .queue import SageQueue

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
    """

    name: str
    transport: str
    options: Dict[str, str] = field(default_factory=dict)
    capacity: int = 0
    max_items: int = 0

    def get_queue(self) -> "SageQueue":
        """Opens the queue in this process (a new handle; close it when
        done). Raises QueueNotFoundError if it no longer exists,
        TransportNotFoundError if the transport is not installed here."""
        from .queue import SageQueue

        return SageQueue._attach(self.name, self.transport, self.options)

    def __hash__(self) -> int:
        return hash((self.name, self.transport))


def _open_reference(ref: SageQueueRef) -> "SageQueue":
    """Unpickling target of SageQueue.__reduce__."""
    return ref.get_queue()
