#!/usr/bin/env bash
# Checks a `make install` prefix: files in place, pkg-config plugindir,
# sage-queue lists the installed plugins, Python imports the package and
# finds its library and plugins with no SAGE_* variables set.
# usage: tests/check_install.sh PREFIX PYTHON
set -euo pipefail
prefix=$1
python=${2:-python3}
fail() { echo "FAIL: $*" >&2; exit 1; }
unset SAGE_PLUGIN_PATH SAGE_QUEUE_LIB SAGE_TRANSPORT

for f in include/sage/transport.h include/sage/queue.h bin/sage-queue \
         lib/pkgconfig/sage-queue.pc; do
  [ -e "$prefix/$f" ] || fail "missing $prefix/$f"
done
ls "$prefix"/lib/libsagequeue.so.* >/dev/null 2>&1 || fail "missing libsagequeue"

plugindir=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --variable=plugindir sage-queue)
[ "$plugindir" = "$prefix/lib/sage-queue/plugins" ] || fail "plugindir is '$plugindir'"
plugins=$(cd "$plugindir" 2>/dev/null && ls sage-*.so 2>/dev/null || true)
[ -n "$plugins" ] || fail "no plugins installed in $plugindir"

LD_LIBRARY_PATH= "$prefix/bin/sage-queue" plugins
# The table shortens long paths to fit the terminal: check the JSON.
listing=$(LD_LIBRARY_PATH= "$prefix/bin/sage-queue" --json plugins)
for so in $plugins; do
  name=${so#sage-}; name=${name%.so}
  echo "$listing" | grep -Eq "\{\"name\": \"$name\", \"ok\": true, \"version\": \"[0-9][^\"]*\", \"abi\": \"1\.[0-9]+\", .*\"path\": \"$plugindir/$so\"" \
    || fail "sage-queue plugins does not list $name with version, ABI and file: $listing"
done

site=$(find "$prefix/lib" -type d -name site-packages | head -1)
[ -n "$site" ] && [ -f "$site/sage_queue/__init__.py" ] || fail "Python package not installed"
PYTHONPATH="$site" "$python" - "$plugindir" <<'PY'
import sys
import sage_queue
names = {t.name: t for t in sage_queue.transports() if t.ok}
assert names, "no usable transports found from Python"
for t in names.values():
    assert t.path.startswith(sys.argv[1]), t.path
print("python ok:", sage_queue.version(), sorted(names))
PY
echo "install ok: $prefix"
