"""The ctypes layer: declarations, errcheck, and the argtype-free fast calls."""

import ctypes
import os
import queue
import re

import pytest

from sage_queue import _handle as _lib_handle, _lib, errors


# The C prototypes are the source of truth for the ctypes declarations: the
# test reads them from the public headers, not from _lib.
_C_TYPES = {
    "void": None,
    "int": ctypes.c_int,
    "unsigned": ctypes.c_uint,
    "int32_t": ctypes.c_int32,
    "uint32_t": ctypes.c_uint32,
    "int64_t": ctypes.c_int64,
    "uint64_t": ctypes.c_uint64,
    "size_t": ctypes.c_size_t,
    "char*": ctypes.c_char_p,  # strings in, and name_out buffers
    "void*": ctypes.c_void_p,
    "sage_queue*": ctypes.c_void_p,  # opaque handles
    "sage_plugin_list*": ctypes.c_void_p,
    "structsage_recv*": ctypes.POINTER(_lib.Recv),  # checked field by field below
    "structsage_send*": ctypes.POINTER(_lib.Send),  # the same
}
# Arrays the batch calls take as addresses (_lib's note on them): c_void_p
# stands for the typed pointer there, and only there.
_AS_ADDRESS = {("sage_queue_put_batch", 1), ("sage_queue_put_batch", 2),
               ("sage_queue_get_batch", 3)}


def _header_text(name):
    root = os.environ.get("SAGE_TEST_SRCDIR") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..")
    path = os.path.join(root, "include", "sage", name)
    if not os.path.exists(path):
        pytest.skip(f"no {path}: the C headers are the reference")
    with open(path) as f:
        return re.sub(r"/\*.*?\*/|//[^\n]*", " ", f.read(), flags=re.S)


def _c_type(text, callbacks):
    """ctypes type of a C type in the headers' spelling ('const char *')."""
    t = re.sub(r"\bconst\b", " ", text)
    t = re.sub(r"\s+", "", t)
    stars = len(t) - len(t.rstrip("*"))
    base = t.rstrip("*")
    if base in callbacks and stars == 0:
        return callbacks[base]
    if base + "*" in _C_TYPES and stars >= 1:
        found, stars = _C_TYPES[base + "*"], stars - 1
    else:
        assert base in _C_TYPES, f"no ctypes mapping for C type {text!r}"
        found = _C_TYPES[base]
    for _ in range(stars):
        found = ctypes.POINTER(found)
    return found


def _split_params(params):
    params = params.strip()
    if params == "void":
        return []
    # each parameter is "type name": drop the name
    return [re.match(r"(.*?)\s*\b\w+$", p.strip(), re.S).group(1)
            for p in params.split(",")]


def _header_prototypes():
    """name -> (restype, [argtypes]) for the SAGE_API functions; a function
    takes its types from the header only when asked for (protos[name]())."""
    callbacks = {}
    for ret, cb, params in re.findall(
            r"typedef\s+([\w\s\*]+?)\s*\(\s*\*\s*(\w+)\s*\)\s*\(([^)]*)\)\s*;",
            _header_text("transport.h")):
        callbacks[cb] = (ret, params)

    def callback(name):
        ret, params = callbacks[name]
        return ctypes.CFUNCTYPE(_c_type(ret, {}), *(_c_type(p, {}) for p in _split_params(params)))

    def prototype(ret, params):
        types = [ret] + _split_params(params)
        cbs = {t.strip(): callback(t.strip()) for t in types if t.strip() in callbacks}
        return lambda: (_c_type(ret, cbs), [_c_type(p, cbs) for p in types[1:]])

    protos = {}
    for decl in re.findall(r"\bSAGE_API\s+([^;{#]*?\))\s*;", _header_text("queue.h"), re.S):
        m = re.match(r"(.*?)\b(sage_\w+)\s*\((.*)\)$", decl, re.S)
        assert m, decl
        ret, name, params = m.groups()
        protos[name] = prototype(ret, params)
    return protos


def _same_ctype(declared, header):
    if header is None or declared is None:
        return declared is header
    if hasattr(header, "_flags_") and hasattr(declared, "_flags_"):  # callbacks
        return (declared._restype_ == header._restype_
                and list(declared._argtypes_) == list(header._argtypes_))
    return declared == header


