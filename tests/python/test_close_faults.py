"""Review 18: close() against exceptions and against calls in flight, a
reused exception instance's .done, and exceptions get_many must not
swallow or replace. Exceptions are injected where CPython can raise an
asynchronous one (faults.py); threads are ordered with events and joins."""

import linecache
import os
import pickle
import queue
import subprocess
import sys
import threading

import pytest

import faults
import helpers
import sage_queue
from sage_queue import DecodeError, SageQueue

needs_tracing = pytest.mark.skipif(not faults.SUPPORTED,
                                   reason="fault injection needs CPython >= 3.11")

P = [pickle.dumps(x, 5) for x in ("a", "b", "c", "d")]
TIMEOUT = 10


drain = helpers.drain


def join_reapers(q):
    """Waits for the threads that close q's handle (see SageQueue._shut)."""
    for t in threading.enumerate():
        if t.name == f"sage_queue close {q.name}":
            t.join(TIMEOUT)
            assert not t.is_alive()


class AtCall:
    """Runs fn in this thread and raises exc right after the n-th call
    into C (or a builtin) on the line of function `func` that contains
    `text` returns; `next_op` picks one call of several on that line (the
    opcode that follows it). hook() runs first; with raise_=False nothing
    is raised (a pause point). before() runs once, as the first call on
    that line is about to be made."""

    def __init__(self, func, text, exc=faults.Injected, hook=None, next_op=None, raise_=True,
                 before=None):
        self.func, self.text, self.exc, self.hook = func, text, exc, hook
        self.next_op, self.raise_, self.before = next_op, raise_, before
        self.fired = False
        self._last = {}

    def _global(self, frame, event, arg):
        if (frame.f_code.co_name == self.func
                and faults._where(frame.f_code.co_filename) in faults.FILES):
            frame.f_trace_opcodes = True
            frame.f_trace_lines = False
            return self._local
        return None

    def _local(self, frame, event, arg):
        if event != "opcode" or self.fired:
            return self._local
        op = faults._opname(frame.f_code, frame.f_lasti)[0]
        prev, self._last[frame] = self._last.get(frame), op
        if op == "CALL" and self.before is not None and self._here(frame):
            before, self.before = self.before, None
            before()
        if prev == "CALL" and (self.next_op is None or op == self.next_op):
            if self._here(frame):
                self.fired = True
                if self.hook:
                    self.hook()
                if self.raise_:
                    raise self.exc(f"injected after {self.text!r}")
        return self._local

    def _here(self, frame):
        line = frame.f_lineno  # None on some compiler-made instructions
        return line and self.text in linecache.getline(frame.f_code.co_filename, line)

    def run(self, fn, *args):
        sys.settrace(self._global)
        try:
            return True, fn(*args)
        except BaseException as exc:
            return False, exc
        finally:
            sys.settrace(None)


@pytest.fixture
def owner(make_queue):
    return make_queue(maxsize=1 << 20)


def _holding(owner, batch):
    """A new handle on owner's queue that holds batch[1:] (batch[0] is a
    good message, batch[1] a bad one: get_many stops before it)."""
    q = SageQueue(owner.name)
    owner.put_many(batch, raw=True)
    assert q.get_many(10) == [pickle.loads(batch[0])]
    assert q.get_stats()["held"] == len(batch) - 1
    return q


def _wait_busy(q, how):
    """Waits until another thread's call is inside q (how(q) true)."""
    e = threading.Event()
    for _ in range(100_000):
        if how(q):
            return
        e.wait(0.001)
    raise AssertionError("the call never started")


# ---- 1. close() cut short anywhere: held messages go back, handle closes ---

@needs_tracing
@pytest.mark.parametrize("kind", faults.KINDS)
def test_close_interrupted_anywhere_gives_back_and_closes(owner, kind):
    batch = [P[0], b"junk", P[1], P[2]]
    attached = owner.get_stats()["attached"]

    def check(q, inj, ok, value):
        if not ok:
            assert isinstance(value, kind), value
            q.close()  # again: finishes what was cut short
        join_reapers(q)
        assert q.closed
        assert sorted(drain(owner, raw=True)) == sorted(batch[1:]), inj.fired
        assert owner.get_stats()["attached"] == attached, inj.fired  # handle closed

    points = faults.sweep(lambda: _holding(owner, batch), lambda q: q.close(), check, exc=kind)
    assert points > 10


# ---- 2./3. a get in flight while another thread closes ---------------------

def test_get_many_in_flight_at_close_gives_back_what_it_holds(owner):
    q = SageQueue(owner.name)
    res = {}
    t = threading.Thread(target=lambda: res.setdefault("got", q.get_many(10, timeout=TIMEOUT)))
    t.start()
    _wait_busy(q, lambda q: q._calls)
    q.close()  # the get_many goes on with the handle
    owner.put_many([P[0], b"junk", P[1]], raw=True)
    t.join(TIMEOUT)
    assert res["got"] == ["a"]
    join_reapers(q)
    assert drain(owner, raw=True) == [b"junk", P[1]]
    assert owner.get_stats()["attached"] == 1


