package source

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bluelock/bluelock/policy"
	"github.com/bluelock/bluelock/policy/source/api"
	"github.com/bluelock/bluelock/policy/source/file"
)

// Defaults.
const (
	DefaultWait = 30 * time.Second
	// 32767 is the sidekick's LogService in the same netns; 32768 starts
	// Linux's ephemeral port range, where an outbound connection could
	// hold it when the tracer starts (docs/policy-delivery.md).
	DefaultGRPCAddr = "127.0.0.1:32766"
	DefaultHTTPAddr = "127.0.0.1:2802"
	DefaultPodInfo  = "/etc/podinfo"
)

// Config is the policy-delivery configuration of the tracer.
type Config struct {
	// Files are policy files or directories (--policy, repeatable; BLUELOCK_POLICY, comma-separated).
	Files []string
	// Poll is the file re-read interval (BLUELOCK_POLICY_POLL, --policy-poll).
	Poll time.Duration
	// Wait bounds the start-up gate (--policy-wait, BLUELOCK_POLICY_WAIT).
	Wait time.Duration
	// FailClosed makes a gate timeout fatal (--policy-fail-closed, default true).
	FailClosed bool
	// WaitAPI makes the push API gate: wait for the first accepted push (--policy-wait-api).
	WaitAPI bool

	// API is where the PolicyService and HTTP API listen and how they authenticate.
	API api.ServerConfig

	// K8s is "auto" (in a pod with a service-account token, or with
	// --kubeconfig), "true" or "false" (--policy-k8s, BLUELOCK_POLICY_K8S).
	K8s        string
	Kubeconfig string // --kubeconfig, BLUELOCK_KUBECONFIG (tests, out-of-cluster)
	PodName    string // POD_NAME (downward API)
	Namespace  string // POD_NAMESPACE (downward API)
	PodInfoDir string // --podinfo-dir, BLUELOCK_PODINFO_DIR: downward API labels/annotations files

	// envErrs are malformed BLUELOCK_* values found by RegisterFlags; Start
	// refuses to run with them (a typo must not disable the gate).
	envErrs []error
	// hooks for tests in this package.
	onAPI func(*api.Server)
	parse func([]byte, string) ([]policy.KubeArmorPolicy, error)
}

// RegisterFlags adds the delivery flags to fs, with defaults from the
// BLUELOCK_* environment that getenv reads (os.Getenv in the binary).
func (c *Config) RegisterFlags(fs *flag.FlagSet, getenv func(string) string) {
	env := func(name, def string) string {
		if v, ok := lookup(getenv, name); ok {
			return v
		}
		return def
	}
	dur := func(name string, def time.Duration) time.Duration {
		v, ok := lookup(getenv, name)
		if !ok {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			c.envErrs = append(c.envErrs, fmt.Errorf("%s=%q: %w", name, v, err))
			return def
		}
		return d
	}
	boolean := func(name string, def bool) bool {
		v, ok := lookup(getenv, name)
		if !ok {
			return def
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			c.envErrs = append(c.envErrs, fmt.Errorf("%s=%q: %w", name, v, err))
			return def
		}
		return b
	}

	c.Files = nil
	for _, f := range strings.Split(getenv("BLUELOCK_POLICY"), ",") {
		if f = strings.TrimSpace(f); f != "" {
			c.Files = append(c.Files, f)
		}
	}
	fs.Var(&filesFlag{c: c}, "policy", "KubeArmorPolicy file or directory (*.yaml, *.yml, *.json); repeatable (env BLUELOCK_POLICY, comma-separated)")
	fs.DurationVar(&c.Poll, "policy-poll", dur("BLUELOCK_POLICY_POLL", file.DefaultInterval), "how often policy files are re-read (env BLUELOCK_POLICY_POLL)")
	fs.DurationVar(&c.Wait, "policy-wait", dur("BLUELOCK_POLICY_WAIT", DefaultWait), "how long the app is held until every policy source has delivered (env BLUELOCK_POLICY_WAIT)")
	fs.BoolVar(&c.FailClosed, "policy-fail-closed", boolean("BLUELOCK_POLICY_FAIL_CLOSED", true), "exit non-zero if a policy source has not delivered in time; false starts the app in the default posture (env BLUELOCK_POLICY_FAIL_CLOSED)")
	fs.BoolVar(&c.WaitAPI, "policy-wait-api", boolean("BLUELOCK_POLICY_WAIT_API", false), "also hold the app until the first policy is pushed over gRPC/HTTP (env BLUELOCK_POLICY_WAIT_API)")
	fs.StringVar(&c.API.GRPCAddr, "policy-grpc", env("BLUELOCK_POLICY_GRPC", DefaultGRPCAddr), `KubeArmor PolicyService listen address, "" or "off" to disable (env BLUELOCK_POLICY_GRPC)`)
	fs.StringVar(&c.API.HTTPAddr, "policy-http", env("BLUELOCK_POLICY_HTTP", DefaultHTTPAddr), `policy HTTP API listen address, "" or "off" to disable (env BLUELOCK_POLICY_HTTP)`)
	fs.StringVar(&c.API.Token, "policy-token", getenv("BLUELOCK_POLICY_TOKEN"), "bearer token required by the policy APIs; prefer the env BLUELOCK_POLICY_TOKEN (flags are visible in /proc)")
	fs.StringVar(&c.API.TLSCert, "policy-tls-cert", getenv("BLUELOCK_POLICY_TLS_CERT"), "TLS certificate for the policy APIs (env BLUELOCK_POLICY_TLS_CERT)")
	fs.StringVar(&c.API.TLSKey, "policy-tls-key", getenv("BLUELOCK_POLICY_TLS_KEY"), "TLS key for the policy APIs (env BLUELOCK_POLICY_TLS_KEY)")
	fs.StringVar(&c.API.TLSCA, "policy-tls-ca", getenv("BLUELOCK_POLICY_TLS_CA"), "CA whose client certificates the policy APIs require, i.e. mutual TLS (env BLUELOCK_POLICY_TLS_CA)")
	fs.BoolVar(&c.API.Insecure, "policy-insecure", boolean("BLUELOCK_POLICY_INSECURE", false), "allow the policy APIs on a non-loopback address without token or mTLS (env BLUELOCK_POLICY_INSECURE)")
	fs.StringVar(&c.K8s, "policy-k8s", env("BLUELOCK_POLICY_K8S", "auto"), "read KubeArmorPolicies from Kubernetes: auto (in a pod with a service-account token, or with --kubeconfig), true, false (env BLUELOCK_POLICY_K8S)")
	fs.StringVar(&c.Kubeconfig, "kubeconfig", getenv("BLUELOCK_KUBECONFIG"), "kubeconfig for the Kubernetes policy source instead of the in-cluster service account (env BLUELOCK_KUBECONFIG)")
	fs.StringVar(&c.PodInfoDir, "podinfo-dir", env("BLUELOCK_PODINFO_DIR", DefaultPodInfo), "downward API volume with the pod's labels and annotations files (env BLUELOCK_PODINFO_DIR)")
	c.PodName = getenv("POD_NAME")
	c.Namespace = getenv("POD_NAMESPACE")
}

