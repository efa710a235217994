// One tripwire trial: exec the canary, then watch the pinned bd_mode map until
// its mode leaves FROM; print the nanoseconds from just before fork() to the
// first read that shows the new mode. Polls with sched_yield() so the pipeline
// (two cores here) still gets the CPU.
//
//   trip MAP_PATH CANARY FROM_MODE TIMEOUT_MS
#define _GNU_SOURCE
#include <linux/bpf.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long bpf(int cmd, union bpf_attr *a)
{
	return syscall(__NR_bpf, cmd, a, sizeof(*a));
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: trip MAP_PATH CANARY FROM_MODE TIMEOUT_MS\n");
		return 2;
	}
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.pathname = (uint64_t)(uintptr_t)argv[1];
	int fd = bpf(BPF_OBJ_GET, &a);
	if (fd < 0) {
		perror("BPF_OBJ_GET");
		return 2;
	}
	uint32_t from = (uint32_t)atoi(argv[3]);
	uint64_t timeout = (uint64_t)atoll(argv[4]) * 1000000ull;
	uint32_t key = 0;
	unsigned char val[24];

	uint64_t t0 = now_ns();
	pid_t pid = fork();
	if (pid == 0) {
		execl(argv[2], argv[2], (char *)0);
		_exit(127);
	}
	for (;;) {
		memset(&a, 0, sizeof(a));
		a.map_fd = fd;
		a.key = (uint64_t)(uintptr_t)&key;
		a.value = (uint64_t)(uintptr_t)val;
		if (bpf(BPF_MAP_LOOKUP_ELEM, &a) < 0) {
			perror("BPF_MAP_LOOKUP_ELEM");
			return 2;
		}
		uint32_t mode;
		memcpy(&mode, val, sizeof(mode));
		uint64_t t = now_ns();
		if (mode != from) {
			printf("%llu\n", (unsigned long long)(t - t0));
			break;
		}
		if (t - t0 > timeout) {
			fprintf(stderr, "trip: mode still %u after %s ms\n", from, argv[4]);
			return 1;
		}
		sched_yield();
	}
	waitpid(pid, NULL, 0);
	return 0;
}
