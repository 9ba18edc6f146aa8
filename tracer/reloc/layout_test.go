package reloc

import "testing"

func TestLayoutConstants(t *testing.T) {
	if Addr>>32 != Block || Addr&(1<<32-1) != 1<<31 {
		t.Fatalf("Addr %#x is not the middle of block %#x", Addr, Block)
	}
	if Addr+Size > blockEnd {
		t.Fatalf("region [%#x, %#x) leaves block %#x", Addr, Addr+Size, Block)
	}
	if Block&0xff == 0xc0 {
		t.Fatalf("block %#x is one of Go's arena hints", Block)
	}
	if Size%SlotSize != 0 || SlotSize%4096 != 0 {
		t.Fatalf("sizes: region %d, slot %d", Size, SlotSize)
	}
}

func TestSlots(t *testing.T) {
	var s Slots
	a, ok := s.Get(100)
	b, ok2 := s.Get(101)
	if !ok || !ok2 || a == b {
		t.Fatalf("two threads got %d,%v and %d,%v", a, ok, b, ok2)
	}
	if again, _ := s.Get(100); again != a {
		t.Fatalf("a thread's slot changed: %d then %d", a, again)
	}
	s.Release(100)
	s.Release(100) // twice is harmless
	if c, _ := s.Get(102); c != a {
		t.Fatalf("a released slot was not reused: got %d, want %d", c, a)
	}
	for i := 0; s.InUse() < NumSlots; i++ {
		if _, ok := s.Get(1000 + i); !ok {
			t.Fatalf("ran out at %d of %d", s.InUse(), NumSlots)
		}
	}
	if _, ok := s.Get(99999); ok {
		t.Fatal("got a slot beyond NumSlots: must fail closed")
	}
	s.Release(101)
	if _, ok := s.Get(99999); !ok {
		t.Fatal("a freed slot is not handed out again")
	}
}