func lookup(getenv func(string) string, name string) (string, bool) {
	v := strings.TrimSpace(getenv(name))
	return v, v != ""
}

// filesFlag replaces the env list on first use, then appends.
type filesFlag struct {
	c   *Config
	set bool
}

func (f *filesFlag) String() string {
	if f == nil || f.c == nil {
		return ""
	}
	return strings.Join(f.c.Files, ",")
}

func (f *filesFlag) Set(v string) error {
	if !f.set {
		f.c.Files, f.set = nil, true
	}
	if v == "" {
		return errors.New("empty path")
	}
	f.c.Files = append(f.c.Files, v)
	return nil
}

// Store is what the sources need from policy.Store: one small interface per
// consumer, so each source can be tested with a fake.
type Store interface {
	Apply(source string, policies []policy.KubeArmorPolicy) error
	SetOptions(policy.Options) error
	Options() policy.Options
	Names() []string
}

// gated is a running source the gate waits for.
type gated interface {
	Name() string
	Ready() <-chan struct{}
	Err() error
	Run(ctx context.Context) error
}

// Start launches every configured source feeding store, and returns once each
// gating source has delivered its first complete set, or the wait expired (an
// error when FailClosed). The sources keep running until ctx ends.
func Start(ctx context.Context, cfg Config, store *policy.Store, logger *slog.Logger) error {
	return start(ctx, cfg, reportingStore{Store: store, logger: logger.With("component", "policy-delivery")}, logger)
}

// reportingStore applies through ApplyReport and says what the set in force
// leaves out: a policy delivered with another namespace or container name
// (ECS runs in namespace "container_namespace") would otherwise do nothing,
// silently, and a name clash between sources would hide one of them.
type reportingStore struct {
	*policy.Store
	logger *slog.Logger
}

func (r reportingStore) Apply(source string, policies []policy.KubeArmorPolicy) error {
	rep, err := r.ApplyReport(source, policies)
	if err != nil {
		return err
	}
	if len(rep.Unselected) > 0 {
		o := r.Options()
		r.logger.Warn("delivered policies do not select this container and are not enforced",
			"source", source, "policies", rep.Unselected, "namespace", o.Namespace, "container", o.ContainerName, "labels", o.Labels)
	}
	for _, sh := range rep.Shadowed {
		r.logger.Warn("policy delivered by two sources; the later one is in force",
			"namespace", sh.Namespace, "policy", sh.Name, "in_force_from", sh.Winner, "ignored_from", sh.Loser)
	}
	return nil
}

