package sidekick

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const (
	okLog   = `{"Timestamp":1700000001,"UpdatedTime":"2023-11-14T22:13:21.000000Z","HostName":"h","NamespaceName":"shop","PPID":1,"PID":43,"UID":0,"Type":"ContainerLog","Source":"/bin/sh","Operation":"Process","Resource":"/bin/ls","Data":"syscall=SYS_EXECVE","Result":"Passed"}`
	okAlert = `{"Timestamp":1700000000,"UpdatedTime":"2023-11-14T22:13:20.000000Z","HostName":"h","NamespaceName":"shop","PPID":1,"PID":42,"UID":0,"PolicyName":"p","Severity":"5","Type":"MatchedPolicy","Operation":"File","Resource":"/etc/shadow","Enforcer":"bluelock","Action":"Block","Result":"Permission denied"}`
)

func newTestHandler(t *testing.T, cfg HandlerConfig) (http.Handler, *recorder, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	rec := &recorder{}
	h, err := NewHandler(cfg, nil, reg, reg, rec)
	if err != nil {
		t.Fatal(err)
	}
	return h, rec, reg
}

func TestIngest(t *testing.T) {
	t.Parallel()
	bad := strings.Replace(okLog, `"PID":43`, `"PID":"x"`, 1)
	cases := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		wantStatus  int
		wantBody    string
		wantQueued  int
		wantInputs  map[string]float64
	}{
		{name: "one event", body: okAlert, contentType: "application/json", wantStatus: 200, wantBody: `{"accepted":1}`, wantQueued: 1,
			wantInputs: map[string]float64{InputAccepted: 1}},
		{name: "array", body: "[" + okAlert + "," + okLog + "]", contentType: "application/json", wantStatus: 200, wantBody: `{"accepted":2}`, wantQueued: 2,
			wantInputs: map[string]float64{InputAccepted: 2}},
		{name: "ndjson", body: okAlert + "\n" + okLog + "\n" + okLog + "\n", contentType: "application/x-ndjson", wantStatus: 200, wantBody: `{"accepted":3}`, wantQueued: 3,
			wantInputs: map[string]float64{InputAccepted: 3}},
		{name: "no content type", body: okLog, wantStatus: 200, wantBody: `{"accepted":1}`, wantQueued: 1, wantInputs: map[string]float64{InputAccepted: 1}},
		{name: "bad event among good ones: good ones kept, bad one reported with its index",
			body: okLog + "\n" + okLog + "\n" + okLog + "\n" + bad + "\n", contentType: "application/x-ndjson", wantStatus: 400,
			wantBody:   `{"accepted":3,"rejected":1,"errors":["event 3: field \"PID\": want integer, got string"]}`,
			wantQueued: 3, wantInputs: map[string]float64{InputAccepted: 3, InputRejected: 1}},
		{name: "unknown type", body: strings.Replace(okLog, `"ContainerLog"`, `"Message"`, 1), wantStatus: 400,
			wantBody:   `{"accepted":0,"rejected":1,"errors":["event 0: field \"Type\": unknown value \"Message\", want one of MatchedPolicy, MatchedHostPolicy, MatchedNetworkPolicy, SystemEvent, ContainerLog, HostLog"]}`,
			wantInputs: map[string]float64{InputRejected: 1}},
		{name: "broken json", body: `{"Type":`, wantStatus: 400,
			wantBody:   `{"accepted":0,"rejected":1,"errors":["event 0: invalid JSON in the value at byte 0: unexpected end of input"]}`,
			wantInputs: map[string]float64{InputRejected: 1}},
		{name: "empty body", body: "", wantStatus: 400, wantBody: `{"error":"empty body: want a JSON object, a JSON array of objects, or NDJSON"}`,
			wantInputs: map[string]float64{InputRejected: 1}},
		{name: "too large", body: "[" + strings.Repeat(okLog+",", 10) + okLog + "]", wantStatus: 413,
			wantBody:   `{"error":"body over the limit of 2048 bytes (BODYLIMIT); send fewer events per request"}`,
			wantInputs: map[string]float64{InputTooLarge: 1}},
		{name: "form content type", body: okLog, contentType: "application/x-www-form-urlencoded", wantStatus: 415,
			wantBody:   `{"error":"Content-Type \"application/x-www-form-urlencoded\" not supported: send application/json (one event or an array) or application/x-ndjson"}`,
			wantInputs: map[string]float64{InputRejected: 1}},
		{name: "GET", method: "GET", wantStatus: 405, wantBody: `{"error":"method GET not allowed: POST events to /"}`, wantInputs: map[string]float64{}},
		{name: "unknown path", path: "/nope", body: okLog, wantStatus: 404, wantBody: `{"error":"no such endpoint /nope; POST events to /"}`, wantInputs: map[string]float64{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, rec, reg := newTestHandler(t, HandlerConfig{BodyLimit: 2048})
			srv := httptest.NewServer(h)
			defer srv.Close()
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			req, _ := http.NewRequestWithContext(testCtx(t), method, srv.URL+tc.path, strings.NewReader(tc.body))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if got := strings.TrimSpace(string(body)); got != tc.wantBody {
				t.Errorf("body:\n got %s\nwant %s", got, tc.wantBody)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if n, _ := rec.counts(); n != tc.wantQueued {
				t.Errorf("queued %d events, want %d", n, tc.wantQueued)
			}
			for _, s := range []string{InputAccepted, InputRejected, InputTooLarge, InputUnauthorized} {
				if v := metricValue(t, reg, "bluelock_sidekick_inputs_total", map[string]string{"status": s}); v != tc.wantInputs[s] {
					t.Errorf("inputs_total{%s} = %v, want %v", s, v, tc.wantInputs[s])
				}
			}
		})
	}
}

