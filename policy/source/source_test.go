package source

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluelock/bluelock/policy"
	"github.com/bluelock/bluelock/policy/source/api"
	"github.com/bluelock/bluelock/policy/source/internal/docs"
)

// fakeStore records the sets per source.
type fakeStore struct {
	mu   sync.Mutex
	sets map[string][]string
	opts policy.Options
}

func (f *fakeStore) Apply(source string, ps []policy.KubeArmorPolicy) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sets == nil {
		f.sets = map[string][]string{}
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Metadata.Name)
	}
	f.sets[source] = names
	return nil
}
func (f *fakeStore) SetOptions(o policy.Options) error { f.opts = o; return nil }
func (f *fakeStore) Options() policy.Options           { return f.opts }
func (f *fakeStore) Names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []string
	for _, v := range f.sets {
		all = append(all, v...)
	}
	slices.Sort(all)
	return all
}

func fakeParse(data []byte, origin string) ([]policy.KubeArmorPolicy, error) {
	if strings.Contains(string(data), "INVALID") {
		return nil, errors.New(origin + ": spec: INVALID")
	}
	ds, err := docs.Split(data)
	if err != nil {
		return nil, err
	}
	var out []policy.KubeArmorPolicy
	for _, d := range ds {
		var p policy.KubeArmorPolicy
		p.Metadata.Name = d.Name
		out = append(out, p)
	}
	return out, nil
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func baseConfig(t *testing.T) Config {
	t.Helper()
	var cfg Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	cfg.RegisterFlags(fs, func(string) string { return "" })
	cfg.API = api.ServerConfig{} // no listeners unless a case asks
	cfg.K8s = "false"
	cfg.Poll = time.Millisecond
	cfg.parse = fakeParse
	return cfg
}

func TestGate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("metadata: {name: p1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("metadata: {name: p2}\nspec: INVALID\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.yaml")

	cases := []struct {
		name       string
		files      []string
		failClosed bool
		waitAPI    bool
		push       bool // push a policy over HTTP once listening
		wait       time.Duration
		wantErr    []string // substrings; nil: no error
		wantForce  []string
	}{
		{name: "file delivers", files: []string{good}, failClosed: true, wait: 10 * time.Second, wantForce: []string{"p1"}},
		{name: "missing file fails closed naming the source", files: []string{good, missing}, failClosed: true, wait: 50 * time.Millisecond,
			wantErr: []string{"did not deliver within 50ms", "file (", "missing.yaml", "refusing to start"}},
		{name: "invalid file fails closed with the engine error", files: []string{bad}, failClosed: true, wait: 50 * time.Millisecond,
			wantErr: []string{"bad.yaml", "spec: INVALID"}},
		{name: "missing file, fail open starts in default posture", files: []string{missing}, failClosed: false, wait: 50 * time.Millisecond},
		{name: "nothing configured does not gate", failClosed: true, wait: time.Hour},
		{name: "api does not gate without --policy-wait-api", failClosed: true, wait: time.Hour},
		{name: "api gate times out without a push", failClosed: true, waitAPI: true, wait: 50 * time.Millisecond,
			wantErr: []string{"api (no policy pushed yet)"}},
		{name: "api gate opens on the first push", failClosed: true, waitAPI: true, push: true, wait: 10 * time.Second, wantForce: []string{"pushed"}},
		{name: "file and api both gate", files: []string{good}, failClosed: true, waitAPI: true, push: true, wait: 10 * time.Second, wantForce: []string{"p1", "pushed"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(t)
			cfg.Files, cfg.FailClosed, cfg.WaitAPI, cfg.Wait = tc.files, tc.failClosed, tc.waitAPI, tc.wait
			if tc.waitAPI || strings.HasPrefix(tc.name, "api") {
				cfg.API.HTTPAddr = "127.0.0.1:0"
			}
			pushed := make(chan struct{})
			if !tc.push {
				close(pushed)
			}
			if tc.push {
				cfg.onAPI = func(srv *api.Server) {
					go func() {
						defer close(pushed)
						req, _ := http.NewRequestWithContext(t.Context(), "POST", "http://"+srv.HTTPAddr().String()+"/policies", strings.NewReader("metadata: {name: pushed}\n"))
						resp, err := http.DefaultClient.Do(req)
						if err != nil {
							t.Errorf("push: %v", err)
							return
						}
						resp.Body.Close()
					}()
				}
			}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			store := &fakeStore{}
			err := start(ctx, cfg, store, discard)
			<-pushed
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("start: %v", err)
				}
			} else {
				if err == nil {
					t.Fatal("start succeeded, want an error")
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
			}
			if tc.wantForce != nil {
				if got := store.Names(); !slices.Equal(got, tc.wantForce) {
					t.Errorf("in force at start %v, want %v", got, tc.wantForce)
				}
			}
		})
	}
}

