#!/bin/sh
# Shell completion: the bash script completes every verb, each verb's
# options (checked against its --help), transports and queue names; the
# zsh one at least parses (when zsh is here).
. "$SAGE_TEST_SRCDIR/tests/cli/lib.sh"
dir="$SAGE_TEST_SRCDIR/src/cli/completion"
"$tool" create "$prefix-compl"
command -v bash >/dev/null 2>&1 || { echo "no bash: skipping"; exit 77; }

# complete WORDS...: the completions bash offers for the last word.
cat >"$tmp/complete.bash" <<'SH'
. "$1"; shift
complete -p sage-queue | grep -q -- '-F _sage_queue sage-queue$' ||
  { echo "sage-queue has no completion function"; exit 1; }
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
_sage_queue
printf '%s\n' "${COMPREPLY[@]}"
SH
complete() {
  bash "$tmp/complete.bash" "$dir/sage-queue" "$cli" "$@" >"$tmp/out" 2>"$tmp/err" ||
    fail "completion of '$*' failed: $(cat "$tmp/out" "$tmp/err")"
}
has() { grep -qx -- "$1" "$tmp/out" || fail "completion lacks '$1': $(cat "$tmp/out")"; }

complete ""
verbs=$("$cli" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p')
[ -n "$verbs" ] || fail "no verbs in --help"
for v in $verbs; do has "$v"; done
complete st
has stat
[ "$(wc -l <"$tmp/out")" -eq 1 ] || fail "'st' completes to more than stat"
complete --
has --json
has --transport
# every long option of every verb's --help, after the verb
for v in $verbs; do
  complete "$v" --
  "$cli" "$v" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u >"$tmp/opts"
  while read -r o; do
    case $o in --help | --json | --transport) has "$o" ;; esac
    "$cli" "$v" --help | grep -Eq -- "^ *(-[A-Za-z], )?$o( |$)" && has "$o"
  done <"$tmp/opts"
done
complete stat --w
has --watch
complete top --
has --interval
has --count
complete bench --j
has --json
has --json-file
complete --transport ""
has shm
complete stat "$prefix-comp"
has "$prefix-compl"
complete --json --transport shm drain ""
has "$prefix-compl"

if command -v zsh >/dev/null 2>&1; then
  zsh -n "$dir/_sage-queue" || fail "_sage-queue does not parse"
fi
bash -n "$dir/sage-queue" || fail "the bash completion does not parse"
echo "cli completion ok"
