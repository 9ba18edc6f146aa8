package tracer

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/bluelock/bluelock/policy"
	"github.com/bluelock/bluelock/tracer/container"
)

// Policy is what the tracer asks: the verdict for a request, and whether the
// rules in force could block a domain at all (to fail closed only there when
// an argument cannot be read). *policy.Store implements it.
type Policy interface {
	policy.Decider
	MayBlock(policy.Operation) bool
}

// Visibility selects which operations are logged when no policy matched.
type Visibility uint8

const (
	VisProcess Visibility = 1 << iota
	VisFile
	VisNetwork
	VisCapabilities
	VisSyscall
)

// DefaultVisibility is "process,file,network".
const DefaultVisibility = VisProcess | VisFile | VisNetwork

// ParseVisibility reads a comma-separated list of process, file, network,
// capabilities, syscall; "none" (or "") turns logs off.
func ParseVisibility(s string) (Visibility, error) {
	var v Visibility
	for _, part := range strings.Split(s, ",") {
		switch strings.ToLower(strings.TrimSpace(part)) {
		case "", "none":
		case "process":
			v |= VisProcess
		case "file":
			v |= VisFile
		case "network":
			v |= VisNetwork
		case "capabilities":
			v |= VisCapabilities
		case "syscall", "syscalls":
			v |= VisSyscall
		default:
			return 0, fmt.Errorf("visibility %q: want a comma-separated list of process, file, network, capabilities, syscall, or none", part)
		}
	}
	return v, nil
}

// covers reports whether operations named op (KubeArmor's Operation) are
// logged.
func (v Visibility) covers(op policy.Operation) bool {
	switch op {
	case policy.OpProcess:
		return v&VisProcess != 0
	case policy.OpFile:
		return v&VisFile != 0
	case policy.OpNetwork:
		return v&VisNetwork != 0
	case policy.OpCapabilities:
		return v&VisCapabilities != 0
	case policy.OpSyscall:
		return v&VisSyscall != 0
	}
	return false
}

// Config is everything Run needs. Zero values mean the documented defaults.
type Config struct {
	// Args is the app's command line (CMD ARGS...); Args[0] is looked up in
	// PATH by stage 2 as a shell would.
	Args []string
	// Env is the app's environment (default os.Environ()).
	Env []string
	// Self is the static binary re-executed as stage 2 (default
	// /proc/self/exe). The binary must call MaybeStage2 first thing.
	Self string
	// Policy decides; nil allows everything.
	Policy Policy
	// Emitter hears of every event; nil drops them.
	Emitter Emitter
	// Visibility selects what is logged when no policy matched.
	Visibility Visibility
	// Container is copied into every event.
	Container container.Info
	// Logger for the tracer's own messages (default slog.Default()).
	Logger *slog.Logger
	// Stats counts what the tracer does (default: a private one).
	Stats *Stats
	// Signals are forwarded to the app's main process as they arrive
	// (cmd/bluelock feeds it from signal.Notify). May be nil.
	Signals <-chan os.Signal
	// Stdin, Stdout, Stderr of the app (default: the tracer's own).
	Stdin, Stdout, Stderr *os.File
	// Now is the clock for event timestamps (default time.Now).
	Now func() time.Time
	// Proc is where procfs is mounted (default "/proc").
	Proc string
	// ProtectedPorts are ports that traced processes may not connect to on
	// this network namespace's own addresses (loopback, unspecified, or any
	// local interface address): the tracer's policy APIs and the sidekick's,
	// which share the pod's network with the app. Without this, a
	// compromised app could push an empty policy set to 127.0.0.1 and lift
	// its own protection. Refused with EACCES and alerted, whatever the policy.
	ProtectedPorts []int
	// NoPin turns off pinned opens (allowed opens handed to the kernel as
	// openat2 of the checked, symlink-free path with RESOLVE_NO_SYMLINKS).
	// Off, a symlink swapped in after the check can redirect an allowed open.
	NoPin bool
	// Spin is how long the stop loop polls for the next stop before it
	// sleeps in wait4 (spin.go): 0 means DefaultSpin, a negative value
	// never spins.
	Spin time.Duration
	// spawnRest overrides how long the stop loop rests from polling after
	// a new process or exec (spin.go) where it is not 0; tests set it.
	spawnRest time.Duration
}

func (c *Config) setDefaults() {
	if c.Env == nil {
		c.Env = os.Environ()
	}
	if c.Self == "" {
		c.Self = "/proc/self/exe"
	}
	if c.Policy == nil {
		c.Policy = allowAll{}
	}
	if c.Emitter == nil {
		c.Emitter = discard{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Stats == nil {
		c.Stats = NewStats()
	}
	if c.Stdin == nil {
		c.Stdin = os.Stdin
	}
	if c.Stdout == nil {
		c.Stdout = os.Stdout
	}
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Proc == "" {
		c.Proc = "/proc"
	}
	if c.Spin == 0 {
		c.Spin = DefaultSpin
	}
}

type allowAll struct{}

func (allowAll) Decide(policy.Request) policy.Decision {
	return policy.Decision{Verdict: policy.Allow, Action: "Allow"}
}
func (allowAll) MayBlock(policy.Operation) bool { return false }