func TestStartRefusesBadConfiguration(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		mutate  func(*Config)
		wantErr string
	}{
		{name: "malformed env duration", env: map[string]string{"BLUELOCK_POLICY_WAIT": "soon"}, wantErr: `BLUELOCK_POLICY_WAIT="soon"`},
		{name: "malformed env bool", env: map[string]string{"BLUELOCK_POLICY_FAIL_CLOSED": "maybe"}, wantErr: "BLUELOCK_POLICY_FAIL_CLOSED"},
		{name: "exposed api without auth", env: map[string]string{"BLUELOCK_POLICY_GRPC": "0.0.0.0:0"}, wantErr: "refusing to serve the policy API"},
		{name: "wait-api without api", mutate: func(c *Config) { c.API = api.ServerConfig{}; c.WaitAPI = true }, wantErr: "--policy-wait-api needs"},
		{name: "bad --policy-k8s", mutate: func(c *Config) { c.K8s = "sometimes" }, wantErr: "--policy-k8s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var cfg Config
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			cfg.RegisterFlags(fs, func(k string) string { return tc.env[k] })
			cfg.API.HTTPAddr = "off"
			if cfg.API.GRPCAddr == DefaultGRPCAddr {
				cfg.API.GRPCAddr = "off"
			}
			cfg.K8s = "false"
			cfg.parse = fakeParse
			if tc.mutate != nil {
				tc.mutate(&cfg)
			}
			err := start(t.Context(), cfg, &fakeStore{}, discard)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("start = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestFlagsAndEnv(t *testing.T) {
	env := map[string]string{
		"BLUELOCK_POLICY":             "/a, /b,,",
		"BLUELOCK_POLICY_WAIT":        "5s",
		"BLUELOCK_POLICY_FAIL_CLOSED": "false",
		"BLUELOCK_POLICY_GRPC":        "127.0.0.1:1",
		"BLUELOCK_POLICY_TOKEN":       "tok",
		"POD_NAMESPACE":               "ns1",
	}
	cases := []struct {
		name  string
		args  []string
		check func(Config) error
	}{
		{name: "env defaults", check: func(c Config) error {
			if !slices.Equal(c.Files, []string{"/a", "/b"}) || c.Wait != 5*time.Second || c.FailClosed ||
				c.API.GRPCAddr != "127.0.0.1:1" || c.API.HTTPAddr != DefaultHTTPAddr || c.API.Token != "tok" ||
				c.Namespace != "ns1" || c.Poll != 2*time.Second || c.K8s != "auto" || c.PodInfoDir != DefaultPodInfo {
				return fmt.Errorf("%+v", c)
			}
			return nil
		}},
		{name: "flags override env; --policy repeats", args: []string{"--policy", "/x", "--policy", "/y", "--policy-wait", "1m", "--policy-fail-closed", "--policy-wait-api"}, check: func(c Config) error {
			if !slices.Equal(c.Files, []string{"/x", "/y"}) || c.Wait != time.Minute || !c.FailClosed || !c.WaitAPI {
				return fmt.Errorf("%+v", c)
			}
			return nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var cfg Config
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			cfg.RegisterFlags(fs, func(k string) string { return env[k] })
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if err := tc.check(cfg); err != nil {
				t.Fatal(err)
			}
		})
	}
	// Built-in defaults without env: fail closed, 30s, loopback listeners.
	var cfg Config
	cfg.RegisterFlags(flag.NewFlagSet("t", flag.ContinueOnError), func(string) string { return "" })
	if !cfg.FailClosed || cfg.Wait != DefaultWait || cfg.API.GRPCAddr != "127.0.0.1:32766" || cfg.API.HTTPAddr != "127.0.0.1:2802" || cfg.WaitAPI {
		t.Fatalf("defaults %+v", cfg)
	}
}

// TestStartWithTheRealStore runs the public Start with policy.Store and
// policy.Parse: the gate's messages are the engine's own.
func TestStartWithTheRealStore(t *testing.T) {
	dir := t.TempDir()
	write := func(name, path string) string {
		p := filepath.Join(dir, name)
		doc := "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata:\n  name: " + strings.TrimSuffix(name, ".yaml") +
			"\n  namespace: default\nspec:\n  selector:\n    matchLabels:\n      app: web\n  file:\n    matchPaths:\n    - path: " + path + "\n  action: Block\n"
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "/etc/shadow")
	bad := write("bad.yaml", "etc/shadow")
	cases := []struct {
		name    string
		files   []string
		wantErr []string
		inForce []string
	}{
		{name: "valid file is in force before Start returns", files: []string{good}, inForce: []string{"good"}},
		{name: "invalid file fails closed naming file and field", files: []string{bad}, wantErr: []string{"bad.yaml", "matchPaths[0].path", "refusing to start"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var cfg Config
			cfg.RegisterFlags(flag.NewFlagSet("t", flag.ContinueOnError), func(string) string { return "" })
			cfg.Files, cfg.Wait, cfg.K8s = tc.files, 300*time.Millisecond, "false"
			cfg.API = api.ServerConfig{}
			store := policy.NewStore(policy.Options{Namespace: "default", Labels: map[string]string{"app": "web"}})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			err := Start(ctx, cfg, store, discard)
			if tc.wantErr == nil && err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("Start = %v, want it to contain %q", err, w)
				}
			}
			if got := store.Names(); !slices.Equal(got, tc.inForce) {
				t.Errorf("in force %v, want %v", got, tc.inForce)
			}
		})
	}
}
