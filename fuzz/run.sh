#!/bin/sh
# Runs the libFuzzer harnesses (fuzz/local.mk).
#   FUZZ_MODE=replay (default, `make check`): every seed input once.
#   FUZZ_MODE=timed (`make fuzz`): each harness for FUZZ_SECONDS, growing a
#     working corpus in $builddir/fuzz/work/<name> from the seeds; crashes,
#     sanitizer reports and hangs (-timeout) land in $builddir/fuzz/artifacts.
# Exits non-zero if any harness finds a problem.
set -eu
build=${SAGE_TEST_BUILDDIR:?} src=${SAGE_TEST_SRCDIR:?}
mode=${FUZZ_MODE:-replay} seconds=${FUZZ_SECONDS:-60}
status=0
for name in segment descriptor options; do
  bin="$build/fuzz/fuzz_$name" seeds="$src/fuzz/corpus/$name"
  case $name in segment) max_len=65536 ;; *) max_len=4096 ;; esac
  common="-timeout=10 -rss_limit_mb=2048 -max_len=$max_len"
  if [ "$mode" = replay ]; then
    # shellcheck disable=SC2086
    "$bin" $common -runs=0 "$seeds" >"$build/fuzz/replay-$name.log" 2>&1 || {
      echo "fuzz_$name: a seed input fails:"; tail -n 30 "$build/fuzz/replay-$name.log"
      status=1; continue; }
    echo "fuzz_$name: $(ls "$seeds" | wc -l) seeds replayed"
  else
    work="$build/fuzz/work/$name" art="$build/fuzz/artifacts"
    mkdir -p "$work" "$art"
    log="$build/fuzz/fuzz-$name.log"
    # shellcheck disable=SC2086
    "$bin" $common -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="$art/$name-" "$work" "$seeds" >"$log" 2>&1 || {
      echo "fuzz_$name: FAILED (see $log and $art):"; tail -n 40 "$log"
      status=1; continue; }
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | sed -n 's/.*cov: \([0-9]*\) ft: \([0-9]*\).*corp: \([0-9]*\).*/cov \1, features \2, corpus \3/p')
    echo "fuzz_$name: ${seconds}s, $execs execs, $cov"
  fi
done
exit $status
