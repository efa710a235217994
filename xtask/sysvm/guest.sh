#!/bin/bash
# Runs inside the Debian 12 guest of `cargo xtask sys-vm-test`, once per
# boot, from bd-sysvm-driver.service (baked into the cached image), with the
# payload disk (this script + the .deb) mounted read-only at /mnt/p.
#
# Boot 1: install the .deb, first-boot setup, start the units, check the
#         pipeline and the verify service, engage LOCKDOWN, reboot.
# Boot 2: (same disk) boundary-load ran before network-pre.target, LOCKDOWN is
#         enforced, the pipeline is ready and logging; release by token;
#         stop the pipeline with the dead-man armed -> fails closed; verify
#         timer's service on a clean and a tampered log; dpkg -r, dpkg --purge.
#
# Prints `bd-sysvm: PASS name` / `bd-sysvm: FAIL name` (+ indented detail) on
# the console, and at the end `bd-sysvm: N passed, M failed`, then powers off.
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
S=/var/lib/bd-sysvm
mkdir -p "$S"
phase=$(cat "$S/phase" 2>/dev/null || echo 1)
pass=$(cat "$S/pass" 2>/dev/null || echo 0)
fail=$(cat "$S/fail" 2>/dev/null || echo 0)
LOG=/var/log/boundary/boundary.log
NA=/var/tmp/bd-notallowed  # a copy of true that is never on the allow list

