package outputs

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestClassifyResponse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status     int
		retryAfter string
		wantNil    bool
		retryable  bool
		wait       time.Duration
		reason     string
	}{
		{status: 200, wantNil: true}, {status: 204, wantNil: true}, {status: 299, wantNil: true},
		{status: 301, reason: "4xx"}, // a redirect the client did not follow is not a success
		{status: 400, reason: "4xx"}, {status: 401, reason: "4xx"}, {status: 403, reason: "4xx"}, {status: 404, reason: "4xx"}, {status: 422, reason: "4xx"},
		{status: 408, retryable: true, reason: "timeout"},
		{status: 429, retryable: true, reason: "ratelimit"},
		{status: 429, retryAfter: "3", retryable: true, wait: 3 * time.Second, reason: "ratelimit"},
		{status: 429, retryAfter: "0.5", retryable: true, wait: 500 * time.Millisecond, reason: "ratelimit"},
		{status: 500, retryable: true, reason: "5xx"}, {status: 502, retryable: true, reason: "5xx"},
		{status: 503, retryAfter: "7", retryable: true, wait: 7 * time.Second, reason: "5xx"},
	}
	for _, tc := range cases {
		resp := &http.Response{StatusCode: tc.status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(strings.Repeat("x", 2000)))}
		if tc.retryAfter != "" {
			resp.Header.Set("Retry-After", tc.retryAfter)
		}
		err := ClassifyResponse(resp)
		if tc.wantNil {
			if err != nil {
				t.Errorf("%d: %v", tc.status, err)
			}
			continue
		}
		var se *SendError
		if !errors.As(err, &se) {
			t.Fatalf("%d: %T", tc.status, err)
		}
		if se.Retryable != tc.retryable || se.RetryAfter != tc.wait || se.Reason != tc.reason {
			t.Errorf("%d Retry-After %q: got {%v %v %q}, want {%v %v %q}", tc.status, tc.retryAfter, se.Retryable, se.RetryAfter, se.Reason, tc.retryable, tc.wait, tc.reason)
		}
		if len(err.Error()) > maxErrorBody+100 {
			t.Errorf("%d: error text not bounded: %d bytes", tc.status, len(err.Error()))
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 20, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"  ":                            0,
		"5":                             5 * time.Second,
		" 5 ":                           5 * time.Second,
		"1.5":                           1500 * time.Millisecond,
		"0":                             0,
		"-3":                            0,
		"soon":                          0,
		"99999":                         10 * time.Minute,
		"Sun, 22 Nov 2026 20:00:30 GMT": 30 * time.Second,
		"Sun, 22 Nov 2026 19:00:00 GMT": 0,
		"Mon, 23 Nov 2026 20:00:00 GMT": 10 * time.Minute,
	}
	for in, want := range cases {
		if got := ParseRetryAfter(in, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"https://hooks.slack.com/services/T0/B0/s3cret": "https://hooks.slack.com/<redacted>",
		"https://h.example":                             "https://h.example",
		"https://user:s3cret@h.example":                 "https://h.example/<redacted>",
		"https://h.example?token=s3cret":                "https://h.example/<redacted>",
		"not a url s3cret":                              "<redacted-url>",
		"://s3cret":                                     "<redacted-url>",
	}
	for in, want := range cases {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPostJSON(t *testing.T) {
	t.Parallel()
	var gotCT, gotBody, gotHdr string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotCT, gotBody, gotHdr = r.Header.Get("Content-Type"), string(b), r.Header.Get("X-K")
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := PostJSON(ctx, srv.Client(), srv.URL+"/p", []byte(`{"a":1}`), map[string]string{"X-K": "v:w"}); err != nil {
		t.Fatal(err)
	}
	if gotCT != "application/json" || gotBody != `{"a":1}` || gotHdr != "v:w" {
		t.Errorf("got %q %q %q", gotCT, gotBody, gotHdr)
	}
	err := PostJSON(ctx, srv.Client(), "http://bad host/s3cret", nil, nil)
	var se *SendError
	if !errors.As(err, &se) || se.Reason != "invalid" || se.Retryable || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad URL: %v", err)
	}
}

func TestClassifyTransportError(t *testing.T) {
	t.Parallel()
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer hung.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	short, err := NewHTTPClient(ClientOptions{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	long, _ := NewHTTPClient(ClientOptions{Timeout: time.Minute})
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	cases := []struct {
		name      string
		ctx       context.Context
		client    *http.Client
		url       string
		retryable bool
		reason    string
	}{
		{"client timeout", context.Background(), short, hung.URL + "/s3cret", true, "timeout"},
		{"attempt deadline", expired, long, hung.URL + "/s3cret", true, "timeout"},
		{"connection refused", context.Background(), long, deadURL + "/s3cret", true, "network"},
		{"caller canceled", canceled, long, hung.URL + "/s3cret", false, "canceled"},
	}
	for _, tc := range cases {
		err := PostJSON(tc.ctx, tc.client, tc.url, []byte("{}"), nil)
		var se *SendError
		if !errors.As(err, &se) || se.Retryable != tc.retryable || se.Reason != tc.reason {
			t.Errorf("%s: %#v, want retryable=%v %s", tc.name, err, tc.retryable, tc.reason)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: secret in %v", tc.name, err)
		}
	}
}
