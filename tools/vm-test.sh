#!/usr/bin/env bash
# The Debian package's service under a real systemd, in a qemu-system-x86_64 VM (root only).
#
#   tools/vm-test.sh [dist/iomt-agent_<version>_amd64.deb]     (./build.sh deb makes it)
#
# 1. A bookworm root filesystem with systemd as PID 1, Debian's kernel, and the package's
#    runtime dependencies (debootstrap; cached under $CROSS_CACHE), copied into an ext4
#    image with the .deb, this box's signing key (made here, so the host can verify), a
#    config drop-in and a test script that a oneshot unit runs at boot.
# 2. On the host: a mosquitto on a free port, a consumer that verifies every message, and
#    a sender that replays a generated wing capture, frame by frame, into the VM's second
#    NIC (a QEMU UDP socket back end): the SPAN port.
# 3. The VM (software emulation; VM_KVM=yes for KVM) boots; its uplink is
#    user-mode networking with restrict=on: the guest reaches the host's broker at
#    10.0.2.100:1883 (a socat per connection: a restarted agent connects again) and
#    nothing else. Inside, tools/vm-test-guest.sh installs the .deb
#    with dpkg and checks, printing "VMTEST <check> PASS|FAIL" lines on the serial console.
# 4. Here: every guest check passed, and the consumer verified signed flow data.
#
# Output and logs: build/vm-test/ (serial.log, consumer.jsonl, broker.log).
set -euo pipefail
cd "$(dirname "$0")/.."

CROSS_CACHE=${CROSS_CACHE:-/var/cache/iomt-agent-cross}
BASE=$CROSS_CACHE/vm-bookworm-amd64
WORK=build/vm-test
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' agent/__init__.py)
DEB=${1:-dist/iomt-agent_${VERSION}_amd64.deb}
SENSOR=vm-test-01
TIMEOUT_S=${VM_TIMEOUT_S:-900}
# What the VM needs besides minbase: systemd as init, a kernel, the package's dependencies
# (nothing is fetched from inside the VM).
VM_PACKAGES=(systemd-sysv udev kmod linux-image-amd64 iproute2 python3 libpcap0.8 ieee-data
             adduser init-system-helpers procps)

say() { printf '==> vm-test: %s\n' "$*"; }
die() { printf 'vm-test: FAILED: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap, the image and the VM's disk need it)"
[ -f "$DEB" ] || die "$DEB is missing: ./build.sh deb"
for tool in qemu-system-x86_64 debootstrap mkfs.ext4 mosquitto socat; do
    command -v "$tool" >/dev/null || die "$tool is missing (qemu-system-x86, debootstrap, e2fsprogs, mosquitto, socat)"
done

mirror() {
    local uri
    uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | grep -v security |
        awk '{print $2; exit}')
    [ -n "$uri" ] || uri=$(grep -hs '^deb ' /etc/apt/sources.list | grep -v security |
        awk '{print $2; exit}')
    echo "${uri:-http://deb.debian.org/debian}"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

