"""How SageQueue turns objects into messages and back: pickle protocol 5,
with large buffers carried out of band.

A message is one of:

* an in-band pickle: the bytes of ``pickle.dumps(obj, protocol=5)``
  (always starting with the PROTO opcode, ``0x80``);
* an out-of-band frame, for objects holding pickle-5 buffers (NumPy
  arrays, ``PickleBuffer``; buffers under :data:`OOB_MIN` bytes stay in
  band, where they cost less than a frame entry and its padding), and for
  top-level ``bytes``, ``bytearray`` and ``memoryview`` of at least
  :data:`OOB_THRESHOLD` bytes::

      0   magic  b"SQB1"
      4   u32    number of buffers (n)
      8   u64    length of the pickle
      16  n x (u64 length, u64 flags)      flags bit 0: read-only buffer
      ..  the pickle (its buffers replaced by NEXT_BUFFER opcodes)
      ..  each buffer, starting at a multiple of 64 bytes from the frame start

  All integers are little-endian. A producer writes this frame straight
  into the ring (zero-copy reserve/commit), so each buffer is copied once;
  a consumer copies each buffer once out of the ring into a fresh ``bytes``
  (read-only) or ``bytearray`` (writable) that becomes the object's memory.

* raw bytes, written by ``put_bytes``: anything else. ``get()`` refuses to
  unpickle them (:class:`~sage_queue.errors.DecodeError`).

A message that fails to decode, whatever the reason (raw bytes, a truncated
or foreign pickle, a bad frame, a class missing here), raises
:class:`~sage_queue.errors.DecodeError` from :func:`loads`, carrying the
message's bytes; the original exception is its ``__cause__``.

Large ``bytes`` nested inside containers travel in band: CPython's pickler
serialises exact ``bytes`` without consulting any hook.
"""

from __future__ import annotations

import io
import pickle
import struct
from pickle import PickleBuffer
from typing import Any, Callable, List, Optional, Sequence, Tuple

__all__ = ["OOB_THRESHOLD", "OOB_MIN", "MAGIC", "encode", "dumps", "dumps_inband",
           "dumps_plain", "flatten", "loads", "frame_layout", "write_frame", "Encoded"]

#: Messages whose out-of-band buffers add up to at least this many bytes are
#: written zero-copy (and top-level bytes-likes this large go out of band).
OOB_THRESHOLD = 64 * 1024
#: Pickle-5 buffers smaller than this stay in band: out of band, each costs a
#: 16-byte frame entry and up to 63 bytes of alignment, so objects holding
#: many small arrays would grow (up to ~3x) for no copy saved.
OOB_MIN = 1024
MAGIC = b"SQB1"
ALIGN = 64
PROTOCOL = 5
FLAG_READONLY = 1

_HEAD = struct.Struct("<4sIQ")
_ENTRY = struct.Struct("<QQ")
_pickle_dumps = pickle.dumps

# A bytes object of n < 256 bytes pickles (protocol 5) as
# SHORT_BYTES_HEAD[n] + data + STOP: PROTO 5, SHORT_BINBYTES n, data, STOP.
# Building that by concatenation costs about a third of pickle.dumps, which
# also adds a FRAME and a MEMOIZE that loads() does not need.
SHORT_BYTES_HEAD = tuple(b"\x80\x05C" + bytes((n,)) for n in range(256))
STOP = b"."
_pickle_loads = pickle.loads

#: (message or frame head, out-of-band buffers or None). With None, the
#: first item is the whole in-band message.
Encoded = Tuple[bytes, Optional[List[memoryview]]]


# Values pickled with no buffer hook: no buffer can hide in them (bytes
# only under OOB_THRESHOLD: larger ones go out of band).
_PLAIN = frozenset({str, int, float, bool, type(None), complex})


