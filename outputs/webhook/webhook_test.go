package webhook

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/kubearmor/KubeArmor/protobuf"

	"github.com/bluelock/bluelock/outputs"
	"github.com/bluelock/bluelock/outputs/outputstest"
	"github.com/bluelock/bluelock/schema"
)

type request struct {
	method, path, contentType string
	header                    http.Header
	body                      string
}

// recordingServer answers with status (and headers) and records requests.
func recordingServer(t *testing.T, status int, hdr map[string]string) (*httptest.Server, func() []request) {
	t.Helper()
	var mu sync.Mutex
	var reqs []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, request{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Clone(), string(b)})
		mu.Unlock()
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte("server says hi"))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []request {
		mu.Lock()
		defer mu.Unlock()
		return append([]request(nil), reqs...)
	}
}

func testEvent() schema.Event {
	return schema.NewAlert(&pb.Alert{Timestamp: 1700000000, UpdatedTime: "2023-11-14T22:13:20.000000Z", HostName: "h", PolicyName: "p", Severity: "5",
		Type: schema.TypeMatchedPolicy, Operation: schema.OpFile, Resource: "/etc/shadow", Action: schema.ActionBlock, Result: "Permission denied"})
}

const wantJSON = `{"Timestamp":1700000000,"UpdatedTime":"2023-11-14T22:13:20.000000Z","HostName":"h","PPID":0,"UID":0,"PolicyName":"p","Severity":"5","Type":"MatchedPolicy","Operation":"File","Resource":"/etc/shadow","Action":"Block","Result":"Permission denied"}`

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestWireFormat(t *testing.T) {
	t.Parallel()
	srv, reqs := recordingServer(t, 200, nil)
	o, err := New(Config{Address: srv.URL + "/hook/s3cret", CustomHeaders: map[string]string{"Authorization": "Bearer a:b:c", "X-Team": "sec", "Content-Type": "text/evil"}}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Send(ctx(t), testEvent()); err != nil {
		t.Fatal(err)
	}
	r := reqs()
	if len(r) != 1 {
		t.Fatalf("%d requests", len(r))
	}
	got := r[0]
	if got.method != "POST" || got.path != "/hook/s3cret" || got.contentType != "application/json" || got.body != wantJSON {
		t.Errorf("request = %s %s %q\n%s\nwant body %s", got.method, got.path, got.contentType, got.body, wantJSON)
	}
	if got.header.Get("Authorization") != "Bearer a:b:c" || got.header.Get("X-Team") != "sec" || got.header.Get("User-Agent") != "bluelock-sidekick" {
		t.Errorf("headers = %v", got.header)
	}
}

func TestBatchWireFormat(t *testing.T) {
	t.Parallel()
	srv, reqs := recordingServer(t, 204, nil)
	o, err := New(Config{Address: srv.URL, Batch: true, MaxBatch: 7, MaxWait: time.Second}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	bo, ok := o.(outputs.BatchOutput)
	if !ok {
		t.Fatalf("WEBHOOK_BATCH=true output is %T, not a BatchOutput", o)
	}
	if n, w := bo.BatchLimits(); n != 7 || w != time.Second {
		t.Errorf("limits = %d %v", n, w)
	}
	if err := bo.SendBatch(ctx(t), []schema.Event{testEvent(), testEvent()}); err != nil {
		t.Fatal(err)
	}
	got := reqs()[0]
	if got.contentType != "application/x-ndjson" || got.body != wantJSON+"\n"+wantJSON+"\n" {
		t.Errorf("batch = %q\n%s", got.contentType, got.body)
	}
	if _, isBatch := Must(New(Config{Address: srv.URL}, srv.Client())).(outputs.BatchOutput); isBatch {
		t.Error("without WEBHOOK_BATCH the output must not batch")
	}
}

func Must(o outputs.Output, err error) outputs.Output {
	if err != nil {
		panic(err)
	}
	return o
}

func TestStatusClassification(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status     int
		hdr        map[string]string
		wantErr    bool
		retryable  bool
		retryAfter time.Duration
		reason     string
	}{
		{status: 200}, {status: 201}, {status: 202}, {status: 204},
		{status: 429, hdr: map[string]string{"Retry-After": "2"}, wantErr: true, retryable: true, retryAfter: 2 * time.Second, reason: "ratelimit"},
		{status: 429, wantErr: true, retryable: true, reason: "ratelimit"},
		{status: 500, wantErr: true, retryable: true, reason: "5xx"},
		{status: 503, hdr: map[string]string{"Retry-After": "5"}, wantErr: true, retryable: true, retryAfter: 5 * time.Second, reason: "5xx"},
		{status: 408, wantErr: true, retryable: true, reason: "timeout"},
		{status: 400, wantErr: true, reason: "4xx"},
		{status: 401, wantErr: true, reason: "4xx"},
		{status: 404, wantErr: true, reason: "4xx"},
		{status: 413, wantErr: true, reason: "4xx"},
	}
	for _, tc := range cases {
		srv, _ := recordingServer(t, tc.status, tc.hdr)
		o := Must(New(Config{Address: srv.URL + "/token/s3cret?key=s3cret"}, srv.Client()))
		err := o.Send(ctx(t), testEvent())
		if (err != nil) != tc.wantErr {
			t.Errorf("%d: err = %v", tc.status, err)
			continue
		}
		if err == nil {
			continue
		}
		var se *outputs.SendError
		if !errors.As(err, &se) {
			t.Errorf("%d: %T is not a *SendError", tc.status, err)
			continue
		}
		if se.Retryable != tc.retryable || se.RetryAfter != tc.retryAfter || se.Reason != tc.reason {
			t.Errorf("%d: SendError{Retryable:%v RetryAfter:%v Reason:%q}, want {%v %v %q}", tc.status, se.Retryable, se.RetryAfter, se.Reason, tc.retryable, tc.retryAfter, tc.reason)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%d: secret in error: %v", tc.status, err)
		}
	}
}

func TestTransportErrorsLeakNoSecret(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body); <-r.Context().Done() }))
	t.Cleanup(srv.Close)
	hung := srv.URL + "/hook/s3cret"
	closed := httptest.NewServer(http.NotFoundHandler())
	dead := closed.URL + "/hook/s3cret"
	closed.Close()
	client, err := outputs.NewHTTPClient(outputs.ClientOptions{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		url, reason string
	}{{hung, "timeout"}, {dead, "network"}} {
		err := Must(New(Config{Address: tc.url}, client)).Send(ctx(t), testEvent())
		var se *outputs.SendError
		if !errors.As(err, &se) || !se.Retryable || se.Reason != tc.reason {
			t.Errorf("%s: err = %#v, want retryable %s", tc.reason, err, tc.reason)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("secret in error: %v", err)
		}
	}
}

