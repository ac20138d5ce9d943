"""Opening queues from configuration: a URI or a dict (docs/CONFIG.md).

    q = open_queue("shm://jobs?maxsize=8MiB&max_items=1000")
    q = open_queue({"transport": "posixmq", "name": "jobs", "max_items": 10})
"""

from __future__ import annotations

from typing import Any

from . import _uri
from .queue import SageQueue

__all__ = ["open_queue", "parse_uri", "format_uri"]

parse_uri = _uri.parse_uri
format_uri = _uri.format_uri


def open_queue(spec: Any, **overrides: Any) -> SageQueue:
    """Opens (or creates) the queue ``spec`` describes: a URI
    ``<transport>://<name>[?key=value&...]`` or a dict with the same keys
    plus ``transport`` and ``name`` (or ``queue_id``). ``overrides`` replace
    keys of the spec (``open_queue(uri, max_items=10)``). Raises
    InvalidArgumentError (a ValueError) naming the part of the spec that is
    wrong; an unknown key is refused by the transport, which names it."""
    transport, name, kwargs = _uri.parse_spec(spec)
    if overrides:
        transport = overrides.pop("transport", None) or transport
        name = overrides.pop("name", None) or name
        _, _, extra = _uri.parse_spec(dict(overrides, name=name))
        kwargs.update(extra)
    return SageQueue(name, transport=transport or None, **kwargs)
