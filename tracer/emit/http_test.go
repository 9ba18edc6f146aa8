package emit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluelock/bluelock/schema"
	"github.com/bluelock/bluelock/tracer/container"
)

func newTestHTTP(t *testing.T, cfg HTTPConfig, logger *slog.Logger) *HTTP {
	t.Helper()
	if cfg.Backoff == nil {
		cfg.Backoff = func(int) time.Duration { return 0 }
	}
	if cfg.Wait == nil {
		cfg.Wait = noWait
	}
	h, err := NewHTTP(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Close(ctx)
	})
	return h
}

// TestHTTPBatching holds the first POST open, emits while it is in flight,
// and checks that what queued up goes out as batches of at most
// MaxBatchEvents, in emission order, as NDJSON with the bearer token.
func TestHTTPBatching(t *testing.T) {
	tests := []struct {
		name     string
		maxBatch int
		emit     []schema.Event // emitted while the first POST is held
		want     []string       // the batches after the first
	}{
		{
			name:     "one batch keeps order across alerts and logs",
			maxBatch: 100,
			emit:     []schema.Event{testLog(1), testAlert(2), testLog(3), testLog(4), testAlert(5)},
			want:     []string{"L1 A2 L3 L4 A5"},
		},
		{
			name:     "split at MaxBatchEvents",
			maxBatch: 2,
			emit:     []schema.Event{testAlert(1), testLog(2), testLog(3), testAlert(4), testLog(5)},
			want:     []string{"A1 L2", "L3 A4", "L5"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			release := make(chan struct{})
			var held atomic.Bool // the first request is held; handlers may run on several connections
			sk, srv := newSidekick(t, func(w http.ResponseWriter, r request) {
				if held.CompareAndSwap(false, true) {
					<-release
				}
				w.WriteHeader(http.StatusOK)
			})
			h := newTestHTTP(t, HTTPConfig{URL: srv.URL + "/", Token: "s3cret", MaxBatchEvents: tc.maxBatch}, nil)

			h.Emit(testAlert(0))
			r := sk.next(ctx)
			if got := tags(r.events); got != "A0" {
				t.Fatalf("first batch = %q, want A0", got)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/x-ndjson" {
				t.Errorf("Content-Type = %q", ct)
			}
			if a := r.header.Get("Authorization"); a != "Bearer s3cret" {
				t.Errorf("Authorization = %q", a)
			}
			for _, ev := range tc.emit {
				h.Emit(ev)
			}
			close(release)
			keys := map[string]bool{r.header.Get("Idempotency-Key"): true}
			for i, want := range tc.want {
				r := sk.next(ctx)
				if got := tags(r.events); got != want {
					t.Errorf("batch %d = %q, want %q", i+1, got, want)
				}
				keys[r.header.Get("Idempotency-Key")] = true
			}
			if len(keys) != len(tc.want)+1 {
				t.Errorf("Idempotency-Keys %v: want one per batch", keys)
			}
			if err := h.Close(ctx); err != nil {
				t.Fatal(err)
			}
			st := h.Stats()
			if want := uint64(len(tc.emit) + 1); st.Sent != want || st.Emitted != want {
				t.Errorf("stats = %+v, want Sent=Emitted=%d", st, want)
			}
			if want := uint64(len(tc.want) + 1); st.Batches != want {
				t.Errorf("Batches = %d, want %d", st.Batches, want)
			}
		})
	}
}

// TestHTTPRetryAfterRestart stops the sidekick (its port then refuses
// connections), lets the emitter fail, restarts a sidekick on the same
// port and checks that the held batch and what queued meanwhile arrive
// once, in order.
func TestHTTPRetryAfterRestart(t *testing.T) {
	ctx := testCtx(t)
	sk := &sidekick{t: t, reqs: make(chan request, 64), respond: func(w http.ResponseWriter, _ request) {}}
	srv := httptest.NewServer(sk)
	addr := srv.Listener.Addr().String()

	rw := newRecordingWait()
	h := newTestHTTP(t, HTTPConfig{URL: "http://" + addr + "/", Wait: rw.wait}, nil)
	h.Emit(testLog(0))
	if got := tags(sk.next(ctx).events); got != "L0" {
		t.Fatalf("before restart: %q", got)
	}

	srv.Close() // closes the listener and the keep-alive connection
	h.Emit(testAlert(1))
	<-rw.waits // the first retry is pending: the sidekick is down
	h.Emit(testLog(2))
	h.Emit(testAlert(3))

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("relisten on %s: %v", addr, err)
	}
	srv2 := &http.Server{Handler: sk}
	go func() { _ = srv2.Serve(ln) }()
	t.Cleanup(func() { _ = srv2.Close() })
	rw.proceed <- struct{}{}

	var got []string
	for len(got) < 3 {
		got = append(got, strings.Fields(tags(sk.next(ctx).events))...)
	}
	if strings.Join(got, " ") != "A1 L2 A3" {
		t.Fatalf("after restart: %v, want A1 L2 A3", got)
	}
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	st := h.Stats()
	if st.Sent != 4 || st.DroppedAlerts+st.DroppedLogs != 0 || st.Retries != 1 {
		t.Errorf("stats = %+v, want Sent=4, no drops, Retries=1", st)
	}
}

