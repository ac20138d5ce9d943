#!/bin/sh
# sage-queue stat: every stat of a queue, its pids, --json, --watch with
# rates and --count, a clean stop on Ctrl-C, and errors.
. "$SAGE_TEST_SRCDIR/tests/cli/lib.sh"
q=$prefix-q busy=$prefix-busy bad=$prefix-corrupt

hold "$q" 5
pid=$held
run 0 stat "$q"
out_has "^queue $q \(transport shm\), owner $(id -un), created "
out_has "^state live: 1 attached \(pids $pid\), 0 dead$"
out_has "^items +5 *$"
out_has "^total_put +5 *$"
out_has "^capacity +1048576 +1\.0 MiB$"
out_has "^attached +1 *$"
for name in max_message bytes_used total_got bytes_put bytes_got high_water \
            blocked_puts blocked_gets timeouts abandoned waiting_readers \
            waiting_writers owner_uid creator_pid created_ns stale_attached \
            unfinished; do
  out_has "^$name +[0-9]+"
done
out_lacks "^rates"

run 0 stat "$q" --json
json_check "
assert doc['name'] == '$q' and doc['transport'] == 'shm'
assert doc['state'] == 'live' and doc['stale'] is False
assert doc['pids'] == [$pid], doc['pids']
s = doc['stats']
assert s['items'] == 5 and s['total_put'] == 5 and s['bytes_put'] == 80
assert s['attached'] == 1 and s['creator_pid'] == $pid
assert s['owner_uid'] == os.getuid() and len(s) >= 22
assert doc['rates'] is None"

# --watch: refreshed frames with rates while a process moves messages.
pump "$busy"
run 0 stat "$busy" --watch 0.2 --count 3 --json
json_check "
assert lines is not None and len(lines) == 3, text
assert lines[0]['rates'] is None
for l in lines[1:]:
    r = l['rates']
    assert 0.15 < r['interval_s'] < 2, r
    assert r['put_msgs_per_s'] > 0 and r['got_msgs_per_s'] > 0, r
    assert r['put_mb_per_s'] > 0 and r['got_mb_per_s'] > 0, r
assert lines[2]['stats']['total_put'] > lines[0]['stats']['total_put']"
run 0 stat "$busy" --watch=0.2 -n 2
out_has "^every 0\.2s; Ctrl-C to stop$"
out_has "^rates: \(after the next refresh\)$"
out_has "^rates: put [1-9][0-9]* msg/s [0-9.]+ MB/s, got [1-9][0-9]* msg/s [0-9.]+ MB/s"
[ "$(grep -c '^queue ' "$tmp/out")" -eq 2 ] || fail "want 2 frames"

# Ctrl-C (SIGINT) ends --watch promptly with status 0.
"$cli" stat "$busy" --watch 5 >"$tmp/watch" 2>&1 &
watcher=$!
children="$children $watcher"
i=0
until grep -q '^items' "$tmp/watch"; do
  i=$((i + 1)); [ $i -lt 200 ] || fail "watch printed nothing"; sleep 0.05
done
kill -INT "$watcher"
( sleep 3; kill -9 "$watcher" 2>/dev/null ) >/dev/null 2>&1 &
set +e; wait "$watcher"; rc=$?; set -e
[ $rc -eq 0 ] || fail "watch exited $rc after SIGINT (137: ignored it for 3s)"

# A stale queue says so.
crash "$pid"
run 0 stat "$q" --json
json_check "assert doc['state'] == 'stale' and doc['stale'] and doc['pids'] == []"

# Errors: exit 1 naming the cause; usage errors exit 2.
run 1 stat "$prefix-nosuch"
err_has "no queue named '$prefix-nosuch'"
run 1 stat 'bad/name'
err_has "invalid queue name 'bad/name'"
corrupt "$bad"
run 1 stat "$bad"
err_has "corrupt"
run 1 stat "$q" --transport nosuch
err_has "nosuch"
run 2 stat
err_has "missing queue NAME"
run 2 stat a b
err_has "one queue NAME only"
run 2 stat "$q" --watch=-1
err_has "not a number of seconds"
run 2 stat "$q" --count 0
err_has "not a positive count"
run 2 stat "$q" --uid no-such-user-here
err_has "no user"
# A queue URI names the queue and its transport (docs/CONFIG.md).
run 0 stat "shm://$q?maxsize=1M" --transport nosuch
out_has "^queue $q \(transport shm\)"
run 2 stat "shm://?maxsize=1M"
err_has "empty queue name"
run 2 stat "shm://$q?maxsize=8XB"
err_has "bad size '8XB' for 'maxsize'"
run 1 stat "nosuch://$q"
err_has "nosuch"
run 0 rm --force "$q" "$bad"
echo "cli stat ok"
