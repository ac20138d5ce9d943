#!/bin/sh
# The config-file pipeline (examples/config_pipeline) on both in-tree
# transports: the second run differs from the first only by its config
# file, shm:// edited to posixmq:// (issue 15). Skips (77) without Python
# 3.11 or in a sanitizer build.
set -eu
srcdir=${SAGE_TEST_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
python=${PYTHON:-python3}
if [ -n "${SAGE_SANITIZERS:-}" ]; then
  # A sanitized libsagequeue needs its runtime loaded first, which an
  # ordinary interpreter does not do (as tests/python/run_pytest.sh).
  echo "SKIP: not run in a $SAGE_SANITIZERS build"
  exit 77
fi
"$python" -c 'import tomllib' 2>/dev/null || { echo "no Python 3.11+ at $python"; exit 77; }
export PYTHONPATH="$srcdir/python${PYTHONPATH:+:$PYTHONPATH}"
example="$srcdir/examples/config_pipeline"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$python" "$example/pipeline.py" "$example/pipeline.toml" | tee "$tmp/shm.out"
grep -q "over shm: in order, none lost" "$tmp/shm.out"
sed 's#shm://#posixmq://#g' "$example/pipeline.toml" > "$tmp/posixmq.toml"
"$python" "$example/pipeline.py" "$tmp/posixmq.toml" | tee "$tmp/posixmq.out"
grep -q "over posixmq: in order, none lost" "$tmp/posixmq.out"
