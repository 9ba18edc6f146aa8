package cloudwatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	pb "github.com/kubearmor/KubeArmor/protobuf"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bluelock/bluelock/outputs"
	"github.com/bluelock/bluelock/schema"
)

type settings map[string]string

func (s settings) Get(k string) (string, bool) { v, ok := s[k]; return v, ok }

func (s settings) KeyName(k string) string { return "AWS_CLOUDWATCHLOGS_" + k }

const group = "/bluelock/test"

type wireEvent struct {
	Message   string `json:"message"`
	Timestamp int64  `json:"timestamp"`
}

// fakeLogs speaks CloudWatch Logs' awsJson1_1 protocol for the two calls the
// output makes, validates every request the way the service does, and plays
// scripted faults.
type fakeLogs struct {
	t testing.TB

	mu       sync.Mutex
	streams  map[string][]wireEvent
	calls    []string      // "CreateLogStream s" / "PutLogEvents s n"
	puts     int           // PutLogEvents calls so far
	putFault map[int]fault // fault for the n-th PutLogEvents call (1-based)
	rejected *string       // rejectedLogEventsInfo JSON for the next successful put
}

type fault struct {
	status int
	typ    string
}

func newFakeLogs(t testing.TB) (*fakeLogs, *httptest.Server) {
	f := &fakeLogs{t: t, streams: map[string][]wireEvent{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeLogs) fail(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}

func (f *fakeLogs) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	auth := r.Header.Get("Authorization")
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/":
		f.fail(w, 404, "UnknownOperationException", r.Method+" "+r.URL.Path)
		return
	case r.Header.Get("Content-Type") != "application/x-amz-json-1.1":
		f.fail(w, 400, "SerializationException", "content type "+r.Header.Get("Content-Type"))
		return
	case !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/") || !strings.Contains(auth, "/us-west-2/logs/aws4_request") ||
		!strings.Contains(auth, "Signature=") || r.Header.Get("X-Amz-Date") == "":
		f.fail(w, 400, "UnrecognizedClientException", "bad signature: "+auth)
		return
	}
	var body struct {
		LogGroupName  string      `json:"logGroupName"`
		LogStreamName string      `json:"logStreamName"`
		LogEvents     []wireEvent `json:"logEvents"`
	}
	raw, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(raw, &body); err != nil {
		f.fail(w, 400, "SerializationException", err.Error())
		return
	}
	if body.LogGroupName != group {
		f.fail(w, 400, "ResourceNotFoundException", "The specified log group does not exist.")
		return
	}
	if body.LogStreamName == "" || len(body.LogStreamName) > 512 || strings.ContainsAny(body.LogStreamName, ":*") {
		f.fail(w, 400, "InvalidParameterException", "bad stream name "+body.LogStreamName)
		return
	}
	switch target := r.Header.Get("X-Amz-Target"); target {
	case "Logs_20140328.CreateLogStream":
		f.calls = append(f.calls, "CreateLogStream "+body.LogStreamName)
		if _, ok := f.streams[body.LogStreamName]; ok {
			f.fail(w, 400, "ResourceAlreadyExistsException", "The specified log stream already exists")
			return
		}
		f.streams[body.LogStreamName] = nil
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = io.WriteString(w, "{}")
	case "Logs_20140328.PutLogEvents":
		f.calls = append(f.calls, fmt.Sprintf("PutLogEvents %s %d", body.LogStreamName, len(body.LogEvents)))
		f.puts++
		if ft, ok := f.putFault[f.puts]; ok {
			f.fail(w, ft.status, ft.typ, "scripted")
			return
		}
		if _, ok := f.streams[body.LogStreamName]; !ok {
			f.fail(w, 400, "ResourceNotFoundException", "The specified log stream does not exist.")
			return
		}
		if msg := validateBatch(body.LogEvents); msg != "" {
			f.t.Errorf("PutLogEvents violates the API limits: %s", msg)
			f.fail(w, 400, "InvalidParameterException", msg)
			return
		}
		f.streams[body.LogStreamName] = append(f.streams[body.LogStreamName], body.LogEvents...)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		resp := `{"nextSequenceToken":"49650000000000000000000000000000000000000000000000000000"}`
		if f.rejected != nil {
			resp = `{"nextSequenceToken":"x","rejectedLogEventsInfo":` + *f.rejected + `}`
			f.rejected = nil
		}
		_, _ = io.WriteString(w, resp)
	default:
		f.fail(w, 400, "UnknownOperationException", target)
	}
}

