"""The ctypes layer: declarations, errcheck, and the argtype-free fast calls."""

import ctypes
import queue

import pytest

from sage_queue import _lib, errors
from sage_queue import queue as sq


def test_every_signature_is_bound_with_argtypes():
    lib = _lib.lib()
    for name, (restype, argtypes) in _lib._SIGNATURES.items():
        fn = getattr(lib, name)
        assert fn.restype == restype and fn.argtypes == argtypes, name


def test_errcheck_turns_negative_codes_into_exceptions():
    api = _lib.api()
    handle = ctypes.c_void_p()
    with pytest.raises(errors.BadNameError) as info:
        api.sage_queue_open(b"shm", b"bad name", None, ctypes.byref(handle))
    assert "invalid queue name" in str(info.value) and info.value.code == -1004
    with pytest.raises(errors.TransportNotFoundError):
        api.sage_transport_load(b"nosuchplugin")


def test_fast_calls_match_the_declarations():
    for name, types in _lib.FAST_CALLS.items():
        declared = _lib._SIGNATURES[name][1]
        assert len(types) == len(declared), name
        for passed, decl in zip(types, declared):
            accepted = passed if isinstance(passed, tuple) else (passed,)
            assert decl in accepted, (name, passed, decl)
        assert _lib.fast()[name].argtypes is None
        assert _lib.fast()[name].restype is ctypes.c_int


def _checked(name, real):
    types = _lib.FAST_CALLS[name]

    def call(*args):
        assert len(args) == len(types)
        for arg, expected in zip(args, types):
            assert isinstance(arg, expected), (name, type(arg), expected)
        return real(*args)

    return call


def test_queue_passes_exactly_the_declared_types(q, monkeypatch):
    monkeypatch.setattr(sq, "_put", _checked("sage_queue_put", sq._put))
    monkeypatch.setattr(sq, "_get", _checked("sage_queue_get", sq._get))
    q.put({"a": 1})
    q.put(b"x", timeout=1)
    q.put_nowait(3)
    q.put_bytes(bytearray(b"raw"))
    q.put_bytes(b"raw", block=False)
    assert q.get() == {"a": 1}
    assert q.get(timeout=1) == b"x"
    assert q.get_nowait() == 3
    assert q.get_bytes() == b"raw"
    assert q.get_bytes(timeout=0.5) == b"raw"
    with pytest.raises(queue.Empty):
        q.get(timeout=0.01)
