#!/usr/bin/env bash
# Runs SPIN on model/ring.pml in the configurations of model/local.mk.
#
#   check.sh MODEL.pml WORKDIR CC NAME:SPIN_DEFINES:PAN_CFLAGS:RUNS ...
#
# RUNS is a comma-separated list of pan arguments (one run each), e.g.
# "-m200000" or "-a -f -N drained,-a -f -N no_lost_wakeup". With
# EXPECT=fail every configuration must find an error instead (mutants,
# and the protocol doc's flaws). Each configuration is checked in its own
# folder under WORKDIR, which keeps the trail of any error; WORKDIR is
# removed when every run went as expected.
set -u
model=$1 work=$2 cc=$3
shift 3
expect=${EXPECT:-pass}

command -v spin >/dev/null 2>&1 || {
  echo "check-model: spin not found (apt-get install spin)" >&2
  exit 1
}
mkdir -p "$work" || exit 1

status=0
for config in "$@"; do
  IFS=: read -r name defines cflags runs <<<"$config"
  dir=$work/$name
  rm -rf "$dir" && mkdir -p "$dir" && cp "$model" "$dir/ring.pml" || exit 1
  if ! (cd "$dir" && spin $defines -a ring.pml >spin.log 2>&1 &&
        $cc -O2 -w $cflags -o pan pan.c >cc.log 2>&1); then
    echo "check-model: $name: spin -a or cc failed (see $dir)" >&2
    status=1
    continue
  fi
  IFS=, read -r -a run_list <<<"$runs"
  i=0
  for args in "${run_list[@]}"; do
    i=$((i + 1))
    out=$dir/pan.$i.out
    start=$(date +%s)
    (cd "$dir" && ./pan $args >"$out" 2>&1)
    rc=$?
    secs=$(($(date +%s) - start))
    # an error: a nonzero count, an assertion, a cycle, a bad end state, a
    # search cut short, or pan itself failing
    if [ $rc -ne 0 ] ||
       grep -qE '^pan:[0-9]+: |errors: [1-9]|max search depth too small|out of memory' "$out"; then
      found=1
    else
      found=0
    fi
    label="$name [$args]"
    if [ "$expect" = fail ]; then
      if [ $found -eq 1 ]; then
        what=$(grep -m1 -E '^pan:[0-9]+: ' "$out" | cut -c1-150)
        echo "$label: error found as expected (${secs}s): $what"
      else
        echo "$label: NO ERROR FOUND (expected one)" >&2
        status=1
      fi
      continue
    fi
    if [ $found -eq 1 ]; then
      echo "$label: FAILED (${secs}s); pan output and trail in $dir:" >&2
      grep -E 'pan:|errors:' "$out" >&2
      echo "  replay: (cd $dir && spin $defines -t -p -g ring.pml)" >&2
      status=1
    else
      stored=$(grep -m1 -E 'states, stored' "$out" | sed 's/^ *//')
      trans=$(grep -m1 -E 'transitions \(' "$out" | sed 's/^ *//')
      mem=$(grep -m1 -E 'total actual memory usage' "$out" | awk '{print $1}')
      echo "$label: ok (${secs}s): $stored; $trans; ${mem} MB"
    fi
  done
done
[ $status -eq 0 ] && [ "$expect" = pass ] && rm -rf "$work"
exit $status