// validateBatch applies PutLogEvents' documented constraints.
func validateBatch(evs []wireEvent) string {
	if len(evs) == 0 || len(evs) > MaxBatchEvents {
		return fmt.Sprintf("%d events", len(evs))
	}
	size := 0
	for i, e := range evs {
		n := len(e.Message) + EventOverhead
		if n > MaxEventBytes {
			return fmt.Sprintf("event %d is %d bytes", i, n)
		}
		if !utf8.ValidString(e.Message) {
			return fmt.Sprintf("event %d is not UTF-8", i)
		}
		size += n
		if i > 0 && e.Timestamp < evs[i-1].Timestamp {
			return fmt.Sprintf("event %d is older than event %d", i, i-1)
		}
	}
	if size > MaxBatchBytes {
		return fmt.Sprintf("%d bytes", size)
	}
	if span := evs[len(evs)-1].Timestamp - evs[0].Timestamp; span > MaxBatchSpan.Milliseconds() {
		return fmt.Sprintf("spans %v", time.Duration(span)*time.Millisecond)
	}
	return ""
}

func (f *fakeLogs) snapshot() (map[string][]wireEvent, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := make(map[string][]wireEvent, len(f.streams))
	for k, v := range f.streams {
		s[k] = append([]wireEvent(nil), v...)
	}
	return s, append([]string(nil), f.calls...)
}

