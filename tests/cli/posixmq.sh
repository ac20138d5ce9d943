#!/bin/sh
# Every verb that takes a queue works on posixmq, a transport without the
# observe mode (SAGE_CAP_OBSERVE): the command opens the queue as an
# ordinary handle to read it and says so; rm removes it without the
# attachment check the transport cannot make.
. "$SAGE_TEST_SRCDIR/tests/cli/lib.sh"
q=$prefix-pmq
run 0 plugins
if ! grep -q '^posixmq ' "$tmp/out"; then
  echo "posixmq not built: skipping"
  exit 77
fi
if ! SAGE_TRANSPORT=posixmq "$tool" put "$q" 3 2>"$tmp/err"; then
  if grep -Eq "not supported|Function not implemented|Permission" "$tmp/err"; then
    echo "POSIX message queues unavailable here: skipping"
    exit 77
  fi
  fail "queue_tool put on posixmq: $(cat "$tmp/err")"
fi
trap 'SAGE_TRANSPORT=posixmq "$cli" rm -f "$q" >/dev/null 2>&1 || true; cleanup' EXIT

run 0 --transport posixmq stat "$q"
out_has "^queue $q \(transport posixmq\)"
out_has "^items +3"
out_has "^note: transport posixmq has no observe mode"
run 0 --transport posixmq --json stat "$q"
json_check "
assert doc['name'] == '$q' and doc['observed'] is False
assert doc['stats']['items'] == 3 and doc['stats']['total_put'] == 3"

# shm, for contrast, is observed without counting the command.
"$tool" create "$prefix-shm"
run 0 --json stat "$prefix-shm"
json_check "assert doc['observed'] is True and doc['stats']['attached'] == 0"

run 0 --transport posixmq rm "$q"
out_has "^removed $q \(transport posixmq cannot say who has it open"
run 1 --transport posixmq stat "$q"
err_has "does not exist|no queue named"
run 1 --transport posixmq rm "$q"
