#!/bin/sh
# Smoke test: sage-queue-bench --quick runs every case against the build
# tree's shm plugin and writes JSON and Markdown of the documented shape.
# Figures are not checked: speed goals belong to benchmarks, not tests.
set -eu
bench="$SAGE_TEST_BUILDDIR/bench/sage-queue-bench"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$bench" --quick --json "$tmp/out.json" --markdown "$tmp/out.md" \
  > "$tmp/stdout" 2> "$tmp/stderr" \
  || { cat "$tmp/stderr"; fail "sage-queue-bench --quick exited $?"; }
grep -q '^| 64 B | single |' "$tmp/out.md" || fail "markdown lacks the 64 B row"

set +e
"$bench" --reps 0 >/dev/null 2>&1; [ $? -eq 2 ] || fail "--reps 0 must exit 2"
"$bench" --bogus >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown option must exit 2"
"$bench" --help | grep -q -- '--quick' || fail "--help lacks --quick"
set -e

py=${PYTHON:-}
[ -n "$py" ] && [ "$py" != ":" ] || py=$(command -v python3 || true)
[ -n "$py" ] || { echo "no Python: JSON shape not checked"; exit 77; }
"$py" - "$tmp/out.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["schema"] == "sage-queue-bench/1", r["schema"]
reps = r["config"]["reps"]
for key in ("cpu_model", "cpus", "kernel", "clocksource", "pinning"):
    assert key in r["machine"], key
for when in ("before", "after", "per_rep"):
    assert r["placement"][when]["median_ns"] > 0, when

def series_ok(s, what):
    assert len(s["values"]) == reps, (what, s)
    assert all(v > 0 for v in s["values"]), (what, s)
    assert s["min"] <= s["median"] <= s["max"], (what, s)

rows = {(t["size"], t["mode"]): t for t in r["throughput"]}
for size in (8, 64, 4096, 1 << 20):
    for mode in ("single", "batch"):
        t = rows[(size, mode)]
        series_ok(t["ref"]["msgs_per_s"], ("ref", size, mode))
        if not t["queue"]["skipped"]:
            series_ok(t["queue"]["msgs_per_s"], ("queue", size, mode))
            series_ok(t["ratio"], ("ratio", size, mode))
for name in ("pingpong", "ref_ring_spin", "queue_spin", "queue_blocking"):
    assert r["latency"][name]["p999_ns"] >= r["latency"][name]["median_ns"] > 0
for name in ("futex", "queue"):
    w = r["wakeup"][name]
    assert w["median_ns"] > 0 and w["samples"] > 0 and "consumer_sleeps" in w, w
series_ok(r["memcpy"]["1MiB_gb_per_s"], "memcpy")
assert len(r["targets"]) == 4 and all(t["measured"] for t in r["targets"])
assert r["callgrind"]["ran"] is False
print("bench json ok")
PY
echo "bench quick ok"
