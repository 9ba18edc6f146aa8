// vforkfirst: a static program whose first relocated call is a vfork
// child's execve. The child maps the argument region into the address space
// it shares with this process; this process's own first relocated call (an
// O_CREAT open of argv[1]) must then find the region there and run.
// Exit 0: created; 13: EACCES (failed closed); 1: other error.
#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc != 2) return 2;
	char *args[] = {"/bin/true", 0};
	char *env[] = {0};
	// vfork, not fork: the child borrows this address space until it execs.
	pid_t pid = vfork();
	if (pid == 0) {
		execve("/bin/true", args, env);
		_exit(127);
	}
	if (pid < 0) return 1;
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return 3;
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) return errno == EACCES ? 13 : 1;
	close(fd);
	return 0;
}
