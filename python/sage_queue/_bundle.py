"""The C side a wheel carries, and the ``sage-queue`` console command.

A wheel built by setup.py holds libsagequeue, the in-tree transport plugins
and the ``sage-queue`` CLI under ``sage_queue/_bundle/``, laid out like an
install prefix (so libsagequeue finds the plugin dir beside itself and the
CLI finds the library through its ``$ORIGIN/../lib`` RUNPATH). A package
used from the source tree or installed by ``make install`` has no bundle:
then ``present()`` is false and the library is found as _lib describes.
"""

from __future__ import annotations

import os
import sys

DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_bundle")
LIBRARY = os.path.join(DIR, "lib", "libsagequeue.so.0")
PLUGIN_DIR = os.path.join(DIR, "lib", "sage-queue", "plugins")
CLI = os.path.join(DIR, "bin", "sage-queue")
BENCH = os.path.join(DIR, "libexec", "sage-queue-bench")


def present() -> bool:
    """Whether this package carries its own libsagequeue."""
    return os.path.exists(LIBRARY)


def main() -> None:
    """Entry point of the ``sage-queue`` console script: replaces this
    process with the bundled CLI, passing the arguments and the environment
    on ($SAGE_BENCH defaults to the bundled benchmark program)."""
    if not os.access(CLI, os.X_OK):
        sys.exit(
            "sage-queue: this sage_queue package carries no CLI (it was not installed "
            "from a wheel); run the sage-queue of your C build or install instead"
        )
    if not os.environ.get("SAGE_BENCH") and os.access(BENCH, os.X_OK):
        os.environ["SAGE_BENCH"] = BENCH
    os.execv(CLI, ["sage-queue"] + sys.argv[1:])
