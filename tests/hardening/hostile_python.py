"""Hostile users, Python side (run by hostile_users.sh, as root).

Nothing from a segment another user planted under our queue's name is
unpickled unless we opt in with allow_foreign=1:

  plant UID GID VICTIM_UID NAME MARKER
      as UID: create NAME in VICTIM_UID's namespace, mode 0666, holding a
      pickle that creates the file MARKER when it is unpickled
  victim UID GID NAME MARKER
      as UID: opening NAME must raise PermissionDeniedError (naming
      allow_foreign) with MARKER still absent; with allow_foreign=1 the
      queue opens and get() unpickles the planted message (MARKER appears):
      the opt-in is the only gate, which is why it is opt-in

The library and the shm plugin are loaded while still root; then the
process drops to UID/GID for good. Exit 0 when every expectation holds.
"""

import builtins
import os
import sys

import sage_queue
from sage_queue import SageQueue, _lib
from sage_queue.errors import PermissionDeniedError


class Planted:
    """Unpickles into builtins.open(marker, "w"): a visible side effect."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


def drop_to(uid: int, gid: int) -> None:
    if _lib.lib().sage_transport_load(b"shm") != 0:
        sys.exit(f"cannot load the shm plugin: {_lib.last_error()}")
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    try:
        os.setuid(0)
    except PermissionError:
        return
    sys.exit("could regain root")


def plant(victim_uid: str, name: str, marker: str) -> int:
    q = SageQueue(name, 1 << 16, uid=victim_uid, mode="0666", create="always")
    q.put(Planted(marker))
    q.close()
    print(f"planted a pickle under uid {victim_uid}'s name {name}")
    return 0


def victim(name: str, marker: str) -> int:
    try:
        SageQueue(name, create="never")
        print("FAIL: a foreign segment opened without allow_foreign")
        return 1
    except PermissionDeniedError as e:
        if "allow_foreign" not in str(e):
            print(f"FAIL: the refusal does not name the opt-in: {e}")
            return 1
        print(f"refused by default: {e}")
    if os.path.exists(marker):
        print("FAIL: the planted pickle ran without the opt-in")
        return 1
    q = SageQueue(name, create="never", allow_foreign="1")
    item = q.get(timeout=5)
    q.close()
    if not os.path.exists(marker):
        print(f"FAIL: with allow_foreign=1 get() returned {item!r} unexpectedly")
        return 1
    print("with allow_foreign=1 the planted pickle was unpickled (as documented)")
    return 0


def main(argv: list) -> int:
    cmd, uid, gid = argv[1], int(argv[2]), int(argv[3])
    drop_to(uid, gid)
    if cmd == "plant":
        return plant(argv[4], argv[5], argv[6])
    if cmd == "victim":
        return victim(argv[4], argv[5])
    return 2


if __name__ == "__main__":
    assert sage_queue is not None
    sys.exit(main(sys.argv))
