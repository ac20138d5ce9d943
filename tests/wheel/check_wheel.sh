#!/usr/bin/env bash
# Builds the wheel from this source tree and checks it as a user gets it
# (issue 16): installed into a fresh venv, with no SAGE_* or LD_* variable
# set and nothing pointing at a build tree.
#
#   tests/wheel/check_wheel.sh [WORKDIR]     (default: a fresh temp dir)
#
# 1. `pip wheel --no-deps` of the tree (the C side built by setup.py) and
#    the wheel's tag and contents;
# 2. a fresh venv with the wheel, pytest and numpy; `from sage_queue import
#    SageQueue`, transports() lists shm and posixmq from the bundle, the
#    venv's `sage-queue plugins`, `python -m sage_queue`;
# 3. a third-party plugin (the template, compiled with cc) on
#    $SAGE_PLUGIN_PATH loads next to the bundled ones;
# 4. the Python suite (tests/python, copied out of the tree so that neither
#    build/ nor python/ is used) against the installed package.
# Needs python3 with venv, a C compiler, make, autotools (from a checkout)
# and network access to PyPI (setuptools, pytest, numpy).
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=${1:-$(mktemp -d /tmp/sage-wheel.XXXXXX)}
PYTHON=${PYTHON:-python3}   # makes the venv
mkdir -p "$WORK"
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
fail() { echo "check_wheel: $*" >&2; exit 1; }

# Nothing of a build tree or a C install may leak into the checks.
clean_env=(env -u SAGE_QUEUE_LIB -u SAGE_PLUGIN_PATH -u SAGE_TEST_FIXTURES
           -u SAGE_TEST_BUILDDIR -u SAGE_TEST_SRCDIR -u SAGE_TRANSPORT -u SAGE_BENCH
           -u LD_LIBRARY_PATH -u LD_PRELOAD -u PYTHONPATH)
for v in $(env | sed -n 's/^\(SAGE_[A-Za-z0-9_]*\)=.*/\1/p; s/^\(LD_[A-Za-z0-9_]*\)=.*/\1/p'); do
  clean_env+=(-u "$v")
done

log "fresh venv $WORK/venv"
rm -rf "$WORK/venv"
"$PYTHON" -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"

log "wheel: pip wheel --no-deps -w $WORK/dist $SRC"
rm -rf "$WORK/dist"
# With the venv's pip (Debian's python3 may have none); the build itself
# runs in pip's isolated build environment, not in the venv.
"${clean_env[@]}" "$VPY" -m pip wheel --no-deps -w "$WORK/dist" "$SRC"
wheel=$(ls "$WORK"/dist/sage_queue-*.whl)
[ "$(echo "$wheel" | wc -l)" -eq 1 ] || fail "expected one wheel, got: $wheel"
echo "built $(basename "$wheel")"
case $(basename "$wheel") in
  *-py3-none-linux_*.whl) ;;
  *) fail "wheel tag is not py3-none-linux_<arch>: $(basename "$wheel")" ;;
esac
listing=$("$VPY" -m zipfile -l "$wheel")
for f in sage_queue/__init__.py sage_queue/__main__.py sage_queue/_bundle.py \
         sage_queue/_bundle/lib/libsagequeue.so.0 \
         sage_queue/_bundle/lib/sage-queue/plugins/sage-shm.so \
         sage_queue/_bundle/lib/sage-queue/plugins/sage-posixmq.so \
         sage_queue/_bundle/bin/sage-queue; do
  grep -q "^$f " <<<"$listing" || fail "$f missing from the wheel"
done
if grep -q "sage_queue/_config.py " <<<"$listing"; then
  fail "the wheel carries a build's _config.py"
fi

log "install the wheel, pytest and numpy into the venv"
"${clean_env[@]}" "$VPY" -m pip install -q "$wheel" pytest numpy
run() { (cd "$WORK" && "${clean_env[@]}" "$@"); }

log "acceptance: import, transports(), sage-queue plugins, python -m sage_queue"
run "$VPY" - <<'EOF'
import os
import sage_queue
from sage_queue import SageQueue, _bundle, _lib

site = os.path.dirname(os.path.dirname(sage_queue.__file__))
assert "site-packages" in site, f"not the installed package: {sage_queue.__file__}"
assert _lib.library_path() == _bundle.LIBRARY, f"loaded {_lib.library_path()}"
found = {t.name: t for t in sage_queue.transports()}
for name in ("shm", "posixmq"):
    assert name in found and found[name].ok, f"{name} not listed: {found}"
    assert found[name].path.startswith(os.path.realpath(_bundle.PLUGIN_DIR)), found[name].path
for transport in ("shm", "posixmq"):
    q = SageQueue(f"wheel-check-{os.getpid()}", transport=transport)
    q.put({"via": transport}, timeout=5)
    assert q.get(timeout=5) == {"via": transport}
    q.destroy()
print("import, transports() and a queue on each transport: ok")
EOF
plugins=$(run "$WORK/venv/bin/sage-queue" plugins)
echo "$plugins"
for name in shm posixmq; do
  grep -q "^$name " <<<"$plugins" || fail "sage-queue plugins does not list $name"
done
run "$WORK/venv/bin/sage-queue" --version
# `sage-queue bench` runs the bundled benchmark: a bad option makes it start
# (library loaded) and refuse, without a measurement.
rc=0
out=$(run "$WORK/venv/bin/sage-queue" bench --no-such-option 2>&1) || rc=$?
[ "$rc" -eq 2 ] && grep -q "^sage-queue-bench: " <<<"$out" ||
  fail "sage-queue bench did not run the bundled benchmark (rc $rc): $out"
run "$VPY" -m sage_queue

log "a third-party plugin on SAGE_PLUGIN_PATH, next to the bundled ones"
mkdir -p "$WORK/thirdparty"
${CC:-cc} -std=c11 -shared -fPIC -fvisibility=hidden -pthread -I"$SRC/include" \
  "$SRC/examples/plugin-template/inproc.c" -o "$WORK/thirdparty/sage-inproc.so"
run env SAGE_PLUGIN_PATH="$WORK/thirdparty" "$VPY" - <<'EOF'
import sage_queue
from sage_queue import SageQueue

names = sorted(t.name for t in sage_queue.transports() if t.ok)
assert {"inproc", "shm", "posixmq"} <= set(names), names
q = SageQueue("wheel-check-inproc", transport="inproc")
q.put("third party", timeout=5)
assert q.get(timeout=5) == "third party"
q.destroy()
print("transports with SAGE_PLUGIN_PATH:", ", ".join(names))
EOF
run env SAGE_PLUGIN_PATH="$WORK/thirdparty" "$WORK/venv/bin/sage-queue" plugins |
  grep -q "^inproc " || fail "sage-queue plugins does not list the third-party plugin"

log "the Python suite against the installed package"
# A copy of tests/python with tools/sage_env.py beside it as conftest
# expects, in a tree with no build/ and no python/: the installed package is
# the one imported. SAGE_TEST_SRCDIR only lends reference files (the C
# headers, tests/uri_cases.txt).
rm -rf "$WORK/tree"
mkdir -p "$WORK/tree/tests" "$WORK/tree/tools"
cp -R "$SRC/tests/python" "$WORK/tree/tests/python"
cp "$SRC/tools/sage_env.py" "$WORK/tree/tools/"
rm -rf "$WORK/tree/tests/python/__pycache__"
run env SAGE_TEST_SRCDIR="$SRC" PYTHONDONTWRITEBYTECODE=1 \
  "$VPY" -m pytest -q -p no:cacheprovider "$WORK/tree/tests/python"
log "wheel checks passed: $(basename "$wheel")"
