#!/usr/bin/env bash
# bd-policy throughput and memory, side by side with jq running the same
# 50-rule decision on the same recorded events. One core (taskset -c 0).
# Usage: bench/policy/run.sh [EVENTS]   (default 1000000). Not run in CI.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${CARGO_TARGET_DIR:-$root/target}/release
n=${1:-1000000}
command -v jq >/dev/null || { echo "bench: jq missing (apt-get install -y jq)" >&2; exit 2; }
[ -x "$bin/bd-policy" ] || (cd "$root" && cargo build --release -p bd-policy)
work=$(mktemp -d /tmp/bd-bench-policy.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/small"
python3 "$here/gen.py" "$n" "$work"
python3 "$here/gen.py" $((n / 10)) "$work/small"
bytes=$(stat -c %s "$work/events.jsonl")

measure() { # NAME FILE CMD... -> "wall_seconds cpu_seconds maxrss_kb user_seconds sys_seconds"
    local name=$1 file=$2; shift 2
    /usr/bin/time -f '%e %U %S %M' -o "$work/t" taskset -c 0 "$@" < "$file" > "$work/out.$name"
    awk '{ printf "%s %.2f %s %s %s\n", $1, $2 + $3, $4, $2, $3 }' "$work/t"
}
load=$(cut -d' ' -f1 /proc/loadavg)
read -r p_s p_cpu p_kb p_u p_sys < <(measure policy "$work/events.jsonl" "$bin/bd-policy" -p "$work/policy.toml" --mode OPEN)
read -r ps_s ps_cpu ps_kb < <(measure policy-small "$work/small/events.jsonl" "$bin/bd-policy" -p "$work/policy.toml" --mode OPEN)
read -r j_s j_cpu j_kb < <(measure jq "$work/events.jsonl" jq -c -f "$work/filter.jq")

# Same decisions from both?
paste -d' ' <(jq -r '.decision + " " + .rule' "$work/out.policy") <(jq -r '.decision + " " + .rule' "$work/out.jq") \
    | awk '$1 != $3 || $2 != $4 { bad++ } END { if (bad) { print "bench: decisions differ on " bad " lines"; exit 1 } }'
lines=$(wc -l < "$work/out.policy")
[ "$lines" = "$n" ] || { echo "bench: $lines decisions for $n events" >&2; exit 1; }

awk -v pu="$p_u" -v psys="$p_sys" -v n="$n" -v b="$bytes" -v ps="$p_s" -v pc="$p_cpu" -v pk="$p_kb" -v js="$j_s" -v jc="$j_cpu" -v jk="$j_kb" -v sk="$ps_kb" -v load="$load" 'BEGIN {
    printf "bd-policy bench: %d exec events (%.0f MB), 50-rule policy, one core (taskset -c 0), load average %s at start\n", n, b / 1e6, load
    printf "%-10s %8s %8s %16s %16s %10s\n", "", "wall s", "CPU s", "decisions/s wall", "decisions/CPU-s", "peak RSS"
    printf "%-10s %8.2f %8.2f %16.0f %16.0f %7.1f MB\n", "bd-policy", ps, pc, n / ps, n / pc, pk / 1024
    printf "%-10s %8.2f %8.2f %16.0f %16.0f %7.1f MB\n", "jq", js, jc, n / js, n / jc, jk / 1024
    printf "bd-policy CPU: %.2f s user, %.2f s system (reading the events, writing the decisions)\n", pu, psys
    printf "speed-up: %.1fx jq (wall), %.1fx (CPU); identical decisions on every line\n", js / ps, jc / pc
    printf "memory: %.1f MB peak for %d events, %.1f MB for %d (constant in input size)\n", sk / 1024, n / 10, pk / 1024, n
}'
