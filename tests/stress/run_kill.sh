#!/bin/sh
# SIGKILL loop: 250 kills of random producers/consumers mid-traffic.
set -eu
"$SAGE_TEST_BUILDDIR/tests/stress/kill_test" -k 250 -p 2 -c 2
