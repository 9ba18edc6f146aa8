package slack

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bluelock/bluelock/outputs"
	"github.com/bluelock/bluelock/schema"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

type settings map[string]string

func (s settings) Get(k string) (string, bool) { v, ok := s[k]; return v, ok }

func loadEvent(t *testing.T, name string) schema.Event {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev schema.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ev
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs:\n--- want\n%s\n--- got\n%s", name, want, got)
	}
}

const hookPath = "/services/T000SECRET/B000SECRET/XXXXSECRETXXXX"

func testConfig(url string) Config {
	cfg := Config{WebhookURL: url + hookPath}
	cfg.applyDefaults()
	return cfg
}

func TestBuildMessageGolden(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		event  string
		mutate func(*Config)
	}{
		{name: "block_all", event: "alert_block.json"},
		{name: "block_text", event: "alert_block.json", mutate: func(c *Config) { c.OutputFormat = FormatText }},
		{name: "block_fields", event: "alert_block.json", mutate: func(c *Config) { c.OutputFormat = FormatFields }},
		{name: "block_template", event: "alert_block.json", mutate: func(c *Config) {
			c.MessageFormat = `:rotating_light: {{.PolicyName}} ({{.Severity}}) on {{.NamespaceName}}/{{.PodName}}`
			c.Channel = "#security"
			c.Icon = ":shield:"
		}},
		{name: "audit_ecs", event: "alert_audit_ecs.json", mutate: func(c *Config) { c.Icon = "https://example.com/bluelock.png" }},
		{name: "log", event: "log.json"},
		{name: "allow_high_severity", event: "alert_allow.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig("https://hooks.slack.com")
			if tc.mutate != nil {
				tc.mutate(&cfg)
			}
			tmpl, err := parseTemplate(cfg.MessageFormat)
			if err != nil {
				t.Fatal(err)
			}
			msg, err := buildMessage(cfg, tmpl, loadEvent(t, tc.event))
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(msg, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "slack_"+tc.name+".golden.json", append(got, '\n'))
		})
	}
}

func TestTitle(t *testing.T) {
	t.Parallel()
	cases := []struct{ event, want string }{
		{"alert_block.json", "[Block] ksp-block-secrets: /usr/bin/cat → /etc/shadow (Permission denied) in default/web-7f9c"},
		{"alert_audit_ecs.json", "[Audit] audit-egress: /usr/bin/curl → sa_family=AF_INET sin_port=443 sin_addr=10.1.2.3 (Passed) in task 4f5e6d7c8b9a"},
		{"log.json", "[ContainerLog] Process: /usr/bin/ls → /usr/bin/ls -la (Passed) in shop/cart-5d4c"},
	}
	for _, tc := range cases {
		if got := Title(loadEvent(t, tc.event)); got != tc.want {
			t.Errorf("%s: Title = %q, want %q", tc.event, got, tc.want)
		}
	}
}

