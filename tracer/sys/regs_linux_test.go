//go:build linux && amd64

package sys

import (
	"strings"
	"testing"

	"github.com/bluelock/bluelock/tracer/internal/tracetest"
)

// TestSetSyscallRegs: the syscall registers are written, rip and the stack
// pointer are not, whatever the Regs holds for them.
func TestSetSyscallRegs(t *testing.T) {
	pid := tracetest.AtExec(t, "/bin/true")
	var before, r, after Regs
	if err := GetRegs(pid, &before); err != nil {
		t.Fatal(err)
	}
	r = before
	r.SetArg(0, 0x1111)
	r.SetArg(3, 0x4444)
	r.r.Rax = 0x7777
	r.r.Rip, r.r.Rsp = 0xdead0000, 0xbeef0000
	if err := SetSyscallRegs(pid, &r); err != nil {
		t.Fatal(err)
	}
	if err := GetRegs(pid, &after); err != nil {
		t.Fatal(err)
	}
	if after.Arg(0) != 0x1111 || after.Arg(3) != 0x4444 || after.r.Rax != 0x7777 {
		t.Errorf("syscall registers not written: rdi %#x r10 %#x rax %#x", after.Arg(0), after.Arg(3), after.r.Rax)
	}
	if after.r.Rip != before.r.Rip || after.r.Rsp != before.r.Rsp {
		t.Errorf("rip %#x rsp %#x changed (were %#x %#x)", after.r.Rip, after.r.Rsp, before.r.Rip, before.r.Rsp)
	}
}

// TestWriteMemWholeWords: WriteMem refuses what is not whole words at a
// word-aligned address before it asks the kernel anything (the forced
// write itself is tested in tracer/reloc, TestForcedWrites).
func TestWriteMemWholeWords(t *testing.T) {
	for _, c := range []struct {
		addr uintptr
		n    int
	}{{0x1000, 12}, {0x1004, 8}, {0x1001, 1}} {
		if err := WriteMem(0, c.addr, make([]byte, c.n)); err == nil || !strings.Contains(err.Error(), "not whole words") {
			t.Errorf("%d bytes at %#x: %v, want a refusal", c.n, c.addr, err)
		}
	}
}
