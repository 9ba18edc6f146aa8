// Package tracetest starts traced children for the tracer's low-level
// tests (sys, reloc), which need a real tracee in a known stop.
package tracetest

import (
	"os/exec"
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// AtExec starts path traced (PTRACE_TRACEME) and returns its pid once it is
// stopped at its exec, before its first instruction. The calling goroutine
// stays locked to its OS thread, the only one ptrace answers, until the
// test ends; the child is killed then.
func AtExec(t testing.TB, path string) int {
	t.Helper()
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	cmd := exec.Command(path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Ptrace: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s traced: %v", path, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	var ws unix.WaitStatus
	if _, err := unix.Wait4(cmd.Process.Pid, &ws, 0, nil); err != nil || !ws.Stopped() {
		t.Fatalf("%s not stopped at its exec: %v %v", path, ws, err)
	}
	return cmd.Process.Pid
}