func (f *fakeLogs) script(fn func(f *fakeLogs)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// newOutput points the real SDK, loaded through LoadDefaultConfig with
// static credentials, at the fake.
func newOutput(t testing.TB, srv *httptest.Server, mutate func(*Config)) (*Cloudwatch, *prometheus.Registry) {
	t.Helper()
	cfg := Config{LogGroup: group, Region: "us-west-2", Endpoint: srv.URL}
	if mutate != nil {
		mutate(&cfg)
	}
	reg := prometheus.NewRegistry()
	c, err := newWithLoadOptions(cfg, outputs.Deps{Registerer: reg, HTTPClient: srv.Client()},
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDTEST", "SECRET", "")),
		config.WithSharedConfigFiles([]string{filepath.Join(t.TempDir(), "none")}),
		config.WithSharedCredentialsFiles([]string{filepath.Join(t.TempDir(), "none")}))
	if err != nil {
		t.Fatal(err)
	}
	return c, reg
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var base = time.Date(2026, 11, 18, 10, 0, 0, 0, time.UTC)

func alertAt(ts time.Time, res string) schema.Event {
	return schema.NewAlert(&pb.Alert{
		Timestamp: ts.Unix(), UpdatedTime: ts.UTC().Format("2006-01-02T15:04:05.000000Z"),
		NamespaceName: "default", PodName: "web-7f9c", ContainerName: "web",
		PolicyName: "ksp-block-secrets", Severity: "8", Type: "MatchedPolicy", Operation: "File",
		Resource: res, Action: "Block", Result: "Permission denied", PPID: 1, PID: 2,
	})
}

func TestSendBatchWireFormatAndOrder(t *testing.T) {
	t.Parallel()
	f, srv := newFakeLogs(t)
	c, _ := newOutput(t, srv, nil)
	evs := []schema.Event{
		alertAt(base.Add(3*time.Second), "/c"),
		alertAt(base.Add(1*time.Second+250*time.Millisecond), "/a"),
		alertAt(base.Add(2*time.Second), "/b"),
		alertAt(base.Add(1*time.Second+250*time.Millisecond), "/a2"), // same ms as /a: stays after it
	}
	if err := c.SendBatch(ctxT(t), evs); err != nil {
		t.Fatal(err)
	}
	streams, calls := f.snapshot()
	wantCalls := []string{"CreateLogStream default/web-7f9c", "PutLogEvents default/web-7f9c 4"}
	if strings.Join(calls, "|") != strings.Join(wantCalls, "|") {
		t.Fatalf("calls %q, want %q", calls, wantCalls)
	}
	got := streams["default/web-7f9c"]
	for i, wantIdx := range []int{1, 3, 2, 0} {
		want, _ := evs[wantIdx].MarshalJSON()
		if got[i].Message != string(want) {
			t.Errorf("event %d: message %s, want %s", i, got[i].Message, want)
		}
	}
	if got[0].Timestamp != base.Add(1250*time.Millisecond).UnixMilli() {
		t.Errorf("timestamp %d, want ms precision from UpdatedTime", got[0].Timestamp)
	}
	// The stream is known now: no second CreateLogStream.
	if err := c.Send(ctxT(t), alertAt(base.Add(time.Hour), "/d")); err != nil {
		t.Fatal(err)
	}
	if _, calls = f.snapshot(); len(calls) != 3 || !strings.HasPrefix(calls[2], "PutLogEvents") {
		t.Fatalf("calls after second send: %q", calls)
	}
}

func TestSendBatchSplitsToLimits(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("é", 100_000) // 200 KB of two-byte runes
	cases := []struct {
		name     string
		events   func() []schema.Event
		minCalls int
	}{
		{"over 10000 events", func() []schema.Event {
			// ~65-byte messages: the count limit bites before the byte limit.
			evs := make([]schema.Event, 10_500)
			for i := range evs {
				evs[i] = schema.NewLog(&pb.Log{Timestamp: base.Unix() + int64(i%60), Type: "ContainerLog", PodName: "web-7f9c", NamespaceName: "default"})
			}
			return evs
		}, 2},
		{"over 1 MiB", func() []schema.Event {
			evs := make([]schema.Event, 6)
			for i := range evs {
				evs[i] = alertAt(base.Add(time.Duration(i)*time.Second), big)
			}
			return evs
		}, 2},
		{"spans three days, given newest first", func() []schema.Event {
			var evs []schema.Event
			for i := 72; i >= 0; i-- {
				evs = append(evs, alertAt(base.Add(time.Duration(i)*time.Hour), fmt.Sprint(i)))
			}
			return evs
		}, 4},
		{"exactly 24h apart", func() []schema.Event {
			return []schema.Event{alertAt(base, "a"), alertAt(base.Add(24*time.Hour), "b")}
		}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, srv := newFakeLogs(t)
			c, _ := newOutput(t, srv, nil)
			evs := tc.events()
			if err := c.SendBatch(ctxT(t), evs); err != nil {
				t.Fatal(err)
			}
			streams, calls := f.snapshot()
			puts := 0
			for _, call := range calls {
				if strings.HasPrefix(call, "PutLogEvents") {
					puts++
				}
			}
			if puts < tc.minCalls {
				t.Errorf("%d PutLogEvents calls, want at least %d", puts, tc.minCalls)
			}
			got := streams["default/web-7f9c"]
			if len(got) != len(evs) {
				t.Fatalf("%d events stored, want %d", len(got), len(evs))
			}
			for i := 1; i < len(got); i++ {
				if got[i].Timestamp < got[i-1].Timestamp {
					t.Fatalf("stream out of order at %d", i)
				}
			}
		})
	}
}

func TestOversizedEventTruncatedWithMarker(t *testing.T) {
	t.Parallel()
	f, srv := newFakeLogs(t)
	c, reg := newOutput(t, srv, nil)
	huge := strings.Repeat("漢", 150_000) // 450 KB, three-byte runes
	if err := c.SendBatch(ctxT(t), []schema.Event{alertAt(base, huge), alertAt(base, "/small")}); err != nil {
		t.Fatal(err)
	}
	streams, _ := f.snapshot()
	got := streams["default/web-7f9c"]
	if len(got) != 2 {
		t.Fatalf("%d events", len(got))
	}
	m := got[0].Message
	if len(m)+EventOverhead > MaxEventBytes || !utf8.ValidString(m) || !strings.Contains(m, "[truncated by bluelock:") {
		t.Fatalf("truncated message: %d bytes, valid=%v, tail %q", len(m), utf8.ValidString(m), m[max(0, len(m)-80):])
	}
	if !strings.HasPrefix(m, `{"Timestamp":`) {
		t.Errorf("truncated message lost its start: %q", m[:40])
	}
	if n := testutil.ToFloat64(c.truncated); n != 1 {
		t.Errorf("truncated counter %v, want 1", n)
	}
	if c, err := testutil.GatherAndCount(reg, "bluelock_sidekick_cloudwatch_truncated_events_total"); err != nil || c != 1 {
		t.Errorf("metric not in the Deps registry: %d %v", c, err)
	}
}

func TestErrorsAndRetries(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		fault     fault
		retryable bool
		reason    string
	}{
		{"throttling", fault{400, "ThrottlingException"}, true, "ratelimit"},
		{"service unavailable", fault{503, "ServiceUnavailableException"}, true, "5xx"},
		{"bare 500", fault{500, "InternalFailure"}, true, "5xx"},
		{"invalid parameter", fault{400, "InvalidParameterException"}, false, "invalid"},
		{"access denied", fault{400, "AccessDeniedException"}, false, "4xx"},
		{"bad credentials", fault{400, "UnrecognizedClientException"}, false, "4xx"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, srv := newFakeLogs(t)
			c, _ := newOutput(t, srv, nil)
			f.script(func(f *fakeLogs) { f.putFault = map[int]fault{1: tc.fault} })
			evs := []schema.Event{alertAt(base, "/a"), alertAt(base.Add(time.Second), "/b")}
			err := c.SendBatch(ctxT(t), evs)
			var se *outputs.SendError
			if !errors.As(err, &se) || se.Retryable != tc.retryable || se.Reason != tc.reason {
				t.Fatalf("err = %v (%+v), want Retryable=%v Reason=%q", err, se, tc.retryable, tc.reason)
			}
			_, calls := f.snapshot()
			if n := strings.Count(strings.Join(calls, "|"), "PutLogEvents"); n != 1 {
				t.Fatalf("%d PutLogEvents calls: the SDK retried on its own (%q)", n, calls)
			}
			if !tc.retryable {
				return
			}
			// The dispatcher retries: now it works, and nothing is doubled.
			if err := c.SendBatch(ctxT(t), evs); err != nil {
				t.Fatalf("retry: %v", err)
			}
			streams, _ := f.snapshot()
			if n := len(streams["default/web-7f9c"]); n != 2 {
				t.Fatalf("%d events stored after the retry, want 2", n)
			}
		})
	}
}

