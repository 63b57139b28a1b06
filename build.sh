#!/usr/bin/env bash
# Set up, test and demonstrate iomt-agent on Debian / Raspberry Pi OS.
#
#   ./build.sh          set up only: system packages, .venv, the package and its C engine
#   ./build.sh test     set up, then lint, type-check, the whole test suite, the suite's
#                       C-facing part against an AddressSanitizer/UBSan build, a short fuzz run
#   ./build.sh demo     set up, then run the main job on a generated hospital-wing capture
#   ./build.sh install  install the systemd service on this box (as root; docs/CONFIG.md):
#                       the runtime packages and the system Python only, no developer set-up
#   ./build.sh wheels   the agent and its runtime packages as wheels in dist/wheels, for
#                       `WHEELHOUSE=dist/wheels ./build.sh install` on a box of the same
#                       architecture without a compiler
#   ./build.sh deb      set up, then dist/iomt-agent_<version>_<arch>.deb, lintian, and (as
#                       root) its install, check-config, flows, upgrade and purge in a fresh
#                       bookworm root filesystem (docs/ARM.md)
#   ./build.sh cross-test aarch64|armhf
#                       as root: the C engine built and its tests run in an emulated Debian
#                       bookworm for that architecture (docs/ARM.md; 10-40 min, cached)
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
PY="$VENV/bin/python"

say() { printf '==> %s\n' "$*"; }

# Debian packages the build and the tests need; installed only when missing.
SYSTEM_PACKAGES=(gcc pkg-config libpcap-dev python3-dev python3-venv mosquitto iproute2
                 clang libclang-rt-14-dev softflowd tcpdump openssl systemd nodejs ieee-data
                 nftables chromium chromium-driver)

# What a production sensor needs to run the agent: no compiler, no test tools.
RUNTIME_PACKAGES=(python3 python3-venv libpcap0.8 iproute2 systemd ieee-data)
# What compiling the C engine needs, on a box installed without WHEELHOUSE.
ENGINE_BUILD_PACKAGES=(gcc pkg-config libpcap-dev python3-dev)

install_system_packages() {  # install_system_packages PACKAGE...: those that are missing
    command -v dpkg-query >/dev/null || { say "not a Debian system: install $* yourself"; return; }
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    # npm only when no npm is on the PATH: a nodejs from elsewhere (NodeSource) ships its
    # own and conflicts with Debian's npm package.
    [[ " $* " == *" nodejs "* ]] && { command -v npm >/dev/null || missing+=(npm); }
    [ ${#missing[@]} -eq 0 ] && return
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    say "installing system packages: ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Everything the editable install is built from: pip runs again only when one changed.
build_inputs_hash() {
    find pyproject.toml setup.py agent/__init__.py native -type f -print0 | sort -z \
        | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}

setup() {
    install_system_packages "${SYSTEM_PACKAGES[@]}"
    [ -x "$PY" ] || { say "creating $VENV"; python3 -m venv "$VENV"; }
    local stamp="$VENV/.iomt-agent-build-inputs" inputs
    inputs=$(build_inputs_hash)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs" ] && "$PY" -c 'import agent._engine' 2>/dev/null; then
        say "iomt-agent in $VENV is up to date (its sources and pyproject.toml are unchanged)"
        return
    fi
    say "installing iomt-agent and its C engine into $VENV"
    "$PY" -m pip install -q --disable-pip-version-check --upgrade pip setuptools
    # Editable, so the tests import the tree they sit in; the engine is compiled in place.
    # setuptools warns about editable installs on every build: nothing to act on here.
    PYTHONWARNINGS="ignore:Editable installation" \
        "$PY" -m pip install -q --disable-pip-version-check -e '.[test]'
    echo "$inputs" >"$stamp"
}

production_install() {
    install_system_packages "${RUNTIME_PACKAGES[@]}"
    [ -n "${WHEELHOUSE:-}" ] || install_system_packages "${ENGINE_BUILD_PACKAGES[@]}"
    tools/install.sh
}

wheels() {
    install_system_packages "${RUNTIME_PACKAGES[@]}" "${ENGINE_BUILD_PACKAGES[@]}"
    say "building dist/wheels (the agent and its runtime packages)"
    /usr/bin/python3 -m pip wheel -q --disable-pip-version-check --wheel-dir dist/wheels .
}

# The central tests use this machine's PostgreSQL (127.0.0.1:5432, trust auth; each test
# makes and drops a database of its own): start the cluster if it has stopped.
start_postgres() {
    command -v pg_isready >/dev/null || return 0
    pg_isready -q -h 127.0.0.1 -p 5432 && return 0
    local version
    version=$(ls /etc/postgresql 2>/dev/null | head -n 1)
    [ -n "$version" ] || return 0
    say "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
}

run_tests() {
    say "ruff"
    "$VENV/bin/ruff" check agent central tests bench tools
    "$VENV/bin/ruff" format --check agent central tests bench tools
    say "mypy"
    "$VENV/bin/mypy"
    start_postgres
    say "pytest"
    "$PY" -m pytest -q
    say "sanitizers and fuzzing"
    tools/sanitize.sh "$PY"
}

build_deb() {
    install_system_packages dpkg-dev lintian debootstrap binutils
    tools/deb/build-deb.sh
    tools/deb/install-test.sh "dist/iomt-agent_$("$PY" -c 'import agent; print(agent.__version__)')_$(dpkg --print-architecture).deb"
}

case "${1:-setup}" in
    setup) setup ;;
    test) setup; run_tests ;;
    demo) setup; "$PY" -m tools.demo ;;
    install) production_install ;;
    wheels) wheels ;;
    deb) setup; build_deb ;;
    cross-test) install_system_packages proot qemu-user-static debootstrap; tools/cross-test.sh "${@:2}" ;;
    *) echo "usage: ./build.sh [setup|test|demo|install|wheels|deb|cross-test aarch64|armhf]" >&2; exit 2 ;;
esac
