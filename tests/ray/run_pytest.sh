#!/bin/sh
# Runs the Ray test suite (tests/ray) under `make check`: queues between Ray
# actors on one node and across the two nodes of a local
# ray.cluster_utils.Cluster. Needs PYTHON (a Python with pytest and ray) and
# the environment that tests/local.mk exports (SAGE_QUEUE_LIB,
# SAGE_PLUGIN_PATH, SAGE_TEST_SRCDIR). Exits 77 (skip) when pytest or ray
# cannot be imported. Takes about a minute and a half on 2 vCPUs.
srcdir=${SAGE_TEST_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PYTHON=${PYTHON:-python3}
if [ -n "${SAGE_SANITIZERS:-}" ]; then
  # As tests/python: an ordinary interpreter cannot load a sanitized
  # libsagequeue (its runtime must come first); the normal build runs this.
  echo "SKIP: Ray suite not run in a $SAGE_SANITIZERS build"
  exit 77
fi
if ! "$PYTHON" -c 'import pytest' >/dev/null 2>&1; then
  echo "SKIP: $PYTHON has no pytest (./build.sh --install-deps makes .venv with it)"
  exit 77
fi
if ! err=$("$PYTHON" -c 'import ray' 2>&1); then
  echo "SKIP: $PYTHON cannot import ray, so the Ray tests cannot run"
  echo "      (./build.sh --install-deps installs it in .venv): $(echo "$err" | tail -n 1)"
  exit 77
fi
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE
PYTHONPATH="$srcdir/python${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH
# No cache dir in the (possibly read-only, under distcheck) source tree.
exec "$PYTHON" -m pytest -q -p no:cacheprovider "$srcdir/tests/ray" "$@"