func start(ctx context.Context, cfg Config, store Store, logger *slog.Logger) error {
	if err := errors.Join(cfg.envErrs...); err != nil {
		return fmt.Errorf("policy delivery configuration: %w", err)
	}
	for _, a := range []*string{&cfg.API.GRPCAddr, &cfg.API.HTTPAddr} {
		if strings.EqualFold(*a, "off") {
			*a = ""
		}
	}
	logger = logger.With("component", "policy-delivery")

	var sources []gated
	if len(cfg.Files) > 0 {
		fsrc, err := file.New(file.Config{Paths: cfg.Files, Interval: cfg.Poll, Parse: cfg.parse}, store, logger)
		if err != nil {
			return err
		}
		sources = append(sources, fsrc)
	}
	ksrc, err := newK8s(cfg, store, logger)
	if err != nil {
		return err
	}
	if ksrc != nil {
		sources = append(sources, ksrc)
	}

	var srv *api.Server
	var set *api.Set
	if cfg.API.GRPCAddr != "" || cfg.API.HTTPAddr != "" {
		set = api.NewSet(store, store, cfg.parse, logger)
		srv, err = api.Listen(cfg.API, set, logger)
		if err != nil {
			return err
		}
		if cfg.onAPI != nil {
			cfg.onAPI(srv)
		}
	} else if cfg.WaitAPI {
		return errors.New("--policy-wait-api needs --policy-grpc or --policy-http")
	}

	// Run everything. A source that stops with an error before delivering is
	// reported to the gate; later errors are logged.
	type stopped struct {
		name string
		err  error
	}
	stops := make(chan stopped, len(sources)+1)
	for _, s := range sources {
		go func() {
			if err := s.Run(ctx); err != nil {
				logger.Error("policy source stopped", "source", s.Name(), "err", err)
				stops <- stopped{s.Name(), err}
			}
		}()
	}
	if srv != nil {
		go func() {
			if err := srv.Serve(ctx); err != nil {
				logger.Error("policy API stopped", "err", err)
				stops <- stopped{api.SourceName, err}
			}
		}()
		if cfg.WaitAPI {
			sources = append(sources, apiGate{set})
		}
	}

	if len(sources) == 0 {
		logger.Warn("no policy source holds the app back (no --policy, no Kubernetes, no --policy-wait-api): it starts with no policy, default postures only")
		return nil
	}
	pending := map[string]gated{}
	readyc := make(chan string, len(sources))
	for _, s := range sources {
		pending[s.Name()] = s
		go func() {
			select {
			case <-s.Ready():
				readyc <- s.Name()
			case <-ctx.Done():
			}
		}()
	}
	timer := time.NewTimer(cfg.Wait)
	defer timer.Stop()
	logger.Info("waiting for policy sources", "sources", slices.Sorted(maps.Keys(pending)), "wait", cfg.Wait, "fail_closed", cfg.FailClosed)
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("policy gate: %w", ctx.Err())
		case st := <-stops:
			if _, ok := pending[st.name]; !ok {
				continue
			}
			err := fmt.Errorf("policy source %s failed before delivering: %w", st.name, st.err)
			if cfg.FailClosed {
				return fmt.Errorf("%w; refusing to start the app (--policy-fail-closed)", err)
			}
			logger.Warn("starting without this source (--policy-fail-closed=false)", "err", err)
			delete(pending, st.name)
		case <-timer.C:
			err := notDelivered(cfg.Wait, pending)
			if cfg.FailClosed {
				return fmt.Errorf("%w; refusing to start the app unprotected (--policy-fail-closed; use --policy-fail-closed=false to start in the default posture)", err)
			}
			logger.Warn("starting the app in the default posture (--policy-fail-closed=false)", "err", err, "in_force", store.Names())
			return nil
		case name := <-readyc:
			logger.Info("policy source delivered", "source", name)
			delete(pending, name)
		}
	}
	logger.Info("policies in force; starting the app", "policies", store.Names())
	return nil
}

func notDelivered(wait time.Duration, pending map[string]gated) error {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(pending)) {
		msg := name
		if err := pending[name].Err(); err != nil {
			msg += " (" + err.Error() + ")"
		}
		parts = append(parts, msg)
	}
	return fmt.Errorf("policy sources did not deliver within %s: %s", wait, strings.Join(parts, "; "))
}

// apiGate makes the push API a gated source (--policy-wait-api); it is
// served by the API server, so Run has nothing to do.
type apiGate struct{ set *api.Set }

func (a apiGate) Name() string                  { return api.SourceName }
func (a apiGate) Ready() <-chan struct{}        { return a.set.Ready() }
func (a apiGate) Err() error                    { return a.set.Err() }
func (a apiGate) Run(ctx context.Context) error { return nil }
