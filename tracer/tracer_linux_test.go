package tracer

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bluelock/bluelock/policy"
)

func TestTraceCat(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "hello")
	if err := os.WriteFile(f, []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := traceRun(t, fakePolicy{}, DefaultVisibility, nil, "/bin/cat", f)
	if res.code != 0 || res.stdout != "hi\n" {
		t.Fatalf("cat exited %d with %q", res.code, res.stdout)
	}
	t.Log(dump(res.events))
	_ = policy.Allow
}
