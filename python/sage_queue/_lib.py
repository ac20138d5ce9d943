"""ctypes bindings to libsagequeue's flat API (include/sage/queue.h).

Only opaque handles, plain integers and two request structs (Recv, for
sage_queue_try_get; Send, for the put calls that leave their result where
the package reads it without a call) cross this boundary: no plugin or stats struct is
mirrored here, so the C ABI can grow without Python changes.
This is the only module that touches ctypes' foreign-function machinery.

Two views of the same library are offered:

* ``lib()``: every function with explicit argtypes/restype and no errcheck.
  The queue's hot paths use it: there -EAGAIN, -ETIMEDOUT, -EINTR and
  -EMSGSIZE are control flow (Full/Empty, retry, grow the buffer), and an
  errcheck hook would cost a Python call on every message.
* ``api()``: the same functions with an errcheck that turns a negative
  return into the matching :mod:`sage_queue.errors` exception, carrying
  sage_last_error()'s detail. Used for everything that is not a hot path.
* ``fast()``: only the per-message calls (put_r, get), with restype set and
  argtypes deliberately left unset. ctypes converts a declared argument
  through ``from_param`` (about 0.1 us per argument here: a third of a
  64-byte put); an undeclared one that already is a ctypes instance (or
  bytes, for a ``const void *``) is passed as it is. The queue therefore
  calls these only with instances of exactly the types in _SIGNATURES
  (``_Handle`` is a c_void_p, lengths are c_size_t, timeouts c_int64,
  buffers c_void_p or bytes, out-pointers POINTER(c_size_t), a Send
  request byref()); the test
  suite checks that these declarations still match the calls.
* ``quick()``: the non-blocking calls made for bindings (sage_queue_try_put,
  sage_queue_try_get: fewer arguments, never wait), argtypes unset as in
  ``fast()``, through ``ctypes.PyDLL``: the call keeps the interpreter
  lock instead of releasing and retaking it (~35 ns). The data paths try
  them first and fall back to ``fast()``'s calls only when they would
  wait; they never hold the lock while waiting.

The library is found, in order, at $SAGE_QUEUE_LIB (a file path, used by the
uninstalled build tree), in the package's own bundle (a wheel, _bundle.py),
in the libdir recorded at install time, then on the system loader path.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import threading
from typing import Optional

from .errors import BY_CODE, SageQueueError

_c = ctypes
_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None
_api: Optional[ctypes.CDLL] = None
_fast: Optional[ctypes.CDLL] = None
_quick: Optional[ctypes.PyDLL] = None
_path: Optional[str] = None

c_size_p = _c.POINTER(_c.c_size_t)
c_u64_p = _c.POINTER(_c.c_uint64)
c_charp_p = _c.POINTER(_c.c_char_p)
LIST_CB = _c.CFUNCTYPE(_c.c_int, _c.c_char_p, _c.c_uint32, _c.c_void_p)


class Recv(_c.Structure):
    """struct sage_recv: a receive request for sage_queue_try_get."""

    _fields_ = [("queue", _c.c_void_p), ("buf", _c.c_void_p), ("cap", _c.c_size_t),
                ("len", _c.c_size_t)]


recv_p = _c.POINTER(Recv)


class Send(_c.Structure):
    """struct sage_send: the queue a put goes to, and where the put calls
    leave their result (read without a call: see _producer.py)."""

    _fields_ = [("queue", _c.c_void_p), ("result", _c.c_int)]


send_p = _c.POINTER(Send)
#: What ctypes.byref() makes (a request passed to fast()'s sage_queue_put_r).
CArg = type(_c.byref(_c.c_int()))

# name: (restype, argtypes)
_SIGNATURES = {
    "sage_strerror": (_c.c_char_p, [_c.c_int]),
    "sage_last_error": (_c.c_char_p, []),
    "sage_last_put_result": (_c.c_int, []),
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
    "sage_queue_try_put": (_c.c_int, [send_p, _c.c_void_p, _c.c_int]),
    "sage_queue_put_r": (_c.c_int, [send_p, _c.c_void_p, _c.c_size_t, _c.c_int64]),
    "sage_queue_commit_r": (_c.c_int, [send_p, _c.c_uint64]),
    "sage_queue_put_back_r": (_c.c_int, [send_p, _c.c_void_p, _c.c_size_t]),
    "sage_queue_try_get": (_c.c_int, [recv_p]),
    # The arrays of the batch calls are passed as addresses (array.array
    # buffers), so they take c_void_p rather than typed pointers.
    "sage_queue_put_batch": (_c.c_int, [_c.c_void_p, _c.c_void_p, _c.c_void_p,
                                        _c.c_size_t, c_size_p, _c.c_int64]),
    "sage_queue_get_batch": (_c.c_int, [_c.c_void_p, _c.c_void_p, _c.c_size_t, _c.c_void_p,
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
    "sage_queue_depth": (_c.c_int, [_c.c_void_p, c_u64_p, c_u64_p]),
    "sage_queue_task_done": (_c.c_int, [_c.c_void_p, _c.c_uint64]),
    "sage_queue_join": (_c.c_int, [_c.c_void_p, _c.c_int64]),
    "sage_queue_transport_name": (_c.c_char_p, [_c.c_void_p]),
    "sage_queue_name": (_c.c_char_p, [_c.c_void_p]),
    "sage_queue_close": (_c.c_int, [_c.c_void_p]),
    "sage_queue_destroy": (_c.c_int, [_c.c_void_p]),
    "sage_queue_unlink": (_c.c_int, [_c.c_char_p, _c.c_char_p, c_charp_p]),
    "sage_queue_list": (_c.c_int, [_c.c_char_p, c_charp_p, LIST_CB, _c.c_void_p]),
}


def _candidates() -> list[str]:
    """Where to load libsagequeue from, in order: $SAGE_QUEUE_LIB alone if
    set; the library a wheel bundles (sage_queue/_bundle); the libdir
    recorded by `make install`; the system loader path."""
    env = os.environ.get("SAGE_QUEUE_LIB")
    if env:
        return [env]
    found = []
    from . import _bundle

    if _bundle.present():
        found.append(_bundle.LIBRARY)
    try:
        from . import _config

        found.append(os.path.join(_config.LIBDIR, "libsagequeue.so.0"))
    except ImportError:
        pass
    name = ctypes.util.find_library("sagequeue")
    found.append(name or "libsagequeue.so.0")
    return found


_UNCHECKED = frozenset({"sage_plugins_status", "sage_last_put_result"})


def _bind(lib: ctypes.CDLL, checked: bool = False) -> ctypes.CDLL:
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
        if checked and restype is _c.c_int and name not in _UNCHECKED:
            fn.errcheck = _errcheck
    return lib


def _errcheck(result: int, func, args):
    if result < 0:
        raise from_code(result, last_error(), func.__name__)
    return result


def lib() -> ctypes.CDLL:
    """The bound library (no errcheck), loaded on first use. Raises OSError
    naming every place searched when it cannot be found."""
    global _lib, _path
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is None:
            errors = []
            for path in _candidates():
                try:
                    _lib = _bind(ctypes.CDLL(path))
                    _path = path
                    break
                except OSError as exc:
                    errors.append(f"{path}: {exc}")
            else:
                raise OSError(
                    "cannot load libsagequeue (set SAGE_QUEUE_LIB to its path): "
                    + "; ".join(errors)
                )
    return _lib


def api() -> ctypes.CDLL:
    """The same library with errcheck: negative returns raise the matching
    SageQueueError (see module docstring)."""
    global _api
    if _api is None:
        lib()
        with _lock:
            if _api is None:
                _api = _bind(ctypes.CDLL(_path), checked=True)
    return _api


#: The per-message calls fast() offers, with the types callers must pass.
FAST_CALLS = {
    "sage_queue_put_r": (CArg, (bytes, _c.c_void_p), _c.c_size_t, _c.c_int64),
    "sage_queue_get": (_c.c_void_p, _c.c_void_p, _c.c_size_t, c_size_p, _c.c_int64),
}


def _unconverted(loader: type, calls: dict) -> ctypes.CDLL:
    """The library loaded again by `loader` (CDLL, or PyDLL: keeps the GIL)
    with `calls` bound without argtypes (see module docstring)."""
    handle = loader(_path)
    for name in calls:
        fn = getattr(handle, name)
        fn.restype = _SIGNATURES[name][0]
        fn.argtypes = None
    return handle


def fast() -> ctypes.CDLL:
    """The per-message calls without argtypes (see module docstring)."""
    global _fast
    if _fast is None:
        lib()
        with _lock:
            if _fast is None:
                _fast = _unconverted(ctypes.CDLL, FAST_CALLS)
    return _fast


# What the queue passes to quick()'s calls: a Python int stands for a C int.
QUICK_CALLS = {
    "sage_queue_try_put": (send_p, bytes, int),
    "sage_queue_try_get": (recv_p,),
}


def quick() -> ctypes.PyDLL:
    """The non-blocking calls, keeping the interpreter lock (see module docstring)."""
    global _quick
    if _quick is None:
        lib()
        with _lock:
            if _quick is None:
                _quick = _unconverted(ctypes.PyDLL, QUICK_CALLS)
    return _quick


def library_path() -> str:
    """Where libsagequeue was loaded from."""
    lib()
    return _path or ""


def text(raw: Optional[bytes]) -> str:
    return raw.decode("utf-8", "replace") if raw else ""


def last_error() -> str:
    return text(lib().sage_last_error())


def strerror(code: int) -> str:
    return text(lib().sage_strerror(code))


_GENERIC_DETAIL = re.compile(r"\w+ on queue '[^']*' \(transport [^)]*\): ")


def from_code(code: int, detail: str, what: str, queue: Optional[str] = None) -> SageQueueError:
    """The exception for negative ``code``. ``what`` says what failed
    ("put on queue 'x'"); ``detail`` is sage_last_error()'s text."""
    cls = BY_CODE.get(code, SageQueueError)
    reason = detail or strerror(code)
    # The library's generic detail names the op and queue again ("open on
    # queue 'x' (transport shm): ..."): `what` said that already.
    generic = _GENERIC_DETAIL.match(reason)
    if generic and queue and f"'{queue}'" in what:
        reason = reason[generic.end():]
    message = f"{what}: {reason}"
    if detail and strerror(code) not in detail:
        message += f" [{strerror(code)}]"
    return cls(message, code, detail, queue)


