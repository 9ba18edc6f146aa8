package procfs

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	big, empty := filepath.Join(dir, "big"), filepath.Join(dir, "empty")
	want := bytes.Repeat([]byte("0123456789abcdef"), 1000) // 16,000 bytes: several reads, the buffer grows
	if err := os.WriteFile(big, want, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path string
		check      func(t *testing.T, b []byte)
	}{
		{"procfs status", "/proc/self/status", func(t *testing.T, b []byte) {
			st, err := ParseStatus(b)
			if err != nil || st.Tgid != os.Getpid() {
				t.Errorf("status parsed to %+v, %v; want Tgid %d", st, err, os.Getpid())
			}
		}},
		{"larger than the first buffer", big, func(t *testing.T, b []byte) {
			if !bytes.Equal(b, want) {
				t.Errorf("read %d bytes, want the %d written", len(b), len(want))
			}
		}},
		{"empty", empty, func(t *testing.T, b []byte) {
			if len(b) != 0 {
				t.Errorf("read %q from an empty file", b)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := ReadFile(c.path)
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, b)
		})
	}
	for _, c := range []struct {
		name, path string
		want       error
	}{
		{"missing", filepath.Join(dir, "nope"), fs.ErrNotExist},
		{"a directory", dir, syscall.EISDIR},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadFile(c.path)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.path) {
				t.Errorf("err = %v; want %v naming %s", err, c.want, c.path)
			}
		})
	}
}
