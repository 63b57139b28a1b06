#!/usr/bin/env bash
# Install iomt-agent as a systemd service on this box (what `./build.sh install` runs).
#
#   sudo ./build.sh install          the real thing: user, directories, venv, config, unit
#   DESTDIR=/tmp/stage tools/install.sh
#                                    stage the same tree under /tmp/stage instead (packaging,
#                                    tests): no user is created and nothing is chowned, the
#                                    unit is enabled with `systemctl --root`
#
# Environment:
#   PREFIX=/opt/iomt-agent   where the program lives (its venv is PREFIX/.venv)
#   DESTDIR=                 stage under this directory instead of /; the staged tree works
#                            once moved to / (the venv's scripts name PREFIX, not DESTDIR)
#   INSTALL_VENV=yes|no      build PREFIX/.venv from this checkout with the agent's runtime
#                            packages only (needs the package index, or WHEELHOUSE=DIR of
#                            wheels, e.g. from `./build.sh wheels`, for a box without
#                            a compiler or without the index)
#   PYTHON=/usr/bin/python3  the system Python the venv is made with (not a pyenv or other
#                            Python first on the PATH: the unit's ProtectHome=yes hides
#                            anything under /root or /home)
#
# Idempotent: run it again after an update. It never overwrites a configuration or a key,
# and it enables the service without starting it: edit /etc/iomt-agent/agent.toml, run
# `iomt-agent check-config`, then `systemctl start iomt-agent`.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=${PREFIX:-/opt/iomt-agent}
DESTDIR=${DESTDIR:-}
INSTALL_VENV=${INSTALL_VENV:-yes}
WHEELHOUSE=${WHEELHOUSE:-}
PYTHON=${PYTHON:-/usr/bin/python3}

SERVICE_USER=iomt-agent
CONFIG_DIR=/etc/iomt-agent
STATE_DIR=/var/lib/iomt-agent
UNIT_DIR=/etc/systemd/system
UNIT=iomt-agent.service

say() { printf '==> %s\n' "$*"; }
die() { printf 'install: error: %s\n' "$*" >&2; exit 2; }

staged() { [ -n "$DESTDIR" ]; }

if ! staged && [ "$(id -u)" -ne 0 ]; then
    die "run as root (sudo ./build.sh install), or set DESTDIR=DIR to stage the files"
fi

# install(1) with owner and group only when installing for real: a staged tree is owned
# by whoever stages it, and the service user may not exist there.
owned() {  # owned USER GROUP -> the -o/-g arguments for install(1)
    staged || printf -- '-o %s -g %s' "$1" "$2"
}

create_user() {
    if staged; then
        say "staged install: not creating the $SERVICE_USER user"
        return
    fi
    if getent passwd "$SERVICE_USER" >/dev/null; then
        return
    fi
    say "creating system user $SERVICE_USER"
    useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
        --shell /usr/sbin/nologin --comment "iomt-agent network sensor" "$SERVICE_USER"
}

install_program() {
    install -d -m 0755 "$DESTDIR$PREFIX" "$DESTDIR$PREFIX/config"
    # The annotated reference and the worked example, for technicians to read.
    install -m 0644 "$SRC/config/agent.toml" "$SRC/config/example-wing.toml" \
        "$DESTDIR$PREFIX/config/"
    if [ "$INSTALL_VENV" != yes ]; then
        say "INSTALL_VENV=$INSTALL_VENV: not building $PREFIX/.venv"
        return
    fi
    local venv="$DESTDIR$PREFIX/.venv" pip_args=() source="$SRC"
    [ -x "$PYTHON" ] || die "$PYTHON is missing: install python3 and python3-venv (apt)"
    if [ ! -x "$venv/bin/python" ]; then
        say "creating $PREFIX/.venv with $PYTHON"
        "$PYTHON" -m venv "$venv"
    fi
    if [ -n "$WHEELHOUSE" ]; then
        pip_args=(--no-index --find-links "$WHEELHOUSE")
        source=iomt-agent  # the wheel built elsewhere: no compiler needed here
    fi
    say "installing iomt-agent (runtime packages only) into $PREFIX/.venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "${pip_args[@]}" \
        --upgrade "$source"
    if staged; then
        relocate_venv "$venv"
    else
        ln -sfn "$PREFIX/.venv/bin/iomt-agent" /usr/local/bin/iomt-agent
    fi
}

