// cloneid: a static program whose children and threads, made by every
// kind of fork, vfork and clone, each open argv[1].<kind> and print
// "<kind> <pid> <ppid> <uid>" as they see themselves, so a test can check
// the identity bluelock gives each open's event; argv[2] times over, since
// which of a child's first stop and its parent's event reaches the tracer
// first varies from one child to the next. The kinds:
//   fork      fork()
//   vfork     vfork()
//   parent    clone(CLONE_PARENT) from a forked middle process: the
//             grandchild's parent is this process, not its creator
//   thread    a thread made by clone with no exit signal (a clone event)
//   tsigchld  a thread made by clone with SIGCHLD as its exit signal, which
//             the kernel reports as a fork event, not a clone event
//   creds     a fork after another thread alone changed its own uid with a
//             raw setresuid (credentials are per thread): the child has
//             the forking thread's uid, not the other thread's
// Exit 0 when every child ran; 1 otherwise; 2 for bad arguments.
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *base;

static void report(const char *kind) {
	char path[4096], line[128];
	snprintf(path, sizeof path, "%s.%s", base, kind);
	int fd = open(path, O_RDONLY);
	if (fd >= 0) close(fd);
	int n = snprintf(line, sizeof line, "%s %ld %ld %ld\n", kind, (long)syscall(SYS_getpid),
	                 (long)syscall(SYS_getppid), (long)syscall(SYS_getuid));
	if (write(1, line, n) != n) _exit(1);
}

// reap waits for every child of this process.
static int reap(void) {
	int st, bad = 0;
	pid_t p;
	while ((p = wait(&st)) > 0)
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) bad = 1;
	return bad;
}

static char stack[2][64 * 1024] __attribute__((aligned(16)));
static pid_t ctid;

static int threadMain(void *kind) {
	report(kind);
	return 0; // glibc's clone ends the thread with SYS_exit
}

static int setuidMain(void *unused) {
	(void)unused;
	// Raw: glibc's setresuid would make every thread change.
	return syscall(SYS_setresuid, 65534, 65534, 65534) == 0 ? 0 : 1;
}

// thread runs fn in a new thread of this process with exit signal sig and
// waits for it to end (the kernel clears ctid and wakes us then).
static void thread(int (*fn)(void *), void *arg, int sig, int slot) {
	int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
	            CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID | sig;
	if (clone(fn, stack[slot] + sizeof stack[slot], flags, arg, &ctid, NULL, &ctid) < 0) exit(1);
	while (__atomic_load_n(&ctid, __ATOMIC_ACQUIRE) != 0)
		syscall(SYS_futex, &ctid, FUTEX_WAIT, ctid, NULL, NULL, 0);
}

int main(int argc, char **argv) {
	if (argc != 3) return 2;
	base = argv[1];
	int times = atoi(argv[2]);
	setvbuf(stdout, NULL, _IONBF, 0);
	for (int i = 0; i < times; i++) {
		if (fork() == 0) { report("fork"); _exit(0); }
		if (reap()) return 1;

		if (vfork() == 0) { report("vfork"); _exit(0); }
		if (reap()) return 1;

		if (fork() == 0) {
			// The middle process: its CLONE_PARENT child is its parent's.
			// It lives until the child has reported (the pipe's end), lest
			// its exit send the tracer to /proc for the child's parent.
			int p[2];
			if (pipe(p) != 0) _exit(1);
			if (syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0) == 0) { report("parent"); _exit(0); }
			close(p[1]);
			char c;
			while (read(p[0], &c, 1) > 0) {}
			_exit(0);
		}
		if (reap()) return 1;

		thread(threadMain, "thread", 0, 0);
		thread(threadMain, "tsigchld", SIGCHLD, 1);
	}
	if (getuid() == 0) {
		thread(setuidMain, NULL, 0, 0);
		for (int i = 0; i < times; i++) {
			if (fork() == 0) { report("creds"); _exit(0); }
			if (reap()) return 1;
		}
	}
	return 0;
}
