#!/bin/sh
# sage-queue gc: removes only stale queues (every attachment's process
# died), keeps live ones and idle ones (closed cleanly), skips corrupt ones;
# --dry-run removes nothing; --idle removes idle ones too, --older-than
# only old ones. Patterns keep it to this test's queues, so it
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
assert all(q['owner_uid'] == os.getuid() for q in doc['queues'])
errs = {q['name']: q['error'] for q in doc['queues']}
# a skipped (or failed) queue's error has the shape of every --json error
assert set(errs['$bad']) == {'message', 'code'}, errs
assert errs['$bad']['code'] == 'EBADMSG' and 'corrupt' in errs['$bad']['message'], errs
assert all(errs[n] is None for n in ('$live', '$idle', '$stale', '$stale2')), errs"

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

# --idle: idle queues go too (never live ones); --older-than keeps the
# young ones; both with --dry-run first.
run 0 gc --idle --dry-run "$prefix-*"
out_has "^would remove $idle \(idle: nobody attached, 2 messages queued\)$"
out_has "^would remove 1 stale or idle queue; kept 1, skipped 1 unreadable$"
out_lacks "$live"
run 0 gc --idle --older-than 1h --json "$prefix-*"
json_check "
acts = {q['name']: (q['state'], q['action'], q['reason']) for q in doc['queues']}
assert acts['$idle'][:2] == ('idle', 'kept'), acts
assert 'not older than 1h' in acts['$idle'][2], acts
assert acts['$live'][:2] == ('live', 'kept'), acts"
run 0 stat "$idle"
# --older-than alone applies to stale queues: a young one is kept.
hold "$stale" 1
crash "$held"
run 0 gc --older-than 2d "$prefix-*"
out_has "^removed 0 stale queues; kept 3, skipped 1 unreadable$"
run 0 stat "$stale"
sleep 1
run 0 gc --idle --older-than 1s "$prefix-*"
out_has "^removed $idle \(idle: nobody attached, 2 messages queued, age [0-9]+s\)$"
out_has "^removed $stale \(stale: 1 dead attachment, 1 message queued, age [0-9]+s\)$"
out_has "^removed 2 stale or idle queues; kept 1, skipped 1 unreadable$"
run 1 stat "$idle"
run 1 stat "$stale"
run 0 stat "$live"
run 2 gc --older-than soon
err_has "not a duration"
run 2 gc --older-than
hold "$idle" 2
stop "$held"

run 1 gc --transport nosuch "$prefix-*"
err_has "nosuch"
run 2 gc --bogus
err_has "unknown option"
run 0 rm --force "$live" "$idle" "$bad"
echo "cli gc ok"
