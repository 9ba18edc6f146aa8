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

// SocketOf asks the kernel what socket fd of pid is: it borrows a duplicate
// with pidfd_getfd (5.6; allowed to us as the tracer, refused to the app by
// the filter) and asks getsockopt/getsockname. The tracer's own fd table
// only holds the duplicate for these few calls.
func SocketOf(pid, fd int) (Socket, error) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return Socket{}, wrap("pidfd_open", pid, err)
	}
	defer unix.Close(pidfd)
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
	s.Local, _ = unix.Getsockname(dup) // best effort: only for the Resource text
	return s, nil
}
