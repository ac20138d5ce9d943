#!/bin/sh
# libsagequeue must export exactly tests/exports.txt (its public sage_ API);
# every plugin must export only the entry symbol.
set -eu
NM=${NM:-nm}
lib="$SAGE_TEST_BUILDDIR/src/.libs/libsagequeue.so"
expected="$SAGE_TEST_SRCDIR/tests/exports.txt"
status=0

dynamic_symbols() {
  "$NM" -D --defined-only "$1" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort
}

actual=$(dynamic_symbols "$lib")
if ! printf '%s\n' "$actual" | diff -u "$expected" - ; then
  echo "FAIL: libsagequeue exports differ from tests/exports.txt (+ is unexpected)"
  status=1
fi

# The plugins to check: shm (always built), every other plugin the build
# made (plugin/sage-*.la; posixmq where configure found mq_open), and the
# mem fixture. A missing one fails: a check of nothing must not pass.
plugins=${SAGE_TEST_PLUGINS:-$SAGE_TEST_BUILDDIR/plugin/.libs}
fixtures=${SAGE_TEST_FIXTURES:-$SAGE_TEST_BUILDDIR/tests/fixtures/.libs}
set -- "$plugins/sage-shm.so"
for la in "$SAGE_TEST_BUILDDIR"/plugin/sage-*.la; do
  [ -e "$la" ] || continue
  so=$(sed -n "s/^dlname='\(.*\)'$/\1/p" "$la")
  [ "$so" = sage-shm.so ] || set -- "$@" "$plugins/${so:-$(basename "$la" .la).so}"
done
set -- "$@" "$fixtures/sage-mem.so"
checked=0
for so in "$@"; do
  if [ ! -e "$so" ]; then
    echo "FAIL: $so was not built"
    status=1
    continue
  fi
  checked=$((checked + 1))
  syms=$(dynamic_symbols "$so")
  if [ "$syms" != "sage_transport_entry" ]; then
    echo "FAIL: $so exports more than sage_transport_entry:"
    printf '  %s\n' $syms
    status=1
  fi
done
[ $status -eq 0 ] && echo "exports ok ($checked plugins)"
exit $status
