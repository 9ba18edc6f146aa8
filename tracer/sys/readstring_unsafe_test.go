//go:build linux

package sys

import (
	"os"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ReadString reads the first firstRead bytes, then page by page: strings
// shorter, equal to and longer than that window, and crossing pages, all
// come back whole; an unterminated one is an error. Read from this process
// (process_vm_readv on oneself needs no ptrace).
func TestReadStringWindows(t *testing.T) {
	// Two pages, so a string can be placed to end anywhere in them.
	mem, err := unix.Mmap(-1, 0, 2*pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	base := uintptr(unsafe.Pointer(&mem[0]))
	cases := []struct {
		name     string
		off, len int
	}{
		{"empty", 0, 0},
		{"short", 0, 12},
		{"window-1", 0, firstRead - 1},
		{"window", 0, firstRead},
		{"window+1", 0, firstRead + 1},
		{"page-end", pageSize - 20, 19},
		{"crosses-page", pageSize - 100, 300},
		{"long-crosses-page", 2000, 3000},
		{"path-max-minus-nul", 100, PathMax - 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := strings.Repeat("x", c.len)
			copy(mem[c.off:], want)
			mem[c.off+c.len] = 0
			got, err := ReadString(os.Getpid(), base+uintptr(c.off), PathMax)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("read %d bytes, want %d", len(got), len(want))
			}
		})
	}
	t.Run("too-long", func(t *testing.T) {
		for i := range mem {
			mem[i] = 'y'
		}
		if _, err := ReadString(os.Getpid(), base, 300); err == nil {
			t.Fatal("a string without NUL within max was read")
		}
	})
}
