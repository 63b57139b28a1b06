#!/usr/bin/env bash
# Install a built .deb into a fresh Debian bookworm root filesystem and use it there, as a
# field technician would: what `./build.sh deb` runs after building (root only).
#
#   tools/deb/install-test.sh dist/iomt-agent_<version>_<arch>.deb
#
# 1. A minimal bookworm root filesystem (debootstrap --variant=minbase, the package's
#    architecture), cached under $CROSS_CACHE; each run works on a throw-away copy. For a
#    package of another architecture (arm64, armhf: tools/cross-test.sh ARCH deb) the
#    root filesystem is made and used under QEMU user-mode emulation through proot, as
#    tools/cross-test.sh does (this machine has no binfmt_misc).
# 2. `apt-get install ./the.deb` there: apt pulls the runtime dependencies from Debian.
# 3. In a network namespace of its own with a veth eth1 (the shipped config's SPAN port):
#    `iomt-agent check-config` answers OK for the shipped config plus a site drop-in, and
#    `iomt-agent flows` on a generated capture prints what this checkout's agent prints.
# 4. An upgrade (the same .deb again) keeps a local config edit and the key; `apt purge`
#    keeps the spool and the user, and IOMT_AGENT_PURGE_DATA=yes removes them.
set -euo pipefail
cd "$(dirname "$0")/../.."

DEB=${1:?usage: tools/deb/install-test.sh PACKAGE.deb}
CROSS_CACHE=${CROSS_CACHE:-/var/cache/iomt-agent-cross}
ARCH=$(dpkg-deb -f "$DEB" Architecture)
BASE=$CROSS_CACHE/bookworm-$ARCH-base
FOREIGN=
if [ "$ARCH" != "$(dpkg --print-architecture)" ]; then
    case "$ARCH" in
        arm64) FOREIGN=/usr/bin/qemu-aarch64-static ;;
        armhf) FOREIGN=/usr/bin/qemu-arm-static ;;
        *) echo "deb install test: no emulation for $ARCH" >&2; exit 2 ;;
    esac
    # tools/cross-test.sh builds it: proot cannot translate statx and faccessat2.
    FALLBACK=$CROSS_CACHE/cross-syscall-fallback
    [ -x "$FALLBACK" ] && [ -x "$FOREIGN" ] && command -v proot >/dev/null ||
        { echo "deb install test: run tools/cross-test.sh first (proot, qemu-user-static, $FALLBACK)" >&2; exit 2; }
fi
WORK=build/deb/install-test-$ARCH
ROOT=$WORK/root

say() { printf '==> deb install test: %s\n' "$*"; }
die() { printf 'deb install test: FAILED: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || { say "not root: skipped (debootstrap and chroot need root)"; exit 0; }

# The mirror apt already uses (deb822 .sources first, then the one-line format).
mirror() {
    local uri
    uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | grep -v security |
        awk '{print $2; exit}')
    [ -n "$uri" ] || uri=$(grep -hs '^deb ' /etc/apt/sources.list | grep -v security |
        awk '{print $2; exit}')
    echo "${uri:-http://deb.debian.org/debian}"
}

# Emulated runs go in a session of their own, stopped whole at the end (a process that
# outlives proot runs on untraced and its paths name the host's files: tools/cross-test.sh).
EMULATION=
stop_emulation() {  # (the session may be gone already: that is no error under set -e)
    if [ -n "$EMULATION" ]; then kill -KILL -- "-$EMULATION" 2>/dev/null || true; fi
    EMULATION=
}
trap stop_emulation EXIT
emulated() {  # emulated ROOT COMMAND...: COMMAND run inside ROOT by proot and QEMU
    local root=$1 status=0
    shift
    setsid "$FALLBACK" proot -0 -q "$FOREIGN" -r "$root" -b /dev -b /proc -b /sys -w / \
        /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@" &
    EMULATION=$!
    wait "$EMULATION" || status=$?
    stop_emulation
    return "$status"
}

