package reloc

import "fmt"

// Block is the 4 GiB-aligned block (address bits 63..32) that holds the
// region in every traced process; the filter traps memory syscalls whose
// address argument lies in it. 0x3b1e puts it at 59 TiB, away from:
//   - Go's heap arena hints (0x00c0<<32 + k<<40: every block whose low byte
//     is 0xc0), which Go tries in order from k=0;
//   - PIE executables and their brk heap (ELF_ET_DYN_BASE 0x5555_5555_4000
//     plus up to 1 TiB of randomisation), and ld.so-loaded programs;
//   - the top-down mmap area just below the stack (0x7exx-0x7fff), and the
//     legacy bottom-up area (TASK_SIZE/3 = 0x2aaa_aaab_b000 plus up to 1 TiB
//     of randomisation, growing up; it would need ~16 TiB of mappings first);
//   - ASan's allocator (0x6000_0000_0000) and shadow (below 0x1000_8000_0000),
//     and TSan's shadow and meta areas (below 0x3800_0000_0000).
//
// MSan maps fixed shadow/origin ranges over most of the address space and is
// not supported (not verified).
const Block = 0x3b1e

// Addr is where the region is mapped in every traced process: the middle of
// Block, so that an operation starting outside Block needs a length of more
// than 2 GiB to reach it (the filter traps those too).
const Addr = uint64(Block)<<32 + 1<<31

// Size is the region's size. The memfd is sparse: only slots in use cost
// memory.
const Size = 32 << 20

// SlotSize is one thread's slot: room for two paths of PATH_MAX (rename,
// link) plus a sockaddr or an open_how.
const SlotSize = 16 << 10

// NumSlots is how many threads can hold a slot at once.
const NumSlots = Size / SlotSize

// Fd is the descriptor number every traced process holds the memfd at.
// The last that fits the descriptor table a process starts with (64
// entries, NR_OPEN_DEFAULT): at 1023 it made every traced process carry a
// table of 1,024, which fork copies and exit scans, 12 µs of each vfork on
// the bench VM (perf, dup_fd). Ordinary allocation (lowest free number)
// reaches it only in a process with 63 descriptors open, and then skips it.
const Fd = 63

const (
	blockStart = uint64(Block) << 32
	blockEnd   = uint64(Block+1) << 32
)

// Slots hands each thread one slot and takes it back when the thread exits.
// The zero value is ready. Not safe for concurrent use: the stop loop owns it.
type Slots struct {
	byTid map[int]int
	free  []int
	next  int
}

// Get returns tid's slot, allocating one the first time. ok is false when
// every slot is taken: the caller must fail the syscall closed.
func (s *Slots) Get(tid int) (slot int, ok bool) {
	if s.byTid == nil {
		s.byTid = map[int]int{}
	}
	if n, ok := s.byTid[tid]; ok {
		return n, true
	}
	switch {
	case len(s.free) > 0:
		slot = s.free[len(s.free)-1]
		s.free = s.free[:len(s.free)-1]
	case s.next < NumSlots:
		slot = s.next
		s.next++
	default:
		return 0, false
	}
	s.byTid[tid] = slot
	return slot, true
}

// Release returns tid's slot, if it had one. A thread's slot is only read by
// its own syscalls, and a thread that exited has none in flight, so the slot
// may be reused at once.
func (s *Slots) Release(tid int) {
	if n, ok := s.byTid[tid]; ok {
		delete(s.byTid, tid)
		s.free = append(s.free, n)
	}
}

// InUse is the number of slots held.
func (s *Slots) InUse() int { return len(s.byTid) }

