#!/bin/sh
# Installs the documentation (guides, sage-transport(7), plugin template)
# into a scratch DESTDIR and checks that every file is where
# sage-transport(7) and the template's README say, and that the man pages
# render without warnings (with groff or man, where installed).
set -eu
builddir=${SAGE_TEST_BUILDDIR:?run through make check}
srcdir=${SAGE_TEST_SRCDIR:?run through make check}
unset MAKEFLAGS MFLAGS MAKELEVEL
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sage-docs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "FAIL: $*"
  exit 1
}

${MAKE:-make} -s -C "$builddir" DESTDIR="$tmp/root" install-dist_docDATA \
  install-man install-dist_plugintemplateDATA \
  install-dist_plugintemplateSCRIPTS >"$tmp/log" 2>&1 || {
  cat "$tmp/log"
  fail "make install of the documentation"
}
# Where this build installs them: the Makefile's own values, expanded.
makevar() {
  printf 'print-var:\n\t@echo $(%s)\n' "$1" |
    ${MAKE:-make} -s --no-print-directory -C "$builddir" -f Makefile -f - \
      print-var
}
docdir=$(makevar docdir)
mandir=$(makevar mandir)
root=$tmp/root
for f in "$docdir/PLUGINS.md" "$docdir/PYTHON.md" \
  "$docdir/plugin-template/inproc.c" "$docdir/plugin-template/README.md" \
  "$docdir/plugin-template/configure.ac" \
  "$docdir/plugin-template/Makefile.am" \
  "$docdir/plugin-template/check-plugin.sh" \
  "$mandir/man7/sage-transport.7" "$mandir/man1/sage-queue.1"; do
  [ -f "$root$f" ] || fail "not installed: $f"
  echo "installed: $f"
done
[ -x "$root$docdir/plugin-template/check-plugin.sh" ] ||
  fail "plugin-template/check-plugin.sh is not executable"

for page in "$srcdir/man/sage-transport.7" "$srcdir/src/cli/sage-queue.1"; do
  if command -v groff >/dev/null 2>&1; then
    warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
    [ -z "$warnings" ] || fail "groff warns on $page: $warnings"
    echo "renders: $page"
  elif command -v man >/dev/null 2>&1; then
    man -l "$page" >/dev/null 2>&1 || fail "man -l $page"
    echo "renders: $page"
  else
    echo "(no groff or man: $page not rendered)"
  fi
done
echo "docs install ok"
