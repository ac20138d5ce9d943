"""What the Ray layer raises when a proxy dies under a call: how many
messages went in, and which are in doubt."""

from __future__ import annotations

from typing import List, Optional

from ..errors import RemoteQueueError

__all__ = ["RemoteQueueError", "ProxyDiedError", "BufferedInDoubtError"]


class ProxyDiedError(RemoteQueueError):
    """The proxy died (or became unreachable) while it was putting messages
    for this caller, and a new proxy now serves the queue.

    ``done``: messages of the call known to be in the queue (a prefix of
    what it was given). ``in_doubt``: how many messages after those the dead
    proxy may or may not have put: each is in the queue once, or not at all.
    Messages after ``done + in_doubt`` were not put. ``payloads``: the bytes
    of the in-doubt messages (and of any that could not be sent at all),
    for calls whose caller no longer holds them (write-behind, close()).
    Resume from ``done + in_doubt`` to never duplicate, or from ``done`` to
    never lose (at the price of possible duplicates)."""

    def __init__(self, message: str, queue: Optional[str] = None, *, done: int = 0,
                 in_doubt: int = 0, payloads: Optional[List[bytes]] = None) -> None:
        super().__init__(message, queue)
        self.done = done
        self.in_doubt = in_doubt
        self.payloads = list(payloads or [])


class BufferedInDoubtError(ProxyDiedError):
    """Raised by the call after a proxy died while it was putting messages
    buffered earlier (write-behind): those in doubt are in ``payloads``
    (each is in the queue once, or not at all); the other buffered messages
    were sent again through a new proxy. The call that raises it did
    nothing (``done`` and ``in_doubt`` are 0): repeat it."""
