"""ctypes bindings to libsagequeue's flat API (include/sage/queue.h).

Only opaque handles and plain integers cross this boundary: no plugin or
stats struct is mirrored here, so the C ABI can grow without Python changes.

The library is found, in order, at $SAGE_QUEUE_LIB (a file path, used by the
uninstalled build tree), in the libdir recorded at install time, then on the
system loader path.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from typing import Optional

_c = ctypes
_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None

c_size_p = _c.POINTER(_c.c_size_t)
c_u64_p = _c.POINTER(_c.c_uint64)
c_charp_p = _c.POINTER(_c.c_char_p)
LIST_CB = _c.CFUNCTYPE(_c.c_int, _c.c_char_p, _c.c_uint32, _c.c_void_p)

# name: (restype, argtypes)
_SIGNATURES = {
    "sage_strerror": (_c.c_char_p, [_c.c_int]),
    "sage_last_error": (_c.c_char_p, []),
    "sage_version": (_c.c_char_p, []),
    "sage_abi_version": (_c.c_uint32, []),
    "sage_transport_choose": (_c.c_char_p, [_c.c_char_p]),
    "sage_transport_load": (_c.c_int, [_c.c_char_p]),
    "sage_transport_load_path": (_c.c_int, [_c.c_char_p, _c.c_char_p, _c.c_size_t]),
    "sage_transport_capabilities": (_c.c_int64, [_c.c_char_p]),
    "sage_capability_name": (_c.c_char_p, [_c.c_uint]),
    "sage_plugin_dir": (_c.c_char_p, []),
    "sage_plugins_scan": (_c.c_int, [_c.POINTER(_c.c_void_p)]),
    "sage_plugins_count": (_c.c_size_t, [_c.c_void_p]),
    "sage_plugins_name": (_c.c_char_p, [_c.c_void_p, _c.c_size_t]),
    "sage_plugins_path": (_c.c_char_p, [_c.c_void_p, _c.c_size_t]),
    "sage_plugins_version": (_c.c_char_p, [_c.c_void_p, _c.c_size_t]),
    "sage_plugins_description": (_c.c_char_p, [_c.c_void_p, _c.c_size_t]),
    "sage_plugins_abi": (_c.c_uint32, [_c.c_void_p, _c.c_size_t]),
    "sage_plugins_capabilities": (_c.c_uint64, [_c.c_void_p, _c.c_size_t]),
    "sage_plugins_status": (_c.c_int, [_c.c_void_p, _c.c_size_t]),
    "sage_plugins_error": (_c.c_char_p, [_c.c_void_p, _c.c_size_t]),
    "sage_plugins_free": (None, [_c.c_void_p]),
    "sage_queue_open": (_c.c_int, [_c.c_char_p, _c.c_char_p, c_charp_p, _c.POINTER(_c.c_void_p)]),
    "sage_queue_put": (_c.c_int, [_c.c_void_p, _c.c_void_p, _c.c_size_t, _c.c_int64]),
    "sage_queue_get": (_c.c_int, [_c.c_void_p, _c.c_void_p, _c.c_size_t, c_size_p, _c.c_int64]),
    "sage_queue_put_batch": (_c.c_int, [_c.c_void_p, _c.POINTER(_c.c_void_p), c_size_p,
                                        _c.c_size_t, c_size_p, _c.c_int64]),
    "sage_queue_get_batch": (_c.c_int, [_c.c_void_p, _c.c_void_p, _c.c_size_t, c_size_p,
                                        _c.c_size_t, c_size_p, _c.c_int64]),
    "sage_queue_reserve": (_c.c_int, [_c.c_void_p, _c.c_size_t, _c.POINTER(_c.c_void_p),
                                      c_u64_p, _c.c_int64]),
    "sage_queue_commit": (_c.c_int, [_c.c_void_p, _c.c_uint64]),
    "sage_queue_cancel": (_c.c_int, [_c.c_void_p, _c.c_uint64]),
    "sage_queue_peek": (_c.c_int, [_c.c_void_p, _c.POINTER(_c.c_void_p), c_size_p, c_u64_p,
                                   _c.c_int64]),
    "sage_queue_release": (_c.c_int, [_c.c_void_p, _c.c_uint64]),
    "sage_stats_count": (_c.c_size_t, []),
    "sage_stats_name": (_c.c_char_p, [_c.c_size_t]),
    "sage_queue_stats_values": (_c.c_int, [_c.c_void_p, c_u64_p, _c.c_size_t]),
    "sage_queue_attachments": (_c.c_int, [_c.c_void_p, _c.POINTER(_c.c_int32), _c.c_size_t]),
    "sage_queue_transport_name": (_c.c_char_p, [_c.c_void_p]),
    "sage_queue_name": (_c.c_char_p, [_c.c_void_p]),
    "sage_queue_close": (_c.c_int, [_c.c_void_p]),
    "sage_queue_destroy": (_c.c_int, [_c.c_void_p]),
    "sage_queue_unlink": (_c.c_int, [_c.c_char_p, _c.c_char_p, c_charp_p]),
    "sage_queue_list": (_c.c_int, [_c.c_char_p, c_charp_p, LIST_CB, _c.c_void_p]),
}


def _candidates() -> list[str]:
    env = os.environ.get("SAGE_QUEUE_LIB")
    if env:
        return [env]
    found = []
    try:
        from . import _config

        found.append(os.path.join(_config.LIBDIR, "libsagequeue.so.0"))
    except ImportError:
        pass
    name = ctypes.util.find_library("sagequeue")
    found.append(name or "libsagequeue.so.0")
    return found


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


def lib() -> ctypes.CDLL:
    """The bound library, loaded on first use. Raises OSError naming every
    place searched when it cannot be found."""
    global _lib
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is None:
            errors = []
            for path in _candidates():
                try:
                    _lib = _bind(ctypes.CDLL(path))
                    break
                except OSError as exc:
                    errors.append(f"{path}: {exc}")
            else:
                raise OSError(
                    "cannot load libsagequeue (set SAGE_QUEUE_LIB to its path): "
                    + "; ".join(errors)
                )
    return _lib


def text(raw: Optional[bytes]) -> str:
    return raw.decode("utf-8", "replace") if raw else ""


def last_error() -> str:
    return text(lib().sage_last_error())


def strerror(code: int) -> str:
    return text(lib().sage_strerror(code))


def options_array(options: dict[str, str]) -> "ctypes.Array[ctypes.c_char_p]":
    """NULL-terminated key/value array for sage_queue_open."""
    flat: list[Optional[bytes]] = []
    for key, value in options.items():
        flat += [str(key).encode(), str(value).encode()]
    flat.append(None)
    return (ctypes.c_char_p * len(flat))(*flat)
