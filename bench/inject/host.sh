#!/bin/sh
# bd-inject's own cost on the host (no BPF-LSM here, so no shield): the time
# `bd-inject -- /bin/true` adds to plain /bin/true, measured by hyperfine in
# one run. Usage: bench/inject/host.sh [path/to/bd-inject]
set -eu
INJ=${1:-target/release/bd-inject}
export BENCH_SECRET=bench-secret-value
hyperfine -N --warmup 20 --runs 300 \
    -n '/bin/true' '/bin/true' \
    -n 'bd-inject -- /bin/true' "$INJ --name S --from-env BENCH_SECRET -- /bin/true"
