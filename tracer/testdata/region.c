// region: the app side of the argument-region tests (relocate_linux_amd64_test.go).
// Every check prints "ok NAME" or "FAIL NAME ..."; the exit code is the number
// of failures. usage: region ADDR DIR [child]
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int fails;
static void check(const char *name, int ok) {
	if (ok) printf("ok %s\n", name);
	else { printf("FAIL %s (errno %s)\n", name, strerror(errno)); fails++; }
}

static int mapped(unsigned long addr) {
	FILE *m = fopen("/proc/self/maps", "r");
	char line[512], want[32];
	int found = 0;
	snprintf(want, sizeof want, "%lx-", addr);
	while (m && fgets(line, sizeof line, m))
		if (!strncmp(line, want, strlen(want)) && strstr(line, " r--s ") && strstr(line, "bluelock-reloc")) found = 1;
	if (m) fclose(m);
	return found;
}

static int region_fd_ok(void) {
	char l[256] = {0};
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", REGION_FD);
	return readlink(path, l, sizeof l - 1) > 0 && strstr(l, "bluelock-reloc") && fcntl(REGION_FD, F_GETFD) == 0;
}

static int read_file(int dirfd, const char *path, const char *want) {
	int fd = openat(dirfd, path, O_RDONLY);
	if (fd < 0) return 0;
	char b[64] = {0};
	int n = read(fd, b, sizeof b - 1);
	close(fd);
	return n > 0 && !strncmp(b, want, strlen(want));
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	unsigned long a = strtoul(argv[1], NULL, 0);
	const char *dir = argv[2];
	char p[4096];
	snprintf(p, sizeof p, "%s/file", dir);
	// The region was mapped at exec (the stub), before this image ran.
	check("open-absolute", read_file(AT_FDCWD, p, "content"));
	check("mapped", mapped(a));
	check("fd-inherited", region_fd_ok());
	if (chdir(dir) == 0) check("open-relative", read_file(AT_FDCWD, "file", "content"));
	int d = open(dir, O_PATH | O_DIRECTORY);
	check("open-dirfd", read_file(d, "file", "content"));
	check("open-dirfd-missing", openat(d, "nope", O_RDONLY) < 0 && errno == ENOENT);
	// From another cwd, so a dirfd wrongly turned into AT_FDCWD would show.
	check("chdir-root", chdir("/") == 0);
	struct open_how how = {.flags = O_RDONLY, .resolve = RESOLVE_IN_ROOT};
	int fd2 = syscall(SYS_openat2, d, "/file", &how, sizeof how);
	char b2[16] = {0};
	check("openat2-in-root", fd2 >= 0 && read(fd2, b2, sizeof b2 - 1) > 0 && !strncmp(b2, "content", 7));
	if (fd2 >= 0) close(fd2);
	how.resolve = RESOLVE_BENEATH;
	fd2 = syscall(SYS_openat2, d, "file", &how, sizeof how);
	check("openat2-beneath", fd2 >= 0);
	if (fd2 >= 0) close(fd2);
	const char *fresh = argc > 3 ? "new-child" : "new";
	check("creat-excl", openat(d, fresh, O_WRONLY | O_CREAT | O_EXCL, 0644) >= 0);
	check("creat-excl-again", openat(d, fresh, O_WRONLY | O_CREAT | O_EXCL, 0644) < 0 && errno == EEXIST);
	if (argc > 3) return fails; // the exec'd child stops here

	errno = 0;
	check("munmap-refused", munmap((void *)a, 4096) < 0 && errno == EPERM);
	errno = 0;
	check("mmap-fixed-refused", mmap((void *)a, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED && errno == EPERM);
	errno = 0;
	unsigned long below = (a & ~0xffffffffUL) - 4096;
	check("munmap-from-below-refused", munmap((void *)below, (1UL << 31) + 8192) < 0 && errno == EPERM);
	errno = 0;
	check("mprotect-refused", mprotect((void *)a, 4096, PROT_READ | PROT_WRITE) < 0 && errno == EPERM);
	errno = 0;
	check("mremap-away-refused", mremap((void *)a, 4096, 4096, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)0x10000000) == MAP_FAILED && errno == EPERM);
	// The one mmap the filter lets through in the block, the region's own
	// (the exec-time stub's): it cannot replace the region, and a view of
	// it made elsewhere in the block is as read-only and as fixed.
	const unsigned long size = 32 << 20, flags = MAP_SHARED | MAP_FIXED_NOREPLACE;
	errno = 0;
	check("region-mmap-again-eexist", mmap((void *)a, size, PROT_READ, flags, REGION_FD, 0) == MAP_FAILED && errno == EEXIST);
	unsigned long view = (a & ~0xffffffffUL) + (1UL << 20);
	check("region-view-in-block", mmap((void *)view, size, PROT_READ, flags, REGION_FD, 0) == (void *)view);
	errno = 0;
	check("region-view-mprotect-refused", mprotect((void *)view, 4096, PROT_READ | PROT_WRITE) < 0 && errno == EPERM);
	errno = 0;
	check("region-view-munmap-refused", munmap((void *)view, 4096) < 0 && errno == EPERM);
	errno = 0;
	check("region-mmap-writable-refused", mmap((void *)view + size, size, PROT_READ | PROT_WRITE, flags, REGION_FD, 0) == MAP_FAILED && errno == EPERM);
	errno = 0;
	check("region-mmap-private-refused", mmap((void *)view + size, size, PROT_READ, MAP_PRIVATE | MAP_FIXED_NOREPLACE, REGION_FD, 0) == MAP_FAILED && errno == EPERM);
	void *elsewhere = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	check("mmap-elsewhere", elsewhere != MAP_FAILED && munmap(elsewhere, 1 << 20) == 0);
	check("still-mapped", mapped(a));
	check("close-faked", close(REGION_FD) == 0 && region_fd_ok());
	check("dup2-faked", dup2(0, REGION_FD) == 0 && region_fd_ok());
	check("cloexec-faked", fcntl(REGION_FD, F_SETFD, FD_CLOEXEC) == 0 && region_fd_ok());
	errno = 0;
	check("close-range-enosys", syscall(SYS_close_range, 3, ~0U, 0) < 0 && errno == ENOSYS);
	// A new image: the region is mapped again and the fd is still there.
	pid_t c = fork();
	if (c == 0) {
		check("fork-child-mapped", mapped(a));
		execl("/proc/self/exe", argv[0], argv[1], argv[2], "child", (char *)NULL);
		_exit(99);
	}
	int st;
	waitpid(c, &st, 0);
	check("exec-child", WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return fails;
}