@needs_tracing
@pytest.mark.parametrize("case", ["get", "get_many", "get_large"])
def test_get_interrupted_after_close_gives_back_the_message(owner, case):
    func, text, next_op, op, payload = {
        "get": ("_get", "n = _entries.try_get(buf.request_ptr)", None,
                lambda q: q.get(timeout=TIMEOUT), P[3]),
        "get_many": ("_get_batch", "rc = _entries.get_batch(", "STORE_FAST",
                     lambda q: q.get_many(10, timeout=TIMEOUT), P[3]),
        "get_large": ("_get_large", "rc = _entries.peek(", "STORE_FAST",
                      lambda q: q.get_bytes(timeout=TIMEOUT), b"L" * 100_000),
    }[case]
    q = SageQueue(owner.name)
    owner.put_bytes(payload)
    res = {}
    inside, closed = threading.Event(), threading.Event()

    def before():  # A has the handle and is about to take the message
        inside.set()
        closed.wait(TIMEOUT)

    t = threading.Thread(target=lambda: res.setdefault(
        "r", AtCall(func, text, next_op=next_op, before=before).run(op, q)))
    t.start()
    assert inside.wait(TIMEOUT)
    q.close()  # A is in flight: the handle stays until it leaves
    closed.set()
    t.join(TIMEOUT)
    ok, value = res["r"]
    assert not ok and isinstance(value, faults.Injected), value
    join_reapers(q)
    assert drain(owner, raw=True) == [payload]
    assert owner.get_stats()["attached"] == 1


# ---- 5. one exception instance raised again and again ----------------------

STOP = faults.Injected("raised by a signal handler, the same instance each time")
STALE = 7  # a .done no answer can be


@needs_tracing
def test_reused_exception_instance_gets_fresh_done(make_queue):
    q = make_queue(maxsize=4096, max_items=2)
    ok, e = AtCall("put", "rc = _entries.try_put(self._send_p, data, n)", hook=None,
                   exc=lambda _: STOP).run(q.put, "a")
    assert e is STOP and e.done == 1 and q.qsize() == 1
    q.put("fill")  # full now
    ok, e = AtCall("put", "rc = _entries.try_put(self._send_p, data, n)",
                   exc=lambda _: STOP).run(q.put_nowait, "b")
    assert e is STOP and e.done == 0 and q.qsize() == 2
    drain(q)
    ok, e = AtCall("put_many", "timeout_ns(block, timeout)",
                   exc=lambda _: STOP).run(q.put_many, ["x", "y"])
    assert e is STOP and e.done == 0 and q.qsize() == 0


def _reused_sweep(op, expect):
    """Sweeps op with STOP raised at every point, STOP carrying a stale
    .done from its previous propagation: every .done it comes out with is
    this call's (STALE left: raised before the put started)."""
    def setup():
        STOP.__dict__["done"] = STALE

    def check(_, inj, ok, value):
        got = expect()
        if ok:
            return
        assert value is STOP or inj.fired is None, value  # (Full, its own)
        done = value.__dict__.get("done", 0)
        if value is STOP and done == STALE:  # raised as the call started
            done = 0
        assert got == done, (inj.fired, value.__dict__.get("done"), got)

    return faults.sweep(setup, lambda _: op(), check, exc=lambda _: STOP)


@needs_tracing
@pytest.mark.parametrize("call", ["put", "put_bytes_zero_copy", "put_nowait_full",
                                  "put_many", "put_many_zero_copy"])
def test_reused_exception_instance_done_is_exact_anywhere(make_queue, call):
    q = make_queue(maxsize=1 << 20, max_items=4)
    big = bytearray(os.urandom(80_000))
    ops = {
        "put": lambda: q.put({"n": 1}),
        "put_bytes_zero_copy": lambda: q.put_bytes(big, timeout=5),
        "put_nowait_full": lambda: q.put_nowait("x"),
        "put_many": lambda: q.put_many([1, 2, 3]),
        "put_many_zero_copy": lambda: q.put_many([1, big, 3], timeout=5),
    }
    fill = 4 if call == "put_nowait_full" else 0

    def setup_and_count():
        got = len(drain(q, raw=True)) - fill
        for _ in range(fill):
            q.put_bytes(b"f")
        return got

    try:  # warm the caches (message sizes): every run then meets the same points
        ops[call]()
    except queue.Full:
        pass
    setup_and_count()
    assert _reused_sweep(ops[call], setup_and_count) > 3


# ---- 6. exit with a call in flight -------------------------------------------

