#!/usr/bin/env bash
# Thin wrapper over the autotools build, keeping SAGE's old ./build.sh verbs.
#
#   ./build.sh                 configure (once) and build in build/
#   ./build.sh demo            set up everything, build, run the two-process demo
#   ./build.sh test            set up everything, build, run the whole test suite
#   ./build.sh debug           AddressSanitizer+UBSan build in build-asan/, run C tests
#   ./build.sh tsan            ThreadSanitizer build in build-tsan/, run C tests
#   ./build.sh install PREFIX  build and install into PREFIX
#   ./build.sh clean           remove build directories and generated files
#   ./build.sh --install-deps  install system packages and the Python venv only
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV="$ROOT/.venv"
JOBS=$(nproc 2>/dev/null || echo 2)
APT_PACKAGES=(autoconf automake libtool pkg-config make gcc libcriterion-dev
              python3 python3-venv clang clang-format valgrind
              libclang-rt-14-dev spin)
PIP_PACKAGES=(pytest numpy faster-fifo pyzmq matplotlib ray)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

missing_apt_packages() {
  local p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || echo "$p"
  done
}

install_system_deps() {
  local missing
  missing=$(missing_apt_packages)
  [ -z "$missing" ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root to install: $missing" >&2; exit 1; }
    sudo=sudo
  fi
  log "installing system packages: $(echo $missing)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
}

install_python_deps() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating Python venv in .venv"
    python3 -m venv "$VENV"
  fi
  local want have
  want=$(printf '%s\n' "${PIP_PACKAGES[@]}" | sort)
  have=$("$VENV/bin/python" -m pip list --format=freeze 2>/dev/null | cut -d= -f1 | tr 'A-Z_' 'a-z-' | sort)
  if [ -n "$(comm -23 <(echo "$want" | tr 'A-Z_' 'a-z-') <(echo "$have"))" ]; then
    log "installing Python packages: ${PIP_PACKAGES[*]}"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PIP_PACKAGES[@]}"
  fi
}

install_deps() {
  install_system_deps
  install_python_deps
}

# configure_build DIR [configure args...]
configure_build() {
  local dir=$1; shift
  [ -x "$ROOT/configure" ] || (cd "$ROOT" && autoreconf -fi >/dev/null)
  mkdir -p "$ROOT/$dir"
  if [ ! -f "$ROOT/$dir/Makefile" ]; then
    log "configuring $dir $*"
    (cd "$ROOT/$dir" && "$ROOT/configure" -q PYTHON="$VENV/bin/python" "$@")
  fi
  log "building $dir"
  make -C "$ROOT/$dir" -s -j"$JOBS"
}

run_c_tests() {
  local dir=$1
  log "C tests in $dir"
  make -C "$ROOT/$dir" -s -j"$JOBS" check || {
    find "$ROOT/$dir/tests" -name '*.log' -newer "$ROOT/$dir/Makefile" \
      -exec grep -l -E '^(FAIL|ERROR)' {} + 2>/dev/null | xargs -r tail -n 40
    return 1
  }
}

cmd_build() { install_deps; configure_build build; }

cmd_demo() {
  cmd_build
  log "demo: two processes exchanging messages over the shm transport"
  SAGE_PLUGIN_PATH="$ROOT/build/plugin/.libs" "$ROOT/build/examples/demo" "$@"
}

cmd_test() {
  cmd_build
  run_c_tests build
  local prefix="$ROOT/build-install/prefix"
  rm -rf "$prefix"
  cmd_install "$prefix"
  log "install check"
  "$ROOT/tests/check_install.sh" "$prefix" "$VENV/bin/python"
}

cmd_debug() {
  install_deps
  configure_build build-asan --enable-debug --enable-sanitizers=address,undefined
  run_c_tests build-asan
}

cmd_tsan() {
  install_deps
  configure_build build-tsan --enable-debug --enable-sanitizers=thread CC=clang
  run_c_tests build-tsan
}

cmd_install() {
  local prefix=${1:?usage: ./build.sh install PREFIX}
  install_deps
  mkdir -p "$ROOT/build-install"
  [ -x "$ROOT/configure" ] || (cd "$ROOT" && autoreconf -fi >/dev/null)
  log "installing into $prefix"
  (cd "$ROOT/build-install" && "$ROOT/configure" -q --prefix="$prefix" PYTHON="$VENV/bin/python")
  make -C "$ROOT/build-install" -s -j"$JOBS" install >/dev/null
}

cmd_clean() {
  rm -rf "$ROOT"/build "$ROOT"/build-*/
  [ -f "$ROOT/Makefile" ] && make -C "$ROOT" -s distclean || true
}

case "${1:-build}" in
  build) cmd_build ;;
  demo) shift; cmd_demo "$@" ;;
  test) cmd_test ;;
  debug) cmd_debug ;;
  tsan) cmd_tsan ;;
  install) shift; cmd_install "$@" ;;
  clean) cmd_clean ;;
  --install-deps) install_deps ;;
  -h|--help|help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) echo "unknown verb '$1' (see ./build.sh --help)" >&2; exit 2 ;;
esac
