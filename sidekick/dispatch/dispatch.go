package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bluelock/bluelock/outputs"
	"github.com/bluelock/bluelock/schema"
)

// Defaults for a Route's zero fields.
const (
	DefaultQueueSize      = 10000
	DefaultWorkers        = 1
	DefaultAttemptTimeout = 30 * time.Second
	DefaultMaxBatch       = 100
	DefaultMaxWait        = time.Second
)

// Route is one output and how it is fed.
type Route struct {
	Output outputs.Output
	Filter Filter
	// QueueSize bounds the events waiting for this output (default 10000).
	QueueSize int
	// Workers is the number of concurrent sends (default 1).
	Workers int
	// MaxRetries is the number of retries after the first attempt; 0 means
	// none (the config layer's default is 5).
	MaxRetries int
	// MaxAge stops retrying an event queued longer ago than this; 0 = no limit.
	MaxAge time.Duration
	// AttemptTimeout bounds one Send/SendBatch call (default 30s).
	AttemptTimeout time.Duration
}

// Options are the dispatcher's dependencies; zero values get defaults.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Backoff returns the wait before retry n (1-based); default
	// DefaultBackoff. Tests pass func(int) time.Duration { return 0 }.
	Backoff func(retry int) time.Duration
	// Wait sleeps d or until ctx is done; default a timer. Tests inject it to
	// observe the waits without sleeping.
	Wait func(ctx context.Context, d time.Duration) error
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// DefaultBackoff is exponential from 500ms, doubling, capped at 30s, with
// "equal jitter": half fixed, half random, so a fleet of sidekicks hit by
// one outage does not retry in lockstep.
func DefaultBackoff(retry int) time.Duration {
	d := 500 * time.Millisecond << min(max(retry-1, 0), 6)
	d = min(d, 30*time.Second)
	return d/2 + rand.N(d/2+1)
}

func timerWait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type item struct {
	ev schema.Event
	at time.Time
}

type route struct {
	Route
	name     string
	batch    outputs.BatchOutput // nil unless the output batches
	maxBatch int
	maxWait  time.Duration
	q        chan item
	log      *slog.Logger
	depth    prometheus.Gauge
}

// Dispatcher owns the queues and workers of every route.
type Dispatcher struct {
	routes []*route
	m      *metrics
	o      Options

	mu     sync.RWMutex // guards closed against the queues being closed
	closed bool

	runCtx context.Context // cancelled when the shutdown deadline passes
	cancel context.CancelFunc
	wg     sync.WaitGroup

	undelivered atomic.Int64 // events dropped for shutdown
}

// New builds the dispatcher and starts every route's workers. Call Shutdown
// to stop them.
func New(routes []Route, o Options) (*Dispatcher, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		return nil, errors.New("dispatch: Options.Registerer is required")
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	if o.Wait == nil {
		o.Wait = timerWait
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, fmt.Errorf("dispatch: register metrics: %w", err)
	}
	d := &Dispatcher{m: m, o: o}
	seen := map[string]bool{}
	for i, r := range routes {
		if r.Output == nil {
			return nil, fmt.Errorf("dispatch: route %d has no output", i)
		}
		name := r.Output.Name()
		if seen[name] {
			return nil, fmt.Errorf("dispatch: two outputs named %q", name)
		}
		seen[name] = true
		if r.QueueSize <= 0 {
			r.QueueSize = DefaultQueueSize
		}
		if r.Workers <= 0 {
			r.Workers = DefaultWorkers
		}
		if r.AttemptTimeout <= 0 {
			r.AttemptTimeout = DefaultAttemptTimeout
		}
		rt := &route{Route: r, name: name, q: make(chan item, r.QueueSize), log: o.Logger.With("output", name)}
		if bo, ok := r.Output.(outputs.BatchOutput); ok {
			rt.batch = bo
			rt.maxBatch, rt.maxWait = bo.BatchLimits()
			if rt.maxBatch <= 0 {
				rt.maxBatch = DefaultMaxBatch
			}
			if rt.maxWait <= 0 {
				rt.maxWait = DefaultMaxWait
			}
		}
		m.initFor(name)
		rt.depth = m.depth.WithLabelValues(name)
		d.routes = append(d.routes, rt)
	}
	// The run context is the workers' own: Shutdown cancels it at its deadline.
	d.runCtx, d.cancel = context.WithCancel(context.Background())
	for _, r := range d.routes {
		for range r.Workers {
			d.wg.Add(1)
			if r.batch != nil {
				go d.batchWorker(r)
			} else {
				go d.worker(r)
			}
		}
	}
	return d, nil
}

// Names lists the outputs in route order.
func (d *Dispatcher) Names() []string {
	out := make([]string, len(d.routes))
	for i, r := range d.routes {
		out[i] = r.name
	}
	return out
}

// Enqueue offers ev to every output whose filter matches. It never blocks.
func (d *Dispatcher) Enqueue(ev schema.Event) { d.enqueue(ev, false) }

// EnqueueTest offers ev to every output, bypassing filters (the /test
// endpoint, like falcosidekick's "Test rule").
func (d *Dispatcher) EnqueueTest(ev schema.Event) { d.enqueue(ev, true) }

