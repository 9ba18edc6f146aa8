// floor: the cheapest tracers the kernel allows, as reference columns for
// `make bench`. They trap exactly what bluelock traps (the same syscall list)
// and do the least work a checking tracer must: read the registers and the
// first path argument, then let the call run. No policy, no resolution.
//
//   floor ptrace   CMD...   SECCOMP_RET_TRACE, one PTRACE_EVENT_SECCOMP stop:
//                            wait4 + PTRACE_GETREGS + process_vm_readv + PTRACE_CONT;
//                            like bluelock, it polls (wait4 WNOHANG + sched_yield)
//                            for up to 50 µs before it sleeps in wait4
//   floor ptrace-exit CMD... the same, but it also learns each result, as a
//                            tracer that logs calls must (bluelock with
//                            visibility on): the seccomp stop is resumed with
//                            PTRACE_SYSCALL and the syscall-exit stop costs
//                            PTRACE_GETREGS + PTRACE_CONT
//   floor unotify  CMD...   SECCOMP_RET_USER_NOTIF: NOTIF_RECV + process_vm_readv
//                            + NOTIF_ID_VALID + NOTIF_SEND(FLAG_CONTINUE)
//   floor unotify-sync CMD... the same with SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (6.6+)
//   floor unotify-addfd CMD... unotify-sync, but an openat is opened by the
//                            supervisor and its descriptor sent with
//                            NOTIF_ADDFD + ADDFD_FLAG_SEND: what a race-free
//                            answer costs (bluelock --fast-opens)
//   floor allow    CMD...   no tracer: a filter of one instruction, RET_ALLOW,
//                            then exec CMD. What any seccomp filter costs a
//                            syscall it lets through (the kernel's seccomp
//                            entry path), the floor of the untraced getpid row
//
// Not a security tool: unotify with CONTINUE is racy by design (seccomp.h).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <time.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP 1
#endif

static const int traced[] = {
	SYS_execve, SYS_execveat, SYS_open, SYS_openat, SYS_openat2, SYS_creat,
	SYS_socket, SYS_connect, SYS_accept, SYS_accept4, SYS_bind, SYS_listen,
	SYS_unlink, SYS_unlinkat, SYS_rename, SYS_renameat, SYS_renameat2,
};
#define NTRACED (int)(sizeof traced / sizeof traced[0])

// execve stays RET_TRACE-free in unotify mode: the child's own exec of CMD
// would otherwise wait on a listener we have not taken yet.
static void install(unsigned int action, int skip_exec, int *listener) {
	struct sock_filter f[4 + 2 * NTRACED + 1];
	int n = 0;
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	for (int i = 0; i < NTRACED; i++) {
		if (skip_exec && (traced[i] == SYS_execve || traced[i] == SYS_execveat)) continue;
		f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, traced[i], 0, 1);
		f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, action);
	}
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog prog = {.len = (unsigned short)n, .filter = f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) { perror("no_new_privs"); _exit(127); }
	long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, listener ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0, &prog);
	if (r < 0) { perror("seccomp"); _exit(127); }
	if (listener) *listener = (int)r;
}

// The child, for signal forwarding: the bench stops a workload by signalling
// its top process, and a unotify floor's child would otherwise outlive it.
static volatile pid_t child;

static void forward(int sig) {
	if (child > 0) kill(child, sig);
}

static void forward_signals(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = forward;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static char pathbuf[256];

static void readpath(pid_t pid, unsigned long addr) {
	struct iovec l = {pathbuf, sizeof pathbuf}, r = {(void *)addr, sizeof pathbuf};
	process_vm_readv(pid, &l, 1, &r, 1, 0);
	pathbuf[sizeof pathbuf - 1] = 0;
}

static long long now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// poll_wait is bluelock's wait: poll up to 50 µs, yielding, then sleep.
static pid_t poll_wait(int *st) {
	long long deadline = now_ns() + 50000;
	do {
		pid_t t = waitpid(-1, st, __WALL | WNOHANG);
		if (t != 0) return t;
		sched_yield();
	} while (now_ns() < deadline);
	return waitpid(-1, st, __WALL);
}

static int run_ptrace(char **cmd, int exits) {
	pid_t pid = fork();
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		install(SECCOMP_RET_TRACE, 0, NULL);
		execvp(cmd[0], cmd);
		_exit(127);
	}
	child = pid;
	forward_signals();
	int st;
	waitpid(pid, &st, 0);
	ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL | PTRACE_O_TRACEFORK |
	       PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_TRACESYSGOOD);
	ptrace(PTRACE_CONT, pid, 0, 0);
	for (;;) {
		pid_t t = poll_wait(&st);
		if (t < 0) return 1;
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			if (t == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			continue;
		}
		int sig = 0;
		struct user_regs_struct regs;
		if ((st >> 8) == (SIGTRAP | (PTRACE_EVENT_SECCOMP << 8))) {
			ptrace(PTRACE_GETREGS, t, 0, &regs);
			readpath(t, regs.rsi);
			if (exits) {
				ptrace(PTRACE_SYSCALL, t, 0, 0);
				continue;
			}
		} else if (WSTOPSIG(st) == (SIGTRAP | 0x80)) {
			ptrace(PTRACE_GETREGS, t, 0, &regs); // the result, in rax
		} else if (WSTOPSIG(st) != SIGTRAP && (st >> 16) == 0) {
			sig = WSTOPSIG(st);
		}
		ptrace(PTRACE_CONT, t, 0, sig);
	}
}

