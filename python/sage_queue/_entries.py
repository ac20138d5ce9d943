"""The library functions the data paths call for every message.

Module attributes, bound once by bind() when the first queue opens (so
that importing the package never loads the library): put and get from
_lib.fast(), the rest from _lib.lib(), no errcheck on either. The data
paths read them as ``_entries.put``; try_put and try_get, from
_lib.quick(), are what they call first: a module attribute read is no call
(see _handle.py on where exceptions can land) and the cheapest read
CPython specialises for a call. put, try_put and commit are the calls that
also leave their result in a Send request (sage_queue_put_r, try_put,
sage_queue_commit_r: see _producer.py)."""

from __future__ import annotations

from typing import Any

from . import _lib

put: Any = None
get: Any = None
try_put: Any = None
try_get: Any = None
put_batch: Any = None
get_batch: Any = None
reserve: Any = None
commit: Any = None
cancel: Any = None
peek: Any = None
release: Any = None


def bind() -> None:
    global put, get, try_put, try_get, put_batch, get_batch, reserve, commit, cancel, peek, release
    if release is not None:
        return
    plain, fast, quick = _lib.lib(), _lib.fast(), _lib.quick()
    put, get = fast.sage_queue_put_r, fast.sage_queue_get
    try_put, try_get = quick.sage_queue_try_put, quick.sage_queue_try_get
    put_batch, get_batch = plain.sage_queue_put_batch, plain.sage_queue_get_batch
    reserve, commit = plain.sage_queue_reserve, plain.sage_queue_commit_r
    cancel, peek = plain.sage_queue_cancel, plain.sage_queue_peek
    release = plain.sage_queue_release  # last: bound means all are
