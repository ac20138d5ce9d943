#!/bin/sh
# Every C file must match .clang-format. Skipped (77) without clang-format.
set -eu
CLANG_FORMAT=${CLANG_FORMAT:-clang-format}
if ! command -v "$CLANG_FORMAT" >/dev/null 2>&1; then
  echo "clang-format not found: skipping"
  exit 77
fi
cd "$SAGE_TEST_SRCDIR"
files=$(find include src plugin tests bench examples fuzz soak -name '*.[ch]' \
          -not -path '*/.libs/*' 2>/dev/null | sort)
bad=0
for f in $files; do
  if ! "$CLANG_FORMAT" --dry-run -Werror "$f" >/dev/null 2>&1; then
    echo "not formatted: $f"
    bad=1
  fi
done
[ $bad -eq 0 ] && echo "format ok"
[ $bad -eq 0 ] || echo "run 'make format' to fix"
exit $bad
