// loop: the syscall micro-benchmarks of `make bench`.
//   loop MODE N   runs N iterations and prints "<ns per iteration>"
// MODE: openclose (openat+close: 1 trapped syscall), getpid (untraced),
// forkexec (fork + execve /bin/true + wait), connect (socket+connect+accept4+
// close on loopback: socket, connect and accept4 are trapped).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int lfd;
static long iters;
static void *acceptor(void *arg) {
	(void)arg;
	for (long i = 0; i < iters; i++) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c >= 0) close(c);
	}
	return NULL;
}

int main(int argc, char **argv) {
	if (argc != 3) { fprintf(stderr, "usage: loop openclose|getpid|forkexec|connect N\n"); return 2; }
	const char *mode = argv[1];
	iters = atol(argv[2]);
	long long t0 = 0, t1 = 0;
	if (strcmp(mode, "openclose") == 0) {
		t0 = now_ns();
		for (long i = 0; i < iters; i++) {
			int fd = syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY | O_CLOEXEC);
			syscall(SYS_close, fd);
		}
		t1 = now_ns();
	} else if (strcmp(mode, "getpid") == 0) {
		t0 = now_ns();
		for (long i = 0; i < iters; i++) syscall(SYS_getpid);
		t1 = now_ns();
	} else if (strcmp(mode, "forkexec") == 0) {
		char *av[] = {"/bin/true", NULL};
		t0 = now_ns();
		for (long i = 0; i < iters; i++) {
			pid_t p = fork();
			if (p == 0) { execv(av[0], av); _exit(127); }
			waitpid(p, NULL, 0);
		}
		t1 = now_ns();
	} else if (strcmp(mode, "connect") == 0) {
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int one = 1;
		setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 4096) != 0) { perror("listen"); return 1; }
		socklen_t al = sizeof a;
		getsockname(lfd, (struct sockaddr *)&a, &al);
		pthread_t th;
		pthread_create(&th, NULL, acceptor, NULL);
		t0 = now_ns();
		for (long i = 0; i < iters; i++) {
			int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); return 1; }
			close(s);
		}
		pthread_join(th, NULL);
		t1 = now_ns();
	} else {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}
	printf("%.1f\n", (double)(t1 - t0) / (double)iters);
	return 0;
}
