"""Signals during blocking calls: handlers run promptly, KeyboardInterrupt
propagates, and a benign signal does not reset or shorten the timeout."""

import queue
import signal
import threading
import time

import pytest


def interrupt_main_after(delay, sig=signal.SIGINT):
    main = threading.main_thread().ident
    t = threading.Timer(delay, signal.pthread_kill, args=(main, sig))
    t.start()
    return t


def test_keyboard_interrupt_of_blocked_get_is_prompt(q):
    t = interrupt_main_after(0.2)
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        q.get()
    took = time.monotonic() - start
    t.join()
    assert 0.15 <= took < 2.0
    q.put("still usable")
    assert q.get() == "still usable"


def test_keyboard_interrupt_of_blocked_put_and_join(make_queue):
    q = make_queue(max_items=1)
    q.put(1)
    for call in (lambda: q.put(2), lambda: q.join()):
        t = interrupt_main_after(0.2)
        start = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            call()
        assert time.monotonic() - start < 2.0
        t.join()
    assert q.qsize() == 1


class Alarm(Exception):
    pass


def test_handler_exception_propagates(q):
    def on_alarm(signum, frame):
        raise Alarm()

    old = signal.signal(signal.SIGALRM, on_alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(Alarm):
            q.get(timeout=30)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_benign_signal_keeps_waiting_with_the_time_left(q):
    seen = []
    old = signal.signal(signal.SIGUSR1, lambda s, f: seen.append(s))
    try:
        t = interrupt_main_after(0.1, signal.SIGUSR1)
        start = time.monotonic()
        with pytest.raises(queue.Empty):
            q.get(timeout=0.5)
        took = time.monotonic() - start
        t.join()
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert seen == [signal.SIGUSR1]
    assert 0.5 - 0.002 <= took <= 2.0


def test_benign_signal_then_item_arrives(q):
    old = signal.signal(signal.SIGUSR1, lambda s, f: None)
    try:
        t1 = interrupt_main_after(0.1, signal.SIGUSR1)
        t2 = threading.Timer(0.3, q.put, args=("after signal",))
        t2.start()
        assert q.get(timeout=30) == "after signal"
        t1.join()
        t2.join()
    finally:
        signal.signal(signal.SIGUSR1, old)


def test_interrupts_at_any_moment_never_hang(make_queue):
    """Signals landing anywhere, including outside the C wait itself (spin,
    stall-check wake-ups), still interrupt a blocked main thread promptly."""
    q = make_queue(max_items=1)
    q.put(0)  # full, and one unfinished task
    blocked = (lambda: q.put(1), lambda: q.join())
    for i in range(30):
        timers = []
        start = time.monotonic()
        # The timer starts inside the block: however early it fires, the
        # KeyboardInterrupt is raised where pytest.raises expects it.
        with pytest.raises(KeyboardInterrupt):
            timers.append(interrupt_main_after(0.002 + (i % 7) * 0.003))
            blocked[i % 2]()
        assert time.monotonic() - start < 1.0, f"iteration {i} hung"
        for t in timers:
            t.join()
    assert q.qsize() == 1