func TestLayout(t *testing.T) {
	offs, err := Layout(nil, 2, []byte("abc\x00"), make([]byte, 4096), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	base := uint64(2 * SlotSize)
	if offs[0] != base || offs[1] != base+8 || offs[2] != base+8+4096 {
		t.Fatalf("offsets %v", offs)
	}
	if offs, err := Layout([]uint64{1, 2}, 1, []byte("a")); err != nil || len(offs) != 3 || offs[0] != 1 || offs[1] != 2 || offs[2] != SlotSize {
		t.Fatalf("appended to a non-empty dst: %v, %v", offs, err)
	}
	if _, err := Layout(nil, 0, make([]byte, 4096), make([]byte, 4096), make([]byte, SlotSize)); err == nil {
		t.Fatal("overflowing a slot must fail")
	}
	if _, err := Layout(nil, NumSlots, []byte("a")); err == nil {
		t.Fatal("slot out of range must fail")
	}
}

func TestTouches(t *testing.T) {
	in := Addr
	below := blockStart - 4096
	cases := []struct {
		name string
		nr   int
		a    [6]uint64
		want bool
	}{
		{"mmap hint elsewhere", sysMmap, [6]uint64{0, 1 << 20, 3, 0x22}, false},
		{"mmap hint in block", sysMmap, [6]uint64{blockStart + 4096, 4096, 3, 0x22}, true},
		{"mmap huge hint below", sysMmap, [6]uint64{0, 64 << 40, 0, 0x22}, false},
		{"mmap fixed over region", sysMmap, [6]uint64{in, 4096, 3, 0x22 | mapFixed}, true},
		{"mmap fixed-noreplace in block", sysMmap, [6]uint64{blockStart, 4096, 3, 0x22 | mapFixedNoreplace}, true},
		{"mmap fixed from below over region", sysMmap, [6]uint64{below, 1<<31 + 8192, 3, 0x22 | mapFixed}, true},
		{"mmap fixed below, short", sysMmap, [6]uint64{below, 4096, 3, 0x22 | mapFixed}, false},
		{"mmap fixed above block", sysMmap, [6]uint64{blockEnd, 4096, 3, 0x22 | mapFixed}, false},
		{"munmap region", sysMunmap, [6]uint64{in, Size}, true},
		{"munmap from below", sysMunmap, [6]uint64{below, 3 << 30}, true},
		{"munmap wrapping", sysMunmap, [6]uint64{below, ^uint64(0)}, true},
		{"munmap elsewhere", sysMunmap, [6]uint64{0x7f0000000000, 4096}, false},
		{"mprotect region", sysMprotect, [6]uint64{in, 4096, 7}, true},
		{"pkey_mprotect region", sysPkeyMprotect, [6]uint64{in, 4096, 7, 0}, true},
		{"madvise region", sysMadvise, [6]uint64{in, 4096, 4}, true},
		{"madvise elsewhere", sysMadvise, [6]uint64{0x7f0000000000, 1 << 20, 4}, false},
		{"remap_file_pages region", sysRemapFilePages, [6]uint64{in, 4096}, true},
		{"mremap region away", sysMremap, [6]uint64{in, 4096, 4096, mremapMaymove | mremapFixed, 0x7f0000000000}, true},
		{"mremap into block", sysMremap, [6]uint64{0x7f0000000000, 4096, 4096, mremapMaymove | mremapFixed, blockStart}, true},
		{"mremap grow in place into block", sysMremap, [6]uint64{below, 4096, 1 << 32, 0}, true},
		{"mremap elsewhere", sysMremap, [6]uint64{0x7f0000000000, 4096, 8192, mremapMaymove}, false},
		{"shmat in block", sysShmat, [6]uint64{1, blockStart, 0}, true},
		{"shmat remap", sysShmat, [6]uint64{1, 0x10000, shmRemap}, true},
		{"shmat anywhere", sysShmat, [6]uint64{1, 0, 0}, false},
		{"getpid", 39, [6]uint64{in}, false},
	}
	for _, c := range cases {
		if got := Touches(c.nr, c.a); got != c.want {
			t.Errorf("%s: Touches = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestInside(t *testing.T) {
	if !Inside(Addr, 10) || !Inside(Addr+Size-1, 1) || Inside(Addr+Size-1, 2) || Inside(Addr-1, 1) || Inside(Addr, ^uint64(0)) {
		t.Fatal("Inside")
	}
}

func TestInSlot(t *testing.T) {
	base := Addr + 3*SlotSize
	for _, c := range []struct {
		name    string
		slot    int
		addr, n uint64
		want    bool
	}{
		{"start", 3, base, 1, true},
		{"whole", 3, base, SlotSize, true},
		{"last-byte", 3, base + SlotSize - 1, 1, true},
		{"runs-into-next", 3, base + SlotSize - 4, 8, false},
		{"previous-slot", 3, base - 1, 1, false},
		{"next-slot", 3, base + SlotSize, 1, false},
		{"other-thread", 4, base, 1, false},
		{"wraps", 3, base, ^uint64(0), false},
		{"bad-slot", -1, Addr, 1, false},
		{"past-last-slot", NumSlots, Addr + Size, 1, false},
	} {
		if got := InSlot(c.slot, c.addr, c.n); got != c.want {
			t.Errorf("%s: InSlot(%d, %#x, %d) = %v, want %v", c.name, c.slot, c.addr, c.n, got, c.want)
		}
	}
}

func TestIsMemory(t *testing.T) {
	for _, nr := range []int{sysMmap, sysMprotect, sysMunmap, sysMremap, sysMadvise, sysShmat, sysRemapFilePages, sysPkeyMprotect} {
		if !IsMemory(nr) {
			t.Errorf("IsMemory(%d) = false", nr)
		}
	}
	if IsMemory(39) || IsMemory(257) {
		t.Error("getpid or openat counted as a memory syscall")
	}
	if len(Memory) != 8 {
		t.Errorf("Memory lists %d names, IsMemory knows 8", len(Memory))
	}
}