// TestHTTPRetryWaits checks which status codes are retried and how long the
// emitter waits: Retry-After wins over the backoff.
func TestHTTPRetryWaits(t *testing.T) {
	now := time.Date(2026, 11, 22, 20, 0, 0, 0, time.UTC)
	const backoff = 123 * time.Millisecond
	tests := []struct {
		name       string
		status     int
		retryAfter string
		wantWait   time.Duration
	}{
		{"429 with seconds", http.StatusTooManyRequests, "7", 7 * time.Second},
		{"429 with an HTTP date", http.StatusTooManyRequests, now.Add(3 * time.Second).Format(http.TimeFormat), 3 * time.Second},
		{"429 without Retry-After", http.StatusTooManyRequests, "", backoff},
		{"503 with seconds", http.StatusServiceUnavailable, "2", 2 * time.Second},
		{"500 without Retry-After", http.StatusInternalServerError, "", backoff},
		{"408", http.StatusRequestTimeout, "", backoff},
		{"429 capped", http.StatusTooManyRequests, "3600", maxRetryAfter},
		{"429 with garbage", http.StatusTooManyRequests, "soon", backoff},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			var calls atomic.Int32
			sk, srv := newSidekick(t, func(w http.ResponseWriter, _ request) {
				if calls.Add(1) == 1 {
					if tc.retryAfter != "" {
						w.Header().Set("Retry-After", tc.retryAfter)
					}
					w.WriteHeader(tc.status)
					return
				}
				w.WriteHeader(http.StatusAccepted)
			})
			rw := newRecordingWait()
			h := newTestHTTP(t, HTTPConfig{
				URL: srv.URL, Wait: rw.wait, Now: func() time.Time { return now },
				Backoff: func(attempt int) time.Duration {
					if attempt != 1 {
						t.Errorf("backoff attempt %d, want 1", attempt)
					}
					return backoff
				},
			}, nil)
			h.Emit(testAlert(1))
			first := sk.next(ctx)
			if got := <-rw.waits; got != tc.wantWait {
				t.Errorf("waited %v, want %v", got, tc.wantWait)
			}
			rw.proceed <- struct{}{}
			retry := sk.next(ctx)
			if got := tags(retry.events); got != "A1" {
				t.Errorf("retried batch = %q", got)
			}
			if k1, k2 := first.header.Get("Idempotency-Key"), retry.header.Get("Idempotency-Key"); k1 == "" || k1 != k2 {
				t.Errorf("Idempotency-Key %q then %q: want the same on a retry", k1, k2)
			}
			if err := h.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if st := h.Stats(); st.Sent != 1 || st.Retries != 1 || st.Rejected != 0 {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

// TestHTTPRefused: a 4xx other than 408/429 is never retried. The sidekick
// keeps the valid events of a body and says how many in its 400 answer, so
// nothing is resent (that would duplicate them); a 413 halves the batch until
// it fits. Each distinct refusal text is logged once.
func TestHTTPRefused(t *testing.T) {
	isBad := func(ev schema.Event) bool { return ev.Log != nil && strings.HasSuffix(ev.Log.Resource, "-66") }
	tests := []struct {
		name         string
		respond      func(w http.ResponseWriter, r request) (kept []schema.Event)
		emit         []schema.Event
		wantKept     string // every event the sidekick kept, in order
		wantSent     uint64
		wantRejected uint64
		wantLogged   string
	}{
		{
			name: "400 counting the accepted events",
			respond: func(w http.ResponseWriter, r request) []schema.Event {
				var kept []schema.Event
				for _, ev := range r.events {
					if !isBad(ev) {
						kept = append(kept, ev)
					}
				}
				if len(kept) == len(r.events) {
					return kept
				}
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `{"accepted":%d,"rejected":[{"index":2,"error":"Resource: event 66 is invalid"}]}`, len(kept))
				return kept
			},
			emit:     []schema.Event{testLog(1), testLog(2), testLog(66), testAlert(3), testLog(66)},
			wantKept: "A0 L1 L2 A3", wantSent: 4, wantRejected: 2, wantLogged: "event 66 is invalid",
		},
		{
			name: "400 without a count: the whole body is lost",
			respond: func(w http.ResponseWriter, r request) []schema.Event {
				for _, ev := range r.events {
					if isBad(ev) {
						http.Error(w, "bad body: event 66", http.StatusUnprocessableEntity)
						return nil
					}
				}
				return r.events
			},
			emit:     []schema.Event{testLog(1), testLog(66), testAlert(3)},
			wantKept: "A0", wantSent: 1, wantRejected: 3, wantLogged: "bad body: event 66",
		},
		{
			name: "413 halves the batch until it fits",
			respond: func(w http.ResponseWriter, r request) []schema.Event {
				if len(r.events) > 2 {
					http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
					return nil
				}
				return r.events
			},
			emit:     []schema.Event{testLog(1), testLog(2), testLog(3), testAlert(4), testLog(5)},
			wantKept: "A0 L1 L2 L3 A4 L5", wantSent: 6, wantRejected: 0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			release := make(chan struct{})
			var held atomic.Bool // the first request is held; handlers may run on several connections
			var mu sync.Mutex
			var kept []schema.Event // what the sidekick kept, across connections
			sk, srv := newSidekick(t, func(w http.ResponseWriter, r request) {
				if held.CompareAndSwap(false, true) {
					<-release
				}
				k := tc.respond(w, r)
				mu.Lock()
				kept = append(kept, k...)
				mu.Unlock()
			})
			var logs logBuffer
			h := newTestHTTP(t, HTTPConfig{URL: srv.URL, MaxBatchEvents: 5}, slog.New(slog.NewTextHandler(&logs, nil)))
			h.Emit(testAlert(0))
			sk.next(ctx) // A0 is in flight and held: what follows queues up
			for _, ev := range tc.emit {
				h.Emit(ev)
			}
			close(release)
			if err := h.Close(ctx); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			got := tags(kept)
			mu.Unlock()
			if got != tc.wantKept {
				t.Errorf("sidekick kept %q, want %q", got, tc.wantKept)
			}
			st := h.Stats()
			if st.Sent != tc.wantSent || st.Rejected != tc.wantRejected || st.Retries != 0 {
				t.Errorf("stats = %+v, want Sent=%d Rejected=%d Retries=0", st, tc.wantSent, tc.wantRejected)
			}
			if st.Sent+st.Rejected != st.Emitted {
				t.Errorf("accounting: %+v", st)
			}
			if tc.wantLogged != "" {
				if n := strings.Count(logs.String(), tc.wantLogged); n != 1 {
					t.Errorf("refusal logged %d times, want once:\n%s", n, logs.String())
				}
			}
		})
	}
}

// TestHTTPDropPolicy fills the queue to its exact bound while the sidekick
// holds the first POST, and checks every drop: incoming logs are dropped,
// alerts evict the oldest queued logs, alerts are dropped only when alerts
// fill the queue; then the SystemEvent reports the exact numbers.
func TestHTTPDropPolicy(t *testing.T) {
	ctx := testCtx(t)
	release := make(chan struct{})
	var held atomic.Bool // the first request is held; handlers may run on several connections
	sk, srv := newSidekick(t, func(w http.ResponseWriter, _ request) {
		if held.CompareAndSwap(false, true) {
			<-release
		}
	})
	info := container.Info{ClusterName: "prod", HostName: "web-1", NamespaceName: "shop", PodName: "web-1",
		ContainerID: "abc", ContainerName: "web", ContainerImage: "nginx@sha256:00", Labels: "app=web"}
	now := time.Date(2026, 11, 22, 20, 1, 2, 345678000, time.UTC)
	h := newTestHTTP(t, HTTPConfig{URL: srv.URL, MaxQueueEvents: 5, Container: info, Now: func() time.Time { return now }}, nil)

	h.Emit(testLog(0)) // in flight, held: it counts against the bound
	sk.next(ctx)
	steps := []struct {
		ev                  schema.Event
		wantDropA, wantDrop int // cumulative drops after this Emit: alerts, logs
	}{
		{testLog(1), 0, 0},
		{testLog(2), 0, 0},
		{testLog(3), 0, 0},
		{testLog(4), 0, 0},    // held: L0 (in flight) + L1..L4 = 5 = bound
		{testLog(5), 0, 1},    // full: the incoming log is dropped
		{testAlert(6), 0, 2},  // evicts L1
		{testAlert(7), 0, 3},  // evicts L2
		{testAlert(8), 0, 4},  // evicts L3
		{testAlert(9), 0, 5},  // evicts L4
		{testAlert(10), 1, 5}, // only alerts queued (and L0 in flight): dropped
		{testLog(11), 1, 6},
	}
	for i, s := range steps {
		h.Emit(s.ev)
		st := h.Stats()
		if st.DroppedAlerts != uint64(s.wantDropA) || st.DroppedLogs != uint64(s.wantDrop) || st.Queued != 5 && i >= 3 {
			t.Fatalf("after %s: dropped alerts=%d logs=%d queued=%d, want %d/%d/5",
				tag(s.ev), st.DroppedAlerts, st.DroppedLogs, st.Queued, s.wantDropA, s.wantDrop)
		}
	}
	close(release)
	// Delivery resumed with L0: the report goes out first, then the queue.
	r := sk.next(ctx)
	if len(r.events) != 1 || tag(r.events[0]) != "SYS" {
		t.Fatalf("want the drop report, got %q", tags(r.events))
	}
	a := r.events[0].Alert
	want := "bluelock dropped 7 events (1 alerts, 6 logs) while the sidekick was unreachable or the queue was full"
	if a.Message != want || a.Operation != schema.OpAlertThreshold || a.PolicyName != DropReportPolicy ||
		a.Timestamp != now.Unix() || a.UpdatedTime != "2026-11-22T20:01:02.345678Z" ||
		a.HostName != "web-1" || a.ContainerID != "abc" || a.ClusterName != "prod" || a.NamespaceName != "shop" ||
		a.PodName != "web-1" || a.ContainerName != "web" || a.ContainerImage != "nginx@sha256:00" || a.Labels != "app=web" {
		t.Errorf("drop report = %+v", a)
	}
	if got := tags(sk.next(ctx).events); got != "A6 A7 A8 A9" {
		t.Fatalf("after the report: %q, want A6 A7 A8 A9", got)
	}
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-sk.reqs:
		t.Errorf("unexpected request after the report: %q", tags(r.events))
	default:
	}
	st := h.Stats()
	if st.Emitted != 12 || st.Sent != 5 || st.DroppedAlerts != 1 || st.DroppedLogs != 6 || st.SystemEvents != 1 || st.Queued != 0 {
		t.Errorf("final stats = %+v", st)
	}
}

