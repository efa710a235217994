#!/bin/sh
# BPF-LSM shield overhead, run inside the VM by `cargo xtask vm-test --bench`
# (the host kernel refuses LSM programs). Prints each figure without and with
# the programs loaded, side by side, in one run. Absolute numbers are TCG
# (emulated CPU) numbers: read the ratios.
set -eu
PIN=/sys/fs/bpf/bd-bench
B=/bench/lsm_bench
N_OPEN=${N_OPEN:-5000}
N_STAT=${N_STAT:-2000}
N_SPAWN=${N_SPAWN:-20}
N_MMAP=${N_MMAP:-5000}
N_KILL=${N_KILL:-5000}
N_UNLINK=${N_UNLINK:-2000}
export BENCH_SECRET=bench-secret-value

sleep 600 & OTHER=$!    # an unprotected process: what everyone else pays
sleep 600 & GUARDED=$!  # a protected one: the deny path (ps-style stat read)
echo x > /tmp/bench-file
echo y > /tmp/bench-guarded

measure() {
    open=$($B open "$N_OPEN" /tmp/bench-file)
    stat=$($B stat "$N_STAT" "$OTHER")
    statg=$($B stat "$N_STAT" "$GUARDED")
    true_=$($B spawn "$N_SPAWN" /bin/true)
    inj=$($B spawn "$N_SPAWN" /bin/bd-inject --pin-dir "$PIN" --name S --from-env BENCH_SECRET -- /bin/true)
    mm=$($B mmap "$N_MMAP" /tmp/bench-file)
    kl=$($B kill "$N_KILL" "$OTHER")
    un=$($B unlink "$N_UNLINK" /tmp/bench-unlink)
    echo "$open $stat $statg $true_ $inj $mm $kl $un"
}

# Interleave: without, with, without, with, ... and keep each figure's
# minimum, so a burst of load from the other guests on these CPUs does not
# land on one side only.
min() { if [ -z "$1" ] || [ "$2" -lt "$1" ]; then echo "$2"; else echo "$1"; fi; }
o0= s0= g0= t0= i0= o1= s1= g1= t1= i1= m0= k0= u0= m1= k1= u1=
for round in 1 2 3; do
    set -- $(measure)
    o0=$(min "$o0" $1) s0=$(min "$s0" $2) g0=$(min "$g0" $3) t0=$(min "$t0" $4) i0=$(min "$i0" $5)
    m0=$(min "$m0" $6) k0=$(min "$k0" $7) u0=$(min "$u0" $8)
    bd-load --pin-dir "$PIN" --require lsm >/dev/null
    # Non-empty maps, as in real use; the opened file itself is not protected.
    bd-load --pin-dir "$PIN" protect --pid "$GUARDED" --path /tmp/bench-guarded >/dev/null
    set -- $(measure)
    o1=$(min "$o1" $1) s1=$(min "$s1" $2) g1=$(min "$g1" $3) t1=$(min "$t1" $4) i1=$(min "$i1" $5)
    m1=$(min "$m1" $6) k1=$(min "$k1" $7) u1=$(min "$u1" $8)
    bd-load --pin-dir "$PIN" unload >/dev/null 2>&1
done
kill "$OTHER" "$GUARDED"

echo "bench: kernel $(uname -r), ns per operation (best of 3 interleaved rounds x 5), without vs with every boundary program loaded (lsm_file_protect, self_protect, mode_enforce)"
awk -v o0="$o0" -v o1="$o1" -v s0="$s0" -v s1="$s1" -v g0="$g0" -v g1="$g1" \
    -v t0="$t0" -v t1="$t1" -v i0="$i0" -v i1="$i1" \
    -v m0="$m0" -v m1="$m1" -v k0="$k0" -v k1="$k1" -v u0="$u0" -v u1="$u1" 'BEGIN {
    printf "%-44s %12s %12s %9s\n", "operation", "without", "with", "added"
    printf "%-44s %12d %12d %8.1f%%\n", "open+close (file_open hook)", o0, o1, (o1-o0)*100/o0
    printf "%-44s %12d %12d %8.1f%%\n", "read /proc/PID/stat, unprotected PID", s0, s1, (s1-s0)*100/s0
    printf "%-44s %12d %12d %8.1f%%\n", "read /proc/PID/stat, protected PID", g0, g1, (g1-g0)*100/g0
    printf "%-44s %12d %12d %8.1f%%\n", "mmap+munmap of an open file", m0, m1, (m1-m0)*100/m0
    printf "%-44s %12d %12d %8.1f%%\n", "kill SIGCONT, unprotected PID (task_kill)", k0, k1, (k1-k0)*100/k0
    printf "%-44s %12d %12d %8.1f%%\n", "creat+close+unlink in /tmp (inode_unlink)", u0, u1, (u1-u0)*100/u0
    printf "%-44s %12d %12d %9s\n", "fork+exec /bin/true", t0, t1, "-"
    printf "%-44s %12d %12d %9s\n", "fork+exec bd-inject -- /bin/true", i0, i1, "-"
    printf "%-44s %12.3f %12.3f %9s\n", "bd-inject added per run (ms)", (i0-t0)/1e6, (i1-t1)/1e6, "-"
}'
