"""Asynchronous exceptions at every point where CPython can raise one.

A KeyboardInterrupt (or whatever a signal handler raises, or an exception
sent to a thread) does not land between any two bytecodes: CPython raises it
only where it checks for pending work -- when a function starts (RESUME), at
a loop's back edge (a backward jump, conditional or not), and right after a
call returns, unless
the callee was a Python function returning into its caller. (The Ctrl-C
storm in test_async_faults.py exercises the same windows with real signals.)

``Injector`` runs a function with ``sys.settrace`` call and opcode events
in the sage_queue modules and raises an exception at the k-th such point
(raising from a 'call' event is raising at the function's entry); ``sweep``
does that for k = 1, 2, ... until the function completes without reaching
point k, calling a check after every run. Points are counted only in the
package's own frames (the queue's modules, serialization.py, _lib.py).
``sweep_again`` raises more exceptions at the points after the first one
(in the handlers it runs): a storm of interrupts lands several within
microseconds. sys.settrace drops its trace function once that raises, so
these need tests/fixtures/fault_trace.c, a C trace function that stays
(``AGAIN_SUPPORTED`` says whether the build made it).

The callee of a call is taken for a Python function when a Python frame
started inside that call (sys.setprofile 'call' event) -- which also counts
a builtin that called back into Python (pickle running a __reduce__); such
points are then skipped, never invented.
"""

import ctypes
import dis
import os
import sys

import sage_queue

PACKAGE = os.path.dirname(os.path.abspath(sage_queue.__file__))
FILES = frozenset(os.path.realpath(os.path.join(PACKAGE, name))
                  for name in ("queue.py", "_producer.py", "_consumer.py", "_lifetime.py",
                               "_waits.py", "_handle.py", "_base.py", "serialization.py",
                               "_lib.py"))

_CALLS = frozenset({"CALL", "CALL_FUNCTION_EX", "CALL_KW"})
# A taken backward jump checks for pending work, conditional ones too.
_BACK = frozenset({"JUMP_BACKWARD", "POP_JUMP_BACKWARD_IF_TRUE", "POP_JUMP_BACKWARD_IF_FALSE",
                   "POP_JUMP_BACKWARD_IF_NONE", "POP_JUMP_BACKWARD_IF_NOT_NONE"})

SUPPORTED = sys.version_info >= (3, 11) and sys.implementation.name == "cpython"

_TRACE_CALL, _TRACE_OPCODE = 0, 7  # PyTrace_CALL, PyTrace_OPCODE


def _fault_trace():
    """tests/fixtures/fault_trace.c, loaded (None if not built)."""
    path = os.path.join(os.environ.get("SAGE_TEST_FIXTURES", ""), "fault-trace.so")
    if not SUPPORTED or not os.path.exists(path):
        return None
    lib = ctypes.PyDLL(path)
    lib.fault_trace_install.argtypes = [ctypes.py_object]
    lib.fault_trace_install.restype = None
    lib.fault_trace_remove.argtypes = []
    lib.fault_trace_remove.restype = None
    return lib


_FAULT_TRACE = _fault_trace()
AGAIN_SUPPORTED = _FAULT_TRACE is not None

_opnames = {}


def _handlers(code):
    """offset -> the exception handler that covers it (None: none)."""
    parse = getattr(dis, "_parse_exception_table", None)  # CPython 3.11+
    entries = parse(code) if parse is not None else []
    return lambda offset: next((e.target for e in entries if e.start <= offset < e.end),
                               None)


def _opname(code, offset):
    """(name of the instruction at offset, offset of the one after it, the
    handler covering it)."""
    table = _opnames.get(code)
    if table is None:
        ops = list(dis.get_instructions(code))
        handler = _handlers(code)
        table = _opnames[code] = {i.offset: (i.opname, j.offset if j else None,
                                             handler(i.offset))
                                  for i, j in zip(ops, ops[1:] + [None])}
    return table.get(offset, (None, None, None))


_paths = {}


def _where(filename):
    path = _paths.get(filename)
    if path is None:
        path = _paths[filename] = os.path.realpath(filename)
    return path


class Injected(KeyboardInterrupt):
    """The injected exception (a KeyboardInterrupt, as Ctrl-C raises)."""


class InjectedError(Exception):
    """An injected Exception, as a signal handler may raise one."""


KINDS = (Injected, InjectedError)


