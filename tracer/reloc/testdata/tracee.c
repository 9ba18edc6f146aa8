// tracee: the traced side of reloc's tests. It waits for one byte on fd 3
// (the tracer has seized it), moves the region memfd from fd 4 to REGION_FD as
// stage 2 does, installs a filter that traces openat, and runs one mode:
//
//   check PATH   after the first traced openat (where the region is injected),
//                try every way to write the region; print "ok NAME" or
//                "FAIL NAME: why" per check, and the first bytes at the region
//   race N A S   open A N times while a second thread flips the buffer
//                between A and S (same length); print "race N opened wins"
//   loop N       openat("/dev/null")+close N times; print "loop N ns"
//   taken        map something at the region address first, then openat
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/falloc.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// REGION_FD is reloc.Fd, given by the test with -D.

static unsigned long region_addr, region_size;

static void filter(void) {
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog p = {.len = sizeof f / sizeof f[0], .filter = f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &p)) {
		perror("filter");
		exit(2);
	}
}

static int fails = 0;
static void check(const char *name, int ok, const char *why) {
	if (ok) printf("ok %s\n", name);
	else { printf("FAIL %s: %s (errno %s)\n", name, why, strerror(errno)); fails++; }
}

static sigjmp_buf jb;
static void on_segv(int s) { (void)s; siglongjmp(jb, 1); }

static int mode_check(const char *path) {
	int fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY);
	if (fd < 0) { perror("first openat"); return 2; }
	close(fd);
	char *a = (char *)region_addr;

	// The mapping is there, read-only and shared.
	FILE *m = fopen("/proc/self/maps", "r");
	char line[512], want[32];
	snprintf(want, sizeof want, "%lx-", region_addr);
	int found = 0;
	while (m && fgets(line, sizeof line, m))
		if (!strncmp(line, want, strlen(want))) { found = 1; printf("maps %s", line); }
	if (m) fclose(m);
	check("mapped", found, "no mapping at the region address");
	printf("content %.32s\n", a);

	errno = 0;
	check("write-fd", write(REGION_FD, "x", 1) < 0 && errno == EPERM, "write(2) to the memfd");
	errno = 0;
	check("pwrite-fd", pwrite(REGION_FD, "x", 1, 0) < 0 && errno == EPERM, "pwrite(2) to the memfd");
	errno = 0;
	void *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, REGION_FD, 0);
	check("mmap-shared-write", w == MAP_FAILED && errno == EPERM, "a new writable shared mapping");
	errno = 0;
	check("mprotect-write", mprotect(a, 4096, PROT_READ | PROT_WRITE) < 0 && errno == EACCES, "mprotect(PROT_WRITE) of the region");
	errno = 0;
	check("mprotect-write-exec", mprotect(a, 4096, PROT_READ | PROT_WRITE | PROT_EXEC) < 0, "mprotect(RWX) of the region");
	errno = 0;
	char self_fd[64];
	snprintf(self_fd, sizeof self_fd, "/proc/self/fd/%d", REGION_FD);
	int rw = open(self_fd, O_RDWR);
	check("reopen-write", rw < 0 || (write(rw, "x", 1) < 0 && errno == EPERM), "write through a reopened /proc/self/fd/REGION_FD");
	if (rw >= 0) close(rw);
	errno = 0;
	check("punch-hole", fallocate(REGION_FD, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096) < 0, "fallocate(PUNCH_HOLE)");
	errno = 0;
	check("truncate", ftruncate(REGION_FD, 0) < 0 && errno == EPERM, "ftruncate to 0");
	errno = 0;
	check("grow", ftruncate(REGION_FD, region_size * 2) < 0 && errno == EPERM, "ftruncate larger");
	errno = 0;
	check("unseal", fcntl(REGION_FD, F_ADD_SEALS, F_SEAL_WRITE) < 0 && errno == EPERM, "adding seals after F_SEAL_SEAL");
	errno = 0;
	int mem = open("/proc/self/mem", O_RDWR);
	check("proc-mem", mem < 0 || pwrite(mem, "x", 1, (off_t)region_addr) < 0, "write through /proc/self/mem (FOLL_FORCE)");
	if (mem >= 0) close(mem);
	errno = 0;
	check("madvise-remove", madvise(a, 4096, MADV_REMOVE) < 0, "madvise(MADV_REMOVE)");
	errno = 0;
	void *priv = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, REGION_FD, 0);
	if (priv != MAP_FAILED) {
		((char *)priv)[0] = 'X'; // a private copy: must not reach the region
		munmap(priv, 4096);
	}
	check("private-copy", a[0] != 'X', "a MAP_PRIVATE write reached the region");
	struct sigaction sa = {.sa_handler = on_segv};
	sigaction(SIGSEGV, &sa, NULL);
	volatile char *va = a; // volatile: the compiler must not assume the store happened
	volatile int stored = 0;
	if (!sigsetjmp(jb, 1)) { va[0] = 'Y'; stored = 1; }
	errno = 0;
	check("store", !stored && va[0] != 'Y', "a plain store to the region");
	return fails ? 1 : 0;
}

