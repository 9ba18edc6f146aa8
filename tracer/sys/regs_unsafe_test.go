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