def options_array(options: dict[str, str]) -> "ctypes.Array[ctypes.c_char_p]":
    """NULL-terminated key/value array for sage_queue_open."""
    flat: list[Optional[bytes]] = []
    for key, value in options.items():
        flat += [str(key).encode(), str(value).encode()]
    flat.append(None)
    return (ctypes.c_char_p * len(flat))(*flat)


# ---- helpers for the queue's hot paths ----

_memory_view = ctypes.pythonapi.PyMemoryView_FromMemory
_memory_view.restype = ctypes.py_object
_memory_view.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_int]
_PYBUF_READ = 0x100
_PYBUF_WRITE = 0x200

# copy_at(pointer, size): a new bytes object holding a copy of the memory,
# taking the ctypes objects a peek fills in (c_void_p, c_size_t). A C
# function, so that with `copy_out = map(copy_at, (ptr,), (length,))` made
# before the peek, `held.extend(copy_out)` copies and stores with a single
# call from Python: no asynchronous exception can land between the copy and
# the store (see _handle.py).
copy_at = ctypes.pythonapi["PyBytes_FromStringAndSize"]
copy_at.restype = ctypes.py_object
copy_at.argtypes = [ctypes.c_void_p, ctypes.c_size_t]

_check_signals = ctypes.pythonapi.PyErr_CheckSignals
_check_signals.restype = ctypes.c_int
_check_signals.argtypes = []


