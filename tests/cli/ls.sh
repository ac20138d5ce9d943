#!/bin/sh
# sage-queue ls: live, idle, stale and corrupt queues made here are listed
# with the right numbers and state, mode and memory held, in a table and
# as JSON (the shape of stat --json); the table fits 80 columns without a
# terminal (every column with --long), long names are shortened in the
# table only; --json --stats has every stat.
. "$SAGE_TEST_SRCDIR/tests/cli/lib.sh"
live=$prefix-live idle=$prefix-idle stale=$prefix-stale bad=$prefix-corrupt

hold "$live" 3
live_pid=$held
"$tool" put "$idle" 2 100
hold "$stale" 1
crash "$held"
corrupt "$bad"

# fits80: no line of the table (the lines before the first blank one,
# which precedes the notes on unreadable queues) is wider than 80 columns.
fits80() {
  awk 'NF == 0 { exit } length > 80 { bad = 1; print "too wide (" length "): " $0 }
       END { exit bad }' "$tmp/out" || fail "ls is wider than 80 columns:
$(cat "$tmp/out")"
}
run 0 ls
user=$(id -un)
size='[0-9.]+ (B|KiB|MiB)'
mem='[0-9.]+ (KiB|MiB)'
out_has "^NAME +OWNER +MODE +MEMORY +ITEMS +ATTACHED +AGE +STATE$"
out_has "^$live +$user +0600 +$mem +3 +1 +[0-9]+s +live$"
out_has "^$idle +$user +0600 +$mem +2 +0 +[0-9]+s +idle$"
out_has "^$stale +$user +0600 +$mem +1 +0 +[0-9]+s +stale$"
out_has "^$bad +$user +0644 +8\.0 KiB +- +- +- +corrupt$"
out_has "^corrupt $bad: .*corrupt"
fits80
# --long: every column.
run 0 ls --long
out_has "^NAME +TRANSPORT +OWNER +MODE +MEMORY +CAPACITY +USED +ITEMS +ATTACHED +DEAD +AGE +STATE$"
out_has "^$live +shm +$user +0600 +$mem +1\.0 MiB +$size +3 +1 +0 +[0-9]+s +live$"
out_has "^$idle +shm +$user +0600 +$mem +1\.0 MiB +$size +2 +0 +0 +[0-9]+s +idle$"
out_has "^$stale +shm +$user +0600 +$mem +1\.0 MiB +$size +1 +0 +1 +[0-9]+s +stale$"
out_has "^$bad +shm +$user +0644 +8\.0 KiB +- +- +- +- +- +- +corrupt$"
run 0 ls -l
out_has "^NAME +TRANSPORT +OWNER "

run 0 ls --json
json_check "
rows = {r['name']: r for r in doc}
live = rows['$live']
assert live['state'] == 'live' and not live['stale'] and live['pids'] == [$live_pid]
assert live['stats']['items'] == 3 and live['stats']['attached'] == 1
assert live['stats']['capacity'] == 1 << 20 and live['stats']['bytes_used'] > 0
assert rows['$idle']['state'] == 'idle' and rows['$idle']['stats']['items'] == 2
assert rows['$idle']['stats']['attached'] == 0
assert rows['$idle']['stats']['stale_attached'] == 0
assert rows['$stale']['stale'] and rows['$stale']['state'] == 'stale'
assert rows['$stale']['stats']['stale_attached'] == 1
assert rows['$bad']['state'] == 'corrupt' and 'corrupt' in rows['$bad']['error']['message']
assert rows['$bad']['error']['code'] == 'EBADMSG', rows['$bad']['error']
assert rows['$bad']['stats'] is None and set(rows['$bad']) == set(live)
assert rows['$bad']['memory_bytes'] == 8192 and rows['$bad']['mode'] == '0644'
for n in ('$live', '$idle', '$stale', '$bad'):
    assert rows[n]['owner_uid'] == os.getuid() and rows[n]['transport'] == 'shm'