class Injector:
    """Runs fn(*args), raising ``exc`` at the target-th point (0: never)."""

    def __init__(self, target=0, exc=Injected, files=FILES, again=()):
        self.target = target
        self.again = again  # later points to raise at again, ascending
        self.exc = exc
        self.files = files
        self.count = 0
        self.fired = None  # (function, offset, opname) where it was raised
        self.fired_again = []  # the same, for each later one
        self._last = {}
        self._python_child = set()
        self._thread = None

    def _profile(self, frame, event, arg):
        if event == "call" and frame.f_back is not None:
            self._python_child.add(frame.f_back)

    def _event(self, frame, event, arg):
        # Every event, through fault_trace.c: the same points as below.
        if event == _TRACE_CALL:
            frame.f_trace_lines = False
            self._global(frame, "call", arg)
        elif event == _TRACE_OPCODE and frame.f_trace_opcodes:
            self._local(frame, "opcode", arg)

    def _global(self, frame, event, arg):
        # A 'call' event: the frame starts (its RESUME checks for pending work).
        if _where(frame.f_code.co_filename) in self.files:
            frame.f_trace_lines = False
            frame.f_trace_opcodes = True
            self._point(frame, "RESUME")
            return self._local
        return None

    def _point(self, frame, op):
        if self.fired is None or len(self.fired_again) < len(self.again):
            self.count += 1
            where = (frame.f_code.co_name, frame.f_lasti, op)
            if self.count == self.target:
                self.fired = where
                raise self.exc(f"injected at point {self.target}: {where}")
            if self.count in self.again:
                self.fired_again.append(where)
                raise self.exc(f"injected again at point {self.count}: {where}")

    def _local(self, frame, event, arg):
        if event != "opcode":
            return self._local
        op, after, handler = _opname(frame.f_code, frame.f_lasti)
        prev, prev_after, prev_handler = self._last.get(frame, (None, None, None))
        # After a call only where it returned (not where its exception went),
        # and only where raising here goes where CPython's would: to the
        # call's own handler (after `return call()` in a try/finally the
        # next instruction is the inlined finally, outside that try).
        point = op in _BACK or (prev in _CALLS and frame not in self._python_child
                                and frame.f_lasti == prev_after and handler == prev_handler)
        self._python_child.discard(frame)
        self._last[frame] = (op, after, handler)
        if point:
            self._point(frame, op)
        return self._local

    def run(self, fn, *args):
        """(True, result) or (False, exception)."""
        sys.setprofile(self._profile)
        if self.again:
            _FAULT_TRACE.fault_trace_install(self._event)
        else:
            sys.settrace(self._global)
        try:
            return True, fn(*args)
        except BaseException as exc:  # the injected one, or fn's own
            return False, exc
        finally:
            if self.again:
                _FAULT_TRACE.fault_trace_remove()
            else:
                sys.settrace(None)
            sys.setprofile(None)
            self._last.clear()
            self._python_child.clear()


def sweep(setup, op, check, limit=5000, exc=Injected):
    """For k = 1, 2, ...: state = setup(); runs op(state) with ``exc``
    raised at point k; check(state, injector, ok, value). Returns how many
    points there were (the run that reached none completes untouched).
    A first run injects nothing (k = 0), so caches the code fills on first
    use are warm and every later run meets the same points."""
    state = setup()
    inj = Injector(0, exc)
    ok, value = inj.run(op, state)
    check(state, inj, ok, value)
    for k in range(1, limit + 1):
        state = setup()
        inj = Injector(k, exc)
        ok, value = inj.run(op, state)
        check(state, inj, ok, value)
        if inj.fired is None:
            return k - 1
    raise AssertionError(f"more than {limit} injection points")


def sweep_again(setup, op, check, times=1, window=40, limit=5000, exc=Injected):
    """sweep(), raising ``exc`` again ``times`` more times, at each
    combination of later points within ``window`` of the first (check sees
    inj.fired_again: where the later ones landed). Returns how many runs
    raised the first one (code that settles without calls leaves no point
    for the later ones: they land after the call, or nowhere)."""
    state = setup()
    inj = Injector(0, exc)
    check(state, inj, *inj.run(op, state))
    runs = 0
    for k in range(1, limit + 1):
        stack = [(k + 1,)]
        while stack:  # depth first over ascending tuples of later points
            later = stack.pop()
            state = setup()
            inj = Injector(k, exc, again=later)
            ok, value = inj.run(op, state)
            check(state, inj, ok, value)
            if inj.fired is None:
                return runs  # no point k: every one was tried
            runs += 1
            if len(inj.fired_again) < len(later):
                continue  # the run ended before the last one: later ones too
            if len(later) < times:
                stack.append(later + (later[-1] + 1,))
            if later[-1] + 1 < k + 1 + window:
                stack.append(later[:-1] + (later[-1] + 1,))
    raise AssertionError(f"more than {limit} injection points")
