#!/usr/bin/env bash
# Tripwire latency: a canary exec -> the mode changed in the kernel map, over N
# trials each, alternating: (1) through the real pipeline `bd-watch |
# bd-policy | bd-lock on-tripwire`; (2) an in-kernel canary (`bd-lock canary
# add`): exec_monitor raises the mode itself inside the canary's execve.
# Needs root, a C compiler and release builds of the tools.
#
#   bench/tripwire/run.sh [N]   (default 100 trials)
#
# Each trial: bench/tripwire/trip.c forks+execs the canary and polls the pinned
# bd_mode map until the mode leaves OPEN; then an operator token releases
# AIRGAP -> OPEN again (the ceremony the tools demand) and the next trial
# starts once bd-lock status reads OPEN. Prints median, p99 and max in ms.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-100}
BIN=${BD_BIN_DIR:-${CARGO_TARGET_DIR:-target}/release}
work=$(mktemp -d)
pin=/sys/fs/bpf/bd-bench-trip-$$
export BD_PIN_DIR=$pin BD_STATE=$work/state.json BD_OPERATOR_KEYS=$work/operators
cleanup() {
    [[ -n ${PIPE:-} ]] && kill "$PIPE" 2>/dev/null || true
    [[ -n ${WPID:-} ]] && kill -INT "$WPID" 2>/dev/null || true
    wait 2>/dev/null || true
    # Outside OPEN unload is refused (by design): take the pins away directly,
    # which detaches the links once nothing holds them.
    "$BIN/bd-load" unload >/dev/null 2>&1 || rm -rf "$pin"
    rm -rf "$work"
}
trap cleanup EXIT
for t in bd-load bd-watch bd-policy bd-lock; do
    [[ -x $BIN/$t ]] || cargo build --release -q --bins
done
cc -O2 -o "$work/trip" bench/tripwire/trip.c
cp /bin/true "$work/canary"

"$BIN/bd-load" >/dev/null
"$BIN/bd-lock" init --mode OPEN --reason "tripwire bench" >/dev/null
mkdir "$BD_OPERATOR_KEYS"
"$BIN/bd-lock" keygen -o "$work/op.key" >"$BD_OPERATOR_KEYS/op.pub" 2>/dev/null
cat >"$work/policy.toml" <<POLICY
[[rule]]
name = "canary"
tripwire = "AIRGAP"
reason = "bench canary"
[rule.match]
type = "exec"
filename = "$work/canary"

[[rule]]
name = "default"
decision = "allow"
POLICY

mkfifo "$work/events"
"$BIN/bd-watch" --type exec >"$work/events" 2>"$work/watch.err" &
WPID=$!
"$BIN/bd-policy" -p "$work/policy.toml" <"$work/events" 2>"$work/policy.err" \
    | "$BIN/bd-lock" on-tripwire >/dev/null 2>"$work/lock.err" &
PIPE=$!
for _ in $(seq 100); do grep -q ready "$work/watch.err" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$work/watch.err" || { cat "$work/watch.err"; exit 1; }

mode() { "$BIN/bd-lock" status --json 2>/dev/null | sed -n 's/.*"mode":"\([A-Z]*\)".*/\1/p' | head -1; }
: >"$work/ns"; : >"$work/kns"
cp /bin/true "$work/kcanary"
"$BIN/bd-lock" canary add --trip AIRGAP "$work/kcanary" >/dev/null
release() { # trial
    # bd-lock writes the map before the state file: wait for both to agree.
    for _ in $(seq 200); do [[ $(mode) == AIRGAP ]] && break; sleep 0.01; done
    "$BIN/bd-lock" token -k "$work/op.key" --from AIRGAP --to OPEN --expires 1m \
        -o "$work/tok" 2>/dev/null
    if ! "$BIN/bd-lock" release --token "$work/tok" --reason "bench trial $1" >/dev/null; then
        echo "bench: trial $1: release refused; bd-lock status, then the pipeline's stderr:" >&2
        "$BIN/bd-lock" status >&2 || true
        tail -5 "$work/lock.err" "$work/policy.err" "$work/watch.err" >&2 || true
        exit 1
    fi
    for _ in $(seq 200); do [[ $(mode) == OPEN ]] && break; sleep 0.01; done
}
# Trials alternate, so background load hits both alike. The in-kernel trial
# measures the kernel alone (exec_monitor raises the mode in the canary's
# execve); on-tripwire records it afterwards (via canary) for the release.
# tests/tests/canary.rs shows the same with the pipeline killed.
for i in $(seq "$N"); do
    "$work/trip" "$pin/maps/bd_mode" "$work/canary" 0 5000 >>"$work/ns"
    release "$i"
    "$work/trip" "$pin/maps/bd_mode" "$work/kcanary" 0 5000 >>"$work/kns"
    release "k$i"
done

report() { # label file
sort -n "$2" | awk -v n="$N" -v label="$1" '
    { v[NR] = $1 }
    END {
        if (NR != n) { printf "bench: %d of %d trials measured\n", NR, n; exit 1 }
        med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
        p99 = v[int(n * 0.99 + 0.999)]
        printf "tripwire (%s): canary exec -> bd_mode changed, %d trials: median %.3f ms, p99 %.3f ms, max %.3f ms, min %.3f ms\n",
            label, n, med / 1e6, p99 / 1e6, v[n] / 1e6, v[1] / 1e6
    }'
}
report "pipeline" "$work/ns"
report "in-kernel canary" "$work/kns"