func (d *Dispatcher) enqueue(ev schema.Event, bypass bool) {
	it := item{ev: ev, at: d.o.Now()}
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, r := range d.routes {
		if !bypass && !r.Filter.Match(ev) {
			d.m.filtered.WithLabelValues(r.name).Inc()
			continue
		}
		if d.closed {
			d.drop(r, DropShutdown, 1)
			continue
		}
		select {
		case r.q <- it:
			r.depth.Set(float64(len(r.q)))
		default:
			d.drop(r, DropQueueFull, 1)
		}
	}
}

func (d *Dispatcher) drop(r *route, reason string, n int) {
	d.m.drops.WithLabelValues(r.name, reason).Add(float64(n))
	if reason == DropShutdown {
		d.undelivered.Add(int64(n))
	}
}

// Shutdown stops intake and drains every queue until ctx is done; then it
// cancels in-flight sends and counts what is left as dropped (shutdown). It
// returns an error saying how many events were not delivered, if any.
func (d *Dispatcher) Shutdown(ctx context.Context) error {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		for _, r := range d.routes {
			close(r.q)
		}
	}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		d.cancel()
		<-done // workers now drop without sending; this is quick
	}
	d.cancel()
	if n := d.undelivered.Load(); n > 0 {
		return fmt.Errorf("dispatch: shutdown: %d events not delivered", n)
	}
	return nil
}

func (d *Dispatcher) worker(r *route) {
	defer d.wg.Done()
	for it := range r.q {
		r.depth.Set(float64(len(r.q)))
		if d.runCtx.Err() != nil {
			d.drop(r, DropShutdown, 1)
			continue
		}
		d.deliver(r, []item{it})
	}
}

func (d *Dispatcher) batchWorker(r *route) {
	defer d.wg.Done()
	batch := make([]item, 0, r.maxBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var timerC <-chan time.Time
	flush := func() {
		timer.Stop()
		timerC = nil
		if len(batch) == 0 {
			return
		}
		if d.runCtx.Err() != nil {
			d.drop(r, DropShutdown, len(batch))
		} else {
			d.deliver(r, batch)
		}
		batch = make([]item, 0, r.maxBatch)
	}
	for {
		select {
		case it, ok := <-r.q:
			if !ok {
				flush()
				return
			}
			r.depth.Set(float64(len(r.q)))
			batch = append(batch, it)
			if len(batch) == 1 {
				timer.Reset(r.maxWait)
				timerC = timer.C
			}
			if len(batch) >= r.maxBatch {
				flush()
			}
		case <-timerC:
			flush()
		}
	}
}

// deliver sends one event (or one batch) with retries.
func (d *Dispatcher) deliver(r *route, items []item) {
	n := len(items)
	oldest := items[0].at
	for retry := 0; ; retry++ {
		err := d.attempt(r, items)
		if err == nil {
			d.m.outputs.WithLabelValues(r.name, "ok").Add(float64(n))
			now := d.o.Now()
			h := d.m.latency.WithLabelValues(r.name)
			for _, it := range items {
				h.Observe(now.Sub(it.at).Seconds())
			}
			return
		}
		d.m.outputs.WithLabelValues(r.name, "error").Add(float64(n))
		if d.runCtx.Err() != nil {
			d.drop(r, DropShutdown, n)
			return
		}
		reason, retryable, retryAfter := "unknown", true, time.Duration(0)
		var se *outputs.SendError
		if errors.As(err, &se) {
			reason, retryable, retryAfter = retryReason(se.Reason), se.Retryable, se.RetryAfter
		}
		if !retryable {
			r.log.Warn("dropping events: non-retryable error", "events", n, "reason", reason, "err", err)
			d.drop(r, DropNonRetryable, n)
			return
		}
		if retry >= r.MaxRetries {
			r.log.Warn("dropping events: retries exhausted", "events", n, "attempts", retry+1, "reason", reason, "err", err)
			d.drop(r, DropMaxRetries, n)
			return
		}
		wait := max(d.o.Backoff(retry+1), retryAfter)
		if r.MaxAge > 0 && d.o.Now().Add(wait).Sub(oldest) > r.MaxAge {
			r.log.Warn("dropping events: too old to retry", "events", n, "max_age", r.MaxAge, "reason", reason, "err", err)
			d.drop(r, DropMaxAge, n)
			return
		}
		d.m.retries.WithLabelValues(r.name, reason).Inc()
		r.log.Debug("retrying", "events", n, "retry", retry+1, "wait", wait, "reason", reason, "err", err)
		if err := d.o.Wait(d.runCtx, wait); err != nil {
			d.drop(r, DropShutdown, n)
			return
		}
	}
}

func (d *Dispatcher) attempt(r *route, items []item) (err error) {
	ctx, cancel := context.WithTimeout(d.runCtx, r.AttemptTimeout)
	defer cancel()
	defer func() {
		// A panicking output must not take the sidekick and every other
		// output down with it: its events are dropped and counted.
		if p := recover(); p != nil {
			err = &outputs.SendError{Err: fmt.Errorf("output panicked: %v", p), Reason: "invalid"}
		}
	}()
	if r.batch != nil {
		evs := make([]schema.Event, len(items))
		for i, it := range items {
			evs[i] = it.ev
		}
		return r.batch.SendBatch(ctx, evs)
	}
	return r.Output.Send(ctx, items[0].ev)
}
