//go:build linux && amd64

package sys

import (
	"os/exec"
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSetSyscallRegs: the syscall registers are written, rip and the stack
// pointer are not, whatever the Regs holds for them.
func TestSetSyscallRegs(t *testing.T) {
	runtime.LockOSThread() // ptrace requests must come from the thread that started the child
	defer runtime.UnlockOSThread()
	cmd := exec.Command("/bin/true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Ptrace: true}
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start a traced child: %v", err)
	}
	pid := cmd.Process.Pid
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil || !ws.Stopped() {
		t.Fatalf("child not stopped at its exec: %v %v", ws, err)
	}
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

// TestWriteMemForced: WriteMem writes whole words into a read-only mapping
// of a stopped tracee (its code at the entry point) and refuses a write
// that is not whole words.
func TestWriteMemForced(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd := exec.Command("/bin/true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Ptrace: true}
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start a traced child: %v", err)
	}
	pid := cmd.Process.Pid
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil || !ws.Stopped() {
		t.Fatalf("child not stopped at its exec: %v %v", ws, err)
	}
	var r Regs
	if err := GetRegs(pid, &r); err != nil {
		t.Fatal(err)
	}
	at := uintptr(r.r.Rip) &^ 7
	want := []byte("0123456789abcdef")
	if err := WriteMem(pid, at, want); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if err := ReadMem(pid, at, got); err != nil || string(got) != string(want) {
		t.Fatalf("read back %q, %v; want %q", got, err, want)
	}
	if err := WriteMem(pid, at, want[:12]); err == nil {
		t.Error("a write of 12 bytes went through")
	}
	if err := WriteMem(pid, at+4, want[:8]); err == nil {
		t.Error("a write at an unaligned address went through")
	}
}
