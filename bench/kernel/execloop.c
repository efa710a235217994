/* Exec /bin/true N times (vfork + execve + waitpid) after one byte on stdin;
 * prints "<N> <elapsed ns>". The parent of every exec is this process, so
 * monitors can filter on its pid. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20000;
	char *args[] = {"/bin/true", NULL};
	char *env[] = {NULL};
	char c;
	struct timespec a, b;

	if (read(0, &c, 1) < 0)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) {
		pid_t p = vfork();
		if (p == 0) {
			execve(args[0], args, env);
			_exit(127);
		}
		int st;
		if (p < 0 || waitpid(p, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%ld %lld\n", n, (long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec));
	return 0;
}
