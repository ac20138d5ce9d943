#!/usr/bin/env bash
# Thin wrapper over the autotools build, keeping SAGE's old ./build.sh verbs.
# Each verb installs only the packages it needs, and only those missing
# (apt packages need root or sudo; Python packages go into .venv).
#
#   ./build.sh                 configure (once) and build in build/
#   ./build.sh demo [N SIZE]   build, run the two-process demo (compiler, autotools)
#   ./build.sh test            build, run the whole test suite, check an install
#                              (+ Criterion, clang-format; .venv: pytest numpy ray)
#   ./build.sh debug           AddressSanitizer+UBSan build in build-asan/, run C tests
#   ./build.sh tsan            ThreadSanitizer build in build-tsan/ (clang), run C tests
#   ./build.sh model           check the shm ring's SPIN model (spin)
#   ./build.sh fuzz [SECONDS]  libFuzzer harnesses in build-fuzz/ (clang), default 60 s
#   ./build.sh valgrind        the C test programs under Valgrind, in build/
#   ./build.sh install PREFIX  build and install into PREFIX
#   ./build.sh clean           remove build directories and generated files
#   ./build.sh --install-deps [VERB...]  install the packages of VERBs only
#                              (default: every verb's; `bench`: the Python
#                              and Ray benchmarks' .venv packages)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV="$ROOT/.venv"
JOBS=$(nproc 2>/dev/null || echo 2)

# What each verb needs (deps_for below picks them).
APT_BUILD=(autoconf automake libtool pkg-config make gcc)
APT_CRITERION=(libcriterion-dev)
APT_PYTHON=(python3 python3-venv)
APT_TEST=("${APT_CRITERION[@]}" "${APT_PYTHON[@]}" clang-format)
APT_MODEL=(spin)
APT_VALGRIND=(valgrind)
PIP_TEST=(pytest numpy ray)
PIP_BENCH=(numpy faster-fifo pyzmq matplotlib ray iceoryx2)
ALL_VERBS=(build test debug tsan model fuzz valgrind bench)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# clang and the runtimes of its sanitizers and libFuzzer, for the installed
# (or, if none, Debian bookworm's) clang version.
clang_packages() {
  local v
  v=$(clang -dumpversion 2>/dev/null | cut -d. -f1) || true
  echo clang "libclang-rt-${v:-14}-dev"
}

# deps_for VERB: sets APT and PIP to what VERB needs.
deps_for() {
  APT=("${APT_BUILD[@]}")
  PIP=()
  case $1 in
    build | demo | install) ;;
    test) APT+=("${APT_TEST[@]}") PIP=("${PIP_TEST[@]}") ;;
    debug) APT+=("${APT_CRITERION[@]}") ;;
    tsan | fuzz) read -ra CLANG_APT <<<"$(clang_packages)" && APT+=("${CLANG_APT[@]}") ;;
    model) APT+=("${APT_MODEL[@]}") ;;
    valgrind) APT+=("${APT_CRITERION[@]}" "${APT_VALGRIND[@]}") ;;
    bench) APT+=("${APT_PYTHON[@]}") PIP=("${PIP_BENCH[@]}") ;;
    *) echo "no packages known for '$1' (see ./build.sh --help)" >&2; exit 2 ;;
  esac
}

missing_apt_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || echo "$p"
  done
}

