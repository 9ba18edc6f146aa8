package tracer

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bluelock/bluelock/tracer/reloc"
)

// TestArgumentRegion runs testdata/region.c under the real tracer: the region
// is injected at the first relocated call and after an exec, its descriptor
// survives close/dup2/FD_CLOEXEC, memory calls that would touch its block are
// refused while others run, and relocated opens (absolute, relative, dirfd,
// O_CREAT|O_EXCL) still mean what the app asked.
func TestArgumentRegion(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc is needed to build the test program")
	}
	bin := filepath.Join(t.TempDir(), "region")
	if b, err := exec.Command("gcc", "-O2", "-Wall", "-o", bin, "testdata/region.c").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), []byte("content\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stats := NewStats()
	res := traceRunStats(t, fakePolicy{}, stats, nil, bin, "0x"+strconv.FormatUint(reloc.Addr, 16), dir)
	t.Logf("program output:\n%s", res.stdout)
	if res.code != 0 || strings.Contains(res.stdout, "FAIL") {
		t.Fatalf("exit %d, failed checks above", res.code)
	}
	if n := stats.RegionInjected.Load(); n < 2 {
		t.Errorf("region injected %d times, want at least 2 (the program and its exec'd child)", n)
	}
	if n := stats.RegionRefusals.Load(); n < 4 {
		t.Errorf("%d memory calls refused, want at least 4", n)
	}
	if stats.Relocated.Load() == 0 || stats.RelocFailedClosed.Load() != 0 {
		t.Errorf("relocated %d, failed closed %d", stats.Relocated.Load(), stats.RelocFailedClosed.Load())
	}
}
