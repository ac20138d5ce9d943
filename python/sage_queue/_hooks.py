"""How layers above the core take part in what it does without the core
importing them: the queue registers how a reference opens here, and the Ray
layer (sage_queue.ray, imported by the package) how it opens on another
node, which node this process is on, and what a destroy must also stop.

Each hook is set once, at import, by the module that provides it."""

from __future__ import annotations

from typing import Any, Callable, List, Optional

from . import _location

_open_here: Optional[Callable[[Any], Any]] = None
_open_elsewhere: Optional[Callable[..., Any]] = None
_node_id: Callable[[], str] = lambda: ""
_destroyed: List[Callable[[str, str], None]] = []


def provide_local_opener(open_here: Callable[[Any], Any]) -> None:
    """open_here(ref) opens a reference's queue on this host (the queue
    module)."""
    global _open_here
    _open_here = open_here


def provide_remote(open_elsewhere: Callable[..., Any], node_id: Callable[[], str],
                   on_destroy: Callable[[str, str], None]) -> None:
    """The Ray layer: open_elsewhere(ref, **options) returns a queue that
    reaches ref's queue from here, or None to open it here; node_id() this
    process's node ("" outside Ray); on_destroy(name, transport) runs after
    a queue was destroyed."""
    global _open_elsewhere, _node_id
    _open_elsewhere, _node_id = open_elsewhere, node_id
    _destroyed.append(on_destroy)


def node_id() -> str:
    """The node this process runs on, as the Ray layer names it ("" when
    not under Ray)."""
    return _node_id()


def open_reference(ref: Any, **remote_options: Any) -> Any:
    """Opens ``ref``'s queue: through the remote layer where it lives on
    another node, else here (a queue on another host with no remote layer
    raises RemoteQueueError)."""
    if ref.host or ref.node_id:
        if _open_elsewhere is not None:
            remote = _open_elsewhere(ref, **remote_options)
            if remote is not None:
                return remote
        else:
            _location.refuse_elsewhere(ref)
    if _open_here is None:
        raise RuntimeError("sage_queue.queue was not imported")  # never: the package does
    return _open_here(ref)


def queue_destroyed(name: str, transport: str) -> None:
    for hook in _destroyed:
        hook(name, transport)