def encode(obj: Any) -> Any:
    """The message every path writes for obj (put, put_many, the Ray
    proxy's callers): bytes, an in-band pickle; or (head, buffers), a frame
    whose large buffers go out of band (see dumps). The one place that
    decides which types take the fast path. Raises what pickle raises."""
    kind = type(obj)
    if kind is bytes:
        n = len(obj)
        if n < 256:
            return SHORT_BYTES_HEAD[n] + obj + STOP
        if n < OOB_THRESHOLD:
            return _pickle_dumps(obj, PROTOCOL)
    elif kind in _PLAIN:
        return _pickle_dumps(obj, PROTOCOL)
    head, buffers = dumps(obj)
    return head if buffers is None else (head, buffers)


def _no_oob(_buffer: PickleBuffer) -> bool:
    return False


# Pickles of a bare out-of-band buffer: loading them with buffers=[b]
# returns b itself (READONLY_BUFFER keeps an already read-only object).
_HEAD_READONLY = _pickle_dumps(PickleBuffer(b""), PROTOCOL, buffer_callback=_no_oob)
_HEAD_WRITABLE = _pickle_dumps(PickleBuffer(bytearray()), PROTOCOL, buffer_callback=_no_oob)


def _rebuild_memoryview(buffer: Any, fmt: str, shape: Tuple[int, ...]) -> memoryview:
    view = memoryview(buffer)
    if fmt != "B" or len(shape) != 1:
        view = view.cast("B").cast(fmt, shape)
    return view


class _Pickler(pickle.Pickler):
    """Adds memoryview support (plain pickle refuses memoryview)."""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is memoryview:
            if obj.c_contiguous:
                payload: Any = PickleBuffer(obj)
            else:
                payload = obj.tobytes()
            return _rebuild_memoryview, (payload, obj.format, obj.shape)
        return NotImplemented


def _views(found: List[PickleBuffer]) -> List[memoryview]:
    """Flat byte views of the out-of-band buffers pickle handed over; a
    non-contiguous one (rare: numpy keeps those in band) is copied."""
    views = []
    for buffer in found:
        try:
            views.append(buffer.raw())
        except BufferError:
            view = memoryview(buffer)
            data = view.tobytes()
            views.append(memoryview(data if view.readonly else bytearray(data)))
    return views


def _dumps_with_pickler(obj: Any, callback: Optional[Callable]) -> bytes:
    out = io.BytesIO()
    _Pickler(out, PROTOCOL, buffer_callback=callback).dump(obj)
    return out.getvalue()


def _pickle_with(obj: Any, callback: Callable) -> bytes:
    try:
        return _pickle_dumps(obj, PROTOCOL, buffer_callback=callback)
    except TypeError:  # memoryview inside: plain pickle refuses it
        return _dumps_with_pickler(obj, callback)


def dumps(obj: Any) -> Encoded:
    """Serialises obj. Raises whatever pickle raises for an unpicklable
    object; nothing else can fail. Buffers pickle offers out of band (NumPy
    arrays, PickleBuffer) of at least OOB_MIN bytes are taken out of band,
    smaller ones stay in band; the caller decides whether the frame is big
    enough for zero-copy (see buffers_size)."""
    kind = type(obj)
    if kind is bytes or kind is bytearray or kind is memoryview:
        view = obj if kind is memoryview else memoryview(obj)
        if view.nbytes >= OOB_THRESHOLD and view.c_contiguous:
            if kind is memoryview:
                head = _dumps_with_pickler(obj, _no_oob)
            else:
                head = _HEAD_READONLY if kind is bytes else _HEAD_WRITABLE
            return head, [view.cast("B") if view.format != "B" or view.ndim != 1 else view]
        if kind is not memoryview:
            return _pickle_dumps(obj, PROTOCOL), None
    found: List[PickleBuffer] = []
    try:
        head = _pickle_dumps(obj, PROTOCOL, buffer_callback=found.append)
    except TypeError:  # memoryview inside: plain pickle refuses it
        found.clear()
        head = _dumps_with_pickler(obj, found.append)
    if not found:
        return head, None
    if min(map(_nbytes, found)) < OOB_MIN:
        return _dumps_small_in_band(obj)
    return head, _views(found)


