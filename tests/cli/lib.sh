# Sourced by the sage-queue command's tests: paths, unique queue names,
# helpers to run the command and check its output, and cleanup of every
# queue and process a test made.
set -eu
cli="$SAGE_TEST_BUILDDIR/src/cli/sage-queue"
tool="$SAGE_TEST_BUILDDIR/tests/cli/queue_tool"
unset SAGE_TRANSPORT SAGE_BENCH
prefix="cli-$$"   # every queue a test makes starts with this
uid=$(id -u)
tmp=$(mktemp -d)
children=""

fail() { echo "FAIL: $*" >&2; exit 1; }

cleanup() {
  for p in $children; do kill -9 "$p" 2>/dev/null || true; done
  for p in $children; do wait "$p" 2>/dev/null || true; done
  # The command under test may be what is broken: remove our queues
  # (shm keeps them at /dev/shm/sageq-<uid>-<name>) without it.
  rm -f /dev/shm/sageq-"$uid"-"$prefix"-*
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if ! "$PYTHON" -c 'import json' 2>/dev/null; then
  echo "no Python to parse --json output: skipping"
  exit 77
fi

# run WANT_RC ARGS...: runs sage-queue ARGS with stdout in $tmp/out and
# stderr in $tmp/err; fails unless it exits with WANT_RC.
run() {
  want=$1; shift
  set +e
  "$cli" "$@" >"$tmp/out" 2>"$tmp/err"
  got=$?
  set -e
  [ "$got" -eq "$want" ] || fail "sage-queue $* exited $got, not $want
--- stdout:
$(cat "$tmp/out")
--- stderr:
$(cat "$tmp/err")"
}

# out_has REGEX / err_has REGEX: the last run's stdout / stderr matches.
out_has() {
  grep -Eq -- "$1" "$tmp/out" || fail "stdout lacks /$1/:
$(cat "$tmp/out")"
}
err_has() {
  grep -Eq -- "$1" "$tmp/err" || fail "stderr lacks /$1/:
$(cat "$tmp/err")"
}
out_lacks() {
  if grep -Eq -- "$1" "$tmp/out"; then fail "stdout has /$1/:
$(cat "$tmp/out")"; fi
}

# json_check PYTHON_CODE: runs the code with `doc` = the last run's stdout
# parsed as JSON (and `lines` = each line parsed, for JSON Lines).
json_check() {
  "$PYTHON" - "$tmp/out" "$1" <<'PY' || fail "JSON check failed: $1
$(cat "$tmp/out")"
import json, os, sys
text = open(sys.argv[1]).read()
try:
    doc = json.loads(text)
except ValueError:
    doc = None
try:
    lines = [json.loads(l) for l in text.splitlines() if l.strip()]
except ValueError:
    lines = None
exec(sys.argv[2])
PY
}

# hold NAME [COUNT]: starts a process that opens NAME, puts COUNT messages
# and stays attached; sets $held to its pid once it is ready.
# Each holder gets its own output file: a second holder of the same queue
# must not find the first one's "ready" line before its own shell has even
# created the file.
hold() {
  holds=$((${holds:-0} + 1))
  "$tool" hold "$@" >"$tmp/hold.$1.$holds" 2>&1 &
  held=$!
  children="$children $held"
  wait_ready "$tmp/hold.$1.$holds" "$held"
}

# pump NAME: starts a process putting and getting until stopped.
pump() {
  holds=$((${holds:-0} + 1))
  "$tool" pump "$1" >"$tmp/pump.$1.$holds" 2>&1 &
  held=$!
  children="$children $held"
  wait_ready "$tmp/pump.$1.$holds" "$held"
}

wait_ready() {
  i=0
  until grep -q '^ready' "$1" 2>/dev/null; do
    kill -0 "$2" 2>/dev/null || fail "queue_tool died: $(cat "$1")"
    i=$((i + 1))
    [ $i -lt 200 ] || fail "queue_tool not ready after 10s"
    sleep 0.05
  done
}

# crash PID: SIGKILLs a holder, leaving its attachments dead (stale).
crash() {
  kill -9 "$1"
  wait "$1" 2>/dev/null || true
}

# stop PID: a holder closes its queue cleanly and exits.
stop() {
  kill -TERM "$1"
  wait "$1" || fail "queue_tool $1 did not close cleanly"
}

# corrupt NAME: a segment under a queue's name that is not a queue.
corrupt() {
  head -c 8192 /dev/zero | tr '\0' 'x' >/dev/shm/sageq-"$uid"-"$1"
}
