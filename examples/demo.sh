#!/usr/bin/env bash
# boundary, end to end on this machine (run as root):
#   load -> watch -> decide -> log -> lock on tripwire -> verify -> unload
#
# Everything lives in its own temp dir, pin dir, governed cgroup and pair of
# network namespaces (10.251.200.0/24 exists only inside them: nothing leaves
# the machine), and is removed on exit. Any failed step exits non-zero.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${CARGO_TARGET_DIR:-$root/target}/release
step_no=0
# Bold step titles only on a terminal (and never with NO_COLOR): a demo piped
# into a file or a CI log gets plain text.
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { step_no=$((step_no + 1)); printf '\n%s[%d] %s%s\n' "$bold" "$step_no" "$*" "$plain"; }
say() { printf '    %s\n' "$*"; }
fail() { printf '\ndemo: FAILED: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (it loads BPF programs and makes a cgroup and network namespaces)"

step "build the release binaries if needed"
if ! [ -x "$bin/bd-load" ] || [ -n "$(find "$root/lib" "$root/tools" "$root/bpf" -newer "$bin/bd-lock" \( -name '*.rs' -o -name '*.o' -o -name Cargo.toml \) 2>/dev/null | head -1)" ]; then
    (cd "$root" && cargo build --release --quiet) || fail "cargo build --release"
fi
for t in bd-load bd-watch bd-policy bd-lock bd-log; do [ -x "$bin/$t" ] || fail "$bin/$t missing"; done
say "binaries in $bin"

work=$(mktemp -d /tmp/bd-demo.XXXXXX)
tag=bd-demo-$$
cg2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$cg2" ] || fail "no cgroup2 mount"
export BD_PIN_DIR=/sys/fs/bpf/$tag BD_STATE=$work/state.json BD_OPERATOR_KEYS=$work/operators.d
cg=$cg2/$tag
nsc=$tag-c nss=$tag-s
pids=()

cleanup() {
    local rc=$?
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    "$bin/bd-load" unload >/dev/null 2>&1 || true
    ip netns del "$nsc" 2>/dev/null || true
    ip netns del "$nss" 2>/dev/null || true
    rmdir "$cg" 2>/dev/null || true
    rm -rf "$work"
    if [ $rc = 0 ]; then printf '\ndemo: every step passed; cleaned up\n'; else printf 'demo: cleaned up after failure (exit %d)\n' $rc >&2; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "load: bd-load, with the governed cgroup $cg"
mkdir "$cg"
"$bin/bd-load" load --cgroup "$cg" > "$work/load.txt" || { cat "$work/load.txt"; fail "bd-load"; }
grep -E ' attached ' "$work/load.txt" | awk '{ print "    attached     " $1 }'
if grep -q unsupported "$work/load.txt"; then
    say "unavailable on this kernel (BPF-LSM refused here; run in the VM harness: cargo xtask vm-test):"
    grep unsupported "$work/load.txt" | awk '{ print "      " $1 }'
fi
grep -q 'mode_enforce-mode_connect4 .*attached' "$work/load.txt" || fail "mode_enforce cgroup programs did not attach"

step "mode: start in OPEN (bd-lock init), an operator key for releases, a log key"
"$bin/bd-lock" init --mode OPEN --reason "demo start" > "$work/init.jsonl"
mkdir "$BD_OPERATOR_KEYS"
"$bin/bd-lock" keygen -o "$work/operator.key" > "$BD_OPERATOR_KEYS/operator.pub" 2>/dev/null
"$bin/bd-log" keygen -o "$work/log.key" >/dev/null 2>&1
"$bin/bd-lock" status | sed 's/^/    /'

step "policy: a tripwire on one canary program, alerts on refused connections"
cp /bin/true "$work/canary"
cat > "$work/policy.toml" <<EOF
[[rule]]
name = "canary-exec"
tripwire = "AIRGAP"
reason = "the canary program ran: cut the governed cgroup off the network"
[rule.match]
type = "exec"
filename = "$work/canary"

[[rule]]
name = "blocked-connection"
decision = "alert"
reason = "a connection beyond loopback was refused"
[rule.match]
type = "deny"
hook = { in = ["connect4", "connect6", "sendmsg4", "sendmsg6"] }

[[rule]]
name = "default"
decision = "allow"
EOF
"$bin/bd-policy" check "$work/policy.toml" | sed 's/^/    /'

step "network: namespaces $nsc <-> $nss joined by a veth (10.251.200.1 <-> .2)"
ip netns add "$nsc"; ip netns add "$nss"
ip -n "$nsc" link add veth0 type veth peer name veth1 netns "$nss"
ip -n "$nsc" addr add 10.251.200.1/24 dev veth0
ip -n "$nss" addr add 10.251.200.2/24 dev veth1
for x in "$nsc veth0" "$nss veth1" "$nsc lo"; do set -- $x; ip -n "$1" link set "$2" up; done

# connect() from inside the governed cgroup; prints bash's verdict.
governed_connect() { # NETNS|- IP PORT
    local pre=""; [ "$1" != - ] && pre="ip netns exec $1"
    bash -c "echo \$\$ > $cg/cgroup.procs; exec $pre bash -c 'exec 3<>/dev/tcp/$2/$3' 2>&1" 2>&1 | sed 's/.*: //' | tail -1
}
r=$(governed_connect "$nsc" 10.251.200.2 9 || true)
say "governed cgroup -> 10.251.200.2:9: ${r:-connected} (the peer answered: allowed)"
case "$r" in *"not permitted"*) fail "connect refused before any tripwire";; esac

step "watch | decide | lock on tripwire | log: bd-watch | bd-policy | bd-lock on-tripwire --heartbeat 30s --tee | bd-log append"
mkfifo "$work/events"
"$bin/bd-watch" > "$work/events" 2> "$work/watch.err" &
watch_pid=$!; pids+=($watch_pid)
"$bin/bd-policy" -p "$work/policy.toml" < "$work/events" \
    | "$bin/bd-lock" on-tripwire --heartbeat 30s --tee \
    | tee "$work/stream.jsonl" \
    | "$bin/bd-log" append -l "$work/boundary.log" -k "$work/log.key" &
pipe_pid=$!; pids+=($pipe_pid)
for _ in $(seq 100); do grep -q ready "$work/watch.err" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$work/watch.err" || fail "bd-watch did not start: $(cat "$work/watch.err")"
say "pipeline running (dead-man switch armed: if it dies, the kernel acts as LOCKDOWN within 30 s)"

step "trip the wire: run $work/canary"
"$work/canary"
for _ in $(seq 100); do
    m=$("$bin/bd-lock" status --json | sed -n 's/.*"mode":"\([A-Z]*\)","fault".*/\1/p' | head -1)
    [ "$m" = AIRGAP ] && break; sleep 0.1
done
[ "$m" = AIRGAP ] || fail "mode is $m, not AIRGAP, after the tripwire"
say "bd-lock engaged AIRGAP:"
grep '"type":"mode"' "$work/stream.jsonl" | grep tripwire | sed 's/^/      /'

step "verify the kernel enforces it"
r=$(governed_connect "$nsc" 10.251.200.2 9 || true)
say "governed cgroup -> 10.251.200.2:9: $r"
case "$r" in *"not permitted"*) ;; *) fail "AIRGAP did not refuse the connection: $r";; esac
r=$(governed_connect - 127.0.0.1 9 || true)
say "governed cgroup -> 127.0.0.1:9 (loopback): ${r:-connected} (not refused by boundary)"
case "$r" in *"not permitted"*) fail "loopback refused";; esac
sleep 0.5  # let the deny event travel the pipeline