// TestRetryAfterPartialSuccessDoesNotDuplicate: a batch that needs two
// calls fails on the second; the dispatcher's retry of the same batch only
// writes what is missing.
func TestRetryAfterPartialSuccessDoesNotDuplicate(t *testing.T) {
	t.Parallel()
	f, srv := newFakeLogs(t)
	c, _ := newOutput(t, srv, nil)
	evs := []schema.Event{alertAt(base, "/day1"), alertAt(base.Add(25*time.Hour), "/day2"), alertAt(base.Add(26*time.Hour), "/day2b")}
	// Call 1 creates the stream; the batch needs calls 2 (day 1) and 3
	// (day 2, more than 24 h later); call 3 is throttled.
	if err := c.Send(ctxT(t), alertAt(base.Add(-time.Minute), "/warmup")); err != nil {
		t.Fatal(err)
	}
	f.script(func(f *fakeLogs) { f.putFault = map[int]fault{3: {400, "ThrottlingException"}} })
	err := c.SendBatch(ctxT(t), evs)
	var se *outputs.SendError
	if !errors.As(err, &se) || !se.Retryable {
		t.Fatalf("err = %v, want retryable", err)
	}
	if err := c.SendBatch(ctxT(t), evs); err != nil {
		t.Fatalf("retry: %v", err)
	}
	streams, _ := f.snapshot()
	var res []string
	for _, e := range streams["default/web-7f9c"] {
		var a pb.Alert
		_ = json.Unmarshal([]byte(e.Message), &a)
		res = append(res, a.Resource)
	}
	if got := strings.Join(res, ","); got != "/warmup,/day1,/day2,/day2b" {
		t.Fatalf("stored %s, want each event once", got)
	}
	if len(c.delivered) != 0 {
		t.Errorf("%d digests remembered after success", len(c.delivered))
	}
}

