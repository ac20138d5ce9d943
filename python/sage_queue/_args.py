"""SageQueue's arguments checked in the caller's own words: the names they
passed (maxsize, not the transport's capacity), and what they probably
meant when it looks like queue.Queue's item count."""

from __future__ import annotations

import errno
import warnings
from typing import Any, Optional

from . import _uri
from .errors import InvalidArgumentError

# A ring smaller than this is no ring (shm's minimum): a maxsize below it is
# most likely queue.Queue's item count.
_SMALLEST_RING = 4096


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def maxsize_bytes(maxsize: Any) -> Optional[int]:
    """maxsize as bytes (None or <= 0: the transport's default)."""
    if maxsize is None:
        return None
    if isinstance(maxsize, str):
        try:
            return _uri.parse_size(maxsize, "maxsize")
        except InvalidArgumentError:
            raise InvalidArgumentError(
                f"maxsize={maxsize!r} is not a size: give bytes as an int or a string such as "
                "'64K' or '8MiB' (K, M, G, KiB, MiB, GiB are powers of 1024)",
                -errno.EINVAL) from None
    if isinstance(maxsize, bool) or not isinstance(maxsize, int):
        raise TypeError(f"maxsize must be a number of bytes (an int, or a string such as "
                        f"'8MiB'), not {_kind(maxsize)}")
    return maxsize


def item_count(max_items: Any) -> int:
    if isinstance(max_items, bool) or not isinstance(max_items, int):
        raise TypeError(f"max_items must be an int (the most messages queued at once), not "
                        f"{_kind(max_items)}")
    if max_items < 0:
        raise ValueError(f"max_items must be >= 0 (0: no bound but the ring), not {max_items}")
    return max_items


def explain_capacity(exc: InvalidArgumentError, maxsize: Optional[int]) -> Exception:
    """The transport refused the capacity we derived from maxsize: say it
    with the caller's argument, and point a queue.Queue porter at
    max_items."""
    if maxsize is None or "capacity" not in (exc.detail or str(exc)):
        return exc
    reason = (exc.detail or str(exc)).split(": ", 1)[-1].replace("option 'capacity': ", "")
    hint = ""
    if maxsize < _SMALLEST_RING:
        hint = (f"; maxsize counts bytes of ring, not messages: for at most {maxsize} "
                f"messages, as queue.Queue(maxsize={maxsize}) means, use max_items={maxsize}")
    return InvalidArgumentError(f"maxsize={maxsize} is not a ring size this transport can "
                                f"make ({reason}){hint}", exc.code, exc.detail, exc.queue)


def warn_if_sizes_ignored(q: Any, maxsize: Optional[int], max_items: int, created: bool) -> None:
    """The queue existed: sizes given now were not applied. Say so when
    they ask for more than it has (or another item bound)."""
    if created:
        return
    wanted = []
    if maxsize and maxsize > q.capacity:
        wanted.append(f"maxsize={maxsize} (it has {q.capacity} bytes)")
    if max_items and max_items != q._max_items:
        wanted.append(f"max_items={max_items} (it has {q._max_items or 'no item bound'})")
    if wanted:
        warnings.warn(f"queue '{q.name}' already exists, so " + " and ".join(wanted)
                      + " did not apply: sizes are set when a queue is created "
                      "(destroy() it first to change them)", RuntimeWarning, stacklevel=3)
