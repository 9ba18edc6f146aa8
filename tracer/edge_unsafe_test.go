//go:build linux

package tracer

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// openAtPageEnd opens path from a copy whose NUL is the last byte of a page
// followed by an unmapped page: a reader that fetches a fixed-size chunk
// past the string fails, one that reads page by page does not.
func openAtPageEnd(path string) error {
	const page = 4096
	mem, err := unix.Mmap(-1, 0, 2*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return err
	}
	// Raw munmap: unix.Munmap only takes whole mappings it made.
	if _, _, e := unix.Syscall(unix.SYS_MUNMAP, uintptr(unsafe.Pointer(&mem[page])), page, 0); e != 0 {
		return e
	}
	start := page - len(path) - 1
	copy(mem[start:], path)
	mem[page-1] = 0
	p := uintptr(unsafe.Pointer(&mem[start]))
	cwd := unix.AT_FDCWD
	fd, _, e := unix.Syscall6(unix.SYS_OPENAT, uintptr(cwd), p, unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
	if e != 0 {
		return e
	}
	unix.Close(int(fd))
	return nil
}
