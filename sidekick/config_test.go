package sidekick

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bluelock/bluelock/outputs"
	"github.com/bluelock/bluelock/schema"
	"github.com/bluelock/bluelock/sidekick/dispatch"
)

type nopOutput struct{ name string }

func (n nopOutput) Name() string                             { return n.name }
func (n nopOutput) Send(context.Context, schema.Event) error { return nil }

// fakeFactory is enabled by <PREFIX>_URL and reads <PREFIX>_CHANNEL; New
// fails when the URL is "fail".
func fakeFactory(name, prefix string) outputs.Factory {
	return outputs.Factory{
		Name: name, Prefix: prefix,
		Enabled: func(s outputs.Settings) bool { return outputs.GetString(s, "URL", "") != "" },
		New: func(s outputs.Settings, d outputs.Deps) (outputs.Output, error) {
			_ = outputs.GetString(s, "CHANNEL", "")
			if outputs.GetString(s, "URL", "") == "fail" {
				return nil, errors.New(outputs.KeyName(s, "URL") + ": constructor refused it")
			}
			if d.HTTPClient == nil || d.HTTPClient.Timeout == 0 {
				return nil, errors.New("no HTTP client with a timeout in Deps")
			}
			return nopOutput{name}, nil
		},
	}
}

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func build(t *testing.T, yamlDoc string, env map[string]string) (Config, []BuiltOutput, error) {
	t.Helper()
	src, err := NewSource([]byte(yamlDoc), envMap(env))
	if err != nil {
		return Config{}, nil, err
	}
	cfg, cerr := LoadConfig(src)
	built, berr := BuildRoutes(src, cfg, []outputs.Factory{fakeFactory("chat", "CHAT"), fakeFactory("cloud", "AWS_CLOUD")}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	return cfg, built, errors.Join(cerr, berr)
}

func TestConfigYAMLAndEnv(t *testing.T) {
	t.Parallel()
	doc := `
listenport: 3000
bodylimit: 8192
shutdown_timeout: 3s
grpc_listenaddress: ""
chat:
  url: https://chat.example/hook
  channel: "#sec"
  minimumseverity: 5
  actions: [Block, "Audit (Block)"]
  types: alerts,logs
  namespaces: [shop, pay]
  maxconcurrentrequests: 3
  maxretries: 2
  maxage: 1m
  queuesize: 50
aws:
  cloud:
    url: https://logs.example
`
	cfg, built, err := build(t, doc, map[string]string{"LISTENPORT": "4000", "CHAT_MAXRETRIES": "7"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ListenPort != 4000 || cfg.BodyLimit != 8192 || cfg.ShutdownTimeout != 3*time.Second || cfg.GRPCListenAddress != "" {
		t.Errorf("cfg = %+v", cfg)
	}
	if len(built) != 2 || built[0].Name != "chat" || built[1].Name != "cloud" {
		t.Fatalf("built = %+v", built)
	}
	r := built[0].Route
	want := dispatch.Route{Filter: dispatch.Filter{MinSeverity: 5, Actions: []string{"Block", "Audit (Block)"}, Types: dispatch.TypeAlerts | dispatch.TypeLogs, Namespaces: []string{"shop", "pay"}},
		QueueSize: 50, Workers: 3, MaxRetries: 7, MaxAge: time.Minute}
	if r.Filter.MinSeverity != want.Filter.MinSeverity || !slices.Equal(r.Filter.Actions, want.Filter.Actions) || r.Filter.Types != want.Filter.Types ||
		!slices.Equal(r.Filter.Namespaces, want.Filter.Namespaces) || r.QueueSize != want.QueueSize || r.Workers != want.Workers || r.MaxRetries != want.MaxRetries || r.MaxAge != want.MaxAge {
		t.Errorf("route = %+v\nwant    %+v", r, want)
	}
	if d := built[1].Route; d.QueueSize != 10000 || d.Workers != 1 || d.MaxRetries != DefaultMaxRetries || d.MaxAge != DefaultMaxAge {
		t.Errorf("defaults = %+v", d)
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	cfg, built, err := build(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ListenPort != 2801 || cfg.BodyLimit != 4<<20 || cfg.GRPCListenAddress != ":32767" || cfg.QueueSize != 10000 || cfg.ShutdownTimeout != 10*time.Second {
		t.Errorf("defaults = %+v", cfg)
	}
	if len(built) != 0 {
		t.Errorf("built %d outputs with nothing configured", len(built))
	}
}

func TestConfigErrorsNameEveryKey(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		yaml string
		env  map[string]string
		want []string
	}{
		{name: "bad numbers and values", env: map[string]string{
			"LISTENPORT": "http", "BODYLIMIT": "10", "CHAT_URL": "https://x", "CHAT_MINIMUMSEVERITY": "11", "CHAT_ACTIONS": "Block,Deny",
			"CHAT_TYPES": "alerts,metrics", "CHAT_MAXRETRIES": "many", "CHAT_MAXAGE": "soon", "CHAT_CHECKCERT": "maybe", "LOGLEVEL": "loud",
		}, want: []string{
			`LISTENPORT: want an integer, got "http"`,
			`BODYLIMIT: 10 out of range [1024, 1073741824]`,
			`LOGLEVEL: want debug, info, warn or error, got "loud"`,
			`output chat: CHAT_MINIMUMSEVERITY: 11 out of range [0, 10]`,
			`CHAT_ACTIONS: unknown action "Deny", want some of Allow, Audit, Block, Audit (Allow), Audit (Block)`,
			`CHAT_TYPES: unknown type "metrics", want alerts and/or logs`,
			`CHAT_MAXRETRIES: want an integer, got "many"`,
			`CHAT_MAXAGE: want a duration such as 10s or 1m30s, got "soon"`,
			`CHAT_CHECKCERT: want true or false, got "maybe"`,
		}},
		{name: "constructor error", env: map[string]string{"CHAT_URL": "fail"}, want: []string{`output chat: CHAT_URL: constructor refused it`}},
		{name: "yaml key names", yaml: "chat:\n  url: fail\n", want: []string{`output chat: CHAT_URL (chat.url): constructor refused it`}},
		{name: "unknown yaml keys", yaml: "listenprot: 1\nchat:\n  url: https://x\n  chanel: '#x'\n", want: []string{
			`config file: unknown key chat.chanel (CHAT_CHANEL)`, `config file: unknown key listenprot (LISTENPROT)`}},
		{name: "mutual tls needs tls", env: map[string]string{"TLSSERVER_MUTUALTLS": "true"}, want: []string{`TLSSERVER_MUTUALTLS=true needs TLSSERVER_DEPLOY=true`}},
		{name: "yaml not a mapping", yaml: "- a\n- b\n", want: []string{`config file: want a YAML mapping at the top level`}},
		{name: "yaml syntax", yaml: "a: [\n", want: []string{`config file: yaml: line 1`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := build(t, tc.yaml, tc.env)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestConfigDisabledOutputKeysAreNotErrors(t *testing.T) {
	t.Parallel()
	// chat is configured but not enabled (no url): its keys are not read, and
	// that is a warning, not a start-up failure.
	_, built, err := build(t, "chat:\n  channel: '#x'\n", nil)
	if err != nil || len(built) != 0 {
		t.Fatalf("built %d, err %v", len(built), err)
	}
}

func TestSourceMapValuedYAML(t *testing.T) {
	t.Parallel()
	src, err := NewSource([]byte("webhook:\n  customheaders:\n    Authorization: 'Bearer a:b'\n    X-Team: sec\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := outputs.GetMap(src.Sub("WEBHOOK"), "CUSTOMHEADERS")
	if err != nil {
		t.Fatal(err)
	}
	if m["Authorization"] != "Bearer a:b" || m["X-Team"] != "sec" || len(m) != 2 {
		t.Errorf("headers = %v", m)
	}
}

func TestUnreadEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{"CHAT_URL": "https://x", "CHAT_CHANEL": "#typo", "OTHER_X": "1", "CHAT_MAXRETRIES": "1"}
	src, err := NewSource(nil, envMap(env))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := LoadConfig(src)
	if _, err := BuildRoutes(src, cfg, []outputs.Factory{fakeFactory("chat", "CHAT")}, slog.New(slog.DiscardHandler), prometheus.NewRegistry()); err != nil {
		t.Fatal(err)
	}
	environ := []string{"CHAT_URL=https://x", "CHAT_CHANEL=#typo", "OTHER_X=1", "CHAT_MAXRETRIES=1", "PATH=/bin"}
	if got := src.UnreadEnv(environ, []string{"CHAT"}); !slices.Equal(got, []string{"CHAT_CHANEL"}) {
		t.Errorf("UnreadEnv = %v, want [CHAT_CHANEL]", got)
	}
}

// TestDefaultTypes: a factory's DefaultTypes applies only while
// <PREFIX>_TYPES is unset; an explicit setting wins.
func TestDefaultTypes(t *testing.T) {
	chat := fakeFactory("chat", "CHAT")
	chat.DefaultTypes = "alerts"
	cases := []struct {
		name string
		env  map[string]string
		want dispatch.Types
	}{
		{"unset uses the factory default", map[string]string{"CHAT_URL": "http://x"}, dispatch.TypeAlerts},
		{"explicit logs wins", map[string]string{"CHAT_URL": "http://x", "CHAT_TYPES": "logs"}, dispatch.TypeLogs},
		{"explicit both wins", map[string]string{"CHAT_URL": "http://x", "CHAT_TYPES": "alerts,logs"}, dispatch.TypeAlerts | dispatch.TypeLogs},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src, err := NewSource(nil, envMap(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadConfig(src)
			if err != nil {
				t.Fatal(err)
			}
			built, err := BuildRoutes(src, cfg, []outputs.Factory{chat}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			if len(built) != 1 || built[0].Route.Filter.Types != tc.want {
				t.Fatalf("types = %v, want %v", built[0].Route.Filter.Types, tc.want)
			}
		})
	}
}
