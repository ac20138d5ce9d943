#!/bin/sh
# Hostile users, run as real second and third users (needs root to create
# them and to switch to them; skips with 77 otherwise):
#  - another user cannot open, observe, read or remove a 0600 queue;
#  - a segment another user made under our queue name, with a mode that
#    lets us write it, is refused by default (its contents could be forged)
#    and used only with allow_foreign=1 - for a root victim and a plain one.
# hostile_helper (started as root) drops to the user for good before it
# touches the queue, so the build tree need not be readable by that user.
set -u
if [ "$(id -u)" -ne 0 ]; then
  echo "not root: skipping"
  exit 77
fi
helper="$SAGE_TEST_BUILDDIR/tests/hardening/hostile_helper"
tag="h$$"
marker="${TMPDIR:-/tmp}/sage-$tag-unpickled"
users="sage-$tag-a sage-$tag-b"

cleanup() {
  rm -f "$marker"
  for n in secret wide squat-b squat-root pickle; do
    rm -f /dev/shm/sageq-*-"$tag-$n"
  done
  for u in $users; do
    if id "$u" >/dev/null 2>&1; then userdel "$u" >/dev/null 2>&1 || true; fi
  done
}
trap cleanup EXIT INT TERM

# new_user NAME FALLBACK_UID: prints "uid gid" of a throwaway account (or
# of an unused numeric id when useradd is missing: the helper needs none).
# Runs in a subshell: cleanup() removes the accounts by name.
new_user() {
  if command -v useradd >/dev/null 2>&1 &&
    useradd --system --no-create-home --shell /bin/false "$1" 2>/dev/null; then
    echo "$(id -u "$1") $(id -g "$1")"
  else
    echo "$2 $2"
  fi
}

set -- $(new_user "sage-$tag-a" 61001)
A_UID=$1 A_GID=$2
set -- $(new_user "sage-$tag-b" 61002)
B_UID=$1 B_GID=$2
echo "user A: uid $A_UID, user B: uid $B_UID"

failures=0
out=""
# expect WANT DESCRIPTION -- UID GID CMD ARGS: WANT is an exit status or a
# |-separated list of them.
expect() {
  want=$1 what=$2
  shift 3
  out=$("$helper" "$@" 2>&1)
  got=$?
  case "|$want|" in
    *"|$got|"*) echo "ok: $what ($out)" ;;
    *)
      echo "FAIL: $what: exit $got, wanted $want: $out"
      failures=$((failures + 1))
      ;;
  esac
}
expect_output() {
  case "$out" in
    *"$1"*) ;;
    *)
      echo "FAIL: output lacks '$1'"
      failures=$((failures + 1))
      ;;
  esac
}

EACCES=13 EPERM=1

# ---- a 0600 queue is private ----
expect 0 "root creates a 0600 queue" -- -1 -1 create "$tag-secret" 0600 "secret"
expect $EACCES "A cannot open it" -- "$A_UID" "$A_GID" open "$tag-secret" 0
expect $EACCES "A cannot observe it" -- "$A_UID" "$A_GID" open "$tag-secret" 0 observe
expect $EACCES "A cannot take its messages" -- "$A_UID" "$A_GID" get "$tag-secret" 0
expect $EACCES "A cannot read its file" -- "$A_UID" "$A_GID" read "/dev/shm/sageq-0-$tag-secret"
expect $EACCES "A cannot remove it" -- "$A_UID" "$A_GID" unlink "$tag-secret" 0
expect "$EPERM|$EACCES" "A cannot force-remove it" -- "$A_UID" "$A_GID" unlink "$tag-secret" 0 force
expect 0 "the queue and its message are intact" -- -1 -1 get "$tag-secret" 0
expect_output "got secret"

# ---- a wider mode is the owner's choice: 0644 lets others observe only ----
expect 0 "root creates a 0644 queue" -- -1 -1 create "$tag-wide" 0644 "wide"
expect 0 "A may observe it" -- "$A_UID" "$A_GID" open "$tag-wide" 0 observe
expect $EACCES "A still cannot attach to it" -- "$A_UID" "$A_GID" get "$tag-wide" 0
expect $EACCES "A cannot remove it" -- "$A_UID" "$A_GID" unlink "$tag-wide" 0

# ---- squatting: A plants a writable segment under B's and root's names ----
expect 0 "A makes a 0666 queue under B's name" -- "$A_UID" "$A_GID" squat "$tag-squat-b" "$B_UID" 0666 "forged"
expect $EACCES "B refuses it by default" -- "$B_UID" "$B_GID" get "$tag-squat-b" "$B_UID"
expect_output "allow_foreign"
expect 0 "B can opt in with allow_foreign=1" -- "$B_UID" "$B_GID" get "$tag-squat-b" "$B_UID" trust
expect_output "got forged"
expect 0 "A makes a 0666 queue under root's name" -- "$A_UID" "$A_GID" squat "$tag-squat-root" 0 0666 "forged"
expect $EACCES "root refuses it by default" -- -1 -1 get "$tag-squat-root" 0
expect_output "allow_foreign"
expect 0 "root can opt in" -- -1 -1 get "$tag-squat-root" 0 trust

# ---- Python: nothing planted is unpickled without the opt-in ----
PYTHON=${PYTHON:-python3}
PYTHONPATH="$SAGE_TEST_SRCDIR/python${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH
py="$SAGE_TEST_SRCDIR/tests/hardening/hostile_python.py"
# Loading the library proves it usable here (a sanitizer build's is not:
# its runtime would have to come first in the interpreter).
if "$PYTHON" -c 'from sage_queue import _lib; _lib.lib()' >/dev/null 2>&1; then
  for step in "plant $A_UID $A_GID $B_UID" "victim $B_UID $B_GID"; do
    # shellcheck disable=SC2086
    if out=$("$PYTHON" "$py" $step "$tag-pickle" "$marker" 2>&1); then
      echo "ok: python $step ($out)"
    else
      echo "FAIL: python $step: $out"
      failures=$((failures + 1))
    fi
  done
else
  echo "python: $PYTHON cannot load sage_queue's library here: Python checks skipped"
fi

if [ $failures -ne 0 ]; then
  echo "$failures hostile-user check(s) failed"
  exit 1
fi
echo "hostile users: all checks passed"