func TestConfigFromSettings(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		values  map[string]string
		want    Config
		wantErr string
	}{
		{name: "minimal", values: map[string]string{"ADDRESS": "https://h.example/x"}, want: Config{Address: "https://h.example/x", MaxBatch: 100, MaxWait: time.Second}},
		{name: "full", values: map[string]string{"ADDRESS": "http://h:8080/", "BATCH": "true", "MAXBATCH": "10", "MAXWAIT": "250ms", "CUSTOMHEADERS": "Authorization:Bearer x:y, X-A:1"},
			want: Config{Address: "http://h:8080/", Batch: true, MaxBatch: 10, MaxWait: 250 * time.Millisecond, CustomHeaders: map[string]string{"Authorization": "Bearer x:y", "X-A": "1"}}},
		{name: "bad scheme", values: map[string]string{"ADDRESS": "ftp://h/s3cret"}, wantErr: `WEBHOOK_ADDRESS: want an http:// or https:// URL, got scheme "ftp"`},
		{name: "no host", values: map[string]string{"ADDRESS": "http:///x"}, wantErr: `WEBHOOK_ADDRESS: URL has no host`},
		{name: "bad header", values: map[string]string{"ADDRESS": "http://h", "CUSTOMHEADERS": "X-A:1,broken"}, wantErr: `WEBHOOK_CUSTOMHEADERS: item 2 "broken": want key:value`},
		{name: "bad batch", values: map[string]string{"ADDRESS": "http://h", "BATCH": "sometimes"}, wantErr: `WEBHOOK_BATCH: want true or false, got "sometimes"`},
	}
	for _, tc := range cases {
		s := outputs.MapSettings{Prefix: "WEBHOOK", Values: tc.values}
		got, err := ConfigFromSettings(s)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: err = %v, want %q", tc.name, err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("%s: secret in error", tc.name)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got.Address != tc.want.Address || got.Batch != tc.want.Batch || got.MaxBatch != tc.want.MaxBatch || got.MaxWait != tc.want.MaxWait || len(got.CustomHeaders) != len(tc.want.CustomHeaders) {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
		for k, v := range tc.want.CustomHeaders {
			if got.CustomHeaders[k] != v {
				t.Errorf("%s: header %s = %q, want %q", tc.name, k, got.CustomHeaders[k], v)
			}
		}
	}
	if Factory.Enabled(outputs.MapSettings{Values: map[string]string{}}) || !Factory.Enabled(outputs.MapSettings{Values: map[string]string{"ADDRESS": "http://h"}}) {
		t.Error("WEBHOOK_ADDRESS must be what enables the output")
	}
}

// The shared status table from outputs/outputstest, as every HTTP output runs it.
func TestStatusTableKit(t *testing.T) {
	t.Parallel()
	outputstest.RunStatusTable(t, "/hook/s3cret", testEvent(), func(url string) (outputs.Output, error) {
		return New(Config{Address: url}, nil)
	})
}
