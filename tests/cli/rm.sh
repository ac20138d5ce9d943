#!/bin/sh
# sage-queue rm: removes idle queues, refuses one in use naming its pids
# unless --force, removes corrupt ones only with --force, reports each
# failure and exits 1 if any; takes shell patterns, --all (own queues
# only) and --dry-run.
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
e = doc[0]['error']
assert set(e) == {'message', 'code'} and e['code'] == 'EBUSY', e
assert '$pid' in e['message'] and '--force' in e['message'], e"

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
# --json: a failed entry's error has the shape of every --json error
# ({"message", "code"}); one missing queue still exits 1.
"$tool" create "$idle"
run 1 --json rm "$prefix-nosuch"
json_check "
assert doc == [{'name': '$prefix-nosuch', 'removed': False, 'would_remove': False,
                'pids': [], 'error': {'message': doc[0]['error']['message'],
                                      'code': 'ENOENT'}}], doc
assert 'no queue named' in doc[0]['error']['message'], doc"
err_has "^sage-queue: rm $prefix-nosuch: no queue named"
run 1 rm --json "$idle" "$prefix-nomatch-*"
json_check "
assert [(r['name'], r['removed']) for r in doc] == [('$idle', True), ('$prefix-nomatch-*', False)], doc
assert doc[0]['error'] is None, doc
assert doc[1]['error'] == {'message': \"no queue matches '$prefix-nomatch-*'\", 'code': 'ENOENT'}, doc"

# A corrupt segment needs --force.
corrupt "$bad"
run 1 rm "$bad"
err_has "corrupt.*--force removes it"
run 1 rm --json "$bad"
json_check "
e = doc[0]['error']
assert e['code'] == 'EBADMSG' and 'corrupt' in e['message'] and '--force' in e['message'], e"
[ -e /dev/shm/sageq-"$uid"-"$bad" ] || fail "rm without --force removed a corrupt queue"
run 0 rm --force --json "$bad"
json_check "assert doc == [{'name': '$bad', 'removed': True, 'would_remove': False, 'pids': [], 'error': None}], doc"
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
# Shell patterns: every match goes (busy ones refused), a pattern
# matching nothing is an error; --dry-run removes nothing.
"$tool" create "$prefix-job-1"
"$tool" create "$prefix-job-2"
"$tool" create "$prefix-other"
hold "$prefix-job-busy" 1
pid=$held
run 1 rm -n "$prefix-job-*"
out_has "^would remove $prefix-job-1$"
out_has "^would remove $prefix-job-2$"
err_has "rm $prefix-job-busy: .*in use by 1 process \(pid $pid\)"
out_lacks "$prefix-other"
run 0 stat "$prefix-job-1"
run 0 rm --dry-run --json "$prefix-job-[12]"
json_check "
assert [(r['name'], r['removed'], r['would_remove']) for r in doc] == [
    ('$prefix-job-1', False, True), ('$prefix-job-2', False, True)], doc"
run 1 rm "$prefix-job-*"
out_has "^removed $prefix-job-1$"
out_has "^removed $prefix-job-2$"
err_has "in use by 1 process"
run 1 stat "$prefix-job-1"
run 0 stat "$prefix-job-busy"
run 1 rm "$prefix-nomatch-*"
err_has "^sage-queue: rm $prefix-nomatch-\*: no queue matches '$prefix-nomatch-\*'$"
run 0 rm "$prefix-oth?r" "$prefix-job-bus[y]" --force
out_has "^removed $prefix-other$"
out_has "^removed $prefix-job-busy \(still attached"
stop "$pid"
run 2 rm --all "$prefix-x"
err_has "takes no NAME"
run 2 rm --all --uid 1
err_has "only your own"

# --all removes every queue of the caller's own (busy ones refused), and
# never another user's. Its own queues here are those of a scratch user,
# so that queues of tests running beside this one are not touched.
if [ "$uid" -eq 0 ] && command -v setpriv >/dev/null 2>&1 &&
   setpriv --reuid=65534 --regid=65534 --clear-groups "$cli" --help >/dev/null 2>&1; then
  as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
  trap 'cleanup; rm -f /dev/shm/sageq-65534-"$prefix"-*' EXIT
  "$tool" create "$prefix-mine"
  as_nobody "$tool" create "$prefix-n1"
  as_nobody "$tool" create "$prefix-n2"
  setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$tool" hold "$prefix-nbusy" >"$tmp/nbusy" 2>&1 &
  nbusy=$!
  children="$children $nbusy"
  wait_ready "$tmp/nbusy" "$nbusy"
  set +e
  as_nobody "$cli" rm --all --dry-run >"$tmp/out" 2>"$tmp/err"
  [ $? -eq 1 ] || fail "rm --all --dry-run with a busy queue did not exit 1"
  out_has "^would remove $prefix-n1$"
  out_has "^would remove $prefix-n2$"
  err_has "$prefix-nbusy: .*in use"
  [ -e /dev/shm/sageq-65534-"$prefix"-n1 ] || fail "rm --all --dry-run removed"
  as_nobody "$cli" rm --all >"$tmp/out" 2>"$tmp/err"
  [ $? -eq 1 ] || fail "rm --all with a busy queue did not exit 1"
  set -e
  out_has "^removed $prefix-n1$"
  out_lacks "$prefix-mine"
  [ ! -e /dev/shm/sageq-65534-"$prefix"-n2 ] || fail "rm --all left n2"
  [ -e /dev/shm/sageq-65534-"$prefix"-nbusy ] || fail "rm --all removed a busy queue"
  run 0 stat "$prefix-mine"
  stop "$nbusy"
  as_nobody "$cli" rm --all >"$tmp/out" 2>"$tmp/err" || fail "rm --all: $(cat "$tmp/err")"
  out_has "^removed $prefix-nbusy$"
  as_nobody "$cli" rm --all >"$tmp/out" 2>"$tmp/err" || fail "rm --all (none)"
  out_has "^no own queues on transport shm$"
  run 0 rm "$prefix-mine"
else
  echo "not root or no setpriv: rm --all not tried"
fi
echo "cli rm ok"
