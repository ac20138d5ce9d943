#!/bin/sh
# sage-queue plugins: lists fixtures with name/version/ABI/file, refused ones
# with a reason; --json parses; usage errors exit 2.
set -eu
cli="$SAGE_TEST_BUILDDIR/src/cli/sage-queue"
export SAGE_PLUGIN_PATH="$SAGE_TEST_FIXTURES"
fail() { echo "FAIL: $*"; exit 1; }

out=$("$cli" plugins)
echo "$out" | grep -Eq '^mem +9\.9\.9-fixture +1\.0 +mpmc,blocking +.*/sage-mem\.so$' \
  || fail "mem row missing: $out"
echo "$out" | grep -q '^refused badmajor: .*ABI 2.0' || fail "badmajor reason missing"

json=$("$cli" --json plugins)
echo "$json" | "$PYTHON" -c '
import json, sys
rows = {r["name"]: r for r in json.load(sys.stdin)}
assert rows["mem"]["ok"] and rows["mem"]["abi"] == "1.0", rows["mem"]
assert rows["mem"]["capabilities"] == ["mpmc", "blocking"]
assert rows["mem"]["error"] is None, rows["mem"]
e = rows["nullop"]["error"]
assert not rows["nullop"]["ok"] and "put" in e["message"] and set(e) == {"message", "code"}, e
' || fail "json check"

set +e
"$cli" plugins extra >/dev/null 2>&1; [ $? -eq 2 ] || fail "extra arg must exit 2"
"$cli" nosuchcommand >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown command must exit 2"
"$cli" plugins --help | grep -q 'Example' || fail "help lacks example"
SAGE_PLUGIN_PATH=/nonexistent "$cli" plugins | grep -q 'no plugins found' \
  || true  # the installed dir may hold plugins
echo "cli plugins ok"