#ifndef SECCOMP_ADDFD_FLAG_SEND
#define SECCOMP_ADDFD_FLAG_SEND (1UL << 1)
#endif

static int run_unotify(char **cmd, int sync, int addfd) {
	int go[2], fdp[2];
	if (pipe(go) || pipe(fdp)) return 127;
	pid_t pid = fork();
	if (pid == 0) {
		int l;
		install(SECCOMP_RET_USER_NOTIF, 1, &l);
		if (write(fdp[1], &l, sizeof l) != sizeof l) _exit(127);
		char c;
		if (read(go[0], &c, 1) != 1) _exit(127);
		close(l);
		execvp(cmd[0], cmd);
		_exit(127);
	}
	child = pid;
	forward_signals();
	int cfd;
	if (read(fdp[0], &cfd, sizeof cfd) != sizeof cfd) return 127;
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	int l = (int)syscall(SYS_pidfd_getfd, pidfd, cfd, 0);
	if (l < 0) { perror("pidfd_getfd"); return 127; }
	if (sync && ioctl(l, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)) {
		perror("SYNC_WAKE_UP"); return 127;
	}
	if (write(go[1], "x", 1) != 1) return 127;
	struct seccomp_notif req;
	struct seccomp_notif_resp resp;
	for (;;) {
		memset(&req, 0, sizeof req);
		if (ioctl(l, SECCOMP_IOCTL_NOTIF_RECV, &req)) {
			if (errno == EINTR) continue;
			break; // ENOENT: every filter user is gone
		}
		readpath(req.pid, req.data.args[1]);
		ioctl(l, SECCOMP_IOCTL_NOTIF_ID_VALID, &req.id);
		if (addfd && req.data.nr == SYS_openat) {
			int fd = openat((int)req.data.args[0], pathbuf, (int)req.data.args[2] | O_CLOEXEC, (mode_t)req.data.args[3]);
			if (fd >= 0) {
				struct seccomp_notif_addfd a = {.id = req.id, .flags = SECCOMP_ADDFD_FLAG_SEND, .srcfd = (__u32)fd};
				ioctl(l, SECCOMP_IOCTL_NOTIF_ADDFD, &a);
				close(fd);
				continue;
			}
		}
		memset(&resp, 0, sizeof resp);
		resp.id = req.id;
		resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		ioctl(l, SECCOMP_IOCTL_NOTIF_SEND, &resp);
	}
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

// run_allow installs the smallest filter there is and becomes CMD.
static int run_allow(char **cmd) {
	struct sock_filter f[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
	struct sock_fprog prog = {.len = 1, .filter = f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) { perror("no_new_privs"); return 127; }
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) { perror("seccomp"); return 127; }
	execvp(cmd[0], cmd);
	perror("exec");
	return 127;
}

int main(int argc, char **argv) {
	if (argc < 3) { fprintf(stderr, "usage: floor ptrace|ptrace-exit|unotify|unotify-sync|unotify-addfd|allow CMD...\n"); return 2; }
	if (strcmp(argv[1], "allow") == 0) return run_allow(argv + 2);
	if (strcmp(argv[1], "ptrace") == 0) return run_ptrace(argv + 2, 0);
	if (strcmp(argv[1], "ptrace-exit") == 0) return run_ptrace(argv + 2, 1);
	if (strcmp(argv[1], "unotify") == 0) return run_unotify(argv + 2, 0, 0);
	if (strcmp(argv[1], "unotify-sync") == 0) return run_unotify(argv + 2, 1, 0);
	if (strcmp(argv[1], "unotify-addfd") == 0) return run_unotify(argv + 2, 1, 1);
	fprintf(stderr, "floor: unknown mode %s\n", argv[1]);
	return 2;
}