if [ ! -f "$BASE/.iomt-base-ready" ]; then
    say "debootstrap bookworm $ARCH (minbase) into $BASE"
    rm -rf "$BASE.new"
    mkdir -p "$CROSS_CACHE"
    if [ -n "$FOREIGN" ]; then
        debootstrap --arch="$ARCH" --foreign --variant=minbase bookworm "$BASE.new" "$(mirror)" \
            >"$CROSS_CACHE/debootstrap-$ARCH-base.log" 2>&1 ||
            die "debootstrap: see $CROSS_CACHE/debootstrap-$ARCH-base.log"
        [ -L "$BASE.new/proc" ] && rm "$BASE.new/proc" && mkdir "$BASE.new/proc"
        say "debootstrap second stage (emulated)"
        emulated "$BASE.new" DEBOOTSTRAP_DIR=/debootstrap /debootstrap/debootstrap --second-stage \
            >>"$CROSS_CACHE/debootstrap-$ARCH-base.log" 2>&1 ||
            die "debootstrap second stage: see $CROSS_CACHE/debootstrap-$ARCH-base.log"
    else
        debootstrap --variant=minbase bookworm "$BASE.new" "$(mirror)" \
            >"$CROSS_CACHE/debootstrap-$ARCH-base.log" 2>&1 ||
            die "debootstrap: see $CROSS_CACHE/debootstrap-$ARCH-base.log"
    fi
    rm -f "$BASE.new"/var/cache/apt/archives/*.deb
    touch "$BASE.new/.iomt-base-ready"
    rm -rf "$BASE"
    mv "$BASE.new" "$BASE"
fi

say "fresh copy of $BASE"
rm -rf "$WORK"
mkdir -p "$WORK"
cp -a "$BASE" "$ROOT"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
cp "$DEB" "$ROOT/tmp/"
PKG=/tmp/$(basename "$DEB")

# A capture and what this checkout's agent makes of it, to compare with the installed one.
CAPTURE=$WORK/wing.pcap
.venv/bin/python -m tools.wingcap --packets 20000 --seed 7 "$CAPTURE" >/dev/null
.venv/bin/iomt-agent flows "$CAPTURE" >"$WORK/flows.expected"
cp "$CAPTURE" "$ROOT/tmp/wing.pcap"

# The site's values: the shipped agent.toml has placeholders a technician must replace.
cat >"$WORK/50-site.toml" <<'TOML'
[sensor]
id = "install-test-01"
site = "test-hospital"
wing = "w1"

[mqtt]
url = "mqtts://broker.test-hospital.net:8883"
TOML

# Each step runs in a private mount namespace (/proc and /dev, mounted for the chroot,
# vanish with it); with --offline also in a network namespace of its own whose only
# interfaces besides lo are a veth pair, eth1 (the shipped config's SPAN port) and span0.
in_root() {  # in_root [--offline] COMMAND...
    local net=() setup_net=:
    if [ "$1" = --offline ]; then
        shift
        net=(--net)
        setup_net='ip link set lo up && ip link add eth1 type veth peer name span0 && ip link set eth1 up'
    fi
    if [ -n "$FOREIGN" ]; then
        # The same namespaces; proot and QEMU instead of chroot.
        local status=0
        setsid unshare --mount "${net[@]}" sh -ec "
            $setup_net
            exec '$FALLBACK' proot -0 -q '$FOREIGN' -r '$ROOT' -b /dev -b /proc -b /sys -w / \
                /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
                DEBIAN_FRONTEND=noninteractive \"\$@\"" in_root "$@" &
        EMULATION=$!
        wait "$EMULATION" || status=$?
        stop_emulation
        return "$status"
    fi
    unshare --mount "${net[@]}" sh -ec "
        $setup_net
        mount --make-rprivate /
        mount -t proc proc '$ROOT/proc'
        mount --rbind /dev '$ROOT/dev'
        exec chroot '$ROOT' /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
            LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \"\$@\"" in_root "$@"
}

say "apt-get install $PKG"
started=$SECONDS
in_root apt-get update -qq
in_root apt-get install -y -qq "$PKG" >"$WORK/apt-install.log" 2>&1 ||
    { cat "$WORK/apt-install.log"; die "apt-get install"; }
say "installed in $((SECONDS - started)) s: $(in_root dpkg-query -W -f='${Package} ${Version} ${Status}' iomt-agent)"
in_root getent passwd iomt-agent >/dev/null || die "postinst made no iomt-agent user"
[ "$(stat -c %a "$ROOT/var/lib/iomt-agent")" = 700 ] || die "the spool directory is not 0700"
[ -s "$ROOT/etc/iomt-agent/sensor.key" ] || die "postinst made no signing key"
[ -L "$ROOT/etc/systemd/system/multi-user.target.wants/iomt-agent.service" ] ||
    die "the unit is not enabled"

say "iomt-agent check-config (shipped config + a site drop-in)"
install -m 0640 "$WORK/50-site.toml" "$ROOT/etc/iomt-agent/agent.d/50-site.toml"
in_root --offline iomt-agent check-config | tee "$WORK/check-config.out"
grep -q '^OK' "$WORK/check-config.out" || die "check-config did not answer OK"

say "iomt-agent flows /tmp/wing.pcap (compared with this checkout's output)"
in_root --offline iomt-agent flows /tmp/wing.pcap >"$WORK/flows.installed"
cmp -s "$WORK/flows.expected" "$WORK/flows.installed" ||
    { diff "$WORK/flows.expected" "$WORK/flows.installed" | head; die "flows output differs"; }
say "flows: $(wc -l <"$WORK/flows.installed") lines, identical"

say "upgrade (the same package again) keeps local edits and the key"
echo "# edited on site" >>"$ROOT/etc/iomt-agent/agent.toml"
key_sum=$(sha256sum <"$ROOT/etc/iomt-agent/sensor.key")
in_root apt-get install -y -qq --reinstall "$PKG" >>"$WORK/apt-install.log" 2>&1 ||
    die "reinstall"
tail -n 1 "$ROOT/etc/iomt-agent/agent.toml" | grep -q "edited on site" ||
    die "the upgrade replaced the edited agent.toml"
[ "$(sha256sum <"$ROOT/etc/iomt-agent/sensor.key")" = "$key_sum" ] || die "the key changed"

say "apt purge keeps the spool and the user unless asked"
in_root apt-get purge -y -qq iomt-agent >>"$WORK/apt-install.log" 2>&1 || die "purge"
[ -d "$ROOT/var/lib/iomt-agent" ] || die "purge removed the spool unasked"
in_root getent passwd iomt-agent >/dev/null || die "purge removed the user unasked"
[ ! -e "$ROOT/etc/iomt-agent/agent.toml" ] || die "purge left the conffile"
in_root apt-get install -y -qq "$PKG" >>"$WORK/apt-install.log" 2>&1 || die "install again"
in_root IOMT_AGENT_PURGE_DATA=yes apt-get purge -y -qq iomt-agent >>"$WORK/apt-install.log" 2>&1 ||
    die "purge with IOMT_AGENT_PURGE_DATA=yes"
[ ! -e "$ROOT/var/lib/iomt-agent" ] || die "IOMT_AGENT_PURGE_DATA=yes left the spool"
! in_root getent passwd iomt-agent >/dev/null || die "IOMT_AGENT_PURGE_DATA=yes left the user"
[ ! -e "$ROOT/etc/iomt-agent/sensor.key" ] || die "IOMT_AGENT_PURGE_DATA=yes left the key"
[ -e "$ROOT/etc/iomt-agent/agent.d/50-site.toml" ] || die "purge removed the site's own drop-in"
[ ! -e "$ROOT/usr/lib/iomt-agent" ] || die "purge left /usr/lib/iomt-agent behind"
say "passed: install, check-config, flows, upgrade, purge ($((SECONDS - started)) s)"
