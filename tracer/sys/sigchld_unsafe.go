//go:build linux

package sys

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sigaction is the kernel's struct sigaction as x86_64 lays it out (not
// libc's). Only a round trip is asked of it: we pass all zeros (SIG_DFL, no
// flags, empty mask) and later hand back exactly what the kernel wrote.
type sigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

// QuietChildStops sets SIGCHLD's disposition to SIG_DFL behind the Go
// runtime's back and returns a function that puts the runtime's handler back.
//
// Why: every ptrace stop and every child exit makes the kernel send the
// tracer SIGCHLD. Go installs a handler for every signal, so each one picks a
// runtime thread, wakes it if it sleeps (often on the other CPU), runs the
// handler and puts it back to sleep: a second wake-up per stop, for a signal
// nobody reads (wait4 is how we learn of stops). With SIG_DFL the kernel
// drops SIGCHLD when it is generated (its default action is to ignore it),
// while wait4 still reports every stop and exit, and children are still
// left as zombies for us to reap: only SIG_IGN or SA_NOCLDWAIT would make
// the kernel reap them, and we set neither.
//
// The runtime re-installs its handler only when os/signal starts or stops
// notifying SIGCHLD; nothing in bluelock does.
func QuietChildStops() (restore func() error, err error) {
	var old sigaction
	dfl := sigaction{} // handler SIG_DFL (0), no flags, empty mask
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGCHLD),
		uintptr(unsafe.Pointer(&dfl)), uintptr(unsafe.Pointer(&old)), unsafe.Sizeof(old.mask), 0, 0); e != 0 {
		return nil, fmt.Errorf("rt_sigaction(SIGCHLD, SIG_DFL): %w", e)
	}
	return func() error {
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGCHLD),
			uintptr(unsafe.Pointer(&old)), 0, unsafe.Sizeof(old.mask), 0, 0); e != 0 {
			return fmt.Errorf("rt_sigaction(SIGCHLD, restore): %w", e)
		}
		return nil
	}, nil
}
