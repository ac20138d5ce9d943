"""RemoteSageQueue's get side: gets through the proxy, and prefetch with
read-ahead calls in flight."""

from __future__ import annotations

import sys
import time
from typing import Any, List, Optional

from ..queue import Empty
from ._exit import _hook_actor_exit
from ._runtime import READ_AHEAD, READ_SLICE, STREAM_FRESH, WAIT_SLICE, _call, _known_dead


class Reader:
    """The get side of RemoteSageQueue (a mixin: RemoteSageQueue holds the
    state)."""

    # -- get

    def _fetch(self, max_items: int, block: bool, timeout: Optional[float]) -> List[bytes]:
        """One call at a time (prefetch 1)."""
        if timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        ray = sys.modules["ray"]
        deadline = None if not block or timeout is None else time.monotonic() + timeout
        while True:
            if not block:
                wait = 0.0
            elif deadline is None:
                wait = WAIT_SLICE
            else:
                wait = min(max(deadline - time.monotonic(), 0.0), WAIT_SLICE)
            actor, epoch = self._live()
            try:
                got = _call(actor.get_many.remote(max_items, wait))
            except ray.exceptions.RayActorError as exc:
                self._losses["read_loss_bound"] += max_items  # what the dead proxy may have held
                self._restart(epoch, exc)
                got = []
            if got:
                return got
            if not block or (deadline is not None and time.monotonic() >= deadline):
                raise Empty

    def _rready(self) -> None:
        now = time.monotonic()
        if self._repoch != self._epoch or now - self._rlast > STREAM_FRESH:
            if self._ahead:
                self._harvest()  # calls of the old stream come back first
            old = self._rstream
            self._rstream, self._rseq, self._repoch = self._new_stream("r"), 0, self._epoch
            self._forget(old)
        self._rlast = now

    def _read(self, want: int, wait: float) -> None:
        if _known_dead(self._actor):
            if self._ahead:
                self._harvest()
            self._live()
        self._rready()
        ref = self._actor.get_ordered.remote(self._rstream, self._rseq, want, wait)
        self._rseq += 1
        self._ahead.append((ref, self._repoch, want))

    def _harvest(self) -> None:
        """Waits for every read-ahead call (under _rlock): what they brought
        goes to the inbox, in order; a call the proxy died under is counted
        in ``read_loss_bound`` (what the dead proxy may have taken for it),
        and a new proxy is started."""
        ray = sys.modules["ray"]
        failed = None
        while self._ahead:
            ref, epoch, want = self._ahead.popleft()
            try:
                self._inbox.extend(_call(ref))
            except ray.exceptions.RayActorError as exc:
                self._losses["read_loss_bound"] += want
                failed = (epoch, exc)
        if failed is not None:
            self._restart(*failed)

    def _absorb(self) -> None:
        """Moves the read-ahead calls that came back into the inbox (under
        _rlock)."""
        ray = sys.modules["ray"]
        while self._ahead:
            ready, _ = ray.wait([self._ahead[0][0]], timeout=0)
            if not ready:
                return
            ref, epoch, want = self._ahead[0]
            try:
                got = _call(ref)
            except ray.exceptions.RayActorError:
                self._harvest()
                return
            self._ahead.popleft()
            self._inbox.extend(got)

    def _pull(self, max_items: int, block: bool, timeout: Optional[float]) -> List[bytes]:
        """The read-ahead path (prefetch > 1): what the inbox holds, else
        the messages of the oldest call in flight (or of a new one); the
        window is then refilled."""
        if timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        deadline = None if not block or timeout is None else time.monotonic() + timeout
        if self._hook_retry:
            self._hook_retry = not _hook_actor_exit()
        if not self._rlock.acquire(block, -1 if deadline is None else timeout):
            raise Empty  # another thread of this object is reading
        try:
            got = self._pull_locked(max_items, block, deadline)
        finally:
            self._rlock.release()
        return got

    def _pull_locked(self, max_items: int, block: bool, deadline: Optional[float]) -> List[bytes]:
        ray = sys.modules["ray"]
        want = max(self.prefetch, max_items)
        while True:
            if self._closing:
                self._check()
            if self._inbox:
                return [self._inbox.popleft() for _ in range(min(max_items, len(self._inbox)))]
            if self._ahead and self._ahead[0][1] != self._epoch:
                self._harvest()  # calls to a replaced proxy: keep what they brought
                continue
            fresh = not self._ahead
            if fresh:
                self._read(want, READ_SLICE if block else 0.0)
            if not block:
                wait = None if fresh else 0.0
            elif deadline is None:
                wait = None
            else:
                wait = max(deadline - time.monotonic(), 0.0)
            ready, _ = ray.wait([self._ahead[0][0]], timeout=wait)
            if not ready:
                raise Empty  # the calls stay in flight for the next get
            try:
                got = _call(self._ahead[0][0])
            except ray.exceptions.RayActorError:
                self._harvest()  # keeps what the other calls brought, restarts
                continue
            self._ahead.popleft()
            self._inbox.extend(got)  # before any refill (which may harvest into the inbox)
            if got or block:
                while len(self._ahead) < READ_AHEAD:
                    self._read(want, READ_SLICE)
            if got:
                continue
            if not block or (deadline is not None and time.monotonic() >= deadline):
                raise Empty

    def _get(self, block: bool, timeout: Optional[float]) -> bytes:
        if self.prefetch > 1:
            if not self._inbox:
                self._sync()
            got = self._pull(1, block, timeout)
        else:
            try:
                return self._inbox.popleft()
            except IndexError:
                pass
            self._sync()
            got = self._fetch(1, block, timeout)
            if len(got) > 1:
                self._inbox.extend(got[1:])
        return got[0]

    def get(self, block: bool = True, timeout: Optional[float] = None) -> Any:
        """As SageQueue.get."""
        self._check()
        return self._decode(self._get(block, timeout))

    def get_bytes(self, block: bool = True, timeout: Optional[float] = None) -> bytes:
        """As SageQueue.get_bytes."""
        self._check()
        return self._get(block, timeout)

    def get_many(self, max_items: int = 1024, block: bool = True,
                 timeout: Optional[float] = None, *, raw: bool = False) -> List[Any]:
        """As SageQueue.get_many: waits for one message, then takes what is
        ready, up to max_items, in one proxy call."""
        if max_items < 1:
            raise ValueError("max_items must be >= 1")
        self._check()
        if self.prefetch > 1:
            if not self._inbox:
                self._sync()
            got = self._pull(max_items, block, timeout)
        elif self._inbox:
            got = [self._inbox.popleft() for _ in range(min(max_items, len(self._inbox)))]
        else:
            self._sync()
            got = self._fetch(max_items, block, timeout)
        if raw:
            return got
        decode = self._decode
        return [decode(x) for x in got]

