#!/bin/sh
# sage-queue rm: removes idle queues, refuses one in use naming its pids
# unless --force, removes corrupt ones only with --force, reports each
# failure and exits 1 if any.
. "$SAGE_TEST_SRCDIR/tests/cli/lib.sh"
busy=$prefix-busy idle=$prefix-idle bad=$prefix-corrupt

hold "$busy" 1
pid=$held
run 1 rm "$busy"
err_has "^sage-queue: rm $busy: queue '$busy' is in use by 1 process \(pid $pid\); stop it or use --force$"
run 0 stat "$busy"

hold "$busy"
pid2=$held
run 1 rm --json "$busy"
err_has "in use by 2 processes \(pids [0-9]+, [0-9]+\)"
json_check "
assert len(doc) == 1 and doc[0]['name'] == '$busy'
assert doc[0]['removed'] is False and sorted(doc[0]['pids']) == sorted([$pid, $pid2])
assert '$pid' in doc[0]['error'] and '--force' in doc[0]['error']"

run 0 rm -f "$busy"
out_has "^removed $busy \(still attached, working on until they close: pids [0-9]+, [0-9]+\)$"
run 1 stat "$busy"
err_has "no queue named"
stop "$pid"
stop "$pid2"

# Several names: each is tried; a missing one fails the command.
"$tool" create "$idle"
run 1 rm "$idle" "$prefix-nosuch"
out_has "^removed $idle$"
err_has "^sage-queue: rm $prefix-nosuch: no queue named '$prefix-nosuch'"
run 1 stat "$idle"

# A corrupt segment needs --force.
corrupt "$bad"
run 1 rm "$bad"
err_has "corrupt.*--force removes it"
[ -e /dev/shm/sageq-"$uid"-"$bad" ] || fail "rm without --force removed a corrupt queue"
run 0 rm --force --json "$bad"
json_check "assert doc == [{'name': '$bad', 'removed': True, 'pids': [], 'error': None}], doc"
[ ! -e /dev/shm/sageq-"$uid"-"$bad" ] || fail "rm --force left the corrupt queue"

# Errors: bad names and unknown transports exit 1; usage errors exit 2.
run 1 rm '../etc/passwd'
err_has "invalid queue name"
run 1 rm "$idle" --transport nosuch
err_has "nosuch"
run 2 rm
err_has "missing queue NAME"
run 2 rm --bogus "$idle"
err_has "unknown option '--bogus'"
run 2 rm --force=yes "$idle"
err_has "takes no value"
# A queue URI names the queue and its transport (docs/CONFIG.md).
hold "$prefix-uri" 1
stop "$held"
run 0 rm "shm://$prefix-uri?max_items=3"
run 1 rm "shm://$prefix-uri"
err_has "no queue named"
run 2 rm "shm://$prefix-uri?x"
err_has "has no value"
echo "cli rm ok"