build_base() {
    local stamp="$BASE/.iomt-vm-packages"
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${VM_PACKAGES[*]}" ] && return
    say "debootstrap bookworm amd64 with systemd and a kernel into $BASE"
    rm -rf "$BASE.new"
    mkdir -p "$CROSS_CACHE"
    debootstrap --variant=minbase --include="$(IFS=,; echo "${VM_PACKAGES[*]}")" bookworm \
        "$BASE.new" "$(mirror)" >"$CROSS_CACHE/debootstrap-vm.log" 2>&1 ||
        die "debootstrap: see $CROSS_CACHE/debootstrap-vm.log"
    rm -f "$BASE.new"/var/cache/apt/archives/*.deb
    echo "${VM_PACKAGES[*]}" >"$BASE.new/.iomt-vm-packages"
    rm -rf "$BASE"
    mv "$BASE.new" "$BASE"
}

prepare_image() {
    local root=$WORK/root
    rm -rf "$WORK"
    mkdir -p "$WORK/trust/$SENSOR" "$WORK/keys"
    cp -a "$BASE" "$root"
    echo iomt-vm >"$root/etc/hostname"
    echo "/dev/vda / ext4 rw,errors=remount-ro 0 1" >"$root/etc/fstab"
    # Uplink by DHCP from QEMU's user-mode network; the SPAN port just up, no address.
    mkdir -p "$root/etc/systemd/network"
    printf '[Match]\nName=eth0\n[Network]\nDHCP=ipv4\n' >"$root/etc/systemd/network/10-uplink.network"
    printf '[Match]\nName=eth1\n[Link]\nRequiredForOnline=no\n[Network]\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n' \
        >"$root/etc/systemd/network/20-span.network"
    chroot "$root" systemctl enable systemd-networkd.service >/dev/null 2>&1
    # The host verifies what the VM signs: the key is made here and placed before the
    # install (postinst keeps a key it finds and gives it to the service user).
    .venv/bin/iomt-agent keygen --out "$WORK/keys" >/dev/null
    cp "$WORK"/keys/*.pub "$WORK/trust/$SENSOR/"
    rm -f "$WORK/trust/$SENSOR/sensor.pub"
    install -d -m 0755 "$root/etc/iomt-agent/agent.d"
    install -m 0600 "$WORK/keys/sensor.key" "$root/etc/iomt-agent/sensor.key"
    cat >"$root/etc/iomt-agent/agent.d/50-vm.toml" <<TOML
[sensor]
id = "$SENSOR"
site = "vm-test"
wing = "w1"

[mqtt]
url = "mqtt://10.0.2.100:1883"
TOML
    cp "$DEB" "$root/root/iomt-agent.deb"
    install -m 0755 tools/vm-test-guest.sh "$root/usr/local/sbin/vm-test-guest"
    cat >"$root/etc/systemd/system/vm-test-guest.service" <<'UNIT'
[Unit]
Description=iomt-agent VM test (tools/vm-test-guest.sh)
Wants=network-online.target
After=network-online.target
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/vm-test-guest
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
[Install]
WantedBy=multi-user.target
UNIT
    chroot "$root" systemctl enable vm-test-guest.service >/dev/null 2>&1
    # No login prompt on the serial console: its getty's vhangup would cut the test's output.
    ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyS0.service"
    cp "$root"/boot/vmlinuz-* "$WORK/vmlinuz"
    cp "$root"/boot/initrd.img-* "$WORK/initrd.img"
    say "ext4 image of the root filesystem"
    mkfs.ext4 -q -F -L root -d "$root" "$WORK/disk.img" 3G
    rm -rf "$root"
}

main() {
    build_base
    prepare_image

    local broker_port feed_port qemu_port broker consumer sender
    broker_port=$(free_port)
    feed_port=$(free_port)
    qemu_port=$(free_port)
    printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$broker_port" >"$WORK/mosquitto.conf"
    mosquitto -c "$WORK/mosquitto.conf" >"$WORK/broker.log" 2>&1 &
    local broker=$!
    sleep 1
    .venv/bin/iomt-agent consume --url "mqtt://127.0.0.1:$broker_port" --trust "$WORK/trust" \
        >"$WORK/consumer.jsonl" 2>"$WORK/consumer.log" &
    local consumer=$!

    # The SPAN port's traffic: a generated wing capture, replayed in a loop into the VM.
    .venv/bin/python -m tools.wingcap --packets 20000 --seed 9 "$WORK/span.pcap" >/dev/null
    .venv/bin/python - "$WORK/span.pcap" "$qemu_port" "$feed_port" <<'PY' &
import socket, struct, sys, time
path, qemu_port, feed_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
frames = []
with open(path, "rb") as f:
    f.read(24)
    while header := f.read(16):
        _, _, caplen, _ = struct.unpack("<IIII", header)
        frames.append(f.read(caplen))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", feed_port))
while True:  # about 2,000 frames a second until the test stops it
    for i, frame in enumerate(frames):
        s.sendto(frame, ("127.0.0.1", qemu_port))
        if i % 200 == 0:
            time.sleep(0.1)
PY
    local sender=$!
    HOST_PIDS="$broker $consumer $sender"

    # Software emulation by default: on this machine (itself a VM) /dev/kvm exists but a
    # nested KVM guest hangs before the kernel prints a line. VM_KVM=yes tries KVM.
    local accel=(-machine accel=tcg)
    [ "${VM_KVM:-no}" = yes ] && accel=(-enable-kvm -cpu host)
    say "booting the VM (${accel[*]}; at most $TIMEOUT_S s)"
    local started=$SECONDS
    timeout "$TIMEOUT_S" qemu-system-x86_64 "${accel[@]}" -m 1024 -smp 2 -nographic \
        -no-reboot -kernel "$WORK/vmlinuz" -initrd "$WORK/initrd.img" \
        -append "root=/dev/vda rw console=ttyS0 net.ifnames=0 systemd.show_status=1" \
        -drive "file=$WORK/disk.img,format=raw,if=virtio" \
        -netdev "user,id=uplink,restrict=on,guestfwd=tcp:10.0.2.100:1883-cmd:socat - TCP:127.0.0.1:$broker_port" \
        -device virtio-net-pci,netdev=uplink \
        -netdev "socket,id=span,udp=127.0.0.1:$feed_port,localaddr=127.0.0.1:$qemu_port" \
        -device virtio-net-pci,netdev=span \
        -serial "file:$WORK/serial.log" -monitor none -display none >"$WORK/qemu.log" 2>&1 ||
        say "qemu exited with $? (see $WORK/qemu.log)"
    say "VM ran $((SECONDS - started)) s"
    sleep 2
    kill "$sender" 2>/dev/null || true
    kill "$consumer" 2>/dev/null || true
    wait "$consumer" 2>/dev/null || true

    grep -a '^VMTEST' "$WORK/serial.log" | tr -d '\r' | tee "$WORK/results.txt"
    grep -q '^VMTEST done' "$WORK/results.txt" || die "the guest did not finish (see $WORK/serial.log)"
    ! grep -q ' FAIL' "$WORK/results.txt" || die "a guest check failed"
    local flows
    flows=$(grep -c '"flow' "$WORK/consumer.jsonl" || true)
    [ "$flows" -gt 0 ] || die "no verified flow data reached the host's broker (see $WORK/consumer.log)"
    say "host: the consumer verified $flows lines of signed data ($(wc -l <"$WORK/consumer.jsonl") in all)"
    say "passed"
}

HOST_PIDS=
# The host's broker, consumer and frame sender end with the test, however it ends.
trap '[ -n "$HOST_PIDS" ] && kill $HOST_PIDS 2>/dev/null; true' EXIT
main
