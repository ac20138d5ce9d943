#!/bin/sh
# sage-queue top: every queue with depth and rates, as text (80x24 when
# not a terminal), as JSON Lines, and on an 80x24 pseudo-terminal redrawn
# in place with rows past the height cut ("+N more") and long names cut.
. "$SAGE_TEST_SRCDIR/tests/cli/lib.sh"
pty="$SAGE_TEST_SRCDIR/tests/cli/pty_run.py"
long="$prefix-a-queue-name-much-too-long-for-any-column-of-an-80-column-screen"
pump "$prefix-busy"
"$tool" put "$long" 3
i=0
while [ $i -lt 30 ]; do "$tool" create "$prefix-q$i"; i=$((i + 1)); done

# JSON Lines: one document per refresh, rates from the second on.
run 0 top --json --count 2 --interval 0.3
json_check "
assert len(lines) == 2, len(lines)
mine = {q['name']: q for q in lines[1]['queues'] if q['name'].startswith('$prefix-')}
assert len(mine) == 32, sorted(mine)
assert mine['$long']['stats']['items'] == 3 and mine['$long']['state'] == 'idle'
assert 'age_s' in mine['$long'] and 'memory_bytes' in mine['$long']  # ls --json's shape
assert lines[0]['queues'][0]['rates'] is None
busy = mine['$prefix-busy']
assert busy['state'] == 'live' and busy['rates']['put_msgs_per_s'] > 0, busy
"

# Without a terminal: frames of at most 80x24, one after another.
run 0 top --count 2 --interval 0.2
out_has "^NAME +TRANSP +STATE +DEPTH +PUT/s +GET/s +PUT MB/s +GET MB/s"
out_has "^\+[0-9]+ more$"
awk 'length > 80 { bad = 1 } END { exit bad }' "$tmp/out" || fail "top wider than 80"
[ "$(grep -c '^sage-queue top' "$tmp/out")" -eq 2 ] || fail "not 2 frames"

# On an 80x24 terminal: in place, fitting, names ellipsized.
"$PYTHON" "$pty" run 24 80 "$tmp/pty" -- "$cli" top --count 3 --interval 0.2 ||
  fail "top on a terminal failed: $(cat "$tmp/pty")"
"$PYTHON" "$pty" check "$tmp/pty" 24 80 3 || fail "top does not fit 80x24"
grep -q "+[0-9]* more" "$tmp/pty" || fail "no '+N more' line"
# a smaller terminal: fewer rows, still fitting
"$PYTHON" "$pty" run 12 60 "$tmp/pty" -- "$cli" top --count 2 --interval 0.2 ||
  fail "top on 60x12 failed"
"$PYTHON" "$pty" check "$tmp/pty" 12 60 2 || fail "top does not fit 60x12"
# only our long name's start, ending in "..."
run 0 top --count 1 --transport shm
grep -q "^$prefix-a-queue-name.*\.\.\. " "$tmp/out" || [ "$(grep -c "^$prefix-" "$tmp/out")" -lt 20 ] ||
  fail "long name not ellipsized: $(cat "$tmp/out")"
out_lacks "$long"

# Ctrl-C ends it with status 0, on a terminal too.
"$PYTHON" "$pty" run 24 80 "$tmp/pty" --sigint-after 0.5 -- "$cli" top --interval 5 ||
  fail "top did not exit 0 on Ctrl-C"

# Usage errors.
run 2 top --count 0
err_has "^sage-queue: top: --count: '0' is not a positive count"
run 2 top extra
err_has "unexpected argument 'extra'"
run 1 --json top --transport nosuch
json_check "assert 'nosuch' in doc['error']['message'], doc"
echo "cli top ok"
