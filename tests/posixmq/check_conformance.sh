#!/bin/sh
# The transport conformance suite against posixmq: the standalone runner
# (tests/run_conformance posixmq) and, where it was built, the Criterion
# suite (tests/test_conformance with SAGE_CONFORMANCE_TRANSPORT=posixmq).
#
# Where unprivileged user and IPC namespaces work (unshare -Uri), every run
# gets a private IPC namespace, so a failing check cannot leave queues in
# the real one, and the suite runs twice:
#   default  the kernel's default limits (msg_max 10, msgsize_max 8192)
#   raised   msg_max raised to 1024 inside the namespace
# Otherwise (or with SAGE_TEST_NO_NAMESPACE=1) it runs once, at this
# system's own limits.
#
# Every check must pass or be skipped by the suite itself for a missing
# capability (batch, zero_copy); the suite sizes its FIFO check to the
# queue's item bound (msg_max here).
set -eu

RAISED_MSG_MAX=1024
builddir=${SAGE_TEST_BUILDDIR:?run through make check}
runner=$builddir/tests/run_conformance
criterion=$builddir/tests/test_conformance

run_runner() { # $1: label
  status=0
  log=$(mktemp)
  "$runner" posixmq >"$log" 2>&1 || status=$?
  printf '%s\n' "$(cat "$log")" | sed "s/^/[$1] /"
  grep -q '^posixmq: ' "$log" || {
    rm -f "$log"
    echo "[$1] FAIL: the runner did not finish (exit $status)"
    return 1
  }
  rm -f "$log"
  [ "$status" -eq 0 ] || {
    echo "[$1] FAIL: conformance checks failed"
    return 1
  }
}

run_criterion() { # $1: label
  [ -x "$criterion" ] || {
    echo "[$1] Criterion suite not built: runner only"
    return 0
  }
  SAGE_CONFORMANCE_TRANSPORT=posixmq "$criterion" --jobs=1
}

run_suite() { # $1: label
  echo "[$1] msg_max=$(cat /proc/sys/fs/mqueue/msg_max)" \
    "msgsize_max=$(cat /proc/sys/fs/mqueue/msgsize_max)"
  run_runner "$1"
  run_criterion "$1"
}

case ${1:-} in
--inside-default)
  run_suite default
  exit 0
  ;;
--inside-raised)
  if ! echo $RAISED_MSG_MAX >/proc/sys/fs/mqueue/msg_max 2>/dev/null; then
    echo "[raised] cannot raise msg_max in this namespace: run skipped"
    exit 0
  fi
  run_suite raised
  exit 0
  ;;
esac

if [ "${SAGE_TEST_NO_NAMESPACE:-0}" != 1 ] && unshare -Uri true 2>/dev/null; then
  unshare -Uri sh "$0" --inside-default
  unshare -Uri sh "$0" --inside-raised
else
  echo "no private IPC namespace (unshare -Uri): one run at this system's limits"
  run_suite system
fi
echo "posixmq conformance ok"