static char flip_buf[4096];
static volatile int stop_flag;
static const char *flip_a, *flip_s;
static void *flipper(void *arg) {
	(void)arg;
	size_t n = strlen(flip_a) + 1;
	while (!stop_flag) {
		memcpy(flip_buf, flip_s, n);
		memcpy(flip_buf, flip_a, n);
	}
	return NULL;
}

static int mode_race(int tries, const char *allowed, const char *secret) {
	if (strlen(allowed) != strlen(secret)) { fprintf(stderr, "race: paths differ in length\n"); return 2; }
	flip_a = allowed, flip_s = secret;
	strcpy(flip_buf, allowed);
	pthread_t t;
	pthread_create(&t, NULL, flipper, NULL);
	int opened = 0, wins = 0;
	for (int i = 0; i < tries; i++) {
		int fd = syscall(SYS_openat, AT_FDCWD, flip_buf, O_RDONLY);
		if (fd < 0) continue;
		opened++;
		char b[16] = {0};
		if (read(fd, b, sizeof b - 1) > 0 && !strncmp(b, "SECRET", 6)) wins++;
		close(fd);
	}
	stop_flag = 1;
	pthread_join(t, NULL);
	printf("race %d %d %d\n", tries, opened, wins);
	return 0;
}

static int mode_loop(long n) {
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++) {
		int fd = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY);
		if (fd < 0) { perror("openat"); return 2; }
		close(fd);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
	printf("loop %ld %.0f\n", n, ns / n);
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 3) { fprintf(stderr, "usage: tracee ADDR SIZE MODE ...\n"); return 2; }
	region_addr = strtoul(argv[1], NULL, 0);
	region_size = strtoul(argv[2], NULL, 0);
	char b;
	if (read(3, &b, 1) != 1) { fprintf(stderr, "tracer did not attach\n"); return 2; }
	close(3);
	if (dup2(4, REGION_FD) != REGION_FD) { perror("dup2 region"); return 2; }
	close(4);
	filter();
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *mode = argv[3];
	if (!strcmp(mode, "check") && argc == 5) return mode_check(argv[4]);
	if (!strcmp(mode, "race") && argc == 7) return mode_race(atoi(argv[4]), argv[5], argv[6]);
	if (!strcmp(mode, "loop") && argc == 5) return mode_loop(atol(argv[4]));
	if (!strcmp(mode, "taken") && argc == 4) {
		// Something already lies at the region's address: the injection must
		// fail and the tracer must fail the call closed.
		void *p = mmap((void *)region_addr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p != (void *)region_addr) { perror("mmap at the region address"); return 2; }
		int fd = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY);
		printf("taken %d %s\n", fd, fd < 0 ? strerror(errno) : "opened");
		return 0;
	}
	fprintf(stderr, "bad mode\n");
	return 2;
}
