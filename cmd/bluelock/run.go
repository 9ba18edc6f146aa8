package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/bluelock/bluelock/policy"
	"github.com/bluelock/bluelock/policy/source"
	"github.com/bluelock/bluelock/tracer"
	"github.com/bluelock/bluelock/tracer/container"
	"github.com/bluelock/bluelock/tracer/emit"
)

// forwarded are the signals PID 1 passes on to the app, as tini does.
var forwarded = [...]os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH}

// flushTimeout bounds how long events may take to leave after the app exits.
const flushTimeout = 3 * time.Second

type runFlags struct {
	visibility  string
	emit        string
	postureFile string
	postureNet  string
	postureCaps string
	metricsAddr string
	logLevel    string
	protect     string
	pinOpens    bool
	spin        spinValue
	// envErr holds the bad values of environment variables behind flags,
	// each reported before anything starts.
	envErr  error
	sources source.Config
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

func (f *runFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	defEmit := "stdout"
	if getenv("SIDEKICK_URL") != "" {
		defEmit = "sidekick"
	}
	fs.StringVar(&f.visibility, "visibility", envOr(getenv, "BLUELOCK_VISIBILITY", "process,file,network"),
		"operations logged when no policy matched: process,file,network,capabilities,syscall or none (BLUELOCK_VISIBILITY)")
	fs.StringVar(&f.emit, "emit", envOr(getenv, "BLUELOCK_EMIT", defEmit),
		"where events go: stdout, file:PATH or sidekick (SIDEKICK_URL, default http://localhost:2801/) (BLUELOCK_EMIT)")
	fs.StringVar(&f.postureFile, "posture-file", getenv("BLUELOCK_POSTURE_FILE"), "default file (and process) posture: block or audit (BLUELOCK_POSTURE_FILE)")
	fs.StringVar(&f.postureNet, "posture-network", getenv("BLUELOCK_POSTURE_NETWORK"), "default network posture: block or audit (BLUELOCK_POSTURE_NETWORK)")
	fs.StringVar(&f.postureCaps, "posture-capabilities", getenv("BLUELOCK_POSTURE_CAPABILITIES"), "default capabilities posture: block or audit (BLUELOCK_POSTURE_CAPABILITIES)")
	fs.StringVar(&f.metricsAddr, "metrics-addr", getenv("BLUELOCK_METRICS_ADDR"), "serve Prometheus metrics on this address (off when empty) (BLUELOCK_METRICS_ADDR)")
	fs.StringVar(&f.protect, "protect-ports", envOr(getenv, "BLUELOCK_PROTECT_PORTS", "auto"),
		"local ports traced processes may not connect to: auto (the policy APIs and the sidekick's), none, or a list (BLUELOCK_PROTECT_PORTS)")
	pin := true
	if v := getenv("BLUELOCK_PIN_OPENS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			f.envErr = errors.Join(f.envErr, fmt.Errorf("BLUELOCK_PIN_OPENS=%q: want true or false", v))
		}
		pin = err != nil || b
	}
	fs.BoolVar(&f.pinOpens, "pin-opens", pin,
		"hand allowed opens to the kernel as openat2 of the checked path with RESOLVE_NO_SYMLINKS, so a symlink swapped in after the check cannot redirect them (BLUELOCK_PIN_OPENS)")
	f.spin = spinValue(tracer.DefaultSpin)
	if v := getenv("BLUELOCK_SPIN"); v != "" {
		if err := f.spin.Set(v); err != nil {
			f.envErr = errors.Join(f.envErr, fmt.Errorf("BLUELOCK_SPIN=%q: %w", v, err))
		}
	}
	fs.Var(&f.spin, "spin",
		"how long the tracer polls for the next syscall stop before it sleeps, which saves the CPU wake-ups of syscalls in quick succession; 0 never polls (BLUELOCK_SPIN)")
	fs.StringVar(&f.logLevel, "log-level", envOr(getenv, "BLUELOCK_LOG_LEVEL", "info"), "debug, info, warn or error (BLUELOCK_LOG_LEVEL)")
	f.sources.RegisterFlags(fs, getenv)
}

