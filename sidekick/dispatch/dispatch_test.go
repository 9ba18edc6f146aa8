package dispatch

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/kubearmor/KubeArmor/protobuf"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bluelock/bluelock/outputs"
	"github.com/bluelock/bluelock/schema"
)

// fakeOutput calls send for every event; it is safe for concurrent use.
type fakeOutput struct {
	name string
	send func(ctx context.Context, ev schema.Event) error
}

func (f *fakeOutput) Name() string                                    { return f.name }
func (f *fakeOutput) Send(ctx context.Context, ev schema.Event) error { return f.send(ctx, ev) }

type fakeBatch struct {
	fakeOutput
	max     int
	wait    time.Duration
	batches chan []schema.Event
}

func (f *fakeBatch) BatchLimits() (int, time.Duration) { return f.max, f.wait }
func (f *fakeBatch) SendBatch(_ context.Context, evs []schema.Event) error {
	f.batches <- evs
	return nil
}

func alert(i int, sev, action, ns string) schema.Event {
	return schema.NewAlert(&pb.Alert{Timestamp: int64(i + 1), HostName: "h", Type: schema.TypeMatchedPolicy, Operation: schema.OpFile,
		Severity: sev, Action: action, NamespaceName: ns, PID: int32(i)})
}

func logEv(i int, ns string) schema.Event {
	return schema.NewLog(&pb.Log{Timestamp: int64(i + 1), HostName: "h", Type: schema.TypeContainerLog, Operation: schema.OpProcess, NamespaceName: ns, PID: int32(i)})
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func noWait(ctx context.Context, _ time.Duration) error { return ctx.Err() }

func newDispatcher(t *testing.T, reg *prometheus.Registry, routes []Route, o Options) *Dispatcher {
	t.Helper()
	o.Registerer = reg
	if o.Backoff == nil {
		o.Backoff = func(int) time.Duration { return 0 }
	}
	if o.Wait == nil {
		o.Wait = noWait
	}
	d, err := New(routes, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = d.Shutdown(ctx)
	})
	return d
}

func counter(t *testing.T, c *prometheus.CounterVec, labels ...string) float64 {
	t.Helper()
	return testutil.ToFloat64(c.WithLabelValues(labels...))
}

