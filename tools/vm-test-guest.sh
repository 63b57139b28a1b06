#!/bin/sh
# Inside the VM of tools/vm-test.sh, run once at boot by vm-test-guest.service: install
# the package, then check the service under systemd. One "VMTEST <check> PASS|FAIL
# <detail>" line per check on the serial console; "VMTEST done" last, then power off.
set -u
UNIT=iomt-agent.service

result() {  # result CHECK OK DETAIL
    if [ "$2" = 0 ]; then echo "VMTEST $1 PASS $3"; else echo "VMTEST $1 FAIL $3"; fi
}
prop() { systemctl show -p "$1" --value "$UNIT"; }

echo "VMTEST boot PASS systemd $(systemctl --version | head -n 1 | cut -d' ' -f2), kernel $(uname -r)"
ip link set eth1 up

dpkg -i /root/iomt-agent.deb >/root/dpkg.log 2>&1
result install $? "$(dpkg-query -W -f='${Version} ${Status}' iomt-agent)"

iomt-agent check-config >/root/check-config.log 2>&1
result check-config $? "$(head -n 1 /root/check-config.log)"

systemctl start "$UNIT"
started=$?
sleep 5
[ "$started" = 0 ] && [ "$(prop Type)" = notify ] && [ "$(prop ActiveState)" = active ]
result start-notify $? "Type=$(prop Type) ActiveState=$(prop ActiveState) SubState=$(prop SubState)"

# Capture under load for a while: the syscall filter and MemoryDenyWriteExecute must not
# kill it (a SIGSYS or a failed mmap would end the process and count a restart).
sleep 40
pid=$(prop MainPID)
[ "$(prop ActiveState)" = active ] && [ "$(prop NRestarts)" = 0 ] &&
    ! journalctl -u "$UNIT" -b --no-pager | grep -qi 'SIGSYS\|core-dump\|status=31'
result under-load $? "MainPID=$pid NRestarts=$(prop NRestarts) $(journalctl -u "$UNIT" -b --no-pager -o cat | grep -c . ) journal lines"

# systemctl reload: SIGHUP re-reads the configuration, same process.
printf '[health]\ninterval_s = 30\n' >/etc/iomt-agent/agent.d/60-reload.toml
chgrp iomt-agent /etc/iomt-agent/agent.d/60-reload.toml
chmod 0640 /etc/iomt-agent/agent.d/60-reload.toml
systemctl reload "$UNIT"
reloaded=$?
sleep 3
[ "$reloaded" = 0 ] && [ "$(prop MainPID)" = "$pid" ] && [ "$(prop ActiveState)" = active ]
result reload $? "MainPID $pid -> $(prop MainPID); $(journalctl -u "$UNIT" -b --no-pager -o cat | grep -i reload | tail -n 1)"

# The watchdog: a hung agent (SIGSTOP) stops pinging; systemd kills and restarts it.
kill -STOP "$pid"
waited=0
while [ "$waited" -lt 90 ] && [ "$(prop NRestarts)" = 0 ]; do sleep 5; waited=$((waited + 5)); done
sleep 8
[ "$(prop NRestarts)" -ge 1 ] && [ "$(prop MainPID)" != "$pid" ] && [ "$(prop ActiveState)" = active ]
result watchdog $? "restarted after ~${waited} s: NRestarts=$(prop NRestarts) MainPID $pid -> $(prop MainPID); $(journalctl -u "$UNIT" -b --no-pager -o cat | grep -i watchdog | head -n 1)"

exposure=$(systemd-analyze security "$UNIT" --no-pager 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
awk -v e="${exposure:-99}" 'BEGIN { exit !(e <= 2.0) }'
result security $? "systemd-analyze security: ${exposure:-none}"

# Let the restarted agent publish a while, then stop it cleanly (SIGTERM flushes).
sleep 20
systemctl stop "$UNIT"
result stop $? "Result=$(prop Result)"
# The restarted agent reconnected and delivered: nothing left in the spool at the stop.
! journalctl -u "$UNIT" -b --no-pager -o cat | grep -q 'stay spooled'
result delivered $? "$(journalctl -u "$UNIT" -b --no-pager -o cat | grep -i 'shipped\|spooled' | tail -n 2 | tr '\n' ' ')"
journalctl -u "$UNIT" -b --no-pager -o short-monotonic | tail -n 15 | sed 's/^/VMLOG /'
echo "VMTEST done"
systemctl poweroff
