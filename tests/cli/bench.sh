#!/bin/sh
# sage-queue bench: execs $SAGE_BENCH (or the installed sage-queue-bench)
# with the user's arguments and its exit status; a missing program is a
# clear error.
. "$SAGE_TEST_SRCDIR/tests/cli/lib.sh"
cat >"$tmp/fake-bench" <<'SH'
#!/bin/sh
echo "fake-bench [$*]"
exit 3
SH
chmod +x "$tmp/fake-bench"

SAGE_BENCH="$tmp/fake-bench" run 3 bench --sizes 8,64 -x
out_has "^fake-bench \[--sizes 8,64 -x\]$"
SAGE_BENCH="$tmp/fake-bench" run 3 --json --transport shm bench
out_has "^fake-bench \[--json --transport shm\]$"
SAGE_BENCH="$tmp/fake-bench" run 3 bench -- --help
out_has "^fake-bench \[--help\]$"

run 0 bench --help
out_has "sage-queue-bench"
out_has "Example"
# Without $SAGE_BENCH: the installed path, named in --help.
default=$(sed -n '/else the installed$/{n;s/^ *//p;}' "$tmp/out")

SAGE_BENCH="$tmp/missing" run 1 bench
err_has "^sage-queue: bench: benchmark program $tmp/missing not found"
err_has "SAGE_BENCH"

[ -n "$default" ] || fail "bench --help does not name the installed path"
case $default in */libexec/sage-queue/sage-queue-bench) ;;
  *) fail "installed bench path is $default" ;; esac
if [ ! -e "$default" ]; then
  run 1 bench
  err_has "$default not found"
fi
echo "cli bench ok"
