// catmaps prints its own /proc/self/maps. TestExecStub builds it static, so
// its _start takes rdx from the kernel as the function to run at exit (a
// dynamic program gets rdx from ld.so instead): a stub that left rdx set
// would crash it at exit.
#include <fcntl.h>
#include <unistd.h>

int main(void) {
	char buf[4096];
	int fd = open("/proc/self/maps", O_RDONLY);
	if (fd < 0) return 1;
	for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;)
		if (write(1, buf, (size_t)n) != n) return 1;
	return 0;
}
