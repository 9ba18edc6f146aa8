package procfs

import (
	"errors"
	"io/fs"

	"golang.org/x/sys/unix"
)

// ReadFile reads a procfs file with plain open, read and close. The stop
// loop reads a status file for every new process, and maps for one whose
// region it cannot infer; os.ReadFile costs six more syscalls per file
// there (an fstat for the size, fcntl calls and an epoll registration that
// procfs refuses), each paid while a tracee waits in its stop. procfs makes
// a file's text at read time, so there is no size to ask for first: the
// buffer grows until a read returns nothing.
func ReadFile(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	for errors.Is(err, unix.EINTR) {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	b := make([]byte, 0, 4096)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		case n == 0:
			return b, nil
		}
		b = b[:len(b)+n]
	}
}
