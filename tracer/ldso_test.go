package tracer

import (
	"slices"
	"testing"
)

func TestIsLoader(t *testing.T) {
	for p, want := range map[string]bool{
		"/lib64/ld-linux-x86-64.so.2":                true,
		"/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2": true,
		"/usr/lib/ld-linux-aarch64.so.1":             true,
		"/lib/ld-musl-x86_64.so.1":                   true,
		"/lib/ld-2.31.so":                            true,
		"/opt/ld-linux-x86-64.so.2":                  true,
		"/lib/libc.so.6":                             false,
		"/usr/bin/ld":                                false,
		"/usr/bin/ld.bfd":                            false,
		"/bin/ls":                                    false,
	} {
		if got := isLoader(p); got != want {
			t.Errorf("isLoader(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestLoaderProgram(t *testing.T) {
	for _, c := range []struct {
		argv          []string
		prog, libPath string
		ok            bool
	}{
		{[]string{"ld.so", "/bin/x", "-a"}, "/bin/x", "", true},
		{[]string{"ld.so", "--library-path", "/opt/l", "--preload", "p.so", "--argv0", "y", "--inhibit-cache", "x"}, "x", "/opt/l", true},
		{[]string{"ld.so", "--library-path=/a:/b", "--", "--weird"}, "--weird", "/a:/b", true},
		{[]string{"ld.so", "--list", "/bin/x"}, "/bin/x", "", true},
		{[]string{"ld.so", "--help"}, "", "", false},
		{[]string{"ld.so"}, "", "", false},
	} {
		prog, lp, ok := loaderProgram(c.argv)
		if prog != c.prog || lp != c.libPath || ok != c.ok {
			t.Errorf("loaderProgram(%q) = %q %q %v, want %q %q %v", c.argv, prog, lp, ok, c.prog, c.libPath, c.ok)
		}
	}
	if got := loaderCandidates("x", "/opt/l"); !slices.Contains(got, "x") || !slices.Contains(got, "/opt/l/x") || !slices.Contains(got, "/usr/lib/x") {
		t.Errorf("candidates %v", got)
	}
	if got := loaderCandidates("./x", ""); len(got) != 1 {
		t.Errorf("a path with a slash is only itself: %v", got)
	}
}