relocate_venv() {  # relocate_venv STAGED_VENV: its scripts name PREFIX, where it will run
    local staged_venv=$1 final_venv="$PREFIX/.venv" script
    for script in "$staged_venv"/bin/*; do
        [ -f "$script" ] && [ ! -L "$script" ] || continue
        grep -Iq "$staged_venv" "$script" 2>/dev/null || continue
        sed -i "s#$staged_venv#$final_venv#g" "$script"
    done
    # pip's record of installed files names the staged paths too; only pip reads it.
    find "$staged_venv" -name RECORD -path '*.dist-info/*' -exec sed -i "s#$staged_venv#$final_venv#g" {} +
}

install_config() {
    # /etc/iomt-agent: root writes, the service reads (group), nobody else looks in.
    # shellcheck disable=SC2046 # owned prints words meant to be split
    install -d -m 0750 $(owned root "$SERVICE_USER") "$DESTDIR$CONFIG_DIR" \
        "$DESTDIR$CONFIG_DIR/agent.d"
    if [ -e "$DESTDIR$CONFIG_DIR/agent.toml" ]; then
        say "keeping the existing $CONFIG_DIR/agent.toml"
    else
        say "installing $CONFIG_DIR/agent.toml (edit it, then: iomt-agent check-config)"
        # shellcheck disable=SC2046
        install -m 0640 $(owned root "$SERVICE_USER") "$SRC/config/agent.toml" \
            "$DESTDIR$CONFIG_DIR/agent.toml"
    fi
    # The spool lives here; systemd's StateDirectory= would create it too, but check-config
    # should find it before the first start.
    # shellcheck disable=SC2046
    install -d -m 0700 $(owned "$SERVICE_USER" "$SERVICE_USER") "$DESTDIR$STATE_DIR"
}

install_key() {
    local key="$CONFIG_DIR/sensor.key" agent="$DESTDIR$PREFIX/.venv/bin/iomt-agent"
    if staged || [ ! -x "$agent" ]; then
        say "no signing key made here: run iomt-agent keygen --out $CONFIG_DIR on the box"
        return
    fi
    if [ ! -e "$key" ]; then
        say "creating this box's signing key"
        "$agent" keygen --out "$CONFIG_DIR"
    fi
    # The service (not root) reads it; it stays 0600.
    chown "$SERVICE_USER:$SERVICE_USER" "$key"
    if [ ! -e "$CONFIG_DIR/site.secret" ]; then
        say "no site secret: copy the site's to $CONFIG_DIR/site.secret so device names hash" \
            "alike on every sensor (docs/CONFIG.md, Names and the site secret)"
    fi
}

install_unit() {
    install -d -m 0755 "$DESTDIR$UNIT_DIR"
    # The unit names /opt/iomt-agent; another PREFIX is written into the installed copy.
    sed "s#/opt/iomt-agent#$PREFIX#g" "$SRC/systemd/$UNIT" >"$DESTDIR$UNIT_DIR/$UNIT.tmp"
    chmod 0644 "$DESTDIR$UNIT_DIR/$UNIT.tmp"
    mv -f "$DESTDIR$UNIT_DIR/$UNIT.tmp" "$DESTDIR$UNIT_DIR/$UNIT"
    if staged; then
        if command -v systemctl >/dev/null; then
            systemctl --root="$DESTDIR" --quiet enable "$UNIT"
        else  # a build root without systemd (the ARM .deb builds): the link systemctl makes
            install -d -m 0755 "$DESTDIR$UNIT_DIR/multi-user.target.wants"
            ln -sfn "$UNIT_DIR/$UNIT" "$DESTDIR$UNIT_DIR/multi-user.target.wants/$UNIT"
        fi
        return
    fi
    # daemon-reload only where systemd runs (not in a container or chroot).
    [ -d /run/systemd/system ] && systemctl daemon-reload
    systemctl --quiet enable "$UNIT"
    say "enabled $UNIT (not started): iomt-agent check-config, then systemctl start iomt-agent"
}

create_user
install_program
install_config
install_key
install_unit
say "installed under ${DESTDIR:-/}"
