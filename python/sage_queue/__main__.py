"""``python -m sage_queue``: what this installation uses, and ``ls``,
``stat`` and ``gc`` without the C binary (see _cli.py).

With no command, prints the package and library versions, the library file
loaded, the plugin search path in effect and the transports found on it
(with the reason for any that would be refused). Exits 1 if libsagequeue
cannot be loaded or a transport is refused.
"""

from __future__ import annotations

import sys

from . import _bundle, _cli, _lib
from ._plugins import transports, version
from ._version import __version__


def summary() -> int:
    print(f"sage_queue package: {__version__} ({__file__.rsplit('/', 2)[0]})")
    try:
        lib = _lib.lib()
    except OSError as exc:
        print(f"libsagequeue: not loaded: {exc}")
        return 1
    bundled = " (bundled)" if _lib.library_path() == _bundle.LIBRARY else ""
    print(f"libsagequeue: {version()}")
    print(f"library: {_lib.library_path()}{bundled}")
    print(f"plugin search path: {_lib.text(lib.sage_plugin_dir())}")
    found = transports()
    print("transports:" + ("" if found else " none found"))
    width = max((len(t.name) for t in found), default=0)
    refused = 0
    for t in found:
        if t.ok:
            print(f"  {t.name:<{width}}  {t.version}  ABI {t.abi}  {t.path}")
        else:
            refused += 1
            print(f"  {t.name:<{width}}  refused: {t.error}  {t.path}")
    return 1 if refused else 0


def main(argv: "list[str] | None" = None) -> int:
    done = _cli.run(argv)
    return summary() if done is None else done


if __name__ == "__main__":
    sys.exit(main())