// spinValue is --spin: a duration from 0 (never poll) to tracer.MaxSpin.
type spinValue time.Duration

func (v *spinValue) String() string { return time.Duration(*v).String() }

func (v *spinValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as 50us, or 0 to never poll")
	}
	if d < 0 || d > tracer.MaxSpin {
		return fmt.Errorf("want a duration from 0 to %v", tracer.MaxSpin)
	}
	*v = spinValue(d)
	return nil
}

// config is the value for tracer.Config.Spin, where 0 means the default.
func (v spinValue) config() time.Duration {
	if v == 0 {
		return -1
	}
	return time.Duration(v)
}

// runMain is run mode: `bluelock [flags] [--] CMD ARGS...`. Flags stop at
// the first non-flag argument (Go's flag package does), so the app's own
// flags are never ours.
func runMain(args []string, getenv func(string) string, stderr io.Writer) int {
	fs := flag.NewFlagSet("bluelock", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: bluelock [flags] [--] CMD ARGS...\n       bluelock policy ...\n       bluelock inject ...\n       bluelock install DIR")
		fs.PrintDefaults()
	}
	var f runFlags
	f.register(fs, getenv)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0 // -h asked for the usage, which Parse printed
		}
		return 2
	}
	if f.envErr != nil {
		fmt.Fprintf(stderr, "bluelock: %v\n", f.envErr)
		return 2
	}
	cmd := fs.Args()
	if len(cmd) == 0 {
		fs.Usage()
		return 2
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		fmt.Fprintf(stderr, "bluelock: --log-level %q: %v\n", f.logLevel, err)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	code, err := run(cmd, f, getenv, logger)
	if err != nil {
		logger.Error("bluelock: not starting the app", "err", err)
		fmt.Fprintf(stderr, "bluelock: %v\n", err)
		return 1
	}
	return code
}

func run(cmd []string, f runFlags, getenv func(string) string, logger *slog.Logger) (int, error) {
	vis, err := tracer.ParseVisibility(f.visibility)
	if err != nil {
		return 0, err
	}
	var postures [3]policy.Posture
	for i, p := range []struct{ flag, v string }{
		{"--posture-file", f.postureFile}, {"--posture-network", f.postureNet}, {"--posture-capabilities", f.postureCaps},
	} {
		if postures[i], err = policy.ParsePosture(p.v); err != nil {
			return 0, fmt.Errorf("%s: %w", p.flag, err)
		}
	}

	protected, err := protectedPorts(f.protect, f.sources, sidekickURL(f.emit, getenv))
	if err != nil {
		return 0, err
	}
	// Our initial environment block (/proc/<pid>/environ) stays readable to
	// a same-uid process on some kernels even when we are non-dumpable, so
	// the secrets in it are overwritten — first: once non-dumpable, a
	// non-root tracer can no longer open its own /proc/self/mem.
	if err := scrubOwnEnviron(secretEnv); err != nil {
		logger.Warn("could not scrub secrets from the tracer's environment block", "err", err)
	}
	// Non-dumpable: the app (same uid, no CAP_SYS_PTRACE) cannot read our memory.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		logger.Warn("could not make the tracer non-dumpable", "err", err)
	}

	// Forwarding starts before anything slow, so a SIGTERM during start-up
	// is not lost: it waits in the channel for the app.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, forwarded[:]...)
	defer signal.Stop(sigs)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	info := container.DetectWith(ctx, container.Config{PodInfoDir: f.sources.PodInfoDir}, logger)
	store := policy.NewStore(policy.Options{
		ContainerName:       info.ContainerName,
		Namespace:           info.NamespaceName,
		Labels:              info.LabelsMap,
		FilePosture:         postures[0],
		NetworkPosture:      postures[1],
		CapabilitiesPosture: postures[2],
		Audited:             info.Annotations["kubearmor-policy"] == "audited",
	})

	emitter, closeEmitter, err := newEmitter(f.emit, info, getenv, logger)
	if err != nil {
		return 0, err
	}
	defer func() {
		fctx, fcancel := context.WithTimeout(context.Background(), flushTimeout)
		defer fcancel()
		if err := closeEmitter(fctx); err != nil {
			logger.Warn("events not all delivered", "err", err)
		}
	}()

	// The start-up gate: returns once the policies are in force.
	if err := source.Start(ctx, f.sources, store, logger); err != nil {
		return 0, fmt.Errorf("policies: %w", err)
	}
	logger.Info("policies in force", "policies", strings.Join(store.Names(), ","), "count", len(store.Names()))

	stats := tracer.NewStats()
	if f.metricsAddr != "" {
		var extra []prometheus.Collector
		if src, ok := emitter.(emit.StatsSource); ok {
			extra = append(extra, emit.NewCollector(src))
		}
		stop, err := serveMetrics(ctx, f.metricsAddr, stats, logger, extra...)
		if err != nil {
			return 0, err
		}
		defer stop()
	}

	return tracer.Run(ctx, tracer.Config{
		Args:           cmd,
		Env:            appEnv(os.Environ()),
		ProtectedPorts: protected,
		Policy:         store,
		Emitter:        emitter,
		Visibility:     vis,
		Container:      info,
		Logger:         logger,
		Stats:          stats,
		Signals:        sigs,
		NoPin:          !f.pinOpens,
		Spin:           f.spin.config(),
	})
}