EXIT_SCRIPT = """
import pickle, sys, threading
from sage_queue import SageQueue
q = SageQueue(sys.argv[1])
q.put_many([pickle.dumps("a"), b"junk", pickle.dumps("X")], raw=True)
assert q.get_many(10) == ["a"] and q.get_stats()["held"] == 2
threading.Thread(target=q.join, daemon=True).start()  # in flight at exit
while not q._busy():
    threading.Event().wait(0.001)
"""


def test_exit_with_a_call_in_flight_gives_back_held_messages(owner):
    package = os.path.dirname(os.path.dirname(sage_queue.__file__))
    env = dict(os.environ, PYTHONPATH=package)
    out = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, owner.name], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert sorted(drain(owner, raw=True)) == sorted([b"junk", pickle.dumps("X")])


# ---- 7. get_many handing out held messages while close() gives them back ----

@needs_tracing
@pytest.mark.parametrize("max_items", [2, 10])
def test_get_many_of_held_messages_races_close(owner, max_items):
    q = _holding(owner, [P[0], b"junk", P[1], P[2], P[3]])
    with pytest.raises(DecodeError):
        q.get_many(10)
    assert q.get_stats()["held"] == 3  # b, c, d
    a_paused, a_go = threading.Event(), threading.Event()
    res = {}

    def pause_a():
        a_paused.set()
        a_go.wait(TIMEOUT)

    def thread_a():
        res["a"] = AtCall("_take_held", "out.append(value)", hook=pause_a,
                          raise_=False).run(q.get_many, max_items)

    ta = threading.Thread(target=thread_a)
    ta.start()
    assert a_paused.wait(TIMEOUT)  # A took b, is about to take more

    def in_give_back():  # B, right after putting one back: A finishes
        a_go.set()
        ta.join(TIMEOUT)

    ok, value = AtCall("_give_back", "put_back(request, data, ", hook=in_give_back,
                       raise_=False).run(q.close)
    assert ok, value
    a_ok, a_got = res["a"]
    assert a_ok, a_got
    join_reapers(q)
    back = drain(owner)
    assert sorted(a_got + back) == ["b", "c", "d"], (a_got, back)
    assert owner.get_stats()["attached"] == 1


# ---- 8. get_many never swallows an exception from elsewhere ----------------

@needs_tracing
@pytest.mark.parametrize("text", ["items = list(map(_loads, pieces))", "_loads(piece)"])
def test_get_many_does_not_swallow_a_signal_handlers_exception(q, text):
    q.put_many(["a", "b"])
    tail = [b"raw"] if text == "_loads(piece)" else []  # the slow loop: "raw" fails the fast way
    for x in tail:
        q.put_bytes(x)
    ok, value = AtCall("_get_batch", text, exc=faults.InjectedError).run(q.get_many, 10)
    assert not ok and isinstance(value, faults.InjectedError), value
    got = drain(q, raw=True)  # everything taken was held
    assert [pickle.loads(x) for x in got[:2]] == ["a", "b"] and got[2:] == tail


# ---- 9. a DecodeError is never replaced inside the package's handler -------

@needs_tracing
def test_held_decode_error_is_not_replaced_in_take_held(q):
    q.put_many([pickle.dumps("ok"), b"junk2", pickle.dumps("after2")], raw=True)
    assert q.get_many(10) == ["ok"]

    def tracer(frame, event, arg):  # at the entry of a comprehension in _take_held
        if (event == "call" and frame.f_code.co_name == "<listcomp>"
                and frame.f_back.f_code.co_name == "_take_held"):
            raise faults.Injected("at the comprehension's entry")
        return None

    sys.settrace(tracer)
    try:
        q.get_many(10)
    except BaseException as exc:  # (an Injected would stop pytest)
        value = exc
    finally:
        sys.settrace(None)
    assert isinstance(value, DecodeError) and value.payload == b"junk2", value
    assert q.get_many(10) == ["after2"]


@needs_tracing
def test_batch_decode_error_is_not_replaced_in_get_many(q):
    q.put_many([b"junk", pickle.dumps("b")], raw=True)
    ok, value = AtCall("_get_batch", "len(items)").run(q.get_many, 10)
    payloads = [value.payload] if isinstance(value, DecodeError) else []
    assert payloads + drain(q, raw=True) == [b"junk", pickle.dumps("b")], value


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_does_not_deliver_the_parents_held_messages(make_queue):
    """A message the parent holds (an exception kept it from the caller) is
    the parent's: a forked child must not return its copy too."""
    q = make_queue(maxsize=1 << 20)
    q.put("held")
    q.put("next")
    q._held.append(q.get_bytes(timeout=5))  # as an interrupted get leaves it
    q._gh = None
    pid = os.fork()
    if pid == 0:
        try:
            ok = q.get(timeout=5) == "next"
            q.close()  # gives back what this object holds: nothing
            os._exit(0 if ok else 3)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert q.get(timeout=5) == "held"
    assert q.empty()
