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
assert doc['observed'] is True and doc['error'] is None
assert doc['pids'] == [$pid], doc['pids']
assert doc['owner_uid'] == os.getuid(), doc
assert doc['owner'] == '$(id -un)', doc
assert 0 <= doc['age_s'] < 600, doc
st = os.stat('/dev/shm/sageq-%d-$q' % os.getuid())
assert doc['memory_bytes'] == st.st_size and doc['mode'] == '0600', doc
s = doc['stats']
assert s['items'] == 5 and s['total_put'] == 5 and s['bytes_put'] == 80
assert s['attached'] == 1 and s['creator_pid'] == $pid
assert s['owner_uid'] == os.getuid() and len(s) >= 22
assert doc['rates'] is None"
# The one queue shape of ls --json --stats, plus rates.
cp "$tmp/out" "$tmp/stat.json"
run 0 ls --json --stats
json_check "
stat = json.load(open('$tmp/stat.json'))
row = [r for r in doc if r['name'] == '$q'][0]
assert list(stat) == list(row) + ['rates'], (list(stat), list(row))
for k in row:
    if k != 'age_s':
        assert stat[k] == row[k] or k == 'stats', k
assert set(stat['stats']) == set(row['stats'])"

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
assert lines[2]['stats']['total_put'] > lines[0]['stats']['total_put']
for l in lines:
    assert l['name'] == '$busy' and l['owner_uid'] == os.getuid(), l
    assert l['age_s'] >= 0 and l['memory_bytes'] > 0 and l['error'] is None, l
assert lines[2]['age_s'] >= lines[0]['age_s']"
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

# --watch on a terminal: redrawn in place and fitting 80x24 (two
# columns of stats, the header kept), frames never piling up.
pty="$SAGE_TEST_SRCDIR/tests/cli/pty_run.py"
"$PYTHON" "$pty" run 24 80 "$tmp/pty" -- "$cli" stat "$busy" --watch 0.2 -n 3 ||
  fail "stat --watch on a terminal failed: $(cat "$tmp/pty")"
"$PYTHON" "$pty" check "$tmp/pty" 24 80 3 || fail "stat --watch does not fit 80x24"
grep -q "sage-queue stat $busy: every 0.2s" "$tmp/pty" || fail "no header"
grep -q "rates: put [0-9]* msg/s" "$tmp/pty" || fail "no rates on a terminal"
grep -q "high_water" "$tmp/pty" || fail "stats cut from the frame"
# Ctrl-C on a terminal: exit 0.
"$PYTHON" "$pty" run 24 80 "$tmp/pty" --sigint-after 0.5 -- "$cli" stat "$busy" --watch 5 ||
  fail "stat --watch did not exit 0 on Ctrl-C"

# A stale queue says so.
crash "$pid"
run 0 stat "$q" --json
json_check "assert doc['state'] == 'stale' and doc['stale'] and doc['pids'] == []
assert doc['stats']['stale_attached'] == 1 and doc['owner_uid'] == os.getuid()"

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
run 1 stat "$prefix-nosuch"
err_has "^sage-queue: stat $prefix-nosuch: no queue named '$prefix-nosuch'"
run 2 stat
err_has "^sage-queue: stat: missing queue NAME \(see 'sage-queue stat --help'\)$"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "a usage error takes more than a line: $(cat "$tmp/err")"
# --json: errors are JSON on stdout too, usage errors included.
run 1 --json stat "$prefix-nosuch"
json_check "assert doc['error']['code'] == 'ENOENT' and 'no queue named' in doc['error']['message'], doc"
run 1 stat "$prefix-nosuch" --json
json_check "assert doc['error']['code'] == 'ENOENT', doc"
run 2 stat --json
json_check "assert doc['error']['code'] == 'usage' and 'missing queue NAME' in doc['error']['message'], doc"
run 2 stat a b
err_has "one queue NAME only"
run 2 stat "$q" --watch=-1
err_has "not a number of seconds"
run 2 stat "$q" --count 0
err_has "not a positive count"
run 2 stat "$q" --uid no-such-user-here
err_has "no user"
# --watch ends (exit 1) when the queue it watches is removed.
"$tool" create "$prefix-gone"
"$cli" stat "$prefix-gone" --watch 0.1 >"$tmp/watch.out" 2>"$tmp/watch.err" &
watcher=$!
children="$children $watcher"
i=0
until grep -q "items" "$tmp/watch.out" 2>/dev/null; do
  i=$((i + 1)); [ $i -lt 200 ] || fail "stat --watch printed nothing"; sleep 0.05
done
"$cli" rm "$prefix-gone" >/dev/null || fail "rm $prefix-gone"
status=0
wait "$watcher" || status=$?
[ "$status" = 1 ] || fail "stat --watch of a removed queue: exit $status, not 1"
grep -q "stat $prefix-gone: the queue was removed" "$tmp/watch.err" ||
  fail "stat --watch of a removed queue said: $(cat "$tmp/watch.err")"

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
