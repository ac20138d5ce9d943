#!/bin/sh
# sage-queue's usage contract: --help with examples for every command,
# exit 2 on usage errors, --version, and a man page covering every command.
. "$SAGE_TEST_SRCDIR/tests/cli/lib.sh"
commands="plugins ls stat top peek put drain rm gc bench check-plugin metrics"

run 0 --help
for c in $commands; do out_has "^  $c "; done
out_has "Exit codes: 0 ok, 1 error, 2 usage"
for c in $commands; do
  run 0 "$c" --help
  out_has "^usage: sage-queue $c"
  out_has "^Examples?:"
  run 0 help "$c"
  out_has "^usage: sage-queue $c"
done
# Usage errors: one line pointing at --help, not the whole help; with
# --json also {"error": {"message", "code": "usage"}} on stdout.
for c in plugins ls stat top peek put drain rm gc check-plugin metrics; do
  run 2 "$c" --no-such-option
  err_has "^sage-queue: $c: unknown option '--no-such-option' \(see 'sage-queue $c --help'\)$"
  [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$c: usage error of more than a line: $(cat "$tmp/err")"
  run 2 --json "$c" --no-such-option
  json_check "assert doc == {'error': {'message': \"$c: unknown option '--no-such-option' (see 'sage-queue $c --help')\", 'code': 'usage'}}, doc"
done
run 2 --json frobnicate
json_check "assert doc['error']['code'] == 'usage', doc"

run 2
err_has "^usage: sage-queue"
run 2 frobnicate
err_has "^sage-queue: unknown command 'frobnicate' \(see 'sage-queue --help'\)$"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "unknown command: more than a line"
run 2 --bogus ls
err_has "unknown option '--bogus'"

# plugins fits 80 columns (capabilities wrapped).
run 0 plugins
awk 'length > 80 { bad = 1; print "too wide: " $0 } END { exit bad }' "$tmp/out" ||
  fail "plugins is wider than 80 columns"
run 2 --transport
run 0 --version
out_has "^sage-queue [0-9]+\.[0-9]+\.[0-9]+ \(plugin ABI [0-9]+\.[0-9]+\)$"

# The man page documents every command and renders without warnings.
man="$SAGE_TEST_SRCDIR/src/cli/sage-queue.1"
for c in $commands; do
  grep -Eq "^\.SS $c( |$)" "$man" || fail "man page lacks a section for $c"
done
grep -q '^\.SH EXIT STATUS' "$man" || fail "man page lacks EXIT STATUS"
if command -v groff >/dev/null 2>&1; then
  warnings=$(groff -man -Tutf8 -ww -z "$man" 2>&1)
  [ -z "$warnings" ] || fail "groff warns about the man page: $warnings"
fi
echo "cli usage ok"
