"""Where a queue lives: the host identity a reference records, and the
refusal to open, without Ray, a queue that lives on another host."""

from __future__ import annotations

import socket
from typing import Any, Optional

from .errors import RemoteQueueError

_host: Optional[str] = None


def host_identity() -> str:
    """``"<hostname>/<boot id>"``: two processes see the same value exactly
    when they run on the same machine, in the same boot."""
    global _host
    if _host is None:
        boot = ""
        for path in ("/proc/sys/kernel/random/boot_id", "/etc/machine-id"):
            try:
                with open(path) as f:
                    boot = f.read().strip()
                break
            except OSError:
                continue
        _host = f"{socket.gethostname()}/{boot}"
    return _host


def hostname_of(identity: str) -> str:
    return identity.split("/", 1)[0]


def same_host(ref: Any) -> bool:
    """Whether ``ref`` (a SageQueueRef) was made on this host, in this boot
    (a reference that does not say is taken to be)."""
    return not ref.host or ref.host == host_identity()


def refuse_elsewhere(ref: Any) -> None:
    """RemoteQueueError naming the host when ``ref``'s queue lives on
    another host than this one (which reaches no other host's memory)."""
    if same_host(ref):
        return
    here = host_identity()
    where = f"host '{hostname_of(ref.host)}'"
    if ref.node_id:
        where += f" (Ray node {ref.node_id})"
    hint = ("; this process is not connected to Ray: connect it (ray.init(address=...)) "
            "to reach the queue through its node's proxy actor")
    if hostname_of(ref.host) == hostname_of(here):
        where += f" in another boot (boot id {ref.host.split('/', 1)[-1]})"
    raise RemoteQueueError(
        f"queue '{ref.name}' lives on {where}, not on this host '{hostname_of(here)}': "
        f"without Ray a queue opens only on the host where it was made{hint}",
        ref.name)
