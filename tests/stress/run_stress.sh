#!/bin/sh
# MPMC stress matrix: processes 4x4, threads 4x4, processes 8x2, mixed 2x4.
# Each moves $SAGE_STRESS_MESSAGES (default 1,000,000) messages.
set -eu
bin="$SAGE_TEST_BUILDDIR/tests/stress/stress_mpmc"
"$bin" -t processes -p 4 -c 4 -s 512
"$bin" -t threads -p 4 -c 4 -s 512
"$bin" -t processes -p 8 -c 2 -s 2048 -k 65536
"$bin" -t mixed -p 2 -c 4 -s 64 -k 16384
