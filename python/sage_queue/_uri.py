"""Queue URIs, ``<transport>://<name>[?key=value&...]``, and the same keys
as a dict (docs/CONFIG.md). The grammar is libsagequeue's
(src/uri.c; tests/uri_cases.txt holds the cases both must agree on).

Keys: ``maxsize`` (bytes of ring; ``capacity`` is the same), ``max_items``,
``auto_cleanup`` and every option of the transport (``spin_ns``,
``mode``, ``create``, ...); sizes take K/M/G and KiB/MiB/GiB (powers of
1024), booleans true/false (yes/no, on/off, 1/0). A dict may also carry
``transport`` and ``name`` (or ``queue_id``)."""

from __future__ import annotations

import errno
import re
from typing import Any, Dict, Mapping, Optional, Tuple
from urllib.parse import quote, unquote

from .errors import InvalidArgumentError

_KEY = re.compile(r"[a-z0-9_-]+\Z")
_SIZE = re.compile(r"(\d+)([kKmMgG](?:[iI][bB])?)?\Z")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
# Keys whose values are sizes (maxsize is the Python name of capacity).
SIZE_KEYS = ("maxsize", "capacity", "msgsize")

#: What a spec holds once parsed: transport ("" for the default), name, and
#: the keyword arguments of SageQueue (maxsize, max_items, auto_cleanup,
#: then transport options), values as given.
Spec = Tuple[str, str, Dict[str, Any]]


def _bad(spec: Any, why: str) -> InvalidArgumentError:
    if isinstance(spec, str):
        return InvalidArgumentError(f"bad queue URI '{spec[:80]}': {why}", -errno.EINVAL)
    return InvalidArgumentError(f"bad queue spec {str(spec)[:80]}: {why}", -errno.EINVAL)


def parse_size(value: Any, key: str = "maxsize", spec: Any = None) -> int:
    """An int from 4096, "4096", "8K", "8MiB"... (powers of 1024)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _bad(spec if spec is not None else value,
                   f"bad size {value!r} for '{key}' (a number with an optional K, M, G, KiB, "
                   "MiB or GiB suffix)")
    if isinstance(value, int):
        return value
    m = _SIZE.match(value.strip())
    if not m:
        raise _bad(spec if spec is not None else value,
                   f"bad size '{value}' for '{key}' (a number with an optional K, M, G, KiB, "
                   "MiB or GiB suffix)")
    return int(m.group(1)) * _UNITS[(m.group(2) or "")[:1].lower()]


def parse_bool(value: Any, key: str, spec: Any = None) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _bad(spec if spec is not None else value,
               f"bad value '{value}' for '{key}' (true or false)")


def _normalise(spec: Any, key: str, value: Any, out: Dict[str, Any]) -> None:
    """Adds key=value to the SageQueue keyword arguments in out."""
    given = key
    if key == "capacity":
        key = "maxsize"
    if key in out:
        raise _bad(spec, f"'{given}' given twice")
    if key in ("maxsize", "msgsize"):
        value = parse_size(value, given, spec)
    elif key == "max_items":
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _bad(spec, f"bad value {value!r} for 'max_items' (a count, >= 0)")
    elif key == "auto_cleanup":
        value = parse_bool(value, key, spec)
    out[key] = value


def parse_uri(uri: str) -> Spec:
    """(transport, name, keyword arguments) of a queue URI; raises
    InvalidArgumentError (a ValueError) naming the part that is wrong."""
    if not isinstance(uri, str) or "://" not in uri:
        raise _bad(uri, "expected <transport>://<name>[?key=value&...]")
    transport, rest = uri.split("://", 1)
    if not transport:
        raise _bad(uri, "no transport before '://'")
    name, _, query = rest.partition("?")
    name = unquote(name)
    if not name:
        raise _bad(uri, "empty queue name after '://'")
    kwargs: Dict[str, Any] = {}
    for pair in query.split("&") if query else ():
        if not pair:
            continue
        if "=" not in pair:
            raise _bad(uri, f"option '{pair}' has no value (key=value)")
        key, value = pair.split("=", 1)
        if not _KEY.match(key):
            raise _bad(uri, f"bad key '{key}' (use a-z 0-9 _ -)")
        _normalise(uri, key, unquote(value), kwargs)
    return transport, name, kwargs


def parse_spec(spec: Any) -> Spec:
    """A URI, or a dict with the same keys plus ``transport`` and ``name``
    (or ``queue_id``), as (transport, name, keyword arguments)."""
    if isinstance(spec, str):
        return parse_uri(spec)
    if not isinstance(spec, Mapping):
        raise TypeError(f"a queue spec is a URI string or a dict, not {type(spec).__name__}")
    keys = dict(spec)
    transport = keys.pop("transport", None) or ""
    name = keys.pop("name", None) or keys.pop("queue_id", None)
    if not name:
        raise _bad(spec, "no 'name' (or 'queue_id')")
    kwargs: Dict[str, Any] = {}
    for key, value in keys.items():
        if not isinstance(key, str) or not _KEY.match(key):
            raise _bad(spec, f"bad key {key!r} (use a-z 0-9 _ -)")
        if value is not None:
            _normalise(spec, key, value, kwargs)
    return str(transport), str(name), kwargs


def format_uri(transport: str, name: str, kwargs: Optional[Mapping[str, Any]] = None) -> str:
    """The URI of transport/name with the given keyword arguments."""
    query = []
    for key, value in (kwargs or {}).items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        query.append(f"{key}={quote(str(value), safe='')}")
    tail = "?" + "&".join(query) if query else ""
    return f"{transport}://{quote(name, safe='.-_')}{tail}"
