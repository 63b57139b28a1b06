#!/usr/bin/env bash
# Set up, test and demonstrate iomt-agent on Debian / Raspberry Pi OS.
#
#   ./build.sh          set up only: system packages, .venv, the package and its C engine
#   ./build.sh test     set up, then lint, type-check, the whole test suite, the suite's
#                       C-facing part against an AddressSanitizer/UBSan build, a short fuzz run
#   ./build.sh demo     set up, then run the main job on a generated hospital-wing capture
#   ./build.sh install  set up, then install the systemd service (as root; docs/CONFIG.md)
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
PY="$VENV/bin/python"

say() { printf '==> %s\n' "$*"; }

# Debian packages the build and the tests need; installed only when missing.
SYSTEM_PACKAGES=(gcc pkg-config libpcap-dev python3-dev python3-venv mosquitto iproute2
                 clang libclang-rt-14-dev softflowd tcpdump openssl systemd nodejs ieee-data
                 nftables chromium chromium-driver)

install_system_packages() {
    command -v dpkg-query >/dev/null || { say "not a Debian system: install ${SYSTEM_PACKAGES[*]} yourself"; return; }
    local missing=()
    for pkg in "${SYSTEM_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    # npm only when no npm is on the PATH: a nodejs from elsewhere (NodeSource) ships its
    # own and conflicts with Debian's npm package.
    command -v npm >/dev/null || missing+=(npm)
    [ ${#missing[@]} -eq 0 ] && return
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    say "installing system packages: ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
}

setup() {
    install_system_packages
    [ -x "$PY" ] || { say "creating $VENV"; python3 -m venv "$VENV"; }
    say "installing iomt-agent and its C engine into $VENV"
    "$PY" -m pip install -q --upgrade pip setuptools
    # Editable, so the tests import the tree they sit in; the engine is compiled in place.
    "$PY" -m pip install -q -e '.[test]'
}

run_tests() {
    say "ruff"
    "$VENV/bin/ruff" check agent central tests bench tools
    "$VENV/bin/ruff" format --check agent central tests bench tools
    say "mypy"
    "$VENV/bin/mypy"
    say "pytest"
    "$PY" -m pytest -q
    say "sanitizers and fuzzing"
    tools/sanitize.sh "$PY"
}

case "${1:-setup}" in
    setup) setup ;;
    test) setup; run_tests ;;
    demo) setup; "$PY" -m tools.demo ;;
    install) setup; tools/install.sh ;;
    *) echo "usage: ./build.sh [setup|test|demo|install]" >&2; exit 2 ;;
esac
