package tracer

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bluelock/bluelock/tracer/filter"
	"github.com/bluelock/bluelock/tracer/reloc"
)

const (
	// stage2Env marks the re-executed binary as stage 2; its value is the
	// sync pipe's descriptor number.
	stage2Env    = "BLUELOCK_STAGE2"
	stage2SyncFd = 3
	// stage2RegionFd is where the tracer passes the argument region's memfd;
	// stage 2 moves it to reloc.Fd, without close-on-exec, for the app.
	stage2RegionFd = 4
)

// Stage 2 must exec the app from the thread the tracer seized: PTRACE_SEIZE
// attaches one thread, the process's first (tid == pid). Go runs the main
// goroutine's init functions on that thread, and a goroutine locked there in
// init stays there for main. So lock it here — only in stage 2; an ordinary
// run is untouched. (This is the one init() with an effect, as in runc's
// init.go, and for the same reason.)
func init() {
	if os.Getenv(stage2Env) != "" {
		runtime.LockOSThread()
	}
}

func withoutStage2(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, stage2Env+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// MaybeStage2 must be the first call in main (and in TestMain of tests that
// run the tracer): when this process is stage 2 it never returns. It waits
// until the tracer has seized it, sets no_new_privs, drops CAP_SYS_PTRACE,
// loads the seccomp filter and execs the app; on failure it exits 126/127 as
// a shell would, or 1.
func MaybeStage2() {
	v := os.Getenv(stage2Env)
	if v == "" {
		return
	}
	os.Exit(stage2(v, os.Args[1:]))
}

func stage2(fdText string, args []string) int {
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "bluelock: "+format+"\n", a...)
		return code
	}
	fd, err := strconv.Atoi(fdText)
	if err != nil || fd < 3 {
		return fail(1, "bad %s=%q", stage2Env, fdText)
	}
	sync := os.NewFile(uintptr(fd), "bluelock-sync")
	var b [1]byte
	// The tracer writes one byte after PTRACE_SEIZE succeeded. EOF means it
	// gave up: never run the app unenforced.
	if _, err := io.ReadFull(sync, b[:]); err != nil {
		return fail(1, "tracer did not attach: %v", err)
	}
	sync.Close()
	if len(args) == 0 {
		return fail(1, "no command")
	}
	if err := os.Unsetenv(stage2Env); err != nil {
		return fail(1, "unset %s: %v", stage2Env, err)
	}
	path, code, err := lookPath(args[0])
	if err != nil {
		return fail(code, "%s: %v", args[0], err)
	}
	if err := moveRegionFd(); err != nil {
		return fail(1, "argument region: %v", err)
	}
	// no_new_privs: required to load a filter without CAP_SYS_ADMIN, and it
	// stops setuid binaries from gaining privileges we would not see.
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fail(1, "set no_new_privs: %v", err)
	}
	if err := dropPtraceCap(); err != nil {
		return fail(1, "drop CAP_SYS_PTRACE: %v", err)
	}
	if err := filter.Load(); err != nil {
		return fail(1, "%v", err)
	}
	// This execve is trapped by the filter and decided like any other, so
	// the app's own image is checked against process rules.
	err = unix.Exec(path, args, os.Environ())
	if errors.Is(err, unix.EACCES) {
		return fail(126, "%s: %v", args[0], err)
	}
	return fail(126, "exec %s: %v", args[0], err)
}

// lookPath finds the program as a shell would: a name with a slash is used
// as is, otherwise PATH is searched. code is 127 for "not found" and 126 for
// "found but not executable", the shell's exit codes.
func lookPath(name string) (string, int, error) {
	if strings.Contains(name, "/") {
		st, err := os.Stat(name)
		if err != nil {
			return "", 127, errors.New("no such file or directory")
		}
		if st.IsDir() || unix.Access(name, unix.X_OK) != nil {
			return "", 126, errors.New("permission denied")
		}
		return name, 0, nil
	}
	p, err := exec.LookPath(name)
	if err == nil {
		return p, 0, nil
	}
	var ee *exec.Error
	if errors.As(err, &ee) && errors.Is(ee.Err, exec.ErrDot) {
		return "", 126, err
	}
	// A match without the x bit: the shell says "Permission denied", 126.
	for _, dir := range strings.Split(os.Getenv("PATH"), ":") {
		if dir == "" {
			dir = "."
		}
		if st, err := os.Stat(dir + "/" + name); err == nil && !st.IsDir() {
			return "", 126, errors.New("permission denied")
		}
	}
	return "", 127, errors.New("command not found")
}

// dropPtraceCap removes CAP_SYS_PTRACE from every capability set of this
// process, so the app cannot ptrace (the filter refuses that too) nor read
// or write other processes' memory through /proc/<pid>/mem.
func dropPtraceCap() error {
	const capSysPtrace = unix.CAP_SYS_PTRACE
	// Bounding set: so no exec (file capabilities) can bring it back.
	// PR_CAPBSET_DROP needs CAP_SETPCAP; if the capability is not in the set
	// there is nothing to drop.
	in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, capSysPtrace, 0, 0, 0)
	if err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("read bounding set: %w", err)
	}
	if in == 1 {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, capSysPtrace, 0, 0, 0); err != nil {
			// A non-root process never holds CAP_SETPCAP (Docker or ECS
			// --user 1000 with SYS_PTRACE added: it sits in the bounding set
			// only). That is safe under no_new_privs, set before this: the
			// kernel then never lets an exec raise the permitted set above
			// the one we clear below, so the bounding set cannot hand it back.
			nnp, nerr := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
			if !errors.Is(err, unix.EPERM) || nerr != nil || nnp != 1 {
				return fmt.Errorf("drop from bounding set: %w", err)
			}
		}
	}
	// Ambient set: EINVAL means the kernel has none (pre-4.3).
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_LOWER, capSysPtrace, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("lower ambient: %w", err)
	}
	// Effective, permitted, inheritable: capset v3 (two 32-bit words).
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	word, bit := capSysPtrace/32, uint32(1)<<(capSysPtrace%32)
	if (data[word].Effective|data[word].Permitted|data[word].Inheritable)&bit == 0 {
		return nil
	}
	data[word].Effective &^= bit
	data[word].Permitted &^= bit
	data[word].Inheritable &^= bit
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

// moveRegionFd puts the argument region's memfd at reloc.Fd, where the
// tracer maps it from in every process after an exec. The filter then keeps
// it there (close, dup2 and FD_CLOEXEC on it are faked).
func moveRegionFd() error {
	// The app inherits what bluelock inherited. A descriptor already there
	// is the app's (a socket a supervisor passed, say): replacing it would
	// break the app in ways nobody could trace back here.
	if _, err := unix.FcntlInt(uintptr(reloc.Fd), unix.F_GETFD, 0); err == nil {
		return fmt.Errorf("descriptor %d is already open (inherited by bluelock); bluelock keeps its argument region there, so start bluelock without it", reloc.Fd)
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err == nil && rl.Cur <= reloc.Fd {
		// The descriptor must be below the soft limit to be dup'ed to.
		if rl.Max <= reloc.Fd {
			return fmt.Errorf("RLIMIT_NOFILE hard limit %d leaves no room for descriptor %d", rl.Max, reloc.Fd)
		}
		rl.Cur = reloc.Fd + 1
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
			return fmt.Errorf("raise RLIMIT_NOFILE: %w", err)
		}
	}
	if err := unix.Dup3(stage2RegionFd, reloc.Fd, 0); err != nil {
		return fmt.Errorf("dup3 %d to %d: %w", stage2RegionFd, reloc.Fd, err)
	}
	return unix.Close(stage2RegionFd)
}
