"""The asyncio helpers (sage_queue.aio) (issue 18, item 16): a cancelled
await never drops a message it took nor blocks the event loop, and waiters
never starve each other. Local queues (and a stand-in for a remote one):
the helpers behave the same in any asyncio actor, with or without Ray."""

import asyncio
import threading
import time
from collections import deque

import pytest

from sage_queue import Empty, Full
from sage_queue import ray as sq_ray


def heartbeat_gaps(loop_seconds, step=0.05):
    """A coroutine that records the longest gap between its ticks."""

    async def beat():
        loop = asyncio.get_running_loop()
        last, worst = loop.time(), 0.0
        end = last + loop_seconds
        while loop.time() < end:
            await asyncio.sleep(step)
            now = loop.time()
            worst = max(worst, now - last)
            last = now
        return worst

    return beat()


def test_16_cancel_after_the_worker_took_the_message(make_queue):
    """The worker took "A", then the task is cancelled while the queue is
    full again: "A" goes back once there is room, from a worker thread; the
    event loop keeps running meanwhile."""
    q = make_queue(max_items=1)
    taken = []

    async def main():
        task = asyncio.create_task(sq_ray.get_async(q))
        deadline = time.monotonic() + 10
        while q.get_stats()["waiting_readers"] < 1:  # until its worker waits in get()
            assert time.monotonic() < deadline, "the worker never waited in get()"
            await asyncio.sleep(0.002)
        q.put("A")
        # Hold the loop (on purpose) until the worker took "A" and handed it
        # over: the task has not seen it yet.
        deadline = time.monotonic() + 5
        while q.qsize() and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(0.1)
        q.put("B")  # full again: "A" cannot go back before "B" is taken
        task.cancel()
        threading.Timer(1.0, lambda: taken.append(q.get(timeout=5))).start()
        worst = await heartbeat_gaps(1.5)
        with pytest.raises(asyncio.CancelledError):
            await task
        return worst

    worst = asyncio.run(main())
    assert worst < 0.5, f"the event loop stood still {worst:.2f} s"
    assert taken == ["B"]
    assert q.get(timeout=5) == "A"  # never dropped
    assert q.qsize() == 0


def test_16_idle_waiters_do_not_starve_other_awaits(make_queue):
    """Forty awaits wait on an empty queue; an await on another queue still
    gets its message at once."""
    idle, busy = make_queue(), make_queue()

    async def main():
        waiters = [asyncio.create_task(sq_ray.get_async(idle)) for _ in range(40)]
        deadline = time.monotonic() + 10
        while idle.get_stats()["waiting_readers"] < 40:  # every one waits in get()
            assert time.monotonic() < deadline, idle.get_stats()["waiting_readers"]
            await asyncio.sleep(0.005)
        threading.Timer(0.1, busy.put, args=("x",)).start()
        started = time.monotonic()
        try:
            got = await asyncio.wait_for(sq_ray.get_async(busy), 5)
        finally:
            for w in waiters:
                w.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        return got, time.monotonic() - started

    got, elapsed = asyncio.run(main())
    assert got == "x" and elapsed < 2.0, f"starved for {elapsed:.1f} s"
    deadline = time.monotonic() + 10  # the cancelled waiters leave, taking nothing
    while idle.get_stats()["waiting_readers"]:
        assert time.monotonic() < deadline, idle.get_stats()["waiting_readers"]
        time.sleep(0.005)
    idle.put("still here")
    assert idle.get(timeout=5) == "still here"


class SlowRemote:
    """Stands in for a RemoteSageQueue: every call is slow (a round trip)."""

    is_remote = True

    def __init__(self, items):
        self.items = deque(items)
        self.back = []
        self.called = threading.Event()

    def get(self, block=True, timeout=None):
        self.called.set()
        time.sleep(0.3)
        if not self.items:
            raise Empty
        return self.items.popleft()

    def put(self, item, block=True, timeout=None):
        self.back.append(item)


def test_16_cancelled_non_blocking_remote_get_gives_the_message_back():
    remote = SlowRemote(["m"])

    async def main():
        task = asyncio.create_task(sq_ray.get_async(remote, block=False))
        deadline = time.monotonic() + 10
        while not remote.called.is_set():  # until the call is under way
            assert time.monotonic() < deadline, "get_async never called get"
            await asyncio.sleep(0.002)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        deadline = time.monotonic() + 10
        while not remote.back and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    asyncio.run(main())
    assert remote.back == ["m"]


def test_16_cancelled_put_async_stops_trying(make_queue):
    """A put_async cancelled while the queue is full does not put its item
    later, when room appears."""
    q = make_queue(max_items=1)
    q.put("first")

    async def main():
        task = asyncio.create_task(sq_ray.put_async(q, "late"))
        deadline = time.monotonic() + 10
        while q.get_stats()["waiting_writers"] < 1:  # until it waits for room
            assert time.monotonic() < deadline, "put_async never waited for room"
            await asyncio.sleep(0.002)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        deadline = time.monotonic() + 10
        while q.get_stats()["waiting_writers"]:  # the attempt under way has ended
            assert time.monotonic() < deadline, "the cancelled put still waits"
            await asyncio.sleep(0.005)
        assert q.get_nowait() == "first"
        await asyncio.sleep(0.6)

    asyncio.run(main())
    assert q.qsize() == 0, "put after its await was cancelled"


def test_16_helpers_still_work(make_queue):
    q = make_queue(max_items=4)

    async def main():
        producer = asyncio.create_task(sq_ray.put_many_async(q, list(range(10))))
        got = []
        while len(got) < 10:
            got += await sq_ray.get_many_async(q, 3, timeout=5)
        assert await producer == 10
        await sq_ray.put_async(q, "x")
        assert await sq_ray.get_async(q, timeout=1) == "x"
        with pytest.raises(Empty):
            await sq_ray.get_async(q, timeout=0.2)
        with pytest.raises(Empty):
            await sq_ray.get_async(q, block=False)
        return got

    assert asyncio.run(main()) == list(range(10))