func TestQueueFullDropsNewestAndCountsExactly(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	reg := prometheus.NewRegistry()
	started := make(chan int32, 100)
	release := make(chan struct{})
	var mu sync.Mutex
	var got []int32
	out := &fakeOutput{name: "slow", send: func(ctx context.Context, ev schema.Event) error {
		started <- ev.Alert.PID
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		mu.Lock()
		got = append(got, ev.Alert.PID)
		mu.Unlock()
		return nil
	}}
	d := newDispatcher(t, reg, []Route{{Output: out, QueueSize: 3, Workers: 1}}, Options{})
	d.Enqueue(alert(0, "5", "Block", "a"))
	select { // the worker holds event 0; the queue is empty again
	case <-started:
	case <-ctx.Done():
		t.Fatal("worker never started")
	}
	for i := 1; i <= 8; i++ { // 3 fit, 5 are dropped
		d.Enqueue(alert(i, "5", "Block", "a"))
	}
	if v := counter(t, d.m.drops, "slow", DropQueueFull); v != 5 {
		t.Errorf("queue_full drops = %v, want 5", v)
	}
	if v := testutil.ToFloat64(d.m.depth.WithLabelValues("slow")); v != 3 {
		t.Errorf("queue depth = %v, want 3", v)
	}
	close(release)
	if err := d.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	want := []int32{0, 1, 2, 3} // the oldest kept, the newest dropped
	if len(got) != len(want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("delivered %v, want %v", got, want)
		}
	}
	if v := counter(t, d.m.outputs, "slow", "ok"); v != 4 {
		t.Errorf("outputs ok = %v, want 4", v)
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	rateLimited := &outputs.SendError{Err: errors.New("HTTP 429"), Retryable: true, RetryAfter: 7 * time.Second, Reason: "ratelimit"}
	cases := []struct {
		name       string
		errs       []error // returned by successive attempts; nil after the list
		maxRetries int
		maxAge     time.Duration
		wantOK     float64
		wantDrop   string
		wantWaits  []time.Duration
		wantRetry  map[string]float64
	}{
		{name: "success first time", wantOK: 1},
		{name: "5xx then ok", errs: []error{&outputs.SendError{Err: errors.New("HTTP 503"), Retryable: true, Reason: "5xx"}}, maxRetries: 5,
			wantOK: 1, wantWaits: []time.Duration{time.Second}, wantRetry: map[string]float64{"5xx": 1}},
		{name: "retry-after longer than backoff wins", errs: []error{rateLimited}, maxRetries: 5,
			wantOK: 1, wantWaits: []time.Duration{7 * time.Second}, wantRetry: map[string]float64{"ratelimit": 1}},
		{name: "non-retryable dropped at once", errs: []error{&outputs.SendError{Err: errors.New("HTTP 400"), Reason: "4xx"}}, maxRetries: 5,
			wantDrop: DropNonRetryable},
		{name: "plain error is retried as unknown", errs: []error{errors.New("boom")}, maxRetries: 1,
			wantOK: 1, wantWaits: []time.Duration{time.Second}, wantRetry: map[string]float64{"unknown": 1}},
		{name: "max retries", errs: []error{rateLimited, rateLimited, rateLimited}, maxRetries: 2,
			wantDrop: DropMaxRetries, wantWaits: []time.Duration{7 * time.Second, 7 * time.Second}, wantRetry: map[string]float64{"ratelimit": 2}},
		{name: "max age", errs: []error{rateLimited}, maxRetries: 5, maxAge: 5 * time.Second, wantDrop: DropMaxAge},
		{name: "unbounded reason label", errs: []error{&outputs.SendError{Err: errors.New("x"), Retryable: true, Reason: "weird-" + strings.Repeat("x", 10)}}, maxRetries: 1,
			wantOK: 1, wantWaits: []time.Duration{time.Second}, wantRetry: map[string]float64{"other": 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			reg := prometheus.NewRegistry()
			var mu sync.Mutex
			attempt := 0
			out := &fakeOutput{name: "o", send: func(context.Context, schema.Event) error {
				mu.Lock()
				defer mu.Unlock()
				attempt++
				if attempt <= len(tc.errs) {
					return tc.errs[attempt-1]
				}
				return nil
			}}
			var waits []time.Duration
			d := newDispatcher(t, reg, []Route{{Output: out, MaxRetries: tc.maxRetries, MaxAge: tc.maxAge}}, Options{
				Backoff: func(int) time.Duration { return time.Second },
				Wait: func(ctx context.Context, w time.Duration) error {
					mu.Lock()
					waits = append(waits, w)
					mu.Unlock()
					return ctx.Err()
				},
			})
			d.Enqueue(alert(1, "5", "Block", "a"))
			if err := d.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if v := counter(t, d.m.outputs, "o", "ok"); v != tc.wantOK {
				t.Errorf("ok = %v, want %v", v, tc.wantOK)
			}
			for _, r := range dropReasons {
				want := 0.0
				if r == tc.wantDrop {
					want = 1
				}
				if v := counter(t, d.m.drops, "o", r); v != want {
					t.Errorf("drops{%s} = %v, want %v", r, v, want)
				}
			}
			if len(waits) != len(tc.wantWaits) {
				t.Fatalf("waits = %v, want %v", waits, tc.wantWaits)
			}
			for i := range waits {
				if waits[i] != tc.wantWaits[i] {
					t.Errorf("wait %d = %v, want %v", i, waits[i], tc.wantWaits[i])
				}
			}
			for _, r := range retryReasons {
				if v := counter(t, d.m.retries, "o", r); v != tc.wantRetry[r] {
					t.Errorf("retries{%s} = %v, want %v", r, v, tc.wantRetry[r])
				}
			}
		})
	}
}

func TestShutdownDrainsEverything(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	reg := prometheus.NewRegistry()
	release := make(chan struct{})
	var mu sync.Mutex
	n := 0
	out := &fakeOutput{name: "o", send: func(ctx context.Context, _ schema.Event) error {
		<-release
		mu.Lock()
		n++
		mu.Unlock()
		return nil
	}}
	d := newDispatcher(t, reg, []Route{{Output: out, Workers: 2}}, Options{})
	for i := range 50 {
		d.Enqueue(logEv(i, "a"))
	}
	errc := make(chan error, 1)
	go func() { errc <- d.Shutdown(ctx) }()
	close(release)
	if err := <-errc; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n != 50 {
		t.Errorf("delivered %d, want 50", n)
	}
	d.Enqueue(logEv(51, "a")) // after shutdown: counted, not lost silently
	if v := counter(t, d.m.drops, "o", DropShutdown); v != 1 {
		t.Errorf("drops{shutdown} after close = %v, want 1", v)
	}
}

func TestShutdownDeadlineCountsUndelivered(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	reg := prometheus.NewRegistry()
	started := make(chan struct{}, 10)
	out := &fakeOutput{name: "dead", send: func(ctx context.Context, _ schema.Event) error {
		started <- struct{}{}
		<-ctx.Done() // a hung endpoint: only cancellation ends it
		return &outputs.SendError{Err: ctx.Err(), Reason: "canceled"}
	}}
	d := newDispatcher(t, reg, []Route{{Output: out}}, Options{})
	for i := range 5 {
		d.Enqueue(logEv(i, "a"))
	}
	<-started
	sctx, cancel := context.WithCancel(ctx)
	cancel() // the deadline has already passed
	err := d.Shutdown(sctx)
	if err == nil || !strings.Contains(err.Error(), "5 events not delivered") {
		t.Fatalf("Shutdown = %v, want 5 events not delivered", err)
	}
	if v := counter(t, d.m.drops, "dead", DropShutdown); v != 5 {
		t.Errorf("drops{shutdown} = %v, want 5", v)
	}
}

func TestSlowOutputDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	reg := prometheus.NewRegistry()
	block := make(chan struct{})
	slow := &fakeOutput{name: "slow", send: func(ctx context.Context, _ schema.Event) error {
		select {
		case <-block:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	fast := make(chan schema.Event, 1000)
	quick := &fakeOutput{name: "quick", send: func(_ context.Context, ev schema.Event) error { fast <- ev; return nil }}
	d := newDispatcher(t, reg, []Route{{Output: slow, QueueSize: 10}, {Output: quick}}, Options{})
	const n = 500
	for i := range n {
		d.Enqueue(alert(i, "5", "Block", "a"))
	}
	for i := range n {
		select {
		case <-fast:
		case <-ctx.Done():
			t.Fatalf("quick output got %d of %d events while slow is blocked", i, n)
		}
	}
	if v := counter(t, d.m.drops, "slow", DropQueueFull); v != n-10-1 && v != n-10 {
		t.Errorf("slow drops = %v, want %d or %d (one may be in flight)", v, n-11, n-10)
	}
	close(block)
}

func TestBatchOutput(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	reg := prometheus.NewRegistry()
	b := &fakeBatch{fakeOutput: fakeOutput{name: "batch"}, max: 4, wait: time.Hour, batches: make(chan []schema.Event, 10)}
	d := newDispatcher(t, reg, []Route{{Output: b}}, Options{})
	for i := range 10 {
		d.Enqueue(logEv(i, "a"))
	}
	for _, want := range []int{4, 4} { // full batches go without waiting
		select {
		case got := <-b.batches:
			if len(got) != want {
				t.Fatalf("batch of %d, want %d", len(got), want)
			}
		case <-ctx.Done():
			t.Fatal("no batch")
		}
	}
	if err := d.Shutdown(ctx); err != nil { // the partial batch is flushed on shutdown
		t.Fatal(err)
	}
	if got := <-b.batches; len(got) != 2 {
		t.Fatalf("last batch of %d, want 2", len(got))
	}
	if v := counter(t, d.m.outputs, "batch", "ok"); v != 10 {
		t.Errorf("ok = %v, want 10", v)
	}
}

func TestBatchMaxWait(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	reg := prometheus.NewRegistry()
	b := &fakeBatch{fakeOutput: fakeOutput{name: "batch"}, max: 100, wait: time.Millisecond, batches: make(chan []schema.Event, 10)}
	d := newDispatcher(t, reg, []Route{{Output: b}}, Options{})
	d.Enqueue(logEv(1, "a"))
	select { // a lone event leaves after MaxWait, not at shutdown
	case got := <-b.batches:
		if len(got) != 1 {
			t.Fatalf("batch of %d, want 1", len(got))
		}
	case <-ctx.Done():
		t.Fatal("MaxWait never flushed the batch")
	}
}

func TestPanickingOutputIsContained(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	reg := prometheus.NewRegistry()
	out := &fakeOutput{name: "bad", send: func(context.Context, schema.Event) error { panic("oops") }}
	d := newDispatcher(t, reg, []Route{{Output: out, MaxRetries: 3}}, Options{})
	d.Enqueue(logEv(1, "a"))
	if err := d.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if v := counter(t, d.m.drops, "bad", DropNonRetryable); v != 1 {
		t.Errorf("drops{non_retryable} = %v, want 1", v)
	}
}

func TestMetricsPreCreatedAtZero(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	newDispatcher(t, reg, []Route{{Output: &fakeOutput{name: "a"}}, {Output: &fakeOutput{name: "b"}}}, Options{})
	n, err := testutil.GatherAndCount(reg, "bluelock_sidekick_output_drops_total", "bluelock_sidekick_outputs_total", "bluelock_sidekick_output_retries_total", "bluelock_sidekick_output_queue_depth")
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * (len(dropReasons) + 2 + len(retryReasons) + 1); n != want {
		t.Errorf("series = %d, want %d", n, want)
	}
}

func TestNewRejectsBadRoutes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		routes []Route
		want   string
	}{
		{"nil output", []Route{{}}, "route 0 has no output"},
		{"duplicate", []Route{{Output: &fakeOutput{name: "x"}}, {Output: &fakeOutput{name: "x"}}}, `two outputs named "x"`},
	}
	for _, tc := range cases {
		_, err := New(tc.routes, Options{Registerer: prometheus.NewRegistry()})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestDefaultBackoff(t *testing.T) {
	t.Parallel()
	for retry, want := range map[int][2]time.Duration{1: {250 * time.Millisecond, 500 * time.Millisecond}, 2: {500 * time.Millisecond, time.Second}, 3: {time.Second, 2 * time.Second}, 50: {15 * time.Second, 30 * time.Second}} {
		for range 100 {
			if d := DefaultBackoff(retry); d < want[0] || d > want[1] {
				t.Fatalf("DefaultBackoff(%d) = %v, want in [%v, %v]", retry, d, want[0], want[1])
			}
		}
	}
}
