// Package outputstest is a test kit for sidekick outputs: a recording HTTP
// server, the table of how every HTTP status must be classified, and a check
// that no secret leaks into errors.
//
// How it works: RunStatusTable starts one server per status, builds the
// output against it with the caller's constructor, sends one event, and
// checks the *outputs.SendError (retryable, Reason, RetryAfter) against
// StatusTable, which mirrors outputs.ClassifyResponse. Every failure text is
// also checked for the secret.
package outputstest

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

	"github.com/bluelock/bluelock/outputs"
	"github.com/bluelock/bluelock/schema"
)

// Request is one request a Server received.
type Request struct {
	Method string
	Path   string // path and query as sent
	Header http.Header
	Body   []byte
}

// Server records requests and answers with a settable status and headers.
type Server struct {
	*httptest.Server
	mu       sync.Mutex
	requests []Request
	status   int
	header   http.Header
	body     string
}

// NewServer starts a recording server answering 200; it closes with the test.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{status: http.StatusOK, header: http.Header{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Respond sets the status, headers and body of the next answers.
func (s *Server) Respond(status int, header map[string]string, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
	s.header = http.Header{}
	for k, v := range header {
		s.header.Set(k, v)
	}
}

// Requests returns a copy of what was received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: b})
	status, body := s.status, s.body
	for k, v := range s.header {
		w.Header()[k] = v
	}
	s.mu.Unlock()
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// StatusCase is how one HTTP answer must be classified.
type StatusCase struct {
	Status     int
	RetryAfter string // Retry-After header sent, if any
	OK         bool
	Retryable  bool
	Reason     string
	Wait       time.Duration // expected SendError.RetryAfter
}

// StatusTable is the expected classification of HTTP answers for every
// output that posts over HTTP (the behaviour of outputs.ClassifyResponse).
var StatusTable = []StatusCase{
	{Status: 200, OK: true}, {Status: 201, OK: true}, {Status: 202, OK: true}, {Status: 204, OK: true},
	{Status: 400, Reason: "4xx"}, {Status: 401, Reason: "4xx"}, {Status: 403, Reason: "4xx"}, {Status: 404, Reason: "4xx"},
	{Status: 408, Retryable: true, Reason: "timeout"},
	{Status: 429, Retryable: true, Reason: "ratelimit"},
	{Status: 429, RetryAfter: "2", Retryable: true, Reason: "ratelimit", Wait: 2 * time.Second},
	{Status: 500, Retryable: true, Reason: "5xx"}, {Status: 502, Retryable: true, Reason: "5xx"},
	{Status: 503, RetryAfter: "4", Retryable: true, Reason: "5xx", Wait: 4 * time.Second},
}

// RunStatusTable builds an output with newOutput(url) for each StatusCase,
// where url is the server's URL plus secretPath, sends ev, and checks the
// classification and that secretPath never appears in the error.
func RunStatusTable(t *testing.T, secretPath string, ev schema.Event, newOutput func(url string) (outputs.Output, error)) {
	t.Helper()
	for _, tc := range StatusTable {
		srv := NewServer(t)
		hdr := map[string]string{}
		if tc.RetryAfter != "" {
			hdr["Retry-After"] = tc.RetryAfter
		}
		srv.Respond(tc.Status, hdr, "answer body")
		o, err := newOutput(srv.URL + secretPath)
		if err != nil {
			t.Fatalf("build output: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = o.Send(ctx, ev)
		cancel()
		if tc.OK {
			if err != nil {
				t.Errorf("HTTP %d: %v, want success", tc.Status, err)
			}
			continue
		}
		var se *outputs.SendError
		if !errors.As(err, &se) {
			t.Errorf("HTTP %d: error %v (%T) is not a *outputs.SendError", tc.Status, err, err)
			continue
		}
		if se.Retryable != tc.Retryable || se.Reason != tc.Reason || se.RetryAfter != tc.Wait {
			t.Errorf("HTTP %d Retry-After %q: {Retryable:%v Reason:%q RetryAfter:%v}, want {%v %q %v}",
				tc.Status, tc.RetryAfter, se.Retryable, se.Reason, se.RetryAfter, tc.Retryable, tc.Reason, tc.Wait)
		}
		AssertNoSecret(t, err, secretPath)
	}
}

// AssertNoSecret fails if err's text contains secret (or its path part).
func AssertNoSecret(t testing.TB, err error, secret string) {
	t.Helper()
	if err == nil || secret == "" {
		return
	}
	s := strings.Trim(secret, "/")
	if strings.Contains(err.Error(), s) {
		t.Errorf("secret %q leaked into error: %v", s, err)
	}
}