out() { echo "bd-sysvm: $*"; }
save() { echo "$pass" > "$S/pass"; echo "$fail" > "$S/fail"; sync; }
ok() { pass=$((pass + 1)); out "PASS $1"; save; }
ko() {
    fail=$((fail + 1)); out "FAIL $1"; shift
    [ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/    /'
    save
}
# t NAME CMD...: PASS if CMD succeeds, else FAIL with its output.
t() {
    local name=$1; shift
    local o
    if o=$("$@" 2>&1); then ok "$name"; else ko "$name" "exit $?: $*" "$o"; fi
}
finish() {
    out "$pass passed, $fail failed"
    sync
    systemctl poweroff --no-block
    exit 0
}
# Run $NA; print "denied" (EPERM from the exec) or "ran".
try_na() {
    local o
    o=$("$NA" 2>&1); local rc=$?
    if [ $rc = 0 ]; then echo ran
    elif [[ $o == *"not permitted"* ]]; then echo denied
    else echo "other (exit $rc: $o)"; fi
}
# wait_for SECONDS CMD...: until CMD succeeds.
wait_for() {
    local n=$1; shift
    for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
    "$@"
}
mode_is() { bd-lock status --json 2>/dev/null | grep -q "\"mode\":\"$1\",\"fault\""; }
active() { [ "$(systemctl is-active "$1")" = "$2" ]; }

out "boot phase $phase kernel $(uname -r) lsm=$(cat /sys/kernel/security/lsm)"

if [ "$phase" = 1 ]; then
    echo 2 > "$S/phase"; sync  # whatever happens below, the next boot checks

    t deb-install dpkg -i /mnt/p/boundary.deb
    t deb-state-dirs-safe test "$(stat -c %a /var/lib/boundary)" = 700 -a \
        "$(stat -c %a /var/log/boundary)" = 750 -a "$(stat -c %a /etc/boundary/keys)" = 700
    t deb-conffiles sh -c "dpkg-query -W -f='\${Conffiles}' boundary | grep -q /etc/boundary/policy.toml"
    t units-enabled sh -c 'for u in boundary-load.service boundary.service boundary-verify.timer; do
        [ "$(systemctl is-enabled $u)" = enabled ] || { echo "$u: $(systemctl is-enabled $u)"; exit 1; }; done'
    t verify-timer-active active boundary-verify.timer active

    # First boot, as the README says: keys, operators, init.
    t first-boot-log-key bd-log keygen -o /etc/boundary/keys/log.key
    t first-boot-operator sh -c 'bd-lock keygen -o /root/operator.key >/dev/null &&
        cp /root/operator.key.pub /etc/boundary/operators.d/sysvm.pub'
    t first-boot-init bd-lock init --mode OPEN --reason "sys-vm-test"
    # A short heartbeat so the dead-man check below is quick.
    sed -i 's/^BD_HEARTBEAT=.*/BD_HEARTBEAT=30s/' /etc/default/boundary
    # What this script itself runs in LOCKDOWN after the reboot.
    mkdir -p /etc/boundary/exec-allow.d
    # (type -P: the file, even for names bash also has as builtins.)
    for p in mkdir mount cat grep sed sleep seq stat sync head tail wc cp date dd chmod \
             rm ls true jq bpftool dpkg dpkg-query sh printf id test tr cut sort uname systemctl; do
        type -P "$p" || echo "missing $p" >&2
    done > /etc/boundary/exec-allow.d/sysvm.list

    cp /usr/bin/true "$NA"
    r=$(try_na)
    if [ "$r" = ran ]; then ok twin-open-unallowed-exec-runs; else ko twin-open-unallowed-exec-runs "$r"; fi

    t load-start systemctl start boundary-load.service
    t load-lsm-attached sh -c 'bd-load status | grep -q "lsm/[a-z_]* *attached" || { bd-load status; exit 1; }'
    t pipeline-start systemctl start boundary.service
    t pipeline-ready-notify sh -c '[ "$(systemctl show -P Type boundary.service)" = notify ] &&
        [ "$(systemctl is-active boundary.service)" = active ] &&
        journalctl -b -u boundary.service | grep -q "bd-watch: ready"'
    "$NA"
    t pipeline-logs wait_for 30 grep -q "$NA" "$LOG"
    t deadman-armed-by-pipeline sh -c 'bd-lock status --json | grep -q "\"heartbeat_ns\":30000000000"'
    sleep 11  # one checkpoint interval, so the log is covered
    t verify-clean-passes systemctl start boundary-verify.service
    t verify-anchor-stored test -s /var/lib/boundary/anchor

    # Exit 4: LOCKDOWN is recorded and in the kernel, but the default load
    # attaches no governed cgroup, so the AIRGAP network programs are named as
    # not attached. Exec and ptrace enforcement are checked after the reboot.
    t engage sh -c 'rc=0; bd-lock engage --reason "sys-vm-test: reboot in LOCKDOWN" || rc=$?; [ $rc -eq 0 ] || [ $rc -eq 4 ]' 
    r=$(try_na)
    if [ "$r" = denied ]; then ok lockdown-before-reboot-denies; else ko lockdown-before-reboot-denies "$r"; fi
    out "rebooting"
    sync
    systemctl reboot --no-block
    exit 0
fi

if [ "$phase" = 2 ]; then
    echo 3 > "$S/phase"; sync

    t load-active-after-boot active boundary-load.service active
    # Ordering, from systemd's own records and from the journal.
    lt=$(systemctl show -P ActiveEnterTimestampMonotonic boundary-load.service)
    nt=$(systemctl show -P ActiveEnterTimestampMonotonic network-pre.target)
    st=$(systemctl show -P ActiveEnterTimestampMonotonic sysinit.target)
    if [ "${lt:-0}" -gt 0 ] && [ "${nt:-0}" -gt "$lt" ] && [ "${st:-0}" -gt "$lt" ]; then
        ok "load-before-network-pre (load ${lt}us, network-pre ${nt}us, sysinit ${st}us)"
    else
        ko load-before-network-pre "load=$lt network-pre=$nt sysinit=$st"
    fi
    j=$(journalctl -b -o short-monotonic --no-pager)
    sync_line=$(grep -n '"via":"sync"' <<<"$j" | grep '"to":"LOCKDOWN"' | head -1 | cut -d: -f1)
    net_line=$(grep -n 'Reached target.*\(network-pre.target\|Preparation for Network\)' <<<"$j" | head -1 | cut -d: -f1)
    if [ -n "$sync_line" ] && [ -n "$net_line" ] && [ "$sync_line" -lt "$net_line" ]; then
        ok "journal-lockdown-synced-before-network-pre (line $sync_line < $net_line)"
    else
        ko journal-lockdown-synced-before-network-pre "sync line '$sync_line', network-pre line '$net_line'" \
            "$(grep -E 'boundary|network-pre|Preparation for Network' <<<"$j" | head -40)"
    fi
    t deadman-rearmed-at-boot sh -c 'journalctl -b -u boundary-load.service | grep -q "dead-man switch: armed"'
    t mode-lockdown-after-reboot sh -c 'bd-lock status; bd-lock status --json | grep -q "\"mode\":\"LOCKDOWN\",\"fault\":null"'
    r=$(try_na)
    if [ "$r" = denied ]; then ok lockdown-enforced-after-reboot; else ko lockdown-enforced-after-reboot "$r"; fi
    t allowed-exec-still-runs /usr/bin/true
    t pipeline-ready-after-boot wait_for 120 active boundary.service active
    t pipeline-logs-denial wait_for 30 sh -c "grep bd-notallowed $LOG | grep -q '\"hook\":\"exec\"'"
    # Above OPEN the state directory is sealed against every process but
    # boundary's: root's shell cannot write the anchor, and the verify unit
    # still advances it because bd-log writes it (checkpoint -o).
    t state-dir-sealed-in-lockdown sh -c '! sh -c "echo forged >> /var/lib/boundary/anchor" 2>/dev/null'
    cp /var/lib/boundary/anchor /root/anchor.before
    sleep 11  # one checkpoint interval, so there is a newer checkpoint
    t verify-in-lockdown-advances-anchor sh -c 'systemctl start boundary-verify.service &&
        ! cmp -s /root/anchor.before /var/lib/boundary/anchor'

    # Release by ceremony: an operator-signed token.
    t release-token sh -c 'bd-lock token -k /root/operator.key --from LOCKDOWN --to OPEN --expires 10m -o /root/r1.tok &&
        bd-lock release --token /root/r1.tok --reason "sys-vm-test release"'
    r=$(try_na)
    if [ "$r" = ran ]; then ok twin-released-unallowed-exec-runs; else ko twin-released-unallowed-exec-runs "$r"; fi

    # Dead-man: stopping the pipeline must fail closed within the interval.
    t deadman-armed sh -c 'bd-lock status --json | grep -q "\"heartbeat_left_ms\":[0-9]"'
    stopped=$(date +%s)
    t pipeline-stop systemctl stop boundary.service
    if wait_for 45 sh -c 'bd-lock status --json | grep -q "\"deadman_expired\":true"'; then
        ok "deadman-expired-after-stop ($(( $(date +%s) - stopped ))s)"
    else
        ko deadman-expired-after-stop "$(bd-lock status 2>&1)"
    fi
    r=$(try_na)
    if [ "$r" = denied ]; then ok deadman-fails-closed-exec-denied; else ko deadman-fails-closed-exec-denied "$r"; fi
    t deadman-disarm-needs-ceremony sh -c '! bd-lock disarm >/dev/null 2>&1'
    t deadman-disarm-token sh -c 'bd-lock token -k /root/operator.key --from LOCKDOWN --to OPEN --expires 10m -o /root/r2.tok &&
        bd-lock disarm --token /root/r2.tok'
    r=$(try_na)
    if [ "$r" = ran ]; then ok twin-disarmed-unallowed-exec-runs; else ko twin-disarmed-unallowed-exec-runs "$r"; fi
    t pipeline-restart systemctl start boundary.service

    # Upgrade in place (the same package again: prerm upgrade, postinst
    # configure OLD): programs swapped, services back, mode and edits kept.
    since=$(date '+%Y-%m-%d %H:%M:%S')
    t deb-upgrade dpkg -i /mnt/p/boundary.deb
    t upgrade-programs-replaced sh -c "journalctl -u boundary-load.service --since '$since' | grep -qE ' (replaced|attached) '"
    t upgrade-services-active sh -c '[ "$(systemctl is-active boundary-load.service boundary.service)" = "active
active" ]'
    t upgrade-keeps-mode-and-config sh -c 'bd-lock status --json | grep -q "\"mode\":\"OPEN\",\"fault\":null" &&
        grep -q "^BD_HEARTBEAT=30s" /etc/default/boundary'
    for u in boundary-load.service boundary.service boundary-verify.service; do
        out "info $u $(systemd-analyze security "$u" 2>/dev/null | grep -i 'overall exposure')"
    done

    # The verify timer's service: clean passes, tampered fails and alerts.
    sleep 11
    t verify-timer-service-clean systemctl start boundary-verify.service
    # Tamper in place (same inode, same length): one byte of a recorded path.
    off=$(grep -bo 'bd-notallowed' "$LOG" | head -1 | cut -d: -f1)
    printf 'N' | dd of="$LOG" bs=1 seek=$((off + 3)) conv=notrunc 2>/dev/null
    if systemctl start boundary-verify.service; then
        ko verify-timer-service-tampered-fails "verify passed a tampered log"
    else
        ok verify-timer-service-tampered-fails
    fi
    t verify-exit-1-means-tampered test "$(systemctl show -P ExecMainStatus boundary-verify.service)" = 1
    t verify-onfailure-alert-crit wait_for 30 sh -c \
        'journalctl -b -p crit -t boundary-alert --no-pager | grep -q "boundary-verify.service FAILED"'
    BD_LOG_PUBKEY=/nonexistent /usr/lib/boundary/verify >/dev/null 2>&1
    rc=$?
    if [ $rc = 2 ]; then ok verify-exit-2-could-not-decide; else ko verify-exit-2-could-not-decide "exit $rc"; fi

    # Removal: no pins, no programs; keys and logs kept. Purge: config gone.
    progs=$(for l in /sys/fs/bpf/boundary/links/*; do
        bpftool -j link show pinned "$l" | jq -r .prog_id; done | sort -u | tr '\n' ' ')
    t programs-seen-before-removal test -n "$progs"
    t deb-remove dpkg -r boundary
    t removed-no-pins test ! -e /sys/fs/bpf/boundary
    left=""
    for id in $progs; do bpftool prog show id "$id" >/dev/null 2>&1 && left="$left $id"; done
    if [ -z "$left" ]; then ok "removed-no-programs (ids $progs gone)"; else ko removed-no-programs "still loaded:$left"; fi
    t removed-keeps-keys-logs-state test -s /etc/boundary/keys/log.key -a -s "$LOG" -a -s /var/lib/boundary/state.json
    t removed-keeps-config test -e /etc/boundary/policy.toml
    t removed-binaries-gone test ! -e /usr/sbin/bd-lock
    t deb-purge dpkg --purge boundary
    t purge-removes-config test ! -e /etc/boundary/policy.toml -a ! -e /etc/default/boundary -a ! -e /etc/boundary/exec-allow.list
    t purge-keeps-keys-logs test -s /etc/boundary/keys/log.key -a -s "$LOG"
    finish
fi

out "unexpected phase $phase"
fail=$((fail + 1))
finish
