package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// installMain is `bluelock install DIR`: copy this very binary to
// DIR/bluelock. It is the init container's only job, so the init image can
// be FROM scratch (no cp, no shell).
func installMain(args []string, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: bluelock install DIR")
		return 2
	}
	if err := install("/proc/self/exe", args[0]); err != nil {
		fmt.Fprintf(stderr, "bluelock install: %v\n", err)
		return 1
	}
	return 0
}

// install copies src to dir/bluelock with mode 0755 through a temporary file
// and a rename, so a reader (the app container starting) never sees a
// half-written binary.
func install(src, dir string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("open %s: %w", src, err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(dir, ".bluelock-*")
	if err != nil {
		return fmt.Errorf("create in %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, in); err != nil {
		return fmt.Errorf("copy to %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	dst := filepath.Join(dir, "bluelock")
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("rename to %s: %w", dst, err)
	}
	return nil
}