// sidekickURL is where the sidekick's ingest is, as far as the app's
// protection is concerned: SIDEKICK_URL, or with --emit sidekick and no
// SIDEKICK_URL the sidecar's default (emit.DefaultSidekickURL); "" when
// neither says.
func sidekickURL(emitSpec string, getenv func(string) string) string {
	if u := getenv("SIDEKICK_URL"); u != "" || emitSpec != "sidekick" {
		return u
	}
	return emit.DefaultSidekickURL
}

// newEmitter builds the event sink named by spec.
func newEmitter(spec string, info container.Info, getenv func(string) string, logger *slog.Logger) (tracer.Emitter, func(context.Context) error, error) {
	// A Writer takes the same queue bounds as the sidekick emitter, and
	// fills its drop reports' container fields the same way.
	writerConfig := func() (emit.WriterConfig, error) {
		events, bytes, err := emit.QueueBoundsFromEnv(getenv)
		return emit.WriterConfig{MaxQueueEvents: events, MaxQueueBytes: bytes, Container: info}, err
	}
	switch {
	case spec == "stdout":
		cfg, err := writerConfig()
		if err != nil {
			return nil, nil, err
		}
		w := emit.NewWriterWith(cfg, os.Stdout, logger)
		return w, w.Close, nil
	case strings.HasPrefix(spec, "file:"):
		cfg, err := writerConfig()
		if err != nil {
			return nil, nil, err
		}
		path := strings.TrimPrefix(spec, "file:")
		fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("--emit %s: %w", spec, err)
		}
		w := emit.NewWriterWith(cfg, fh, logger)
		return w, func(ctx context.Context) error {
			return errors.Join(w.Close(ctx), fh.Close())
		}, nil
	case spec == "sidekick":
		cfg, err := emit.HTTPConfigFromEnv(getenv)
		if err != nil {
			return nil, nil, err
		}
		cfg.URL = sidekickURL(spec, getenv)
		cfg.Container = info
		h, err := emit.NewHTTP(cfg, logger)
		if err != nil {
			return nil, nil, fmt.Errorf("sidekick emitter: %w", err)
		}
		return h, h.Close, nil
	}
	return nil, nil, fmt.Errorf("--emit %q: want stdout, file:PATH or sidekick", spec)
}
