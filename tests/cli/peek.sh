#!/bin/sh
# sage-queue put, drain and peek: raw bytes and pickled str in and out,
# pickles decoded without an unpickler (checked against Python's pickle),
# hex dumps, --json, and peek explaining why it cannot show messages.
. "$SAGE_TEST_SRCDIR/tests/cli/lib.sh"
q="$prefix-io"
"$tool" create "$q"

run 0 put "$q" hello "two words"
out_has "^put 2 messages on $q$"
printf 'line one\nline two\n' | "$cli" put "$q" --pickle-str >"$tmp/out" 2>"$tmp/err" ||
  fail "put from stdin: $(cat "$tmp/err")"
out_has "^put 2 messages"
run 0 put "$q" --json "$(printf 'x%.0s' $(seq 300))" --pickle-str
json_check "assert doc == {'queue': '$q', 'put': 1}, doc"

# peek cannot show messages without taking them, and says why.
run 1 peek "$q"
err_has "peek $q: 5 messages .* queued, not shown: .*sage_queue_peek takes the head message"
err_has "sage-queue drain $q -n 10"
run 1 --json peek "$q" -n 3
json_check "assert doc['error']['code'] == 'ENOTSUP' and 'drain $q -n 3' in doc['error']['message'], doc"
run 0 stat "$q" --json
json_check "assert doc['stats']['items'] == 5, doc"

# drain -n 2: raw bytes as a hex dump
run 0 drain "$q" -n 2
out_has "^#1 raw, 5 bytes:$"
out_has "^  00000000: 6865 6c6c 6f +hello$"
out_has "^#2 raw, 9 bytes:$"
# pickled str decoded as text, short and long (BINUNICODE)
run 0 drain "$q" -n 1
out_has "^#1 str \(pickle, [0-9]+ bytes\): 'line one'$"
run 0 drain "$q" --json
json_check "
import pickle
m = doc['messages']
assert doc['count'] == 2 and [x['kind'] for x in m] == ['str', 'str'], doc
assert m[0]['value'] == 'line two' and m[1]['value'] == 'x' * 300
assert pickle.loads(bytes.fromhex(m[0]['hex'])) == 'line two'
"
run 0 drain "$q"
out_has "^queue $q is empty$"

# Pickles made by Python: simple ones decoded, others shown as pickle + hex.
# (Put through Python's ctypes, which cannot load a sanitized library
# first: that part runs in the ordinary build only.)
if [ -z "${SAGE_SANITIZERS:-}" ]; then
"$PYTHON" - "$tmp/p" <<'PY'
import pickle, sys
vals = ["héllo", b"\x00\x01bytes", 7, -123456, 70000, 1.5, True, None, [1, 2]]
for i, v in enumerate(vals):
    open("%s.%d" % (sys.argv[1], i), "wb").write(pickle.dumps(v, protocol=5))
open(sys.argv[1] + ".2proto", "wb").write(pickle.dumps("old", protocol=2))
PY
for f in "$tmp"/p.0 "$tmp"/p.1 "$tmp"/p.2 "$tmp"/p.3 "$tmp"/p.4 "$tmp"/p.5 \
  "$tmp"/p.6 "$tmp"/p.7 "$tmp"/p.8 "$tmp"/p.2proto; do
  # put as is (a line of stdin would stop at a newline byte)
  "$PYTHON" - "$f" "$q" <<'PY' || fail "put of $f"
import ctypes, os, sys
lib = ctypes.CDLL(os.environ["SAGE_QUEUE_LIB"])
q = ctypes.c_void_p()
opts = (ctypes.c_char_p * 3)(b"create", b"never", None)
assert lib.sage_queue_open(None, sys.argv[2].encode(), opts, ctypes.byref(q)) == 0
data = open(sys.argv[1], "rb").read()
assert lib.sage_queue_put(q, data, ctypes.c_size_t(len(data)), ctypes.c_int64(0)) == 0
lib.sage_queue_close(q)
PY
done
run 0 drain "$q" --json
json_check "
m = doc['messages']
got = [(x['kind'], x.get('value')) for x in m]
want = [('str', 'héllo'), ('bytes', None), ('int', 7), ('int', -123456),
        ('int', 70000), ('float', 1.5), ('bool', True), ('none', None),
        ('pickle', None), ('str', 'old')]
assert got == want, got
"
fi
run 0 put "$q" short
run 0 drain "$q" -n 1 --timeout 0.1
out_has "^#1 raw"
# --timeout waits for a message on an empty queue, then ends cleanly
run 0 drain "$q" --timeout 0.2 --json
json_check "assert doc == {'queue': '$q', 'messages': [], 'count': 0}, doc"

# Errors.
run 1 put "$prefix-nosuch" x
err_has "no queue named"
run 1 drain "$prefix-nosuch"
err_has "^sage-queue: drain $prefix-nosuch: no queue named"
run 1 --json peek "$prefix-nosuch"
json_check "assert doc['error']['code'] == 'ENOENT', doc"
run 1 --json drain "$prefix-nosuch"
json_check "assert doc['error']['code'] == 'ENOENT', doc"
run 2 drain
err_has "^sage-queue: drain: missing queue NAME \(see 'sage-queue drain --help'\)$"
run 2 peek "$q" -n 0
err_has "not a positive count"
run 2 drain "$q" --timeout -1
err_has "not a number of seconds"
# Queue URIs name the queue for put and drain too (the name is kept past
# the argument parsing).
run 0 put "shm://$q?max_items=5" via-uri
out_has "^put 1 message on $q$"
run 0 drain "shm://$q" --json
json_check "assert doc['queue'] == '$q' and doc['count'] == 1, doc"
# A full queue says so, in words.
"$tool" create "$prefix-small" 4096
run 1 put "$prefix-small" "$(head -c 1500 /dev/zero | tr '\0' a)" "$(head -c 1500 /dev/zero | tr '\0' b)" "$(head -c 1500 /dev/zero | tr '\0' c)"
err_has "put $prefix-small: the queue is full after [12] messages? \(--timeout S waits for room\)"
run 0 rm "$prefix-small"
echo "cli peek ok"
