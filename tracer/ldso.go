package tracer

import (
	"path"
	"strings"
)

// The dynamic loader can run a program without exec'ing it:
// "/lib64/ld-linux-x86-64.so.2 /bin/blocked" execs the loader, which maps
// /bin/blocked itself. The kernel only ever sees the loader, so an exec of a
// loader is also judged as an exec of its program argument — at the seccomp
// stop from the argv the app passed, and again at PTRACE_EVENT_EXEC from the
// argv the kernel copied into the new image, which nobody can rewrite any
// more (the new image has not run).

// isLoader reports whether p names an ELF interpreter: glibc's
// ld-linux*.so* / ld*.so* under a lib directory, or musl's ld-musl-*.so*.
func isLoader(p string) bool {
	base := path.Base(p)
	switch {
	case strings.HasPrefix(base, "ld-linux") && strings.Contains(base, ".so"):
		return true
	case strings.HasPrefix(base, "ld-musl-") && strings.Contains(base, ".so"):
		return true
	case strings.HasPrefix(base, "ld") && strings.Contains(base, ".so"):
		dir := path.Dir(p)
		return strings.HasPrefix(dir, "/lib") || strings.HasPrefix(dir, "/usr/lib")
	}
	return false
}

// loaderOptsWithArg are the loader options that take a value (glibc's
// rtld and musl's ldso).
var loaderOptsWithArg = map[string]bool{
	"--library-path": true, "--preload": true, "--argv0": true, "--audit": true,
	"--inhibit-rpath": true, "--glibc-hwcaps-prepend": true, "--glibc-hwcaps-mask": true,
}

// loaderProgram returns the program a loader invocation runs (argv[0] is the
// loader) and the --library-path value, if any. ok is false when there is no
// program (--help, --version, --list-tunables ...).
func loaderProgram(argv []string) (prog, libPath string, ok bool) {
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		if a == "--" {
			if i+1 < len(argv) {
				return argv[i+1], libPath, true
			}
			return "", libPath, false
		}
		if !strings.HasPrefix(a, "--") {
			return a, libPath, true
		}
		name, val, hasVal := strings.Cut(a, "=")
		if loaderOptsWithArg[name] {
			if !hasVal {
				i++
				if i < len(argv) {
					val = argv[i]
				}
			}
			if name == "--library-path" {
				libPath = val
			}
		}
	}
	return "", libPath, false
}

// loaderCandidates are the files a loader may run for prog: as written
// (relative to the cwd), and, for a name without a slash, what glibc's
// search could find in the --library-path directories and the default
// library directories. Every candidate is judged; the strictest verdict wins.
func loaderCandidates(prog, libPath string) []string {
	out := []string{prog}
	if strings.Contains(prog, "/") {
		return out
	}
	var dirs []string
	if libPath != "" {
		dirs = append(dirs, strings.FieldsFunc(libPath, func(r rune) bool { return r == ':' || r == ';' })...)
	}
	dirs = append(dirs, "/lib", "/usr/lib", "/lib64", "/usr/lib64", "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu")
	for _, d := range dirs {
		out = append(out, path.Join(d, prog))
	}
	return out
}
