#!/bin/sh
# The shm plugin's files form layers: each calls only files listed before
# it in SHM_C_SOURCES (plugin/shm/local.mk). Checked on the built objects,
# so a call through any header counts. Skipped (77) without nm or python.
set -eu
NM=${NM:-nm}
command -v "$NM" >/dev/null 2>&1 && [ -n "${PYTHON:-}" ] || exit 77
order=$(sed -n '/^SHM_C_SOURCES = /,/^[^	]/p' "$SAGE_TEST_SRCDIR/plugin/shm/local.mk" |
  grep -o 'plugin/shm/[a-z_]*\.c' | sed 's|plugin/shm/||; s|\.c$||')
objdir="$SAGE_TEST_BUILDDIR/plugin/shm/.libs"
for f in $order; do
  obj="$objdir/plugin_sage_shm_la-$f.o"
  [ -f "$obj" ] || { echo "missing $obj"; exit 1; }
  "$NM" "$obj" | awk -v f="$f" '$2 == "T" { print "def", f, $3 }
                                  $1 == "U" { print "use", f, $2 }'
done | "$PYTHON" -c '
import sys
order, defs, uses = sys.argv[1].split(), {}, []
for line in sys.stdin:
    kind, f, sym = line.split()
    (defs.__setitem__(sym, f) if kind == "def" else uses.append((f, sym)))
bad = [(f, defs[s], s) for f, s in uses
       if s in defs and order.index(defs[s]) >= order.index(f)]
for f, g, s in bad:
    print(f"{f}.c calls {s} of {g}.c, which is not above it")
print("shm layers ok" if not bad else f"{len(bad)} calls upward")
sys.exit(1 if bad else 0)' "$order"
