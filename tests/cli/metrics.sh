#!/bin/sh
# sage-queue metrics: a Prometheus text exposition of every queue's stats
# (HELP and TYPE for each family, counters ending in _total, labels
# queue/transport/owner, one family's samples together); --output writes a
# file; --json is the ls --json --stats document.
. "$SAGE_TEST_SRCDIR/tests/cli/lib.sh"
live=$prefix-live idle=$prefix-idle bad=$prefix-corrupt

hold "$live" 3
"$tool" put "$idle" 2 100
corrupt "$bad"
user=$(id -un)

run 0 metrics
labels="queue=\"$live\",transport=\"shm\",owner=\"$user\""
out_has "^# HELP sage_queue_items .+"
out_has "^# TYPE sage_queue_items gauge$"
out_has "^sage_queue_items\{$labels\} 3$"
out_has "^# TYPE sage_queue_put_total counter$"
out_has "^sage_queue_put_total\{$labels\} 3$"
out_has "^sage_queue_put_bytes_total\{$labels\} 48$"
out_has "^sage_queue_attached\{$labels\} 1$"
out_has "^sage_queue_items\{queue=\"$idle\",transport=\"shm\",owner=\"$user\"\} 2$"
out_has "^sage_queue_capacity_bytes\{$labels\} 1048576$"
out_has "^sage_queue_memory_bytes\{$labels\} [0-9]+$"
out_has "^sage_queue_info\{$labels,state=\"live\",mode=\"0600\"\} 1$"
out_has "^sage_queue_info\{queue=\"$bad\",transport=\"shm\",owner=\"$user\",state=\"corrupt\",mode=\"0644\"\} 1$"
out_lacks "^sage_queue_items\{queue=\"$bad\""
out_has "^sage_queue_queues\{transport=\"shm\"\} [0-9]+$"
# The format's rules: every sample's family has HELP and TYPE before it,
# counters end in _total, a family's samples are not split, values parse.
"$PYTHON" - "$tmp/out" <<'PY' || fail "not a valid exposition: $(cat "$tmp/out")"
import re, sys
seen_help, seen_type, done, current = set(), {}, set(), None
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\} (\S+)$')
for line in open(sys.argv[1]).read().splitlines():
    if line.startswith('# HELP '):
        seen_help.add(line.split()[2])
    elif line.startswith('# TYPE '):
        _, _, name, kind = line.split()
        assert kind in ('gauge', 'counter'), line
        assert name not in seen_type, 'family twice: ' + name
        assert kind != 'counter' or name.endswith('_total'), line
        seen_type[name] = kind
        if current:
            done.add(current)
        current = name
    else:
        m = sample.match(line)
        assert m, 'bad sample line: ' + line
        name = m.group(1)
        assert name == current and name in seen_help, line
        float(m.group(3))
        for label in re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2)):
            pass
assert 'sage_queue_items' in seen_type and 'sage_queue_put_total' in seen_type
PY

# --output FILE: written whole, then renamed (cron + node_exporter).
run 0 metrics --output "$tmp/sage.prom"
[ ! -s "$tmp/out" ] || fail "metrics --output also wrote stdout"
grep -Eq "^sage_queue_items\{$labels\} 3$" "$tmp/sage.prom" ||
  fail "metrics --output: $(cat "$tmp/sage.prom")"
ls "$tmp" | grep -q '\.tmp$' && fail "metrics --output left a temporary file"
run 1 metrics --output "$tmp/nodir/x.prom"
err_has "cannot write"

# --json: the ls --json --stats document.
run 0 metrics --json
json_check "
rows = {r['name']: r for r in doc}
assert rows['$live']['stats']['total_put'] == 3
assert rows['$live']['stats']['unfinished'] == 3
assert rows['$bad']['stats'] is None and rows['$bad']['state'] == 'corrupt'"

run 1 metrics --transport nosuch
err_has "nosuch"
run 2 metrics extra
err_has "unexpected argument 'extra'"
run 2 metrics --output
run 0 rm --force "$live" "$idle" "$bad"
echo "cli metrics ok"
