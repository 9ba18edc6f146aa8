package discord

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	pb "github.com/kubearmor/KubeArmor/protobuf"

	"github.com/bluelock/bluelock/outputs"
	"github.com/bluelock/bluelock/schema"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

type settings map[string]string

func (s settings) Get(k string) (string, bool) { v, ok := s[k]; return v, ok }

const hookPath = "/api/webhooks/123456/SECRETTOKENxyz"

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

// discordLen counts like the strictest reading of Discord's limits: UTF-16
// code units (an emoji counts 2). A payload that passes this passes Discord
// whether it counts code points or code units.
func discordLen(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}

// validateDiscord checks a webhook body against Discord's documented limits,
// independently of the builder's code, and lists every violation.
func validateDiscord(body []byte) []string {
	var bad []string
	if !utf8.Valid(body) {
		bad = append(bad, "body is not UTF-8")
	}
	var p struct {
		Username  string `json:"username"`
		AvatarURL string `json:"avatar_url"`
		Content   string `json:"content"`
		Embeds    []struct {
			Title       string          `json:"title"`
			Description string          `json:"description"`
			Color       json.RawMessage `json:"color"`
			Timestamp   string          `json:"timestamp"`
			Footer      *struct {
				Text string `json:"text"`
			} `json:"footer"`
			Fields []struct {
				Name   *string `json:"name"`
				Value  *string `json:"value"`
				Inline bool    `json:"inline"`
			} `json:"fields"`
		} `json:"embeds"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return append(bad, "not JSON: "+err.Error())
	}
	if discordLen(p.Username) > 80 {
		bad = append(bad, "username > 80")
	}
	if l := strings.ToLower(p.Username); strings.Contains(l, "discord") || strings.Contains(l, "clyde") {
		bad = append(bad, "username contains a reserved word")
	}
	if discordLen(p.Content) > 2000 {
		bad = append(bad, "content > 2000")
	}
	if len(p.Embeds) > 10 {
		bad = append(bad, "more than 10 embeds")
	}
	if p.Content == "" && len(p.Embeds) == 0 {
		bad = append(bad, "empty message")
	}
	for i, e := range p.Embeds {
		at := func(f string, a ...any) { bad = append(bad, fmt.Sprintf("embeds[%d].", i)+fmt.Sprintf(f, a...)) }
		total := discordLen(e.Title) + discordLen(e.Description)
		if discordLen(e.Title) > 256 {
			at("title > 256")
		}
		if discordLen(e.Description) > 4096 {
			at("description > 4096")
		}
		var color int
		if err := json.Unmarshal(e.Color, &color); err != nil || color < 0 || color > 0xffffff {
			at("color %s is not an integer colour", e.Color)
		}
		if e.Timestamp != "" {
			if _, err := time.Parse(time.RFC3339Nano, e.Timestamp); err != nil {
				at("timestamp %q is not ISO8601", e.Timestamp)
			}
		}
		if e.Footer != nil {
			if discordLen(e.Footer.Text) > 2048 {
				at("footer.text > 2048")
			}
			total += discordLen(e.Footer.Text)
		}
		if len(e.Fields) > 25 {
			at("%d fields > 25", len(e.Fields))
		}
		for j, f := range e.Fields {
			if f.Name == nil || strings.TrimSpace(*f.Name) == "" {
				at("fields[%d].name empty", j)
				continue
			}
			if f.Value == nil || strings.TrimSpace(*f.Value) == "" {
				at("fields[%d].value empty", j)
				continue
			}
			if discordLen(*f.Name) > 256 {
				at("fields[%d].name > 256", j)
			}
			if discordLen(*f.Value) > 1024 {
				at("fields[%d].value > 1024", j)
			}
			total += discordLen(*f.Name) + discordLen(*f.Value)
		}
		if total > 6000 {
			at("total %d > 6000", total)
		}
	}
	return bad
}

// fakeDiscord enforces the limits and answers like Discord: 204 on success,
// 400 {"code":50035,"message":"Invalid Form Body",...} otherwise. Scripted
// replies, if any, are used instead once the body is valid.
type fakeDiscord struct {
	*httptest.Server
	bodies chan []byte
}

func newFakeDiscord(t *testing.T, script func(w http.ResponseWriter) bool) *fakeDiscord {
	t.Helper()
	f := &fakeDiscord{bodies: make(chan []byte, 64)}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.bodies <- b
		if r.Method != http.MethodPost || r.URL.Path != hookPath {
			http.Error(w, `{"message": "Unknown Webhook", "code": 10015}`, http.StatusNotFound)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			http.Error(w, `{"message": "Cannot send an empty message", "code": 50006}`, http.StatusBadRequest)
			return
		}
		if bad := validateDiscord(b); len(bad) > 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]any{"code": 50035, "message": "Invalid Form Body", "errors": bad})
			return
		}
		if script != nil && script(w) {
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(f.Close)
	return f
}

func TestBuildPayloadGolden(t *testing.T) {
	t.Parallel()
	cfg := Config{WebhookURL: "https://discord.com" + hookPath, Icon: "https://example.com/b.png"}
	cfg.applyDefaults()
	for _, name := range []string{"alert_block", "alert_audit_ecs", "log"} {
		t.Run(name, func(t *testing.T) {
			p := buildPayload(cfg, loadEvent(t, name+".json"))
			got, err := json.MarshalIndent(p, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if bad := validateDiscord(got); len(bad) > 0 {
				t.Errorf("invalid for Discord: %v", bad)
			}
			golden(t, "discord_"+name+".golden.json", append(got, '\n'))
		})
	}
}

func TestCut(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		n    int
		want string
	}{
		{"hello", 5, "hello"},
		{"hello", 4, "hel…"},
		{"hello", 1, "…"},
		{"hello", 0, ""},
		{"héllo wörld", 7, "héllo…"}, // trailing space trimmed before the ellipsis
		{"🔥🔥🔥", 6, "🔥🔥🔥"},            // 3 emoji = 6 UTF-16 units
		{"🔥🔥🔥", 5, "🔥🔥…"},
		{"🔥🔥🔥", 4, "🔥…"}, // never half an emoji
		{"a\xffb", 3, "a\uFFFDb"},
	}
	for _, tc := range cases {
		got := cut(tc.in, tc.n)
		if got != tc.want {
			t.Errorf("cut(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
		if !utf8.ValidString(got) || units(got) > max(tc.n, 0) {
			t.Errorf("cut(%q, %d) = %q: invalid or too long", tc.in, tc.n, got)
		}
	}
}

func TestFitLimits(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 5000)
	e := embed{Title: long, Description: long, Footer: &footer{Text: long}}
	for i := range 40 {
		e.Fields = append(e.Fields, field{Name: fmt.Sprintf("f%d-%s", i, long), Value: long})
	}
	fit(&e)
	b, _ := json.Marshal(payload{Embeds: []embed{e}, AllowedMentions: allowedMentions{Parse: []string{}}})
	if bad := validateDiscord(b); len(bad) > 0 {
		t.Fatalf("fit left violations: %v", bad)
	}
	if len(e.Fields) == 0 || e.Title == "" {
		t.Fatalf("fit threw away too much: %d fields, title %q", len(e.Fields), e.Title)
	}
	if total(&e) > maxTotal {
		t.Fatalf("total %d", total(&e))
	}
}

// randomString draws n runes from a mix that stresses counting: ASCII,
// two- and three-byte runes, astral emoji, markdown characters and spaces.
func randomString(r *rand.Rand, n int) string {
	pool := []rune("abcXYZ019 /_*~`|\\@éü漢字🔥🛡️\n\t")
	var b strings.Builder
	for range n {
		b.WriteRune(pool[r.IntN(len(pool))])
	}
	return b.String()
}

func randomEvent(r *rand.Rand) schema.Event {
	size := func() int {
		switch r.IntN(4) {
		case 0:
			return 0
		case 1:
			return r.IntN(40)
		case 2:
			return r.IntN(2000)
		default:
			return r.IntN(20000)
		}
	}
	s := func() string { return randomString(r, size()) }
	a := &pb.Alert{
		Timestamp: r.Int64N(2_000_000_000), ClusterName: s(), HostName: s(), NamespaceName: s(), PodName: s(),
		Labels: s(), ContainerID: s(), ContainerName: s(), ContainerImage: s(), ParentProcessName: s(),
		ProcessName: s(), PID: r.Int32(), PPID: r.Int32(), UID: r.Int32(), PolicyName: s(),
		Severity: fmt.Sprint(r.IntN(11)), Tags: s(), Message: s(), Type: "MatchedPolicy", Source: s(),
		Operation: s(), Resource: s(), Data: s(), Enforcer: s(), Action: s(), Result: s(),
	}
	if r.IntN(3) == 0 {
		return schema.NewLog(&pb.Log{ProcessName: a.ProcessName, Resource: a.Resource, Type: "ContainerLog",
			Source: a.Source, Operation: a.Operation, Data: a.Data, Result: a.Result, Labels: a.Labels})
	}
	return schema.NewAlert(a)
}

// TestHugeEventsNeverRejected is a property test: whatever the event, the
// payload satisfies every Discord limit.
func TestHugeEventsNeverRejected(t *testing.T) {
	t.Parallel()
	cfg := Config{WebhookURL: "https://discord.com" + hookPath}
	cfg.applyDefaults()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		ev := randomEvent(r)
		b, err := json.Marshal(buildPayload(cfg, ev))
		if err != nil {
			t.Fatal(err)
		}
		if bad := validateDiscord(b); len(bad) > 0 {
			t.Fatalf("event %d: %v", i, bad)
		}
	}
}

