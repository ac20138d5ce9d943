"""The build tree's environment for Python scripts run from the source tree.

configure writes ``sage-env.sh`` into the build tree (from
``tools/sage-env.sh.in``): where the uninstalled libsagequeue, the plugins,
the test fixtures and the Python package are. ``use()`` puts it in
``os.environ`` (and the package on ``sys.path``) so that an example, a
benchmark or a pytest run straight from the source tree, and every process
it starts (Ray workers included), finds the build. Usage, from a script
two directories below the source root::

    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import sage_env  # noqa: E402
    sage_env.use()

The build tree is ``$SAGE_TEST_BUILDDIR`` when set (``make check`` sets it),
else ``build/`` under the source root (what ``./build.sh`` configures).
Without a configured build tree nothing changes, so an installed package is
used as installed.
"""

from __future__ import annotations

import os
import sys
from typing import Dict, Iterable, Optional

SRCDIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV_FILE = "sage-env.sh"


def build_dir(build: Optional[str] = None) -> str:
    """The build tree: ``build``, else $SAGE_TEST_BUILDDIR, else SRCDIR/build."""
    return build or os.environ.get("SAGE_TEST_BUILDDIR") or os.path.join(SRCDIR, "build")


def read(build: Optional[str] = None) -> Dict[str, str]:
    """The KEY='VALUE' lines of the build tree's sage-env.sh ({} if none)."""
    env: Dict[str, str] = {}
    try:
        with open(os.path.join(build_dir(build), ENV_FILE), encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return env
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def _prepend_path(var: str, entries: Iterable[str]) -> None:
    entries = [e for e in entries if e]
    old = [p for p in os.environ.get(var, "").split(os.pathsep) if p]
    merged = entries + [p for p in old if p not in entries]
    if merged:
        os.environ[var] = os.pathsep.join(merged)


def use(build: Optional[str] = None, paths: Iterable[str] = ()) -> Dict[str, str]:
    """Puts the build tree's environment in os.environ; returns what it read.

    A variable already set is left alone (so the caller's environment, or
    ``make check``'s, wins), and so is a path that does not exist (a tree
    configured but not built). PYTHONPATH is prepended to, not replaced,
    with the build's entries and then ``paths`` (directories of the
    caller's own helper modules that spawned processes must import); both
    go on sys.path too.
    """
    env = read(build)
    for key, value in env.items():
        if key == "PYTHONPATH" or key in os.environ:
            continue
        if os.path.isabs(value) and not os.path.exists(value):
            continue
        os.environ[key] = value
    python = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if os.path.isdir(p)]
    python += [os.path.abspath(p) for p in paths]
    _prepend_path("PYTHONPATH", python)
    for p in reversed(python):
        if p in sys.path:
            sys.path.remove(p)
        sys.path.insert(0, p)
    return env
