"""The transport plugins on the search path, and the library's version."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

from . import _lib

__all__ = ["TransportInfo", "transports", "version"]


def version() -> str:
    """Version of the loaded libsagequeue."""
    return _lib.text(_lib.lib().sage_version())


@dataclass(frozen=True)
class TransportInfo:
    """One plugin file found on the search path."""

    name: str
    path: str
    version: str
    description: str
    abi: str
    capabilities: tuple[str, ...]
    ok: bool
    error: str


def _capability_names(bits: int) -> tuple[str, ...]:
    lib = _lib.lib()
    names = []
    for bit in range(64):
        name = lib.sage_capability_name(bit)
        if bits >> bit & 1 and name:
            names.append(_lib.text(name))
    return tuple(names)


def transports() -> list[TransportInfo]:
    """Every transport plugin on the search path ($SAGE_PLUGIN_PATH, then the
    plugin dir beside the loaded library, then the installed plugin dir),
    including refused ones with their reason."""
    lib = _lib.lib()
    handle = ctypes.c_void_p()
    rc = lib.sage_plugins_scan(ctypes.byref(handle))
    if rc != 0:
        raise OSError(-rc, _lib.last_error() or _lib.strerror(rc))
    try:
        infos = []
        for i in range(lib.sage_plugins_count(handle)):
            abi = lib.sage_plugins_abi(handle, i)
            infos.append(
                TransportInfo(
                    name=_lib.text(lib.sage_plugins_name(handle, i)),
                    path=_lib.text(lib.sage_plugins_path(handle, i)),
                    version=_lib.text(lib.sage_plugins_version(handle, i)),
                    description=_lib.text(lib.sage_plugins_description(handle, i)),
                    abi=f"{abi >> 16}.{abi & 0xFFFF}",
                    capabilities=_capability_names(lib.sage_plugins_capabilities(handle, i)),
                    ok=lib.sage_plugins_status(handle, i) == 0,
                    error=_lib.text(lib.sage_plugins_error(handle, i)),
                )
            )
        return infos
    finally:
        lib.sage_plugins_free(handle)
