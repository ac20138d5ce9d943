#!/bin/sh
# sage-queue ls: live, idle, stale and corrupt queues made here are listed
# with the right numbers and state, in a table and as JSON.
. "$SAGE_TEST_SRCDIR/tests/cli/lib.sh"
live=$prefix-live idle=$prefix-idle stale=$prefix-stale bad=$prefix-corrupt

hold "$live" 3
live_pid=$held
"$tool" put "$idle" 2 100
hold "$stale" 1
crash "$held"
corrupt "$bad"

run 0 ls
user=$(id -un)
size='[0-9.]+ (B|KiB|MiB)'
out_has "^NAME +TRANSPORT +OWNER +CAPACITY +USED +ITEMS +ATTACHED +DEAD +AGE +STATE$"
out_has "^$live +shm +$user +1\.0 MiB +$size +3 +1 +0 +[0-9]+s +live$"
out_has "^$idle +shm +$user +1\.0 MiB +$size +2 +0 +0 +[0-9]+s +idle$"
out_has "^$stale +shm +$user +1\.0 MiB +$size +1 +0 +1 +[0-9]+s +stale$"
out_has "^$bad +shm +$user +- +- +- +- +- +- +corrupt$"
out_has "^corrupt $bad: .*corrupt"

run 0 ls --json
json_check "
rows = {r['name']: r for r in doc}
assert rows['$live']['state'] == 'live' and not rows['$live']['stale']
assert rows['$live']['items'] == 3 and rows['$live']['attached'] == 1
assert rows['$live']['capacity'] == 1 << 20 and rows['$live']['bytes_used'] > 0
assert rows['$idle']['state'] == 'idle' and rows['$idle']['items'] == 2
assert rows['$idle']['attached'] == 0 and rows['$idle']['stale_attached'] == 0
assert rows['$stale']['stale'] and rows['$stale']['state'] == 'stale'
assert rows['$stale']['attached'] == 0 and rows['$stale']['stale_attached'] == 1
assert rows['$bad']['state'] == 'corrupt' and 'corrupt' in rows['$bad']['error']
assert rows['$bad']['items'] is None and set(rows['$bad']) == set(rows['$live'])
for n in ('$live', '$idle', '$stale', '$bad'):
    assert rows[n]['owner_uid'] == os.getuid() and rows[n]['transport'] == 'shm'
assert 0 <= rows['$live']['age_s'] < 600
"

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