// TestHTTPClose checks the flush and its bound: a reachable sidekick gets
// everything; an unreachable one costs at most the deadline, and what is
// left is counted as dropped.
func TestHTTPClose(t *testing.T) {
	t.Run("flushes everything", func(t *testing.T) {
		ctx := testCtx(t)
		sk, srv := newSidekick(t, nil)
		h := newTestHTTP(t, HTTPConfig{URL: srv.URL, MaxBatchEvents: 64}, nil)
		const n = 2000
		for i := range n {
			if i%10 == 0 {
				h.Emit(testAlert(i))
			} else {
				h.Emit(testLog(i))
			}
		}
		if err := h.Close(ctx); err != nil {
			t.Fatal(err)
		}
		got := 0
		for len(sk.reqs) > 0 {
			got += len((<-sk.reqs).events)
		}
		if st := h.Stats(); got != n || st.Sent != n || st.Queued != 0 {
			t.Errorf("received %d, stats %+v, want %d", got, st, n)
		}
	})
	t.Run("bounded when the sidekick hangs", func(t *testing.T) {
		ctx := testCtx(t)
		sk, srv := newSidekick(t, func(w http.ResponseWriter, r request) {
			<-ctx.Done() // never answers in time
		})
		h := newTestHTTP(t, HTTPConfig{URL: srv.URL, MaxBatchEvents: 3}, nil)
		for i := range 10 {
			h.Emit(testLog(i))
		}
		sk.next(ctx) // a batch is in flight
		const bound = 100 * time.Millisecond
		cctx, cancel := context.WithTimeout(ctx, bound)
		defer cancel()
		start := time.Now()
		err := h.Close(cctx)
		took := time.Since(start)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "10 events") {
			t.Errorf("Close = %v, want 10 events lost to the deadline", err)
		}
		if took > bound+time.Second {
			t.Errorf("Close took %v, bound %v", took, bound)
		}
		h.Emit(testAlert(99)) // after Close: dropped
		if st := h.Stats(); st.DroppedLogs != 10 || st.DroppedAlerts != 1 || st.Sent != 0 || st.Queued != 0 {
			t.Errorf("stats = %+v", st)
		}
		t.Logf("Close returned after %v with a %v deadline", took, bound)
	})
	t.Run("bounded when the sidekick is down", func(t *testing.T) {
		ctx := testCtx(t)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens: connection refused
		h := newTestHTTP(t, HTTPConfig{URL: "http://" + addr, Wait: sleepCtx,
			Backoff: func(int) time.Duration { return time.Hour }}, nil)
		h.Emit(testAlert(1))
		h.Emit(testLog(2))
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if err := h.Close(cctx); err == nil || !strings.Contains(err.Error(), "2 events") {
			t.Errorf("Close = %v", err)
		}
		if st := h.Stats(); st.DroppedAlerts != 1 || st.DroppedLogs != 1 {
			t.Errorf("stats = %+v", st)
		}
	})
}

func TestNewHTTPConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		wantURL string
	}{
		{"defaults", nil, "", DefaultSidekickURL},
		{"url", map[string]string{"SIDEKICK_URL": "http://sidekick:2801/"}, "", "http://sidekick:2801/"},
		{"bad url", map[string]string{"SIDEKICK_URL": "localhost:2801"}, "sidekick URL", ""},
		{"bad queue", map[string]string{"BLUELOCK_EMIT_QUEUE_EVENTS": "-1"}, "BLUELOCK_EMIT_QUEUE_EVENTS", ""},
		{"missing CA", map[string]string{"SIDEKICK_CA_FILE": "/nonexistent/ca.pem"}, "sidekick CA", ""},
		{"cert without key", map[string]string{"SIDEKICK_CERT_FILE": "/x.pem"}, "need both", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := HTTPConfigFromEnv(func(k string) string { return tc.env[k] })
			var h *HTTP
			if err == nil {
				h, err = NewHTTP(cfg, nil)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close(t.Context())
			if h.cfg.URL != tc.wantURL || h.cfg.MaxQueueEvents != DefaultMaxQueueEvents || h.cfg.MaxQueueBytes != DefaultMaxQueueBytes {
				t.Errorf("cfg = %+v", h.cfg)
			}
		})
	}
}