def _dumps_small_in_band(obj: Any) -> Encoded:
    """dumps() for an object holding buffers under OOB_MIN bytes: pickled
    again, keeping those in band (a callback returning true keeps its
    buffer in the pickle)."""
    found: List[PickleBuffer] = []

    def small_in_band(buffer: PickleBuffer) -> bool:
        if _nbytes(buffer) < OOB_MIN:
            return True
        found.append(buffer)
        return False

    head = _pickle_with(obj, small_in_band)
    return head, (_views(found) if found else None)


def _nbytes(buffer: PickleBuffer) -> int:
    return memoryview(buffer).nbytes


def dumps_plain(obj: Any) -> bytes:
    """obj as one in-band pickle, every buffer inside it (the most compact
    form: used when a frame would not fit but the pickle does)."""
    kind = type(obj)
    if kind is memoryview:
        return _dumps_with_pickler(obj, None)
    try:
        return _pickle_dumps(obj, PROTOCOL)
    except TypeError:
        return _dumps_with_pickler(obj, None)


def buffers_size(buffers: Sequence[memoryview]) -> int:
    return sum(view.nbytes for view in buffers)


def dumps_inband(obj: Any) -> bytes:
    """One self-contained message for obj: encode(obj), with a frame
    written out as one bytes object."""
    data = encode(obj)
    if type(data) is bytes:
        return data
    return flatten(*data)


def flatten(head: bytes, buffers: Sequence[memoryview]) -> bytes:
    """A frame (head and its out-of-band buffers) as one bytes object."""
    size, offsets = frame_layout(head, buffers)
    frame = bytearray(size)
    write_frame(memoryview(frame), head, buffers, offsets)
    return bytes(frame)


def frame_layout(head: bytes, buffers: Sequence[memoryview]) -> Tuple[int, List[int]]:
    """Total frame size and each buffer's offset."""
    offset = _HEAD.size + _ENTRY.size * len(buffers) + len(head)
    offsets = []
    for view in buffers:
        offset = (offset + ALIGN - 1) & ~(ALIGN - 1)
        offsets.append(offset)
        offset += view.nbytes
    return offset, offsets


def write_frame(dst: memoryview, head: bytes, buffers: Sequence[memoryview],
                offsets: Sequence[int]) -> None:
    """Writes a frame into dst (the ring, through a reservation): each
    buffer is copied exactly once."""
    _HEAD.pack_into(dst, 0, MAGIC, len(buffers), len(head))
    pos = _HEAD.size
    for view in buffers:
        _ENTRY.pack_into(dst, pos, view.nbytes, FLAG_READONLY if view.readonly else 0)
        pos += _ENTRY.size
    dst[pos:pos + len(head)] = head
    for view, offset in zip(buffers, offsets):
        dst[offset:offset + view.nbytes] = view


def is_frame(data: memoryview) -> bool:
    return data.nbytes >= _HEAD.size and data[:4] == MAGIC


def _read_frame(data: memoryview) -> Any:
    magic, count, head_len = _HEAD.unpack_from(data, 0)
    pos = _HEAD.size
    if pos + count * _ENTRY.size + head_len > data.nbytes:
        raise ValueError("truncated out-of-band frame")
    entries = []
    for _ in range(count):
        entries.append(_ENTRY.unpack_from(data, pos))
        pos += _ENTRY.size
    head = data[pos:pos + head_len]
    offset = pos + head_len
    buffers: List[Any] = []
    for length, flags in entries:
        offset = (offset + ALIGN - 1) & ~(ALIGN - 1)
        if offset + length > data.nbytes:
            raise ValueError("truncated out-of-band frame")
        piece = data[offset:offset + length]
        # The one copy out of the ring: the new object owns the memory.
        buffers.append(bytes(piece) if flags & FLAG_READONLY else bytearray(piece))
        offset += length
    return _pickle_loads(head, buffers=buffers)


def loads(data: memoryview) -> Any:
    """Decodes one message (a memoryview of exactly its bytes: a receive
    buffer's slice or the ring). Raises ValueError if it is neither a
    pickle nor a frame, and whatever unpickling raises for a bad one."""
    if data.nbytes and data[0] == 0x80:
        return _pickle_loads(data)
    if is_frame(data):
        return _read_frame(data)
    raise ValueError("not a pickled object (raw bytes? use get_bytes())")