step "stop the pipeline; disarm the dead-man switch (alive, so no ceremony)"
kill -TERM "$watch_pid"
wait "$watch_pid" || fail "bd-watch exited with an error"
wait "$pipe_pid" || fail "the pipeline exited with an error"
pids=()
"$bin/bd-lock" disarm > /dev/null
n=$(grep -c '"type":"decision"' "$work/stream.jsonl" || true)
say "$n decisions; the refused connection as the pipeline saw it:"
grep '"rule":"blocked-connection"' "$work/stream.jsonl" | head -1 | sed 's/^/      /'
grep -q '"rule":"blocked-connection"' "$work/stream.jsonl" || fail "no decision for the refused connection"

step "verify the log: bd-log verify"
"$bin/bd-log" verify -l "$work/boundary.log" -p "$work/log.key.pub" 2>&1 | sed 's/^/    /'
say "$(wc -l < "$work/boundary.log") lines, hash-chained and signed"

step "release by ceremony: an operator-signed token, AIRGAP -> OPEN"
"$bin/bd-lock" token -k "$work/operator.key" --from AIRGAP --to OPEN --expires 5m -o "$work/release.tok"
"$bin/bd-lock" release --token "$work/release.tok" --reason "demo over" | sed 's/^/    /'
if "$bin/bd-lock" release --token "$work/release.tok" >/dev/null 2>&1; then fail "a replayed token was accepted"; fi
say "the same token again: refused (nonce already used)"

step "unload: bd-load unload"
"$bin/bd-load" unload 2>&1 | sed 's/^/    /'
