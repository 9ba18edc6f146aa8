//go:build linux && amd64

package sys

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The POKEUSER offsets must be where PtraceRegs (the kernel's
// user_regs_struct) keeps each argument register, or relocation would write
// the wrong register.
// SetSyscallRegs must write orig_rax and every argument register, and
// stop before rip.
func TestSyscallRegsEndAtOrigRax(t *testing.T) {
	var r unix.PtraceRegs
	if got, want := uintptr(syscallRegs*8), unsafe.Offsetof(r.Orig_rax)+8; got != want || unsafe.Offsetof(r.Rip) != want {
		t.Fatalf("syscallRegs covers %d bytes; orig_rax ends at %d, rip starts at %d", got, want, unsafe.Offsetof(r.Rip))
	}
}

func TestArgOffsetsMatchRegisterLayout(t *testing.T) {
	var r unix.PtraceRegs
	want := [6]uintptr{
		unsafe.Offsetof(r.Rdi), unsafe.Offsetof(r.Rsi), unsafe.Offsetof(r.Rdx),
		unsafe.Offsetof(r.R10), unsafe.Offsetof(r.R8), unsafe.Offsetof(r.R9),
	}
	if argOffset != want {
		t.Fatalf("argOffset = %v, want %v", argOffset, want)
	}
}