def memory_at(address: int, size: int, writable: bool) -> memoryview:
    """A memoryview of ``size`` bytes at ``address`` (no copy). The caller
    must ``release()`` it before the memory goes away (commit/release)."""
    return _memory_view(address, size, _PYBUF_WRITE if writable else _PYBUF_READ)


def run_signal_handlers() -> None:
    """Runs pending Python signal handlers now (main thread only; elsewhere a
    no-op), so an exception they raise (KeyboardInterrupt) propagates from
    here. Called after a blocking call returned -EINTR."""
    _check_signals()


def buffer_address(buf: bytearray) -> "tuple[int, object]":
    """Address of a writable buffer's first byte, and an object that pins
    the buffer (it cannot be resized or freed while the pin lives)."""
    pin = ctypes.c_char.from_buffer(buf)
    return ctypes.addressof(pin), pin


def bytes_address(data: bytes) -> int:
    """Address of a bytes object's data (valid while ``data`` lives)."""
    return ctypes.cast(data, ctypes.c_void_p).value or 0


_stat_names: Optional[list] = None


def stat_names() -> list:
    """The names of the library's statistics, in its order."""
    global _stat_names
    if _stat_names is None:
        plain = lib()
        _stat_names = [text(plain.sage_stats_name(i)) for i in range(plain.sage_stats_count())]
    return _stat_names
