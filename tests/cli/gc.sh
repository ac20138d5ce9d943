#!/bin/sh
# sage-queue gc: removes only stale queues (every attachment's process
# died), keeps live ones and idle ones (closed cleanly), skips corrupt ones;
# --dry-run removes nothing. Patterns keep it to this test's queues, so it
# never touches queues of tests running beside it.
. "$SAGE_TEST_SRCDIR/tests/cli/lib.sh"
live=$prefix-live idle=$prefix-idle stale=$prefix-stale stale2=$prefix-stale2
bad=$prefix-corrupt

hold "$live" 1
hold "$idle" 2
stop "$held"
hold "$stale" 4
crash "$held"
hold "$stale2"
crash "$held"
corrupt "$bad"

run 0 gc --dry-run "$prefix-*"
out_has "^would remove $stale \(stale: 1 dead attachment, 4 messages queued\)$"
out_has "^would remove $stale2 \(stale: 1 dead attachment, 0 messages queued\)$"
out_has "^skipped $bad \(corrupt: "
out_has "^would remove 2 stale queues; kept 2, skipped 1 unreadable$"
out_lacks "$live|$idle"
run 0 stat "$stale"

run 0 gc -n --json "$prefix-*"
json_check "
assert doc['dry_run'] is True
acts = {q['name']: q['action'] for q in doc['queues']}
assert acts == {'$live': 'kept', '$idle': 'kept', '$stale': 'would_remove',
                '$stale2': 'would_remove', '$bad': 'skipped'}, acts
assert all(q['owner_uid'] == os.getuid() for q in doc['queues'])"

# Only the pattern's queues are looked at.
run 0 gc --json "$prefix-stale2" "$prefix-nomatch*"
json_check "
assert doc['dry_run'] is False
assert [(q['name'], q['action']) for q in doc['queues']] == [('$stale2', 'removed')]"
run 1 stat "$stale2"

run 0 gc "$prefix-*"
out_has "^removed $stale \(stale: 1 dead attachment, 4 messages queued\)$"
out_has "^removed 1 stale queue; kept 2, skipped 1 unreadable$"
run 1 stat "$stale"
err_has "no queue named"
run 0 stat "$live"
run 0 stat "$idle" --json
json_check "assert doc['state'] == 'idle' and doc['stats']['items'] == 2"

run 0 gc "$prefix-*"
out_has "^removed 0 stale queues; kept 2, skipped 1 unreadable$"

run 1 gc --transport nosuch "$prefix-*"
err_has "nosuch"
run 2 gc --bogus
err_has "unknown option"
run 0 rm --force "$live" "$idle" "$bad"
echo "cli gc ok"