// Layout places byte strings in a slot: each part starts 8-byte aligned.
// It appends each part's offset from the start of the region to dst and
// returns the extended slice (a caller's array keeps the hot path free of
// allocations).
func Layout(dst []uint64, slot int, parts ...[]byte) ([]uint64, error) {
	if slot < 0 || slot >= NumSlots {
		return nil, fmt.Errorf("slot %d out of range", slot)
	}
	base := uint64(slot) * SlotSize
	var at uint64
	for _, p := range parts {
		if at+uint64(len(p)) > SlotSize {
			return nil, fmt.Errorf("arguments need more than %d bytes", SlotSize)
		}
		dst = append(dst, base+at)
		at = (at + uint64(len(p)) + 7) &^ 7
	}
	return dst, nil
}

// x86_64 numbers and flags of the memory syscalls the filter traps in
// Block; spelled out so this pure file means the same on every GOOS.
const (
	sysMmap           = 9
	sysMprotect       = 10
	sysMunmap         = 11
	sysMremap         = 25
	sysMadvise        = 28
	sysShmat          = 30
	sysRemapFilePages = 216
	sysPkeyMprotect   = 329

	mapFixed          = 0x10
	mapFixedNoreplace = 0x100000
	mremapMaymove     = 1
	mremapFixed       = 2
	shmRemap          = 0x4000
)

// Memory lists the syscalls Touches judges, by name, for the filter.
var Memory = []string{"mmap", "mprotect", "munmap", "mremap", "madvise", "pkey_mprotect", "remap_file_pages", "shmat"}

// IsMemory reports whether nr is one of the memory syscalls Touches judges.
func IsMemory(nr int) bool {
	switch nr {
	case sysMmap, sysMprotect, sysMunmap, sysMremap, sysMadvise, sysShmat, sysRemapFilePages, sysPkeyMprotect:
		return true
	}
	return false
}

// meets reports whether [addr, addr+n) overlaps Block (n 0 counts as one byte:
// the kernel rejects or rounds it, and the address alone decides).
func meets(addr, n uint64) bool {
	if n == 0 {
		n = 1
	}
	end := addr + n
	if end < addr { // wraps: reaches everything above addr
		end = ^uint64(0)
	}
	return addr < blockEnd && end > blockStart
}

// Touches reports whether the memory syscall nr with arguments a could
// change what is mapped in Block: such a call is refused, since only the
// tracer's injected mmap may map there. Unknown numbers report false.
func Touches(nr int, a [6]uint64) bool {
	switch nr {
	case sysMmap:
		if a[3]&(mapFixed|mapFixedNoreplace) == 0 {
			// A hint: the kernel never replaces a mapping for it, but it
			// could place the new one inside Block; keep Block empty.
			return meets(a[0], 1)
		}
		return meets(a[0], a[1])
	case sysMprotect, sysMunmap, sysMadvise, sysPkeyMprotect, sysRemapFilePages:
		return meets(a[0], a[1])
	case sysMremap:
		old, oldSize, newSize, flags, newAddr := a[0], a[1], a[2], a[3], a[4]
		if meets(old, oldSize) {
			return true
		}
		if flags&mremapFixed != 0 {
			return meets(newAddr, newSize)
		}
		// Without MREMAP_FIXED it may grow in place, over [old, old+newSize).
		return meets(old, newSize)
	case sysShmat:
		// The segment's size is not an argument: with SHM_REMAP anything at
		// or above addr may be replaced (the filter refuses SHM_REMAP), and
		// without it an attach never replaces a mapping.
		return a[2]&shmRemap != 0 || meets(a[1], 1)
	}
	return false
}

// Inside reports whether [addr, addr+n) lies within the region.
func Inside(addr, n uint64) bool {
	return addr >= Addr && addr+n >= addr && addr+n <= Addr+Size
}

// InSlot reports whether [addr, addr+n) lies within slot's part of the
// region. Only a thread's own slot keeps what the tracer wrote there until
// that thread's next stop; another thread's slot is rewritten at the other
// thread's next stop, which can come while this call still reads it.
func InSlot(slot int, addr, n uint64) bool {
	if slot < 0 || slot >= NumSlots {
		return false
	}
	base := Addr + uint64(slot)*SlotSize
	return addr >= base && addr+n >= addr && addr+n <= base+SlotSize
}
