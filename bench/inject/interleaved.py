#!/usr/bin/env python3
"""Run each command line given N times (env N, default 400), interleaved
(A B C A B C ...), so load from other processes falls on all of them alike,
and print per command the median and mean CPU time (utime + stime from
wait4(2): their sum is the scheduler's exact runtime) and the median and
minimum wall time, in ms. Hyperfine runs one command after the other, which
on a shared, loaded machine skews the comparison."""
import os, sys, time, statistics, shlex
N = int(os.environ.get("N", "400"))
cmds = [shlex.split(c) for c in sys.argv[1:]]
res = {i: ([], []) for i in range(len(cmds))}
devnull = os.open("/dev/null", os.O_RDWR)
for r in range(N):
    for i, c in enumerate(cmds):
        t0 = time.perf_counter()
        pid = os.posix_spawn(c[0], c, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1)])
        _, st, ru = os.wait4(pid, 0)
        t1 = time.perf_counter()
        if st != 0 and r == 0:
            print("status", st, c, file=sys.stderr)
        res[i][0].append((ru.ru_utime + ru.ru_stime) * 1e3)
        res[i][1].append((t1 - t0) * 1e3)
print(f"load {os.getloadavg()[0]:.2f}, {N} interleaved runs each; ms")
print(f"{'cpu med':>8} {'cpu mean':>8} {'wall med':>8} {'wall min':>8}  command")
for i, c in enumerate(cmds):
    cpu, wall = res[i]
    print(f"{statistics.median(cpu):8.3f} {statistics.mean(cpu):8.3f} {statistics.median(wall):8.3f} {min(wall):8.3f}  {' '.join(c)}")