func TestSendHugeEventsThroughFakeDiscord(t *testing.T) {
	t.Parallel()
	f := newFakeDiscord(t, nil)
	d, err := New(Config{WebhookURL: f.URL + hookPath}, outputs.Deps{HTTPClient: f.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 20 {
		if err := d.Send(ctx, randomEvent(r)); err != nil {
			t.Fatalf("event %d rejected: %v", i, err)
		}
		<-f.bodies
	}
}

// TestFakeDiscordRejects proves the fake server can fail: an over-long
// embed gets Discord's 400, which is not retryable.
func TestFakeDiscordRejects(t *testing.T) {
	t.Parallel()
	f := newFakeDiscord(t, nil)
	body, _ := json.Marshal(payload{Embeds: []embed{{Title: strings.Repeat("t", 257), Color: 1}}})
	err := outputs.PostJSON(t.Context(), f.Client(), f.URL+hookPath, body, nil)
	var se *outputs.SendError
	if !errors.As(err, &se) || se.Retryable || !strings.Contains(err.Error(), "Invalid Form Body") {
		t.Fatalf("err = %v, want a non-retryable 400 Invalid Form Body", err)
	}
	<-f.bodies
}

func TestSendClassification(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		status     int
		retryAfter string
		body       string
		wantErr    bool
		retryable  bool
		reason     string
		wantAfter  time.Duration
	}{
		{name: "204", status: http.StatusNoContent},
		{name: "200 (wait=true)", status: http.StatusOK, body: `{"id":"1"}`},
		{name: "429", status: 429, retryAfter: "1.5", body: `{"message":"You are being rate limited.","retry_after":1.5,"global":false}`,
			wantErr: true, retryable: true, reason: "ratelimit", wantAfter: 1500 * time.Millisecond},
		{name: "500", status: 500, wantErr: true, retryable: true, reason: "5xx"},
		{name: "502 retry-after", status: 502, retryAfter: "2", wantErr: true, retryable: true, reason: "5xx", wantAfter: 2 * time.Second},
		{name: "401 bad token", status: 401, body: `{"message":"Invalid Webhook Token","code":50027}`, wantErr: true, reason: "4xx"},
		{name: "404 unknown webhook", status: 404, body: `{"message":"Unknown Webhook","code":10015}`, wantErr: true, reason: "4xx"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeDiscord(t, func(w http.ResponseWriter) bool {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
				return true
			})
			d, err := New(Config{WebhookURL: f.URL + hookPath}, outputs.Deps{HTTPClient: f.Client()})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			err = d.Send(ctx, loadEvent(t, "alert_block.json"))
			body := <-f.bodies
			if bad := validateDiscord(body); len(bad) > 0 {
				t.Fatalf("invalid body: %v", bad)
			}
			if !tc.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var se *outputs.SendError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *outputs.SendError", err)
			}
			if se.Retryable != tc.retryable || se.Reason != tc.reason || se.RetryAfter != tc.wantAfter {
				t.Errorf("got Retryable=%v Reason=%q RetryAfter=%v, want %v %q %v", se.Retryable, se.Reason, se.RetryAfter, tc.retryable, tc.reason, tc.wantAfter)
			}
			if strings.Contains(err.Error(), "SECRETTOKEN") {
				t.Errorf("error leaks the webhook token: %v", err)
			}
		})
	}
}

