#!/bin/sh
# MPMC stress matrix: processes 4x4, threads 4x4, processes 8x2, mixed 2x4,
# each moving $SAGE_STRESS_MESSAGES (default 1,000,000) messages; and 8x8
# threads on one handle (twice its 8 lanes, so sleepers must not hold them)
# moving 200,000; and 4x4 threads, single and batched, starting just before
# the 32-bit ticket and unit positions wrap; and runs where most messages
# are small enough to live in their slots (-z: slot size), with every put
# and get form in turn (-f: reserve/commit, put_batch, peek/release,
# get_batch), the last one on a 4 KiB ring that laps its 64 slots often.
set -eu
bin="$SAGE_TEST_BUILDDIR/tests/stress/stress_mpmc"
"$bin" -t processes -p 4 -c 4 -s 512
"$bin" -t threads -p 4 -c 4 -s 512
"$bin" -t processes -p 8 -c 2 -s 2048 -k 65536
"$bin" -t mixed -p 2 -c 4 -s 64 -k 16384
"$bin" -t threads -p 8 -c 8 -s 256 -n 200000
"$bin" -t threads -p 4 -c 4 -s 512 -n 200000 -w
"$bin" -t processes -p 4 -c 4 -s 120 -z 128 -n 500000 -f
"$bin" -t threads -p 4 -c 4 -s 64 -z 64 -n 200000 -w -f
"$bin" -t mixed -p 3 -c 3 -s 140 -z 128 -k 4096 -n 200000 -f