// TestHTTPEmitNeverBlocks: with the sidekick hanging on the first POST,
// 50,000 Emits return at once, the emitter holds exactly its bound and
// counts every other event as dropped.
func TestHTTPEmitNeverBlocks(t *testing.T) {
	ctx := testCtx(t)
	sk, srv := newSidekick(t, func(w http.ResponseWriter, r request) { <-ctx.Done() })
	const bound, n = 1000, 50_000
	h := newTestHTTP(t, HTTPConfig{URL: srv.URL, MaxQueueEvents: bound}, nil)
	h.Emit(testLog(0))
	sk.next(ctx) // the sender is stuck in a POST from now on
	ev := testLog(1)
	start := time.Now()
	for range n - 1 {
		h.Emit(ev)
	}
	took := time.Since(start)
	st := h.Stats()
	if st.Emitted != n || st.Queued != bound || st.DroppedLogs != n-bound {
		t.Errorf("stats = %+v, want Emitted=%d Queued=%d DroppedLogs=%d", st, n, bound, n-bound)
	}
	t.Logf("%d Emits with a stuck sender took %v (%v each)", n-1, took, took/time.Duration(n-1))
	cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	_ = h.Close(cctx)
}

func TestQueueBoundsFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name          string
		env           map[string]string
		events, bytes int
		wantErr       []string
	}{
		{name: "unset", env: nil},
		{name: "both", env: map[string]string{"BLUELOCK_EMIT_QUEUE_EVENTS": "500", "BLUELOCK_EMIT_QUEUE_BYTES": "65536"}, events: 500, bytes: 65536},
		{name: "zero", env: map[string]string{"BLUELOCK_EMIT_QUEUE_EVENTS": "0"}, wantErr: []string{`BLUELOCK_EMIT_QUEUE_EVENTS="0"`}},
		{name: "both bad", env: map[string]string{"BLUELOCK_EMIT_QUEUE_EVENTS": "many", "BLUELOCK_EMIT_QUEUE_BYTES": "-1"},
			wantErr: []string{`BLUELOCK_EMIT_QUEUE_EVENTS="many"`, `BLUELOCK_EMIT_QUEUE_BYTES="-1"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events, bytes, err := QueueBoundsFromEnv(func(k string) string { return tc.env[k] })
			for _, w := range tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want one naming %s", err, w)
				}
			}
			if tc.wantErr == nil && (err != nil || events != tc.events || bytes != tc.bytes) {
				t.Errorf("= %d, %d, %v; want %d, %d", events, bytes, err, tc.events, tc.bytes)
			}
		})
	}
}