install_system_deps() {
  [ $# -gt 0 ] || return 0
  if ! command -v dpkg-query >/dev/null; then
    log "not a Debian system: make sure these are installed: $*"
    return 0
  fi
  local missing
  missing=$(missing_apt_packages "$@" | sort -u)
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
  [ $# -gt 0 ] || return 0
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating Python venv in .venv"
    python3 -m venv "$VENV"
  fi
  local want have missing
  want=$(printf '%s\n' "$@" | tr 'A-Z_' 'a-z-' | sort -u)
  have=$("$VENV/bin/python" -m pip list --format=freeze 2>/dev/null | cut -d= -f1 | tr 'A-Z_' 'a-z-' | sort)
  missing=$(comm -23 <(echo "$want") <(echo "$have"))
  if [ -n "$missing" ]; then
    log "installing Python packages: $(echo $missing)"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check $missing
  fi
}

# install_deps VERB...: what those verbs need, where missing.
install_deps() {
  local verb apt=() pip=()
  for verb in "$@"; do
    deps_for "$verb"
    apt+=("${APT[@]}")
    pip+=("${PIP[@]}")
  done
  install_system_deps "${apt[@]}"
  install_python_deps "${pip[@]}"
}

# The Python configure records: the venv's when there is one, else
# configure's own pick (a system python3, or none).
python_arg() {
  if [ -x "$VENV/bin/python" ]; then echo "PYTHON=$VENV/bin/python"; fi
}

# configure_only DIR [configure args...]: configures DIR (again when the
# Python to record changed, e.g. after a venv appeared).
configure_only() {
  local dir=$1; shift
  local py
  py=$(python_arg)
  [ -x "$ROOT/configure" ] || (cd "$ROOT" && autoreconf -fi >/dev/null)
  mkdir -p "$ROOT/$dir"
  if [ -f "$ROOT/$dir/Makefile" ] && [ -n "$py" ] &&
     ! grep -qx "PYTHON = ${py#PYTHON=}" "$ROOT/$dir/Makefile"; then
    log "reconfiguring $dir for ${py#PYTHON=}"
    rm -f "$ROOT/$dir/Makefile"
  fi
  if [ ! -f "$ROOT/$dir/Makefile" ]; then
    log "configuring $dir${*:+ $*}"
    (cd "$ROOT/$dir" && "$ROOT/configure" -q ${py:+"$py"} "$@")
  fi
}

# configure_build DIR [configure args...]
configure_build() {
  configure_only "$@"
  log "building $1"
  make -C "$ROOT/$1" -s -j"$JOBS"
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

cmd_build() { install_deps build; configure_build build; }

cmd_demo() {
  install_deps demo
  configure_build build
  log "demo: two processes exchanging messages over the shm transport"
  SAGE_PLUGIN_PATH="$ROOT/build/plugin/.libs" "$ROOT/build/examples/demo" "$@"
}

cmd_test() {
  install_deps test
  configure_build build
  run_c_tests build
  local prefix="$ROOT/build-install/prefix"
  rm -rf "$prefix"
  install_into "$prefix"
  log "install check"
  "$ROOT/tests/check_install.sh" "$prefix" "$VENV/bin/python"
}

cmd_debug() {
  install_deps debug
  configure_build build-asan --enable-debug --enable-sanitizers=address,undefined
  run_c_tests build-asan
}

cmd_tsan() {
  install_deps tsan
  configure_build build-tsan --enable-debug --enable-sanitizers=thread CC=clang
  run_c_tests build-tsan
}

cmd_model() {
  install_deps model
  configure_only build
  log "SPIN model of the shm ring (make check-model)"
  make -C "$ROOT/build" -s check-model
}

cmd_fuzz() {
  local seconds=${1:-60}
  install_deps fuzz
  configure_only build-fuzz CC=clang --enable-fuzzing --enable-sanitizers=address,undefined
  log "fuzzing each harness for ${seconds}s"
  make -C "$ROOT/build-fuzz" -s -j"$JOBS" fuzz FUZZ_SECONDS="$seconds"
}

cmd_valgrind() {
  install_deps valgrind
  configure_build build
  log "C test programs under Valgrind (make valgrind)"
  make -C "$ROOT/build" -s valgrind
}

# install_into PREFIX: configure build-install for PREFIX and install.
install_into() {
  local prefix=$1 py
  py=$(python_arg)
  mkdir -p "$ROOT/build-install"
  [ -x "$ROOT/configure" ] || (cd "$ROOT" && autoreconf -fi >/dev/null)
  log "installing into $prefix"
  (cd "$ROOT/build-install" && "$ROOT/configure" -q --prefix="$prefix" ${py:+"$py"})
  make -C "$ROOT/build-install" -s -j"$JOBS" install >/dev/null
}

cmd_install() {
  local prefix=${1:?usage: ./build.sh install PREFIX}
  install_deps install
  install_into "$prefix"
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
  model) cmd_model ;;
  fuzz) shift; cmd_fuzz "$@" ;;
  valgrind) cmd_valgrind ;;
  install) shift; cmd_install "$@" ;;
  clean) cmd_clean ;;
  --install-deps)
    shift
    if [ $# -eq 0 ]; then set -- "${ALL_VERBS[@]}"; fi
    install_deps "$@"
    ;;
  -h|--help|help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' ;;
  *) echo "unknown verb '$1' (see ./build.sh --help)" >&2; exit 2 ;;
esac
