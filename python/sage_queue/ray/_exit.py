"""Closing RemoteSageQueues that were never closed: at interpreter exit,
when their actor ends, and when they are garbage-collected."""

from __future__ import annotations

import atexit
import sys
import threading
import time
import weakref
from collections import deque
from typing import Any, Dict, Optional

from ._runtime import EXIT_TIMEOUT, _ray

#: Set at interpreter exit: the time by which flushes give up.
_exit_deadline: Optional[float] = None


def _limit(deadline: Optional[float]) -> Optional[float]:
    if _exit_deadline is None:
        return deadline
    return _exit_deadline if deadline is None else min(deadline, _exit_deadline)



def exit_deadline() -> Optional[float]:
    """The time by which flushes give up, once the interpreter exits."""
    return _exit_deadline

# ------------------------------------------- closing at exit and when collected
#
# The state of a RemoteSageQueue lives in its __dict__, which a "ghost"
# object shares: the background flusher and the finalizer hold the ghost,
# never the object, so an object nobody holds is collected, and its ghost
# then sends its buffer and puts back its read-ahead (in the janitor
# thread: a finalizer may run anywhere). At interpreter exit (before Ray's
# own exit handler, which was registered earlier) every open object is
# closed, each within EXIT_TIMEOUT.

_open_lock = threading.Lock()
_open_ghosts: Dict[int, Any] = {}
_exit_hooked = False
_janitor_cv = threading.Condition()
_janitor_jobs: deque = deque()
_janitor: Optional[threading.Thread] = None


def _track(q: Any) -> None:
    global _exit_hooked
    ghost = object.__new__(type(q))
    object.__setattr__(ghost, "__dict__", q.__dict__)
    q._ghost = ghost
    fin = weakref.finalize(q, _collected, ghost)
    fin.atexit = False  # _at_exit closes it, before Ray's exit handler
    q._finalizer = fin
    with _open_lock:
        _open_ghosts[id(ghost)] = ghost
        if not _exit_hooked:
            atexit.register(_at_exit)
            _exit_hooked = True
    q._hook_retry = not _hook_actor_exit()


def _untrack(q: Any) -> None:
    with _open_lock:
        _open_ghosts.pop(id(q._ghost), None)
    q._finalizer.detach()


def _collected(ghost: Any) -> None:
    """The object was garbage-collected without close(): the janitor
    closes its ghost."""
    global _janitor
    if ghost._closed:
        return
    with _janitor_cv:
        _janitor_jobs.append(ghost)
        _janitor_cv.notify()
        if _janitor is None or not _janitor.is_alive():
            try:
                _janitor = threading.Thread(target=_janitor_loop, daemon=True,
                                            name="sageq-janitor")
                _janitor.start()
            except RuntimeError:  # interpreter shutting down: _at_exit closes it
                _janitor = None


def _janitor_loop() -> None:
    while True:
        with _janitor_cv:
            while not _janitor_jobs:
                if not _janitor_cv.wait(30.0) and not _janitor_jobs:
                    return
            ghost = _janitor_jobs.popleft()
        _close_reporting(ghost, None, "was garbage-collected")


def _close_reporting(ghost: Any, deadline: Optional[float], why: str) -> None:
    try:
        ghost._close(deadline)
    except BaseException as exc:
        lost = getattr(exc, "payloads", None)
        count = f" ({len(lost)} message(s) not known to be in the queue)" if lost else ""
        print(f"sage_queue: closing remote queue '{ghost._name}' that {why} failed{count}: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)


def _close_all(why: str) -> None:
    """Closes every open RemoteSageQueue of this process, within
    EXIT_TIMEOUT: write-behind buffers go out, read-ahead goes back to the
    queue."""
    global _exit_deadline
    if _ray() is None:
        return
    _exit_deadline = time.monotonic() + EXIT_TIMEOUT
    with _open_lock:
        ghosts = list(_open_ghosts.values())
    for ghost in ghosts:
        _close_reporting(ghost, None, why)


def _at_exit() -> None:
    """A driver's interpreter exit (its handler runs before Ray's own, which
    was registered earlier). In a Ray worker Python's exit handlers run after
    Ray has stopped: actors close their queues in __ray_shutdown__ instead."""
    _close_all("was open at exit")


_hooked_actor: Any = None  # the actor (id) whose __ray_shutdown__ closes our queues


def _hook_actor_exit() -> bool:
    """In an actor, closes every open RemoteSageQueue when the actor ends
    gracefully (exit_actor(), its last handle gone): Ray calls the actor's
    ``__ray_shutdown__`` then, while it can still make calls, so this wraps
    the instance's (the class's own runs first). A Ray worker runs Python's
    exit handlers only after Ray stopped, too late to send anything.
    Returns False when it should be tried again (the actor is still in its
    constructor)."""
    global _hooked_actor
    ray = _ray()
    if ray is None:
        return True
    try:
        worker = ray._private.worker.global_worker
        if worker.mode != ray.WORKER_MODE or worker.actor_id.is_nil():
            return True  # a driver or a task worker: nothing to wrap
        if _hooked_actor is not None and worker.actor_id == _hooked_actor:
            return True
        instance = worker.actors.get(worker.actor_id)
    except Exception:
        return True
    if instance is None:
        return False  # still in its constructor: tried again on the next put or get
    previous = getattr(instance, "__ray_shutdown__", None)

    def __ray_shutdown__() -> None:
        try:
            if previous is not None:
                previous()
        finally:
            _close_all("was open when its actor ended")

    try:
        instance.__ray_shutdown__ = __ray_shutdown__
    except Exception:
        pass  # __slots__: nothing to do but close() by hand
    _hooked_actor = worker.actor_id
    return True


