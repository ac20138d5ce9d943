#!/bin/sh
# Runs the Python test suite (tests/python) under `make check`.
# Needs PYTHON (a Python with pytest; numpy optional) and the environment
# that tests/local.mk exports (SAGE_QUEUE_LIB, SAGE_PLUGIN_PATH,
# SAGE_TEST_SRCDIR). Exits 77 (skip) when pytest is missing.
srcdir=${SAGE_TEST_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PYTHON=${PYTHON:-python3}
if [ -n "${SAGE_SANITIZERS:-}" ]; then
  # A sanitized libsagequeue needs its runtime loaded before anything else,
  # which an ordinary interpreter does not do; the normal build runs this.
  echo "SKIP: Python suite not run in a $SAGE_SANITIZERS build"
  exit 77
fi
if ! "$PYTHON" -c 'import pytest' >/dev/null 2>&1; then
  echo "SKIP: $PYTHON has no pytest (./build.sh --install-deps makes .venv with it)"
  exit 77
fi
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE
PYTHONPATH="$srcdir/python${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH
# No cache dir in the (possibly read-only, under distcheck) source tree.
exec "$PYTHON" -m pytest -q -p no:cacheprovider "$srcdir/tests/python" "$@"