func TestColorFor(t *testing.T) {
	t.Parallel()
	alert := func(action, sev string) schema.Event {
		ev := schema.Event{}
		_ = json.Unmarshal([]byte(`{"Type":"MatchedPolicy","Action":"`+action+`","Severity":"`+sev+`"}`), &ev)
		return ev
	}
	cases := []struct {
		name string
		ev   schema.Event
		want string
	}{
		{"block wins over low severity", alert("Block", "1"), colorBlock},
		{"audit", alert("Audit", "10"), colorAudit},
		{"audit (block)", alert("Audit (Block)", "2"), colorAudit},
		{"allow sev 10", alert("Allow", "10"), colorCritical},
		{"allow sev 8", alert("Allow", "8"), colorCritical},
		{"allow sev 7", alert("Allow", "7"), colorHigh},
		{"allow sev 5", alert("Allow", "5"), colorHigh},
		{"allow sev 4", alert("Allow", "4"), colorLow},
		{"no severity", alert("Allow", ""), colorNone},
		{"log", loadEvent(t, "log.json"), colorNone},
	}
	for _, tc := range cases {
		if got := colorFor(tc.ev); got != tc.want {
			t.Errorf("%s: colour %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestConfigFromSettings(t *testing.T) {
	t.Parallel()
	const url = "https://hooks.slack.com" + hookPath
	cases := []struct {
		name    string
		s       settings
		want    Config
		wantErr string
	}{
		{
			name: "defaults",
			s:    settings{"WEBHOOKURL": url},
			want: Config{WebhookURL: url, Username: "bluelock", OutputFormat: "all", Footer: "bluelock"},
		},
		{
			name: "everything",
			s: settings{"WEBHOOKURL": url, "CHANNEL": "#sec", "USERNAME": "guard", "ICON": ":lock:",
				"OUTPUTFORMAT": "Fields", "MESSAGEFORMAT": "{{.PolicyName}} ", "MINIMUMSEVERITY": "5", "FOOTER": "prod"},
			want: Config{WebhookURL: url, Channel: "#sec", Username: "guard", Icon: ":lock:", OutputFormat: "fields",
				MessageFormat: "{{.PolicyName}} ", MinimumSeverity: "5", Footer: "prod"},
		},
		{name: "bad format", s: settings{"WEBHOOKURL": url, "OUTPUTFORMAT": "blocks"}, wantErr: "OUTPUTFORMAT"},
		{name: "template does not parse", s: settings{"WEBHOOKURL": url, "MESSAGEFORMAT": "{{.PolicyName"}, wantErr: "MESSAGEFORMAT"},
		{name: "template names unknown field", s: settings{"WEBHOOKURL": url, "MESSAGEFORMAT": "{{.Rule}}"}, wantErr: "MESSAGEFORMAT"},
		{name: "not https", s: settings{"WEBHOOKURL": "ftp://hooks.slack.com" + hookPath}, wantErr: "scheme"},
		{name: "no host", s: settings{"WEBHOOKURL": "https://" + hookPath[1:] + "%zz"}, wantErr: "WEBHOOKURL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ConfigFromSettings(tc.s)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "SECRET") {
					t.Fatalf("error leaks the webhook: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestFactory(t *testing.T) {
	t.Parallel()
	if Factory.Enabled(settings{}) || Factory.Enabled(settings{"WEBHOOKURL": " "}) {
		t.Error("enabled without a webhook URL")
	}
	if !Factory.Enabled(settings{"WEBHOOKURL": "https://hooks.slack.com/x"}) {
		t.Error("not enabled with a webhook URL")
	}
	if _, err := Factory.New(settings{"WEBHOOKURL": "https://hooks.slack.com/x", "MESSAGEFORMAT": "{{.Nope}}"}, outputs.Deps{}); err == nil {
		t.Error("bad template did not fail start-up")
	}
	o, err := Factory.New(settings{"WEBHOOKURL": "https://hooks.slack.com/x"}, outputs.Deps{})
	if err != nil || o.Name() != "slack" {
		t.Fatalf("New = %v, %v", o, err)
	}
}

// reply is one scripted answer of the fake Slack.
type reply struct {
	status     int
	retryAfter string
	body       string
}

// fakeSlack checks the request the way Slack's webhook endpoint sees it and
// hands each decoded body to the test.
func fakeSlack(t *testing.T, r reply) (*httptest.Server, <-chan map[string]any) {
	t.Helper()
	got := make(chan map[string]any, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.URL.Path != hookPath || req.Header.Get("Content-Type") != "application/json" {
			t.Errorf("request %s %s %q", req.Method, req.URL.Path, req.Header.Get("Content-Type"))
		}
		b, _ := io.ReadAll(req.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("body is not JSON: %v", err)
		}
		got <- m
		if r.retryAfter != "" {
			w.Header().Set("Retry-After", r.retryAfter)
		}
		w.WriteHeader(r.status)
		_, _ = io.WriteString(w, r.body)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func TestSendWireFormat(t *testing.T) {
	t.Parallel()
	srv, got := fakeSlack(t, reply{status: 200, body: "ok"})
	s, err := New(testConfig(srv.URL), outputs.Deps{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.Send(ctx, loadEvent(t, "alert_block.json")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	body := <-got
	want, err := os.ReadFile(filepath.Join("testdata", "slack_block_all.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var wantMap map[string]any
	if err := json.Unmarshal(want, &wantMap); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(body, wantMap) {
		t.Errorf("wire body differs from golden:\n got %v\nwant %v", body, wantMap)
	}
}

func TestSendClassification(t *testing.T) {
	t.Parallel()
	httpDate := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	cases := []struct {
		name        string
		reply       reply
		wantErr     bool
		retryable   bool
		reason      string
		retryAfter  time.Duration // exact, or (when minRetry) a lower bound
		minRetry    bool
		errContains string
	}{
		{name: "ok", reply: reply{status: 200, body: "ok"}},
		{name: "ok with newline", reply: reply{status: 200, body: "ok\n"}},
		{name: "200 not ok", reply: reply{status: 200, body: "invalid_token"}, wantErr: true, reason: "invalid", errContains: "invalid_token"},
		{name: "200 empty", reply: reply{status: 200}, wantErr: true, reason: "invalid"},
		{name: "429 seconds", reply: reply{status: 429, retryAfter: "7", body: "rate_limited"}, wantErr: true, retryable: true, reason: "ratelimit", retryAfter: 7 * time.Second},
		{name: "429 no header", reply: reply{status: 429}, wantErr: true, retryable: true, reason: "ratelimit"},
		{name: "429 a day", reply: reply{status: 429, retryAfter: "86400", body: "rate_limited"}, wantErr: true, retryable: true, reason: "ratelimit", retryAfter: outputs.MaxRetryAfter},
		{name: "429 http date", reply: reply{status: 429, retryAfter: httpDate}, wantErr: true, retryable: true, reason: "ratelimit", retryAfter: 60 * time.Second, minRetry: true},
		{name: "500", reply: reply{status: 500, body: "<html>oops</html>"}, wantErr: true, retryable: true, reason: "5xx"},
		{name: "503 retry-after", reply: reply{status: 503, retryAfter: "3"}, wantErr: true, retryable: true, reason: "5xx", retryAfter: 3 * time.Second},
		{name: "400 invalid_payload", reply: reply{status: 400, body: "invalid_payload"}, wantErr: true, reason: "4xx", errContains: "invalid_payload"},
		{name: "404 no_service", reply: reply{status: 404, body: "no_service"}, wantErr: true, reason: "4xx", errContains: "no_service"},
		{name: "410 channel_is_archived", reply: reply{status: 410, body: "channel_is_archived"}, wantErr: true, reason: "4xx"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, got := fakeSlack(t, tc.reply)
			s, err := New(testConfig(srv.URL), outputs.Deps{HTTPClient: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			err = s.Send(ctx, loadEvent(t, "alert_block.json"))
			<-got
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				return
			}
			var se *outputs.SendError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v (%T), want *outputs.SendError", err, err)
			}
			if se.Retryable != tc.retryable || se.Reason != tc.reason {
				t.Errorf("Retryable=%v Reason=%q, want %v %q (%v)", se.Retryable, se.Reason, tc.retryable, tc.reason, err)
			}
			if tc.minRetry {
				if se.RetryAfter < tc.retryAfter {
					t.Errorf("RetryAfter = %v, want ≥ %v", se.RetryAfter, tc.retryAfter)
				}
			} else if se.RetryAfter != tc.retryAfter {
				t.Errorf("RetryAfter = %v, want %v", se.RetryAfter, tc.retryAfter)
			}
			if tc.errContains != "" && !strings.Contains(err.Error(), tc.errContains) {
				t.Errorf("err %q does not mention %q", err, tc.errContains)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error leaks the webhook: %v", err)
			}
		})
	}
}

func TestSendTransportErrorsLeakNoSecret(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Hijack and close: the client sees a broken connection.
		hj, ok := w.(http.Hijacker)
		if !ok {
			t.Error("no hijacker")
			return
		}
		c, _, err := hj.Hijack()
		if err == nil {
			_ = c.Close()
		}
	}))
	defer srv.Close()
	s, err := New(testConfig(srv.URL), outputs.Deps{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err = s.Send(ctx, loadEvent(t, "alert_block.json"))
	var se *outputs.SendError
	if !errors.As(err, &se) || !se.Retryable || se.Reason != "network" {
		t.Fatalf("err = %#v, want a retryable network SendError", err)
	}
	if strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("error leaks the webhook: %v", err)
	}

	// A cancelled context is not worth retrying.
	cctx, ccancel := context.WithCancel(t.Context())
	ccancel()
	err = s.Send(cctx, loadEvent(t, "alert_block.json"))
	if !errors.As(err, &se) || se.Retryable {
		t.Fatalf("cancelled: err = %#v, want a non-retryable SendError", err)
	}
	if strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("error leaks the webhook: %v", err)
	}
}

func TestTruncate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		n    int
		want string
	}{
		{"hello", 5, "hello"},
		{"hello", 6, "hello"},
		{"hello!", 5, "hell…"},
		{"héllo wörld", 4, "hél…"},
		{"🔥🔥🔥", 3, "🔥🔥🔥"},
		{"🔥🔥🔥🔥", 3, "🔥🔥…"},
		{"", 3, ""},
	}
	for _, tc := range cases {
		if got := truncate(tc.in, tc.n); got != tc.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