func TestSendNetworkErrorLeaksNoSecret(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens any more
	d, err := New(Config{WebhookURL: url + hookPath}, outputs.Deps{HTTPClient: &http.Client{Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	err = d.Send(t.Context(), loadEvent(t, "log.json"))
	var se *outputs.SendError
	if !errors.As(err, &se) || !se.Retryable {
		t.Fatalf("err = %v, want a retryable SendError", err)
	}
	if strings.Contains(err.Error(), "SECRETTOKEN") {
		t.Fatalf("error leaks the webhook token: %v", err)
	}
}

func TestConfigFromSettings(t *testing.T) {
	t.Parallel()
	url := "https://discord.com" + hookPath
	cases := []struct {
		name    string
		s       settings
		want    Config
		wantErr string
	}{
		{name: "defaults", s: settings{"WEBHOOKURL": url}, want: Config{WebhookURL: url, Username: "bluelock"}},
		{name: "all", s: settings{"WEBHOOKURL": url, "ICON": "https://x/i.png", "USERNAME": "guard", "MINIMUMSEVERITY": "7"},
			want: Config{WebhookURL: url, Icon: "https://x/i.png", Username: "guard", MinimumSeverity: "7"}},
		{name: "reserved username", s: settings{"WEBHOOKURL": url, "USERNAME": "my Discord bot"}, wantErr: "USERNAME"},
		{name: "long username", s: settings{"WEBHOOKURL": url, "USERNAME": strings.Repeat("u", 81)}, wantErr: "USERNAME"},
		{name: "bad scheme", s: settings{"WEBHOOKURL": "discord.com" + hookPath}, wantErr: "WEBHOOKURL"},
		{name: "bad icon", s: settings{"WEBHOOKURL": url, "ICON": "not a url"}, wantErr: "ICON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ConfigFromSettings(tc.s)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "SECRETTOKEN") {
					t.Fatalf("error leaks the webhook token: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	if Factory.Enabled(settings{}) || !Factory.Enabled(settings{"WEBHOOKURL": url}) {
		t.Error("Factory.Enabled does not follow WEBHOOKURL")
	}
}
