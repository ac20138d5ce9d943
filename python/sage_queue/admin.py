"""Administration from Python, by the rules of the ``sage-queue`` command:
list queues, remove one by name, collect stale ones (every attachment
dead). The original ``sage_queue`` module's names are kept as aliases."""

from __future__ import annotations

import errno
import fnmatch
import os
from typing import Any, Dict, List, Optional

from . import _lib
from ._plugins import transports
from .errors import SageQueueError
from .queue import SageQueue

__all__ = ["list_queues", "remove_queue", "collect_stale", "list_all_sage_queues",
           "destroy_queue", "cleanup_invalid_queues"]

_CAP_OBSERVE = 1 << 10
_SAGE_ENOPLUGIN = -1001


def _transport_names(transport: Optional[str]) -> List[str]:
    if transport:
        return [transport]
    return [t.name for t in transports() if t.ok and "list" in t.capabilities]


def _names(transport: str, all_users: bool) -> List[tuple]:
    """(name, owner uid) of every queue the transport lists."""
    found: List[tuple] = []

    def each(name: bytes, uid: int, _ctx: Any) -> int:
        found.append((_lib.text(name), uid))
        return 0

    callback = _lib.LIST_CB(each)
    options = _lib.options_array({"all": "1"} if all_users else {})
    rc = _lib.lib().sage_queue_list(transport.encode(), options, callback, None)
    if rc < 0:
        raise _lib.from_code(rc, _lib.last_error(), f"cannot list queues of transport '{transport}'")
    return found


def _observes(transport: str) -> bool:
    caps = _lib.lib().sage_transport_capabilities(transport.encode())
    return caps > 0 and bool(caps & _CAP_OBSERVE)


def _owner(uid: int) -> Dict[str, str]:
    return {} if uid == os.geteuid() else {"uid": str(uid)}


def _stats(transport: str, name: str, uid: int) -> tuple:
    """(stats, observing) of a queue read from outside: through an
    observe-only handle where the transport has one (it does not count as
    an attachment), else an ordinary one that never creates."""
    observing = _observes(transport)
    opts = dict(_owner(uid), **({"attach": "0"} if observing else {}))
    q = SageQueue._attach(name, transport, opts)
    try:
        return q._stats_raw(), observing
    finally:
        q.close()


def _look(transport: str, name: str, uid: int) -> Dict[str, Any]:
    """One queue as `sage-queue ls` shows it: stats, and its state (live,
    idle, stale, corrupt, unreadable)."""
    info: Dict[str, Any] = {"name": name, "transport": transport, "owner_uid": uid}
    try:
        stats, observing = _stats(transport, name, uid)
    except SageQueueError as exc:
        info.update(state="corrupt" if exc.code == -errno.EBADMSG else "unreadable",
                    error=str(exc))
        return info
    attached = stats.get("attached", 0) - (0 if observing else 1)
    stale = stats.get("stale_attached", 0)
    state = "live" if attached > 0 else "stale" if stale > 0 else "idle"
    info.update(state=state, observed=observing, items=stats.get("items", 0),
                bytes_used=stats.get("bytes_used", 0), capacity=stats.get("capacity", 0),
                attached=attached, stale_attached=stale, owner_uid=stats.get("owner_uid", uid))
    return info


def list_queues(transport: Optional[str] = None, all_users: bool = False) -> List[Dict[str, Any]]:
    """Every queue of every transport that can list (or of ``transport``),
    this user's (``all_users``: everyone's; a transport that cannot list
    here is skipped unless named), as dicts: name, transport,
    owner_uid, state (live, idle, stale, corrupt, unreadable), items,
    bytes_used, capacity, attached, stale_attached."""
    out = []
    for name in _transport_names(transport):
        try:
            listed = _names(name, all_users)
        except SageQueueError as exc:
            if transport or exc.code != -errno.ENOTSUP:
                raise
            continue  # cannot list here (posixmq without /dev/mqueue)
        for queue, uid in sorted(listed):
            out.append(_look(name, queue, uid))
    return out


def _unlink(transport: str, name: str, flags: Dict[str, str]) -> int:
    return _lib.lib().sage_queue_unlink(transport.encode(), name.encode(),
                                        _lib.options_array(flags))


def remove_queue(name: str, transport: Optional[str] = None, force: bool = False) -> None:
    """Removes queue ``name`` (as ``sage-queue rm``): refused while a live
    process has it open, unless ``force`` (attached processes keep working;
    new opens no longer find it). ``force`` also removes a corrupt queue
    without validating it. Raises QueueNotFoundError if there is none."""
    chosen = _lib.text(_lib.lib().sage_transport_choose(transport.encode() if transport else None))
    corrupt = False
    try:
        stats, observing = _stats(chosen, name, os.geteuid())
    except SageQueueError as exc:
        if exc.code != -errno.EBADMSG or not force:
            if exc.code == -errno.EBADMSG:
                exc.strerror = f"{exc}; force=True removes it without validating it"
            raise
        stats, observing, corrupt = {}, False, True
    attached = stats.get("attached", 0) - (0 if observing or corrupt else 1)
    if attached > 0 and not force:
        raise SageQueueError(
            f"queue '{name}' is in use by {attached} process(es); stop them or use "
            "force=True", -errno.EBUSY, "", name)
    flags: Dict[str, str] = {}
    if corrupt:
        flags["force"] = "1"
    elif not force and observing:
        flags["unless_attached"] = "1"
    rc = _unlink(chosen, name, flags)
    if rc < 0:
        raise _lib.from_code(rc, _lib.last_error(), f"cannot remove queue '{name}'", name)


def collect_stale(dry_run: bool = False, transport: Optional[str] = None,
                  pattern: Optional[str] = None) -> List[Dict[str, Any]]:
    """Removes every stale queue (as ``sage-queue gc``): one whose attached
    processes all died; with ``pattern`` (shell-style, ``"job-*"``) only
    those whose names match. Idle queues (closed cleanly) keep their
    messages and are kept. Returns one dict per stale queue: name,
    transport, action (removed, would_remove, kept, failed) and reason."""
    out = []
    for info in list_queues(transport):
        if info.get("state") != "stale":
            continue
        if pattern is not None and not fnmatch.fnmatchcase(info["name"], pattern):
            continue
        reason = (f"stale: {info['stale_attached']} dead attachment(s), "
                  f"{info['items']} message(s) queued")
        action = "would_remove"
        if not dry_run:
            flags = dict(_owner(info["owner_uid"]), only_if_stale="1")
            rc = _unlink(info["transport"], info["name"], flags)
            if rc == 0:
                action = "removed"
            elif rc == -errno.EBUSY:
                action, reason = "kept", "live again"
            else:
                action, reason = "failed", _lib.last_error() or _lib.strerror(rc)
        out.append({"name": info["name"], "transport": info["transport"],
                    "action": action, "reason": reason})
    return out


# The original sage_queue module's names.
list_all_sage_queues = list_queues
destroy_queue = remove_queue
cleanup_invalid_queues = collect_stale
