#!/usr/bin/env bash
# Exec overhead of boundary's exec monitor, side by side with no monitor and
# with bpftrace on the same tracepoint, in one run. Needs root, a C compiler,
# bpftrace, and release builds of bd-load and bd-watch.
#
#   bench/kernel/run.sh [N] [ROUNDS]   (default 20000 execs per condition in 10 rounds)
#
# Each condition runs the same exec loop (bench/kernel/execloop.c: vfork +
# execve /bin/true + waitpid). The N execs of a condition are split into
# ROUNDS rounds, and the conditions take turns round by round, so a change in
# background load hits all of them alike. Reported: the median round's cost
# per exec, the overhead of that against no monitor, and events delivered /
# lost summed over all rounds. Monitors filter on the loop's pid, so events
# from the rest of the machine are not counted (they still cost, equally).
set -euo pipefail
cd "$(dirname "$0")/../.."
TOTAL=${1:-20000}
ROUNDS=${2:-10}
N=$(( TOTAL / ROUNDS ))
BIN=${BD_BIN_DIR:-${CARGO_TARGET_DIR:-target}/release}
work=$(mktemp -d)
pin=/sys/fs/bpf/bd-bench-$$
stats_was=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() {
    sysctl -qw kernel.bpf_stats_enabled="$stats_was" || true
    [[ -n ${WPID:-} ]] && kill -INT "$WPID" 2>/dev/null || true
    [[ -n ${TPID:-} ]] && kill -INT "$TPID" 2>/dev/null || true
    "$BIN/bd-load" --pin-dir "$pin" unload >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
[[ -x $BIN/bd-load && -x $BIN/bd-watch ]] || cargo build --release -q -p bd-load -p bd-watch
cc -O2 -o "$work/execloop" bench/kernel/execloop.c

# Start the loop blocked on a fifo, so a monitor can filter on its pid first.
start_loop() {
    rm -f "$work/go"; mkfifo "$work/go"
    "$work/execloop" "$N" <"$work/go" >"$work/loop.out" &
    LPID=$!
    exec 9>"$work/go"
}
wait_for() { # file pattern
    for _ in $(seq 1 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    echo "bench: timed out waiting for '$2' in $1" >&2; cat "$1" >&2; exit 1
}
run_loop() { echo go >&9; exec 9>&-; wait "$LPID"; read -r _ NS <"$work/loop.out"; }

# exec_monitor's run_time_ns and run_count so far (bd-load status --json).
kstat() {
    "$BIN/bd-load" --pin-dir "$pin" status --json |
        jq -r '.programs[] | select(.program == "exec_monitor") | "\(.run_time_ns) \(.run_count)"'
}
declare -A per ev lost
none() {
    start_loop; run_loop; echo "$NS"
}
ours() {
    read -r t0 c0 <<<"$(kstat)"
    start_loop
    "$BIN/bd-watch" --pin-dir "$pin" --ppid "$LPID" --type exec,lost >"$work/ours.jsonl" 2>"$work/ours.err" &
    WPID=$!
    wait_for "$work/ours.err" ready
    run_loop
    sleep 0.3; kill -INT "$WPID"; wait "$WPID" || true; WPID=
    ev=$(grep -c '"type":"exec"' "$work/ours.jsonl" || true)
    lost=$(jq -s '[.[] | select(.type=="lost") | .count] | add // 0' "$work/ours.jsonl")
    # exec_monitor's own cost while a reader drains the ring: this round only.
    read -r t1 c1 <<<"$(kstat)"
    echo "$(( t1 - t0 )) $(( c1 - c0 ))" >>"$work/ours.stats"
    echo "$NS $ev $lost"
}
bpft() {
    start_loop
    bpftrace -e "tracepoint:sched:sched_process_exec /curtask->real_parent->tgid == $LPID/ { printf(\"%d %s %s\\n\", pid, comm, str(args->filename)); }" \
        >"$work/bpftrace.out" 2>"$work/bpftrace.err" &
    TPID=$!
    wait_for "$work/bpftrace.out" Attaching
    run_loop
    sleep 0.3
    # Kernel-side cost of bpftrace's program(s), from their fds' fdinfo.
    cat /proc/"$TPID"/fdinfo/* 2>/dev/null | awk '/^run_time_ns:/ { t += $2 } /^run_cnt:/ { c += $2 } END { print t + 0, c + 0 }' >>"$work/bpft.stats"
    # bpftrace sometimes ignores SIGINT while it detaches: TERM, then KILL.
    kill -INT "$TPID"
    for _ in $(seq 50); do kill -0 "$TPID" 2>/dev/null || break; sleep 0.1; done
    { kill -TERM "$TPID" 2>/dev/null && sleep 1 && kill -KILL "$TPID" 2>/dev/null; } || true
    wait "$TPID" || true; TPID=
    ev=$(grep -c ' /bin/true$' "$work/bpftrace.out" || true)
    lost=$(grep -oE 'Lost [0-9]+' "$work/bpftrace.out" "$work/bpftrace.err" | awk '{s+=$2} END {print s+0}')
    echo "$NS $ev $lost"
}

"$BIN/bd-load" --pin-dir "$pin" load >/dev/null
# Per-program run time in the kernel (adds a little cost to every BPF run,
# equally for both monitors).
sysctl -qw kernel.bpf_stats_enabled=1
add() { # condition ns events lost
    per[$1]+="$(awk -v ns="$2" -v n="$N" 'BEGIN { printf "%.2f", ns / n / 1000 }') "
    ev[$1]=$(( ${ev[$1]:-0} + ${3:-0} )); lost[$1]=$(( ${lost[$1]:-0} + ${4:-0} ))
}
for r in $(seq 1 "$ROUNDS"); do
    read -r ns <<<"$(none)";         add none "$ns"
    read -r ns e l <<<"$(ours)";     add ours "$ns" "$e" "$l"
    read -r ns e l <<<"$(bpft)";     add bpft "$ns" "$e" "$l"
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
base=$(median <<<"${per[none]}")
echo "exec loop: $ROUNDS rounds x $N execs per condition, interleaved; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-34s %14s %10s   %s\n' "condition" "median us/exec" "overhead" "events (all rounds)"
for k in none ours bpft; do
    m=$(median <<<"${per[$k]}")
    over=$(awk -v p="$m" -v b="$base" 'BEGIN { printf "%+.1f", (p - b) * 100 / b }')
    case $k in
        none) name="no monitor"; e="-";;
        ours) name="bd-load + bd-watch > file"; e="${ev[ours]} delivered + ${lost[ours]} lost of $TOTAL";;
        bpft) name="bpftrace printf, same tracepoint"; e="${ev[bpft]} delivered + ${lost[bpft]} lost of $TOTAL";;
    esac
    printf '%-34s %14s %9s%%   %s\n' "$name" "$m" "$over" "$e"
    echo "    rounds: ${per[$k]}"
done
# bd-load stays loaded through all three conditions, but only `ours` reads
# the ring: in the others it fills and exec_monitor runs with no reader
# (records pile up, and once the ring is full each is counted lost). So
# its cost is given for the `ours` rounds alone (snapshots around each round)
# and for the rest of the run, labelled apart.
read -r all_t all_c <<<"$(kstat)"
ours_k=$(awk '{ t += $1; c += $2 } END { print t, c }' "$work/ours.stats")
rest_k=$(awk -v t="$all_t" -v c="$all_c" -v o="$ours_k" 'BEGIN { split(o, a, " "); print t - a[1], c - a[2] }')
bpft_k=$(awk '{ t += $1; c += $2 } END { print t, c }' "$work/bpft.stats")
kcost() { awk -v t="$1" -v c="$2" 'BEGIN { if (c > 0) printf "%.0f ns per run (%d runs)", t / c, c; else print "n/a" }'; }
echo "in-kernel program cost (kernel.bpf_stats_enabled):"
echo "    exec_monitor, ours rounds (bd-watch reading):       $(kcost $ours_k)"
echo "    exec_monitor, other rounds (no reader):             $(kcost $rest_k)"
echo "    exec_monitor, whole run:                            $(kcost $all_t $all_c)"
echo "    bpftrace, bpftrace rounds:                          $(kcost $bpft_k)"