func TestEventsMetricLabelsBounded(t *testing.T) {
	t.Parallel()
	h, _, reg := newTestHandler(t, HandlerConfig{})
	srv := httptest.NewServer(h)
	defer srv.Close()
	body := okAlert + "\n" + strings.Replace(okAlert, `"Block"`, `"Audit (Block)"`, 1) + "\n" + okLog + "\n"
	resp, err := srv.Client().Post(srv.URL, "application/x-ndjson", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for labels, want := range map[[2]string]float64{{"alert", "Block"}: 1, {"alert", "Audit (Block)"}: 1, {"log", "none"}: 1, {"alert", "Audit"}: 0, {"alert", "none"}: 0} {
		if v := metricValue(t, reg, "bluelock_sidekick_events_total", map[string]string{"type": labels[0], "action": labels[1]}); v != want {
			t.Errorf("events_total%v = %v, want %v", labels, v, want)
		}
	}
}

func TestAuthToken(t *testing.T) {
	t.Parallel()
	h, rec, reg := newTestHandler(t, HandlerConfig{AuthToken: "s3cret", Now: func() time.Time { return time.Unix(1700000000, 0) }})
	srv := httptest.NewServer(h)
	defer srv.Close()
	cases := []struct {
		method, path, auth string
		want               int
		wantBody           string
	}{
		{"POST", "/", "", 401, ""},
		{"POST", "/", "Bearer wrong", 401, ""},
		{"POST", "/", "Basic s3cret", 401, ""},
		{"POST", "/", "Bearer s3cret", 200, `{"accepted":1}`},
		{"POST", "/test", "", 401, ""},
		{"POST", "/test", "Bearer s3cret", 200, `{"accepted":1}`},
		{"GET", "/healthz", "", 200, `{"status":"ok"}`},
		{"GET", "/ping", "", 200, "pong"},
		{"GET", "/metrics", "", 200, ""},
	}
	for _, tc := range cases {
		req, _ := http.NewRequestWithContext(testCtx(t), tc.method, srv.URL+tc.path, strings.NewReader(okLog))
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s auth=%q: status %d, want %d (%s)", tc.method, tc.path, tc.auth, resp.StatusCode, tc.want, body)
		}
		if tc.wantBody != "" && strings.TrimSpace(string(body)) != tc.wantBody {
			t.Errorf("%s %s: body %q, want %q", tc.method, tc.path, body, tc.wantBody)
		}
		if tc.want == 401 && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s: 401 without WWW-Authenticate", tc.method, tc.path)
		}
		if strings.Contains(string(body), "s3cret") {
			t.Errorf("%s %s: the token leaked into the reply", tc.method, tc.path)
		}
	}
	if ev, tests := rec.counts(); ev != 1 || tests != 1 {
		t.Errorf("queued %d events and %d tests, want 1 and 1", ev, tests)
	}
	if v := metricValue(t, reg, "bluelock_sidekick_inputs_total", map[string]string{"status": InputUnauthorized}); v != 4 {
		t.Errorf("inputs_total{unauthorized} = %v, want 4", v)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if err := rec.tests[0].Validate(); err != nil {
		t.Errorf("the /test alert is not valid: %v", err)
	}
	if rec.tests[0].Alert.Timestamp != 1700000000 || rec.tests[0].Alert.UpdatedTime != "2023-11-14T22:13:20.000000Z" {
		t.Errorf("test alert time = %d %s", rec.tests[0].Alert.Timestamp, rec.tests[0].Alert.UpdatedTime)
	}
}

func TestProbeHandler(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(ProbeHandler(nil, reg))
	defer srv.Close()
	for path, want := range map[string]int{"/healthz": 200, "/ping": 200, "/metrics": 200, "/": 404, "/test": 404} {
		resp, err := srv.Client().Post(srv.URL+path, "application/json", strings.NewReader(okLog))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}
