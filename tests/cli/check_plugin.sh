#!/bin/sh
# sage-queue check-plugin: the conformance suite passes on shm (by name and
# by path), fails on a broken or non-conforming plugin, and says why.
. "$SAGE_TEST_SRCDIR/tests/cli/lib.sh"

run 0 check-plugin shm
out_has "^RESULT +CHECK +DETAIL$"
out_has "^PASS +fifo +messages come out in the order they went in$"
out_has "^shm: [0-9]+ passed, 0 failed, 0 skipped$"
out_lacks "^(FAIL|SKIP) "

run 0 check-plugin "$SAGE_TEST_PLUGINS/sage-shm.so" --json
json_check "
assert doc['transport'] == 'shm' and doc['plugin'].endswith('/sage-shm.so')
assert doc['failed'] == 0 and doc['passed'] == len(doc['checks']) > 10
assert all(c['result'] == 'pass' and c['summary'] for c in doc['checks'])
assert 'fifo' in [c['name'] for c in doc['checks']]"

# A plugin that loads but does not conform: failures and skips, with why.
run 1 check-plugin "$SAGE_TEST_FIXTURES/sage-mem.so"
out_has "^FAIL +fifo +.*unknown option"
out_has "^SKIP +zero_copy +transport lacks capability zero_copy$"
out_has "^mem \(.*/sage-mem\.so\): [0-9]+ passed, [1-9][0-9]* failed, [1-9][0-9]* skipped$"
run 1 --json check-plugin "$SAGE_TEST_FIXTURES/sage-mem.so"
json_check "
res = {c['name']: c for c in doc['checks']}
assert res['fifo']['result'] == 'fail' and res['fifo']['reason']
assert res['persistence']['result'] == 'skip'
assert 'persistent' in res['persistence']['reason']
assert doc['failed'] > 0 and doc['skipped'] > 0"

# A plugin the loader refuses: exit 1 with the loader's reason.
run 1 check-plugin "$SAGE_TEST_FIXTURES/sage-nullop.so"
err_has "^sage-queue: check-plugin: cannot load '.*sage-nullop\.so': .*put"
[ ! -s "$tmp/out" ] || fail "a refused plugin printed a table"
run 1 check-plugin "$tmp/sage-absent.so"
err_has "cannot load"
run 1 check-plugin nosuch
err_has "cannot load 'nosuch'"

run 2 check-plugin
err_has "missing plugin"
run 2 check-plugin shm mem
err_has "one plugin only"
echo "cli check-plugin ok"
