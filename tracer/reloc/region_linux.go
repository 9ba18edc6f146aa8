package reloc

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Region is the sealed memfd and the tracer's writable mapping of it.
type Region struct {
	file *os.File
	mem  []byte // the tracer's MAP_SHARED read-write mapping, made before sealing
	ino  uint64
	dev  uint64
}

// Seals are the seals the region carries once New returns.
const Seals = unix.F_SEAL_FUTURE_WRITE | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_SEAL

// New creates the region: a sparse memfd of Size bytes, mapped read-write
// here, then sealed so that no one else can ever write it (see the package
// doc). The memfd is close-on-exec in the tracer; pass File() to stage 2,
// which moves it to Fd without close-on-exec.
func New() (*Region, error) {
	fd, err := unix.MemfdCreate("bluelock-reloc", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	r := &Region{file: os.NewFile(uintptr(fd), "bluelock-reloc")}
	ok := false
	defer func() {
		if !ok {
			r.Close()
		}
	}()
	if err := unix.Ftruncate(fd, Size); err != nil {
		return nil, fmt.Errorf("size the region: %w", err)
	}
	// The one writable mapping. It must exist before F_SEAL_FUTURE_WRITE:
	// after the seal the kernel refuses every new writable shared mapping,
	// ours included.
	r.mem, err = unix.Mmap(fd, 0, Size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map the region: %w", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, Seals); err != nil {
		return nil, fmt.Errorf("seal the region: %w", err)
	}
	// SEAL_SEAL is set, so reading the seals back proves they are final.
	got, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil || got&Seals != Seals {
		return nil, fmt.Errorf("region seals are %#x, want %#x: %v", got, Seals, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("stat the region: %w", err)
	}
	r.ino, r.dev = st.Ino, st.Dev
	ok = true
	return r, nil
}

// File is the memfd, for stage 2 to inherit.
func (r *Region) File() *os.File { return r.file }

// Close unmaps and closes the region. Tracees keep their own mappings.
func (r *Region) Close() error {
	var errs []error
	if r.mem != nil {
		errs = append(errs, unix.Munmap(r.mem))
		r.mem = nil
	}
	if r.file != nil {
		errs = append(errs, r.file.Close())
		r.file = nil
	}
	return errors.Join(errs...)
}

// Put copies parts into slot (see Layout) through the tracer's mapping and
// appends the address of each part in a tracee to dst. A plain memory
// write: no syscall, and no tracee can observe a half-written part in a
// way that matters, since only the thread that owns the slot uses it and
// it is stopped.
func (r *Region) Put(dst []uint64, slot int, parts ...[]byte) ([]uint64, error) {
	n := len(dst)
	offs, err := Layout(dst, slot, parts...)
	if err != nil {
		return nil, err
	}
	for i, p := range parts {
		copy(r.mem[offs[n+i]:], p)
		offs[n+i] += Addr
	}
	return offs, nil
}

// Bytes reads n bytes at tracee address addr inside the region, from the
// tracer's side (what the kernel will read there).
func (r *Region) Bytes(addr uint64, n int) ([]byte, bool) {
	if !Inside(addr, uint64(n)) {
		return nil, false
	}
	off := addr - Addr
	return append([]byte(nil), r.mem[off:off+uint64(n)]...), true
}

// Fd is the tracer's descriptor of the memfd (to check its seals in tests).
func (r *Region) Fd() int { return int(r.file.Fd()) }
