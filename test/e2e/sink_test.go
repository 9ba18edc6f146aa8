package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// event is one KubeArmor event as the webhook sink received it.
type event struct {
	Fields map[string]any
	Raw    string
}

func (e event) str(key string) string {
	v, ok := e.Fields[key]
	if !ok {
		return ""
	}
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

func (e event) num(key string) int64 {
	n, ok := e.Fields[key].(json.Number)
	if !ok {
		return 0
	}
	i, _ := n.Int64()
	return i
}

// sink is the webhook receiver of a test: the sidekick's webhook output posts to it across
// the Docker bridge. Every event is delivered on Events; the test reads that channel with a
// deadline instead of sleeping.
type sink struct {
	URL    string
	Events chan event

	mu      sync.Mutex
	bad     []string // bodies that were not KubeArmor JSON
	dropped int
}

// newSink listens on host:0 (the Docker network's gateway, reachable from containers).
func newSink(t *testing.T, host string) *sink {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("sink: listen on %s: %v", host, err)
	}
	s := &sink{
		URL: "http://" + ln.Addr().String() + "/",
		// Large: with file visibility on, a request like `ps` logs thousands of opens.
		Events: make(chan event, 1<<16),
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return s
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	evs, err := decodeEvents(body)
	if err != nil {
		s.mu.Lock()
		s.bad = append(s.bad, fmt.Sprintf("%v: %.300s", err, body))
		s.mu.Unlock()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, ev := range evs {
		select {
		case s.Events <- ev:
		default:
			s.mu.Lock()
			s.dropped++
			s.mu.Unlock()
		}
	}
	w.WriteHeader(http.StatusOK)
}

// decodeEvents accepts one JSON object, an array of objects, or newline-delimited objects.
func decodeEvents(body []byte) ([]event, error) {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var raws []json.RawMessage
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, err
		}
		var out []event
		for _, r := range raws {
			ev, err := decodeEvent(r)
			if err != nil {
				return nil, err
			}
			out = append(out, ev)
		}
		return out, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var out []event
	for dec.More() {
		var r json.RawMessage
		if err := dec.Decode(&r); err != nil {
			return nil, err
		}
		ev, err := decodeEvent(r)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty body")
	}
	return out, nil
}

func decodeEvent(r json.RawMessage) (event, error) {
	dec := json.NewDecoder(bytes.NewReader(r))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return event{}, err
	}
	if _, ok := m["Type"]; !ok {
		return event{}, fmt.Errorf("no KubeArmor Type field")
	}
	return event{Fields: m, Raw: string(r)}, nil
}

// waitEvent reads the sink until match accepts an event or the timeout expires. Events that
// do not match are kept for the failure message (they usually say what went wrong).
func (s *sink) waitEvent(t *testing.T, timeout time.Duration, what string, match func(event) bool) (event, bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var seen []string
	for {
		select {
		case ev := <-s.Events:
			if match(ev) {
				return ev, true
			}
			seen = append(seen, ev.Raw)
		case <-deadline.C:
			s.mu.Lock()
			bad, dropped := s.bad, s.dropped
			s.mu.Unlock()
			t.Errorf("sink: no %s within %v; %d other events received%s; non-KubeArmor bodies: %d %s; dropped: %d",
				what, timeout, len(seen), tail(seen, 8), len(bad), strings.Join(bad, " | "), dropped)
			return event{}, false
		}
	}
}

func tail(xs []string, n int) string {
	if len(xs) == 0 {
		return ""
	}
	if len(xs) > n {
		xs = xs[len(xs)-n:]
	}
	return " (last: " + strings.Join(xs, "\n  ") + ")"
}

func TestDecodeEvents(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		body string
		n    int
		err  bool
	}{
		{"object", `{"Type":"MatchedPolicy","PID":3}`, 1, false},
		{"array", `[{"Type":"MatchedPolicy"},{"Type":"ContainerLog"}]`, 2, false},
		{"ndjson", "{\"Type\":\"A\"}\n{\"Type\":\"B\"}\n", 2, false},
		{"not kubearmor", `{"output":"x"}`, 0, true},
		{"empty", ``, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			evs, err := decodeEvents([]byte(tc.body))
			if (err != nil) != tc.err || len(evs) != tc.n {
				t.Fatalf("decodeEvents(%q) = %d events, err %v; want %d, err %v", tc.body, len(evs), err, tc.n, tc.err)
			}
		})
	}
}