for n in ('$live', '$idle', '$stale'):
    st = os.stat('/dev/shm/sageq-%d-%s' % (os.getuid(), n))
    assert rows[n]['memory_bytes'] == st.st_size > rows[n]['stats']['capacity']
    assert rows[n]['mode'] == '0600' and rows[n]['error'] is None
assert 0 <= live['age_s'] < 600
assert 'total_put' not in live['stats']
"
# The one shape of stat --json, every stat with --stats.
"$cli" stat --json "$live" >"$tmp/stat.json"
run 0 ls --json --stats
json_check "
stat = json.load(open('$tmp/stat.json'))
rows = {r['name']: r for r in doc}
live = rows['$live']
assert set(live['stats']) == set(stat['stats']), (live['stats'], stat['stats'])
for k in ('name', 'transport', 'owner', 'state', 'stale', 'observed', 'pids'):
    assert k in live and live[k] == stat[k], k
assert live['stats']['total_put'] == 3 and live['stats']['creator_pid'] == $live_pid
assert rows['$bad']['stats'] is None
"
run 2 ls --stats
err_has "--stats goes with --json"

# A 4 KiB queue holds far more than its capacity: MEMORY says so.
"$tool" create "$prefix-small" 4096
run 0 ls --json
json_check "
row = [r for r in doc if r['name'] == '$prefix-small'][0]
assert row['stats']['capacity'] == 4096 and row['memory_bytes'] > 4 * 4096, row"
run 0 rm "$prefix-small"

# One long name is shortened in the table (not in JSON) and does not widen
# the other rows past 80 columns; --wide keeps it.
long=$prefix-$(printf 'x%.0s' $(seq 1 100))-end
"$tool" create "$long"
run 0 ls
out_lacks "$long"
# (how much of each end shows depends on the other rows: any queue of this
# user on the machine is listed)
out_has "^$prefix-x*\.\.\.x*-end +$user "
fits80
run 0 ls --long
out_lacks "$long"
out_has "^$prefix-x*\.\.\.x*-end +shm "
width=$(awk '{ if (length($0) > w) w = length($0) } END { print w }' "$tmp/out")
[ "$width" -lt 140 ] || fail "ls --long is $width columns wide with a long name"
# On a terminal the table fits its width: on 64 columns AGE goes first.
pty="$SAGE_TEST_SRCDIR/tests/cli/pty_run.py"
"$PYTHON" "$pty" run 24 64 "$tmp/pty" -- "$cli" ls ||
  fail "ls on a terminal failed: $(cat "$tmp/pty")"
tr -d '\r' <"$tmp/pty" >"$tmp/out"
out_has "^NAME +OWNER +MODE +MEMORY +ITEMS +ATTACHED +STATE$"
out_has "^cli-[0-9x-]*\.\.\.x+-end +$user .* idle$"
awk 'NF == 0 { exit } length > 64 { bad = 1; print "too wide: " $0 } END { exit bad }' \
  "$tmp/out" || fail "ls is wider than a 64-column terminal: $(cat "$tmp/out")"
run 0 ls --wide
out_has "^$long +$user "
run 0 ls --wide --long
out_has "^$long +shm "
run 0 ls --json
json_check "assert '$long' in [r['name'] for r in doc]"
run 0 rm "$long"

# --json after the command and before it; --all includes our own queues.
run 0 --json ls --all
json_check "assert '$live' in [r['name'] for r in doc]"
run 0 ls -a --transport shm
out_has "^$live "

# After a clean close the holder's queue is idle; after rm it is gone.
stop "$live_pid"
run 0 ls --json
json_check "
rows = {r['name']: r for r in doc}
assert rows['$live']['state'] == 'idle', rows['$live']"
run 0 rm "$live" "$idle" "$stale"
run 0 rm --force "$bad"
run 0 ls
out_lacks "^$prefix-"

# Errors: unknown transport (1), bad usage (2).
run 1 ls --transport nosuch
err_has "nosuch"
run 2 ls extra
err_has "unexpected argument 'extra'"
run 2 ls --transport
err_has "needs a value"
run 2 ls --bogus
err_has "unknown option '--bogus'"
echo "cli ls ok"
