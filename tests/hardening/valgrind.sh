#!/bin/sh
# Valgrind (memcheck) over the C test programs, once: `make valgrind`.
#
# Criterion runs every test in a re-executed copy of the test binary, and
# the crash tests fork children of their own, so Valgrind follows children
# (--trace-children=yes) but skips the system tools some tests run (sh,
# ls, grep, ...). Every process writes its own log, and any memcheck
# error or definite leak in any of them fails the run: the logs are what
# is checked (not --quiet, so each ends with its ERROR SUMMARY), because a
# Criterion worker that already reported its test passed may exit with
# Valgrind's --error-exitcode without its parent noticing.
#
# Not covered: the stress and kill loops (tests/stress): they move
# hundreds of thousands of messages against the clock, which under
# Valgrind's serialised threads takes hours and proves nothing the
# sanitizer builds do not; their code paths are the ones the suites below
# run.
#
# Suppressions (tests/hardening/valgrind.supp) each carry their reason.
set -u
: "${SAGE_TEST_BUILDDIR:?}" "${SAGE_TEST_SRCDIR:?}"
VALGRIND=${VALGRIND:-valgrind}
LIBTOOL=${LIBTOOL:-$SAGE_TEST_BUILDDIR/libtool}
if ! command -v "$VALGRIND" >/dev/null 2>&1; then
  echo "valgrind not found: skipping"
  exit 77
fi
logs="$SAGE_TEST_BUILDDIR/tests/hardening/valgrind-logs"
rm -rf "$logs"
mkdir -p "$logs"

programs="tests/test_options tests/test_registry tests/test_flat_api
  tests/test_conformance tests/test_shm_segment tests/test_shm_recovery
  tests/hardening/test_exhaustion tests/run_conformance"

status=0
ran=0
for prog in $programs; do
  bin="$SAGE_TEST_BUILDDIR/$prog"
  [ -e "$bin" ] || { echo "skip $prog (not built)"; continue; }
  ran=$((ran + 1))
  name=$(basename "$prog")
  start=$(date +%s)
  # The --jobs 1 keeps Criterion from running tests side by side (their
  # timing assertions assume a core each); run_conformance ignores it.
  case $name in run_*) args="" ;; *) args="--jobs 1" ;; esac
  # LIBTOOL may be a command with arguments ("/bin/bash ./libtool").
  # shellcheck disable=SC2086
  $LIBTOOL --mode=execute "$VALGRIND" --error-exitcode=1 \
    --trace-children=yes --trace-children-skip='/bin/*,/usr/bin/*,/usr/sbin/*' \
    --leak-check=full --show-leak-kinds=definite \
    --errors-for-leak-kinds=definite \
    --suppressions="$SAGE_TEST_SRCDIR/tests/hardening/valgrind.supp" \
    --log-file="$logs/$name.%p.log" "$bin" $args >"$logs/$name.out" 2>&1
  rc=$?
  bad=$(grep -l -E 'ERROR SUMMARY: [1-9]' "$logs/$name".*.log 2>/dev/null)
  summaries=$(cat "$logs/$name".*.log | grep -c 'ERROR SUMMARY')
  if [ $rc -ne 0 ] || [ -n "$bad" ]; then
    echo "FAIL: $prog under valgrind (exit $rc), $(( $(date +%s) - start ))s"
    tail -n 20 "$logs/$name.out"
    for f in $bad; do sed -n '1,80p' "$f"; done
    status=1
  else
    echo "ok: $prog under valgrind, $summaries processes, $(( $(date +%s) - start ))s"
  fi
done
if [ $ran -eq 0 ]; then
  echo "none of the programs was built: skipping"
  exit 77
fi
exit $status