def test_every_signature_matches_the_c_prototype():
    protos = _header_prototypes()
    assert "sage_queue_put" in protos and len(protos) >= len(_lib._SIGNATURES) // 2
    lib = _lib.lib()
    for name, (restype, argtypes) in _lib._SIGNATURES.items():
        assert name in protos, f"{name} is not declared in include/sage/queue.h"
        want_ret, want_args = protos[name]()
        assert _same_ctype(restype, want_ret), (name, "returns", restype, want_ret)
        assert len(argtypes) == len(want_args), (name, argtypes, want_args)
        for i, (got, want) in enumerate(zip(argtypes, want_args)):
            if (name, i) in _AS_ADDRESS:
                assert got is ctypes.c_void_p and hasattr(want, "contents"), (name, i)
                continue
            assert _same_ctype(got, want), (name, f"argument {i}", got, want)
        fn = getattr(lib, name)  # and what _bind installed is that declaration
        assert fn.restype == restype and fn.argtypes == argtypes, name


@pytest.mark.parametrize("struct, mirror", [("sage_recv", _lib.Recv), ("sage_send", _lib.Send)])
def test_request_structs_match_the_c_structs(struct, mirror):
    body = re.search(r"struct\s+" + struct + r"\s*\{(.*?)\}\s*;", _header_text("queue.h"), re.S)
    assert body, f"struct {struct} is not in include/sage/queue.h"
    fields = [re.match(r"(.*?)\s*\b(\w+)$", f.strip(), re.S).groups()
              for f in body.group(1).split(";") if f.strip()]
    want = [(name, _c_type(ctype, {})) for ctype, name in fields]
    assert [(n, t) for n, t in mirror._fields_] == want


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
            # byref(x) is what the queue passes for a pointer to x
            assert decl in accepted or (_lib.CArg in accepted and hasattr(decl, "contents")), (
                name, passed, decl)
        assert _lib.fast()[name].argtypes is None
        assert _lib.fast()[name].restype is ctypes.c_int


def test_quick_calls_match_the_declarations_and_keep_the_gil():
    for name, types in _lib.QUICK_CALLS.items():
        declared = _lib._SIGNATURES[name][1]
        assert len(types) == len(declared), name
        for passed, decl in zip(types, declared):
            # a Python int is what ctypes passes for a C int
            assert passed is decl or (passed, decl) in ((bytes, ctypes.c_void_p),
                                                        (int, ctypes.c_int)), (name, passed)
        fn = _lib.quick()[name]
        assert fn.argtypes is None and fn.restype is ctypes.c_int
        assert fn._flags_ & ctypes._FUNCFLAG_PYTHONAPI, name  # no GIL release


_made = set()
QUICK_MAX = _lib_handle.QUICK_MAX


def _checked(name, real):
    types = _lib.FAST_CALLS.get(name) or _lib.QUICK_CALLS[name]

    def call(*args):
        _made.add(name)
        assert len(args) == len(types)
        for arg, expected in zip(args, types):
            assert isinstance(arg, expected), (name, type(arg), expected)
        return real(*args)

    return call


def test_queue_passes_exactly_the_declared_types(q, monkeypatch):
    from sage_queue import _entries as entries

    monkeypatch.setattr(entries, "put", _checked("sage_queue_put_r", entries.put))
    monkeypatch.setattr(entries, "get", _checked("sage_queue_get", entries.get))
    monkeypatch.setattr(entries, "try_put", _checked("sage_queue_try_put", entries.try_put))
    monkeypatch.setattr(entries, "try_get", _checked("sage_queue_try_get", entries.try_get))
    q.put({"a": 1})
    q.put(b"x", timeout=1)
    q.put_nowait(3)
    q.put_bytes(bytearray(b"raw"))
    q.put_bytes(b"raw", block=False)
    q.put_bytes(b"w" * (QUICK_MAX + 1))  # past the quick call: the waiting one
    assert q.get() == {"a": 1}
    assert q.get(timeout=1) == b"x"
    assert q.get_nowait() == 3
    assert q.get_bytes() == b"raw"
    assert q.get_bytes(timeout=0.5) == b"raw"
    assert q.get_bytes() == b"w" * (QUICK_MAX + 1)
    with pytest.raises(queue.Empty):
        q.get(timeout=0.01)
    assert _made >= {"sage_queue_try_put", "sage_queue_try_get", "sage_queue_get",
                     "sage_queue_put_r"}
