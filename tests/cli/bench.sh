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
# --json is a flag: the report goes to stdout (as /dev/fd/N), the
# benchmark's own tables to stderr; it never eats the next argument.
cat >"$tmp/json-bench" <<'SH'
#!/bin/sh
echo "json-bench [$*]"
while [ $# -gt 0 ]; do
  if [ "$1" = --json ]; then echo '{"ok": true}' >"$2"; shift; fi
  shift
done
SH
chmod +x "$tmp/json-bench"
SAGE_BENCH="$tmp/json-bench" run 0 --json --transport shm bench --quick
err_has "^json-bench \[--json /dev/fd/[0-9]+ --transport shm --quick\]$"
json_check 'assert doc == {"ok": True}, doc'
SAGE_BENCH="$tmp/json-bench" run 0 bench --quick --json
json_check 'assert doc == {"ok": True}, doc'
# `sage-queue --json bench > results.json`, the example of bench --help
SAGE_BENCH="$tmp/json-bench" "$cli" --json bench >"$tmp/results.json" 2>/dev/null ||
  fail "--json bench > results.json failed"
"$PYTHON" -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/results.json" ||
  fail "results.json is not JSON: $(cat "$tmp/results.json")"
SAGE_BENCH="$tmp/fake-bench" run 3 bench --json-file "$tmp/r.json" --quick
out_has "^fake-bench \[--json $tmp/r.json --quick\]$"
SAGE_BENCH="$tmp/fake-bench" run 3 bench --output="$tmp/r.json"
out_has "^fake-bench \[--json $tmp/r.json\]$"
# --json-file cannot eat the next flag either
SAGE_BENCH="$tmp/fake-bench" run 2 bench --json-file --quick
err_has "^sage-queue: bench: option '--json-file' needs a FILE \(see 'sage-queue bench --help'\)$"
[ ! -e ./--quick ] || fail "a file named --quick was written"
SAGE_BENCH="$tmp/fake-bench" run 2 --json bench --json-file "$tmp/r.json"
json_check 'assert doc["error"]["code"] == "usage", doc'
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
SAGE_BENCH="$tmp/missing" run 1 --json bench
json_check 'assert "not found" in doc["error"]["message"], doc'

[ -n "$default" ] || fail "bench --help does not name the installed path"
case $default in */libexec/sage-queue/sage-queue-bench) ;;
  *) fail "installed bench path is $default" ;; esac
if [ ! -e "$default" ]; then
  run 1 bench
  err_has "$default not found"
fi
echo "cli bench ok"