func TestMissingStreamIsCreatedAndRetriedOnce(t *testing.T) {
	t.Parallel()
	f, srv := newFakeLogs(t)
	c, _ := newOutput(t, srv, nil)
	if err := c.Send(ctxT(t), alertAt(base, "/a")); err != nil {
		t.Fatal(err)
	}
	// Someone deletes the stream.
	f.script(func(f *fakeLogs) { delete(f.streams, "default/web-7f9c") })
	if err := c.Send(ctxT(t), alertAt(base.Add(time.Second), "/b")); err != nil {
		t.Fatal(err)
	}
	streams, calls := f.snapshot()
	want := "CreateLogStream default/web-7f9c|PutLogEvents default/web-7f9c 1|PutLogEvents default/web-7f9c 1|CreateLogStream default/web-7f9c|PutLogEvents default/web-7f9c 1"
	if got := strings.Join(calls, "|"); got != want {
		t.Fatalf("calls\n got %s\nwant %s", got, want)
	}
	if n := len(streams["default/web-7f9c"]); n != 1 {
		t.Fatalf("%d events in the re-created stream, want 1", n)
	}
}

func TestMissingLogGroupIsNotRetryable(t *testing.T) {
	t.Parallel()
	_, srv := newFakeLogs(t)
	c, _ := newOutput(t, srv, func(cfg *Config) { cfg.LogGroup = "/does/not/exist" })
	err := c.Send(ctxT(t), alertAt(base, "/a"))
	var se *outputs.SendError
	if !errors.As(err, &se) || se.Retryable || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("err = %v, want a non-retryable missing-group error", err)
	}
}

