#!/bin/sh
# Runs the MPMC scaling benchmark on a many-core machine, from binaries
# built here (build/). Used once per session on the 16-core device:
#   carry: build/src/.libs build/plugin/.libs build/bench/.libs
set -eu
out=${OUT:-.}
export LD_LIBRARY_PATH="$PWD/build/src/.libs"
export SAGE_PLUGIN_PATH="$PWD/build/plugin/.libs"
{
  uname -a
  grep -m1 'model name' /proc/cpuinfo || true
  echo "mqueue msg_max=$(cat /proc/sys/fs/mqueue/msg_max)"
  build/bench/.libs/sage-queue-scaling --transports shm,posixmq \
    --shapes 1x1,2x2,4x1,1x4,4x4,8x8 --size 64 --seconds 1 --reps 3
  build/bench/.libs/sage-queue-scaling --transports shm \
    --shapes 1x1,4x4 --size 4096 --seconds 1 --reps 3
  build/bench/.libs/sage-queue-scaling --transports shm \
    --shapes 1x1,8x8 --size 64 --seconds 1 --reps 3 --get-batch 64
} 2>&1 | tee "$out/scaling.txt"
