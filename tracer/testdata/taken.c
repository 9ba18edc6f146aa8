// taken: a static program with a segment at the argument region's address
// (its .taken section, placed there at link time), so the kernel maps it
// where the region must go. It opens a file and says how that went.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

__attribute__((used, section(".taken"))) static const char taken[4096] = "taken";

int main(int argc, char **argv) {
	if (argc != 2) return 2;
	int fd = open(argv[1], O_RDONLY);
	printf("open %s: %s\n", argv[1], fd < 0 ? strerror(errno) : "ok");
	return 0;
}
