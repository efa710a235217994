#!/bin/sh
# bd-inject's own cost on the host (no BPF-LSM here, so no shield): the time
# `bd-inject -- /bin/true` adds to plain /bin/true, measured by hyperfine in
# one run, with the secret from the environment and from a file.
# Usage: bench/inject/host.sh [path/to/bd-inject [path/to/older/bd-inject]]
# The binary `make` builds is linked static-pie (see the Makefile's build
# target); a plain `cargo build` one is dynamic and starts about 0.3 ms slower.
set -eu
INJ=${1:-target/release/bd-inject}
OLD=${2:-}
export BENCH_SECRET=bench-secret-value
KEY=$(mktemp /tmp/bd-inject-bench.XXXXXX)
WRAP=$KEY.exec
trap 'rm -f "$KEY" "$WRAP"' EXIT
printf '%s\n' "$BENCH_SECRET" > "$KEY"
# The floor for any exec-in-place wrapper on glibc: a static C program that
# does nothing but execve(2) its arguments (on a VM, glibc's start-up cpuid
# probing alone costs a few hundred microseconds).
printf '#include <unistd.h>\nint main(int c, char **v, char **e) { (void)c; execve(v[1], v + 1, e); return 127; }\n' |
    cc -O2 -static-pie -x c -o "$WRAP" -
file -L "$INJ" | sed 's/, BuildID.*//'
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
set -- -n '/bin/true' '/bin/true' \
    -n 'static C execve -- /bin/true' "$WRAP /bin/true" \
    -n 'bd-inject --from-env -- /bin/true' "$INJ --name S --from-env BENCH_SECRET -- /bin/true" \
    -n 'bd-inject --from-file -- /bin/true' "$INJ --name S --from-file $KEY -- /bin/true"
if [ -n "$OLD" ]; then
    set -- "$@" -n 'older --from-env -- /bin/true' "$OLD --name S --from-env BENCH_SECRET -- /bin/true" \
        -n 'older --from-file -- /bin/true' "$OLD --name S --from-file $KEY -- /bin/true"
fi
hyperfine -N --warmup 20 --runs "${RUNS:-300}" "$@"
# The same commands interleaved, CPU time next to wall time.
CMDS=""
while [ $# -gt 0 ]; do CMDS="$CMDS|$3"; shift 3; done
IFS='|'
# shellcheck disable=SC2086
python3 "$(dirname "$0")/interleaved.py" ${CMDS#|}
