"""``python -m sage_queue ls|stat|gc``: the sage-queue command's everyday
verbs without the C binary (same rules: python/sage_queue/admin.py)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List, Optional

from . import _uri, admin
from .errors import SageQueueError
from .queue import SageQueue

_LS_COLUMNS = ("name", "transport", "state", "items", "bytes_used", "capacity", "attached")


def _ls(args: argparse.Namespace) -> int:
    rows = admin.list_queues(args.transport, all_users=args.all)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    if not rows:
        print("no queues")
        return 0
    width = min(max(len(r["name"]) for r in rows), 40)
    print(f"{'NAME':<{width}} TRANSPORT STATE     ITEMS     BYTES  CAPACITY ATTACHED")
    for r in rows:
        name = r["name"] if len(r["name"]) <= width else r["name"][:width - 1] + "~"
        print(f"{name:<{width}} {r['transport']:<9} {r['state']:<9} {r.get('items', '-'):>5} "
              f"{r.get('bytes_used', '-'):>9} {r.get('capacity', '-'):>9} "
              f"{r.get('attached', '-'):>8}")
    return 0


def _stat(args: argparse.Namespace) -> int:
    transport, name = args.transport, args.name
    if "://" in name:  # a queue URI names the transport too
        transport, name, _ = _uri.parse_uri(name)
    observing = {"attach": "0"} if transport in (None, "shm") else {}
    q = SageQueue._attach(name, transport, observing)
    try:
        stats = q.get_stats()
    finally:
        q.close()
    if args.json:
        print(json.dumps(stats, indent=1, default=str))
    else:
        for key, value in stats.items():
            print(f"{key:<20} {value}")
    return 0


def _gc(args: argparse.Namespace) -> int:
    done = admin.collect_stale(dry_run=args.dry_run, transport=args.transport,
                               pattern=args.pattern)
    if args.json:
        print(json.dumps(done, indent=1))
    else:
        for r in done:
            print(f"{r['action'].replace('_', ' ')} {r['name']} ({r['reason']})")
        removed = sum(r["action"] in ("removed", "would_remove") for r in done)
        print(f"{'would remove' if args.dry_run else 'removed'} {removed} stale "
              f"queue{'s' if removed != 1 else ''}")
    return 1 if any(r["action"] == "failed" for r in done) else 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sage_queue",
                                description="SAGE Queue from Python: with no command, the "
                                "version, library and transports; ls, stat and gc as "
                                "sage-queue does them.")
    sub = p.add_subparsers(dest="command")
    for name, helptext in (("ls", "list queues"), ("stat", "one queue's stats"),
                           ("gc", "remove stale queues")):
        cmd = sub.add_parser(name, help=helptext)
        cmd.add_argument("--transport", "-t", default=None)
        cmd.add_argument("--json", action="store_true", help="JSON output")
        if name == "ls":
            cmd.add_argument("--all", "-a", action="store_true", help="every user's queues")
        elif name == "stat":
            cmd.add_argument("name", help="a queue name or URI (shm://jobs)")
        else:
            cmd.add_argument("--dry-run", "-n", action="store_true")
            cmd.add_argument("pattern", nargs="?", help="only names matching it ('job-*')")
    return p


def run(argv: Optional[List[str]] = None) -> Optional[int]:
    """Runs a command; None when there was none (the caller prints its
    summary)."""
    args = parser().parse_args(argv)
    if args.command is None:
        return None
    try:
        return {"ls": _ls, "stat": _stat, "gc": _gc}[args.command](args)
    except SageQueueError as exc:
        print(f"python -m sage_queue {args.command}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `| head`: the reader is gone, not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
