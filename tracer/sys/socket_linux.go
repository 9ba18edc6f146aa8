package sys

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Socket describes a tracee's socket descriptor.
type Socket struct {
	Domain, Type, Protocol int
	Local                  unix.Sockaddr // nil when unbound or unknown
}

// OpenPidfd opens a pidfd for process pid, for SocketOf.
func OpenPidfd(pid int) (int, error) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	return pidfd, wrap("pidfd_open", pid, err)
}

// SocketOf asks the kernel what socket fd of process pid (open as pidfd)
// is: it borrows a duplicate with pidfd_getfd (5.6; allowed to us as the
// tracer, refused to the app by the filter) and asks getsockopt and, if
// withLocal, getsockname. The tracer's own fd table only holds the
// duplicate for these few calls.
func SocketOf(pidfd, pid, fd int, withLocal bool) (Socket, error) {
	dup, err := unix.PidfdGetfd(pidfd, fd, 0)
	if err != nil {
		return Socket{}, wrap(fmt.Sprintf("pidfd_getfd fd %d of", fd), pid, err)
	}
	defer unix.Close(dup)
	var s Socket
	if s.Domain, err = unix.GetsockoptInt(dup, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil {
		return Socket{}, fmt.Errorf("fd %d of %d: SO_DOMAIN: %w", fd, pid, err)
	}
	if s.Type, err = unix.GetsockoptInt(dup, unix.SOL_SOCKET, unix.SO_TYPE); err != nil {
		return Socket{}, fmt.Errorf("fd %d of %d: SO_TYPE: %w", fd, pid, err)
	}
	if s.Protocol, err = unix.GetsockoptInt(dup, unix.SOL_SOCKET, unix.SO_PROTOCOL); err != nil {
		return Socket{}, fmt.Errorf("fd %d of %d: SO_PROTOCOL: %w", fd, pid, err)
	}
	if withLocal {
		s.Local, _ = unix.Getsockname(dup) // best effort: only for the Resource text
	}
	return s, nil
}
