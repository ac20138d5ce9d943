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

for so in "$SAGE_TEST_PLUGINS"/sage-*.so "$SAGE_TEST_FIXTURES"/sage-mem.so; do
  [ -e "$so" ] || continue
  syms=$(dynamic_symbols "$so")
  if [ "$syms" != "sage_transport_entry" ]; then
    echo "FAIL: $so exports more than sage_transport_entry:"
    printf '  %s\n' $syms
    status=1
  fi
done
[ $status -eq 0 ] && echo "exports ok"
exit $status
