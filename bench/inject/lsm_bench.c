/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Micro-benchmarks for the BPF-LSM shield, run inside the VM by run.sh:
 *   lsm_bench open N PATH        open()+close() of PATH           (file_open hook)
 *   lsm_bench stat N PID         open+read+close /proc/PID/stat   (ptrace_access_check)
 *   lsm_bench spawn N PROG ARGS  fork+execve+waitpid of PROG      (bd-inject overhead)
 *   lsm_bench mmap N PATH        mmap+munmap of PATH's first page (open fd; mmap_file)
 *   lsm_bench kill N PID         kill(PID, SIGCONT)               (task_kill hook)
 *   lsm_bench unlink N PATH      creat+close+unlink of PATH       (file_open, inode_unlink)
 * Prints the best of 5 rounds in nanoseconds per operation: the minimum is
 * the least disturbed by the other guests sharing these CPUs.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: lsm_bench open|stat|spawn N ARG...\n");
		return 2;
	}
	long n = atol(argv[2]);
	double best = 1e18;
	char path[64], buf[1024];

	int mfd = -1;

	if (!strcmp(argv[1], "stat"))
		snprintf(path, sizeof(path), "/proc/%s/stat", argv[3]);
	if (!strcmp(argv[1], "mmap") && (mfd = open(argv[3], O_RDONLY)) < 0) {
		perror(argv[3]);
		return 1;
	}
	for (int round = 0; round < 5; round++) {
		double t0 = now_ns();
		for (long i = 0; i < n; i++) {
			if (!strcmp(argv[1], "open")) {
				int fd = open(argv[3], O_RDONLY);
				if (fd < 0) {
					perror(argv[3]);
					return 1;
				}
				close(fd);
			} else if (!strcmp(argv[1], "mmap")) {
				void *p = mmap(0, 4096, PROT_READ, MAP_PRIVATE, mfd, 0);
				if (p == MAP_FAILED) {
					perror("mmap");
					return 1;
				}
				munmap(p, 4096);
			} else if (!strcmp(argv[1], "kill")) {
				if (kill(atoi(argv[3]), SIGCONT)) {
					perror("kill");
					return 1;
				}
			} else if (!strcmp(argv[1], "unlink")) {
				int fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0600);
				if (fd < 0 || close(fd) || unlink(argv[3])) {
					perror(argv[3]);
					return 1;
				}
			} else if (!strcmp(argv[1], "stat")) {
				int fd = open(path, O_RDONLY);
				if (fd < 0 || read(fd, buf, sizeof(buf)) <= 0) {
					perror(path);
					return 1;
				}
				close(fd);
			} else {
				pid_t p = fork();
				if (p == 0) {
					execve(argv[3], argv + 3, environ);
					_exit(127);
				}
				int st;
				if (p < 0 || waitpid(p, &st, 0) < 0 || !WIFEXITED(st) ||
				    WEXITSTATUS(st)) {
					fprintf(stderr, "%s failed\n", argv[3]);
					return 1;
				}
			}
		}
		double per = (now_ns() - t0) / n;
		if (per < best)
			best = per;
	}
	printf("%.0f\n", best);
	return 0;
}
