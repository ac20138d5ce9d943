#!/bin/sh
# Builds examples/plugin-template out of tree against a fresh `make install`
# of this tree, the way a third party would, and checks the result:
#  1. this tree's distributed sources (make distdir) are configured with
#     --prefix=TMP in a build dir of their own and installed: the prefix is
#     compiled into libsagequeue, sage-queue.pc and the Python package, so
#     the build being tested cannot simply be installed elsewhere;
#  2. the template is copied out, autoreconf'd, configured with
#     PKG_CONFIG_PATH=TMP/lib/pkgconfig only, built, installed into the
#     plugindir sage-queue.pc names, and its own `make check` run;
#  3. TMP/bin/sage-queue plugins lists "inproc" as usable;
#  4. the conformance suite passes on it, loaded by name from C: with the
#     installed `sage-queue check-plugin` where it exists, else with this
#     build's tests/run_conformance;
#  5. Python (PYTHONPATH=TMP's site-packages) shows it ok in transports()
#     and, where sage_queue.SageQueue exists, round-trips a message through
#     transport="inproc".
# Nothing from the build tree's environment (SAGE_PLUGIN_PATH,
# SAGE_QUEUE_LIB) is used for the installed checks. Works from a read-only
# source tree (distcheck). Skipped (77) without autoreconf or pkg-config,
# or when SAGE_SKIP_TEMPLATE_TEST=1. SAGE_KEEP_TEMPLATE_TMP=1 keeps TMP.
set -eu

builddir=${SAGE_TEST_BUILDDIR:?run through make check}
srcdir=${SAGE_TEST_SRCDIR:?run through make check}
if [ "${SAGE_SKIP_TEMPLATE_TEST:-0}" = 1 ]; then
  echo "SAGE_SKIP_TEMPLATE_TEST=1: skipping"
  exit 77
fi
for tool in autoreconf pkg-config make; do
  command -v $tool >/dev/null 2>&1 || {
    echo "$tool not found: skipping"
    exit 77
  }
done

# Nested builds get their own jobs, not make check's jobserver.
unset MAKEFLAGS MFLAGS MAKELEVEL
MAKE=${MAKE_FOR_TEMPLATE:-make}
start=$(date +%s)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sage-template.XXXXXX")
cleanup() {
  if [ "${SAGE_KEEP_TEMPLATE_TMP:-0}" = 1 ]; then
    echo "kept $tmp"
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  exit 1
}
step() { echo "== $* ($(($(date +%s) - start))s)"; }
quiet() { # runs "$@" with output in $tmp/log, shown only on failure
  "$@" >"$tmp/log" 2>&1 || {
    tail -40 "$tmp/log"
    fail "$*"
  }
}
prefix=$tmp/prefix

step "install this tree into $prefix"
quiet $MAKE -C "$builddir" distdir distdir="$tmp/src" top_distdir="$tmp/src"
mkdir "$tmp/build"
(cd "$tmp/build" && quiet "$tmp/src/configure" --prefix="$prefix" \
  --disable-dependency-tracking --disable-static)
quiet $MAKE -C "$tmp/build" -j2 install

step "build the template out of tree against the installed prefix"
cp -R "$srcdir/examples/plugin-template" "$tmp/template"
chmod -R u+w "$tmp/template"
(cd "$tmp/template" && quiet autoreconf -fi)
mkdir "$tmp/template/build"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
unset PKG_CONFIG_LIBDIR SAGE_PLUGIN_PATH SAGE_QUEUE_LIB SAGE_TRANSPORT
(cd "$tmp/template/build" && quiet ../configure --disable-dependency-tracking)
quiet $MAKE -C "$tmp/template/build"
quiet $MAKE -C "$tmp/template/build" install
quiet $MAKE -C "$tmp/template/build" check
plugindir=$(pkg-config --variable=plugindir sage-queue)
[ -f "$plugindir/sage-inproc.so" ] ||
  fail "sage-inproc.so not installed in $plugindir"
case $plugindir in
"$prefix"/*) ;;
*) fail "plugindir $plugindir is outside the prefix" ;;
esac

step "sage-queue plugins lists it"
"$prefix/bin/sage-queue" plugins
# The table shortens long paths to fit the terminal: check the JSON.
listing=$("$prefix/bin/sage-queue" --json plugins)
echo "$listing" | grep -q "{\"name\": \"inproc\", \"ok\": true, .*\"path\": \"$plugindir/sage-inproc\.so\"" ||
  fail "sage-queue plugins does not list inproc from $plugindir: $listing"

step "conformance suite on it"
if "$prefix/bin/sage-queue" --help 2>&1 | grep -q check-plugin; then
  "$prefix/bin/sage-queue" check-plugin "$plugindir/sage-inproc.so" ||
    fail "sage-queue check-plugin"
else
  echo "(installed sage-queue has no check-plugin: using tests/run_conformance)"
  SAGE_PLUGIN_PATH=$plugindir "$builddir/tests/run_conformance" inproc ||
    fail "conformance"
fi

step "Python finds it by name"
site=$(find "$prefix/lib" -type d -name site-packages 2>/dev/null | head -1)
if [ -z "${PYTHON:-}" ] || [ -z "$site" ]; then
  echo "(no Python package installed: Python part skipped)"
else
  PYTHONPATH=$site "$PYTHON" - "$plugindir" <<'PY' || fail "Python"
import sys
import sage_queue
found = {t.name: t for t in sage_queue.transports()}
t = found.get("inproc")
assert t is not None, f"inproc not in transports(): {sorted(found)}"
assert t.ok, f"inproc refused: {t.error}"
assert t.path.startswith(sys.argv[1]), t.path
print("transports():", sorted(n for n, x in found.items() if x.ok))
if hasattr(sage_queue, "SageQueue"):
    q = sage_queue.SageQueue(transport="inproc")
    try:
        q.put({"hello": [1, 2, 3]})
        got = q.get(timeout=5)
        assert got == {"hello": [1, 2, 3]}, got
        print("SageQueue round trip through inproc ok")
    finally:
        (getattr(q, "destroy", None) or q.close)()
else:
    print("(sage_queue.SageQueue not there yet: round trip skipped)")
PY
fi
step "the C quick start (docs/C.md) against the installed prefix"
# docs/C.md's build and run commands, as written there (PKG_CONFIG_PATH is
# set above).
mkdir -p "$tmp/cstart/examples"
cp -R "$srcdir/examples/c" "$tmp/cstart/examples/"
(
  cd "$tmp/cstart" && PREFIX=$prefix &&
    cc -o producer examples/c/producer.c $(pkg-config --cflags --libs sage-queue) -Wl,-rpath,$PREFIX/lib &&
    cc -o consumer examples/c/consumer.c $(pkg-config --cflags --libs sage-queue) -Wl,-rpath,$PREFIX/lib
) >"$tmp/log" 2>&1 || { cat "$tmp/log"; fail "C quick start build"; }
uri="shm://cstart-$$?maxsize=1MiB"
(
  cd "$tmp/cstart" &&
    ./consumer "$uri" >consumer.out &
  cd "$tmp/cstart" && ./producer "$uri" 1000 && wait $!
) || fail "C quick start run"
cat "$tmp/cstart/consumer.out"
grep -qx "consumer: 1000 messages" "$tmp/cstart/consumer.out" ||
  fail "the consumer did not get the producer's 1000 messages"
[ ! -e "/dev/shm/sageq-$(id -u)-cstart-$$" ] || fail "the consumer left its queue"
step "template ok"
