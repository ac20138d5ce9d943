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

The callee of a call is taken for a Python function when a Python frame
started inside that call (sys.setprofile 'call' event) -- which also counts
a builtin that called back into Python (pickle running a __reduce__); such
points are then skipped, never invented.
"""

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

_opnames = {}


def _opname(code, offset):
    table = _opnames.get(code)
    if table is None:
        table = _opnames[code] = {i.offset: i.opname for i in dis.get_instructions(code)}
    return table.get(offset)


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

    def __init__(self, target=0, exc=Injected, files=FILES):
        self.target = target
        self.exc = exc
        self.files = files
        self.count = 0
        self.fired = None  # (function, offset, opname) where it was raised
        self._last = {}
        self._python_child = set()
        self._thread = None

    def _profile(self, frame, event, arg):
        if event == "call" and frame.f_back is not None:
            self._python_child.add(frame.f_back)

    def _global(self, frame, event, arg):
        # A 'call' event: the frame starts (its RESUME checks for pending work).
        if _where(frame.f_code.co_filename) in self.files:
            frame.f_trace_lines = False
            frame.f_trace_opcodes = True
            self._point(frame, "RESUME")
            return self._local
        return None

    def _point(self, frame, op):
        if self.fired is None:
            self.count += 1
            if self.count == self.target:
                self.fired = (frame.f_code.co_name, frame.f_lasti, op)
                raise self.exc(f"injected at point {self.target}: {self.fired}")

    def _local(self, frame, event, arg):
        if event != "opcode":
            return self._local
        op = _opname(frame.f_code, frame.f_lasti)
        prev = self._last.get(frame)
        point = op in _BACK or (prev in _CALLS and frame not in self._python_child)
        self._python_child.discard(frame)
        self._last[frame] = op
        if point:
            self._point(frame, op)
        return self._local

    def run(self, fn, *args):
        """(True, result) or (False, exception)."""
        sys.setprofile(self._profile)
        sys.settrace(self._global)
        try:
            return True, fn(*args)
        except BaseException as exc:  # the injected one, or fn's own
            return False, exc
        finally:
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
