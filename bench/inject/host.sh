#!/bin/sh
# bd-inject's own cost on the host (no BPF-LSM here, so no shield): the time
# `bd-inject -- /bin/true` adds to plain /bin/true, measured by hyperfine in
# one run, with the secret from the environment and from a file.
# Usage: bench/inject/host.sh [path/to/bd-inject [path/to/older/bd-inject]]
# bd-inject is built with no libc (static, its own _start): `cargo build
# --release --bins` and `make` build the same binary. An older one may be
# given for comparison in the same run.
set -eu
INJ=${1:-target/release/bd-inject}
OLD=${2:-}
export BENCH_SECRET=bench-secret-value
KEY=$(mktemp /tmp/bd-inject-bench.XXXXXX)
WRAP=$KEY.exec
NOLIBC=$KEY.nolibc
trap 'rm -f "$KEY" "$WRAP" "$NOLIBC"' EXIT
printf '%s\n' "$BENCH_SECRET" > "$KEY"
# The floor for any exec-in-place wrapper on glibc: a static C program that
# does nothing but execve(2) its arguments (on a VM, glibc's start-up cpuid
# probing alone costs a few hundred microseconds).
printf '#include <unistd.h>\nint main(int c, char **v, char **e) { (void)c; execve(v[1], v + 1, e); return 127; }\n' |
    cc -O2 -static-pie -x c -o "$WRAP" -
# The floor without libc: the same execve(2) from a static program with its
# own _start and a raw system call (what bd-inject is now built like).
cat <<'C' | cc -O2 -static -nostdlib -fno-stack-protector -x c -o "$NOLIBC" -
__asm__(".globl _start\n_start:\n xor %ebp,%ebp\n mov %rsp,%rdi\n and $-16,%rsp\n call cmain\n hlt\n");
static long sys3(long n, long a, long b, long c) {
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}
void cmain(long *sp) {
    long argc = sp[0];
    char **argv = (char **)(sp + 1), **envp = argv + argc + 1;
    sys3(59, (long)argv[1], (long)(argv + 1), (long)envp); /* execve */
    sys3(231, 127, 0, 0);                                   /* exit_group */
}
C
file -L "$INJ" | sed 's/, BuildID.*//'
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
set -- -n '/bin/true' '/bin/true' \
    -n 'static C execve (glibc) -- /bin/true' "$WRAP /bin/true" \
    -n 'no-libc C execve -- /bin/true' "$NOLIBC /bin/true" \
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