func TestRejectedEventsCountedNotRetried(t *testing.T) {
	t.Parallel()
	f, srv := newFakeLogs(t)
	c, reg := newOutput(t, srv, nil)
	info := `{"tooOldLogEventEndIndex":2,"tooNewLogEventStartIndex":5,"expiredLogEventEndIndex":1}`
	f.script(func(f *fakeLogs) { f.rejected = &info })
	var evs []schema.Event
	for i := range 6 {
		evs = append(evs, alertAt(base.Add(time.Duration(i)*time.Second), fmt.Sprint(i)))
	}
	if err := c.SendBatch(ctxT(t), evs); err != nil {
		t.Fatalf("rejected events must not fail the batch: %v", err)
	}
	want := `
# HELP bluelock_sidekick_cloudwatch_rejected_events_total Log events CloudWatch Logs accepted the call for but rejected individually (RejectedLogEventsInfo); never retried.
# TYPE bluelock_sidekick_cloudwatch_rejected_events_total counter
bluelock_sidekick_cloudwatch_rejected_events_total{reason="expired"} 1
bluelock_sidekick_cloudwatch_rejected_events_total{reason="too_new"} 1
bluelock_sidekick_cloudwatch_rejected_events_total{reason="too_old"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "bluelock_sidekick_cloudwatch_rejected_events_total"); err != nil {
		t.Fatal(err)
	}
	if _, calls := f.snapshot(); strings.Count(strings.Join(calls, "|"), "PutLogEvents") != 1 {
		t.Fatalf("rejected events were retried: %q", calls)
	}
}

func TestStreamNames(t *testing.T) {
	t.Parallel()
	hostTmpl, err := parseStreamTemplate("", "sidecar-host")
	if err != nil {
		t.Fatal(err)
	}
	custom, err := parseStreamTemplate("{{.ClusterName}}:{{.ContainerName}}*x", "h")
	if err != nil {
		t.Fatal(err)
	}
	ecs := schema.NewLog(&pb.Log{ContainerName: "api", ClusterName: "ecs-prod", Type: "ContainerLog"})
	cases := []struct {
		name string
		tmpl string
		ev   schema.Event
		want string
	}{
		{"pod", "default", alertAt(base, "/a"), "default/web-7f9c"},
		{"no pod: hostname", "default", schema.NewLog(&pb.Log{ContainerName: "api", Type: "ContainerLog"}), "bluelock-sidecar-host"},
		{"ecs task", "default", schema.NewLog(&pb.Log{NamespaceName: "container_namespace", PodName: "4f5e6d7c", Type: "ContainerLog"}), "ecs/4f5e6d7c"},
		{"custom, illegal characters replaced", "custom", ecs, "ecs-prod_api_x"},
		{"custom renders empty: fallback", "custom-empty", schema.NewLog(&pb.Log{}), "fallback"},
	}
	for _, tc := range cases {
		tm := hostTmpl
		if strings.HasPrefix(tc.tmpl, "custom") {
			tm = custom
		}
		if tc.tmpl == "custom-empty" {
			tm, _ = parseStreamTemplate("{{.PodName}}", "h")
		}
		if got := streamName(tm, tc.ev, "fallback"); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	long, _ := parseStreamTemplate(strings.Repeat("ß", 400), "h")
	if got := streamName(long, ecs, "f"); len(got) > 512 || !utf8.ValidString(got) {
		t.Errorf("long name: %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
}

func TestChunkProperties(t *testing.T) {
	t.Parallel()
	var evs []logEvent
	for i := range 30_000 {
		evs = append(evs, logEvent{ts: base.UnixMilli() + int64(i)*10_000, message: strings.Repeat("x", i%700)})
	}
	total := 0
	for _, b := range chunk(evs) {
		size := 0
		for _, e := range b {
			size += e.size()
		}
		if len(b) == 0 || len(b) > MaxBatchEvents || size > MaxBatchBytes || b[len(b)-1].ts-b[0].ts >= MaxBatchSpan.Milliseconds() {
			t.Fatalf("bad chunk: %d events, %d bytes", len(b), size)
		}
		total += len(b)
	}
	if total != len(evs) {
		t.Fatalf("chunks hold %d events, want %d", total, len(evs))
	}
}

func TestConfigFromSettings(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		s       settings
		want    Config
		wantErr string
	}{
		{name: "defaults", s: settings{"LOGGROUP": "/g"}, want: Config{LogGroup: "/g", BatchSize: 10000, BatchWait: 2 * time.Second}},
		{name: "all", s: settings{"LOGGROUP": "/g", "LOGSTREAM": "{{.PodName}}", "REGION": "eu-west-1", "ENDPOINT": "http://localhost:4566",
			"BATCHSIZE": "500", "BATCHWAIT": "250ms", "MINIMUMSEVERITY": "5"},
			want: Config{LogGroup: "/g", LogStream: "{{.PodName}}", Region: "eu-west-1", Endpoint: "http://localhost:4566",
				BatchSize: 500, BatchWait: 250 * time.Millisecond, MinimumSeverity: "5"}},
		{name: "batch too big", s: settings{"LOGGROUP": "/g", "BATCHSIZE": "10001"}, wantErr: "BATCHSIZE"},
		{name: "bad wait", s: settings{"LOGGROUP": "/g", "BATCHWAIT": "soon"}, wantErr: "BATCHWAIT"},
		{name: "bad template", s: settings{"LOGGROUP": "/g", "LOGSTREAM": "{{.Pod}}"}, wantErr: "LOGSTREAM"},
		{name: "bad endpoint", s: settings{"LOGGROUP": "/g", "ENDPOINT": "localhost"}, wantErr: "ENDPOINT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ConfigFromSettings(tc.s)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v\nwant %+v", got, err, tc.want)
			}
		})
	}
	if Factory.Enabled(settings{}) || !Factory.Enabled(settings{"LOGGROUP": "/g"}) {
		t.Error("Factory.Enabled does not follow LOGGROUP")
	}
}

// TestEnvEndpointAndCredentials: with nothing but the SDK's own environment
// variables (as on a laptop against LocalStack), the SDK finds the endpoint
// and credentials. Not parallel: it sets the environment.
func TestEnvEndpointAndCredentials(t *testing.T) {
	f, srv := newFakeLogs(t)
	dir := t.TempDir()
	t.Setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "SECRET")
	t.Setenv("AWS_REGION", "us-west-2")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	out, err := Factory.New(settings{"LOGGROUP": group}, outputs.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	bo, ok := out.(outputs.BatchOutput)
	if !ok {
		t.Fatal("not a BatchOutput")
	}
	if n, wait := bo.BatchLimits(); n != MaxBatchEvents || wait != DefaultBatchWait {
		t.Errorf("BatchLimits = %d, %v", n, wait)
	}
	if err := bo.SendBatch(ctxT(t), []schema.Event{alertAt(base, "/env")}); err != nil {
		t.Fatal(err)
	}
	if streams, _ := f.snapshot(); len(streams["default/web-7f9c"]) != 1 {
		t.Fatalf("the fake got nothing: %v", streams)
	}
}
