package emit

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluelock/bluelock/schema"
	"github.com/bluelock/bluelock/tracer/container"
)

// Defaults. The queue bounds cap the tracer's memory for telemetry at about
// MaxQueueBytes no matter how long the sidekick is away.
const (
	DefaultSidekickURL    = "http://localhost:2801/"
	DefaultMaxQueueEvents = 10_000
	DefaultMaxQueueBytes  = 16 << 20
	DefaultMaxBatchEvents = 500
	DefaultMaxBatchBytes  = 1 << 20
	DefaultRequestTimeout = 10 * time.Second
	// DefaultLinger is how long the sender waits, once woken by an event,
	// before it takes the batch (queue.linger says why, and why not 1 ms).
	DefaultLinger = 10 * time.Millisecond
	// maxRetryAfter caps a sidekick's Retry-After: the sidekick is a local
	// sidecar, a longer wait would only turn into drops.
	maxRetryAfter = 30 * time.Second
	// maxErrorText bounds how much of a refusal's body we read and log.
	maxErrorText = 512
	// maxDistinctErrors bounds the "log each refusal text once" memory.
	maxDistinctErrors = 64
)

// HTTPConfig configures the sidekick emitter. Zero values take the defaults.
type HTTPConfig struct {
	// URL of the sidekick's event endpoint (SIDEKICK_URL).
	URL string
	// Token, when set, is sent as "Authorization: Bearer <Token>" (SIDEKICK_TOKEN).
	Token string
	// CAFile verifies an https sidekick; CertFile and KeyFile are the client
	// certificate for mTLS (SIDEKICK_CA_FILE, SIDEKICK_CERT_FILE, SIDEKICK_KEY_FILE).
	CAFile, CertFile, KeyFile string

	// MaxQueueEvents and MaxQueueBytes bound what the emitter holds
	// (queued plus the batch in flight).
	MaxQueueEvents int
	MaxQueueBytes  int
	// MaxBatchEvents and MaxBatchBytes bound one POST.
	MaxBatchEvents int
	MaxBatchBytes  int
	// RequestTimeout bounds one POST.
	RequestTimeout time.Duration
	// Linger is how long the sender gathers events after the first of a
	// burst before it sends them: 0 means DefaultLinger, negative none.
	Linger time.Duration

	// Container fills the container fields of the drop report.
	Container container.Info

	// Client overrides the HTTP client built from the TLS options (tests).
	Client *http.Client
	// Backoff is the wait before retry number attempt (1, 2, ...); the
	// default is exponential from 100 ms to 5 s with jitter.
	Backoff func(attempt int) time.Duration
	// Wait sleeps for d or until ctx is done; tests replace it to record the
	// waits instead of sleeping.
	Wait func(ctx context.Context, d time.Duration) error
	// Now is the clock for drop reports and HTTP-date Retry-After.
	Now func() time.Time
}

// HTTPConfigFromEnv reads the sidekick settings from the environment.
func HTTPConfigFromEnv(getenv func(string) string) (HTTPConfig, error) {
	cfg := HTTPConfig{
		URL:      getenv("SIDEKICK_URL"),
		Token:    getenv("SIDEKICK_TOKEN"),
		CAFile:   getenv("SIDEKICK_CA_FILE"),
		CertFile: getenv("SIDEKICK_CERT_FILE"),
		KeyFile:  getenv("SIDEKICK_KEY_FILE"),
	}
	var err error
	cfg.MaxQueueEvents, cfg.MaxQueueBytes, err = QueueBoundsFromEnv(getenv)
	return cfg, err
}

// QueueBoundsFromEnv reads the queue bounds every emitter takes,
// BLUELOCK_EMIT_QUEUE_EVENTS and BLUELOCK_EMIT_QUEUE_BYTES: 0 where unset
// (the default), an error naming each value that is not a positive integer.
func QueueBoundsFromEnv(getenv func(string) string) (events, bytes int, err error) {
	var errs []error
	for _, e := range []struct {
		name string
		dst  *int
	}{
		{"BLUELOCK_EMIT_QUEUE_EVENTS", &events},
		{"BLUELOCK_EMIT_QUEUE_BYTES", &bytes},
	} {
		v := getenv(e.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("%s=%q: want a positive integer", e.name, v))
			continue
		}
		*e.dst = n
	}
	return events, bytes, errors.Join(errs...)
}

func (c *HTTPConfig) setDefaults() {
	if c.URL == "" {
		c.URL = DefaultSidekickURL
	}
	if c.Linger == 0 {
		c.Linger = DefaultLinger
	}
	if c.MaxQueueEvents <= 0 {
		c.MaxQueueEvents = DefaultMaxQueueEvents
	}
	if c.MaxQueueBytes <= 0 {
		c.MaxQueueBytes = DefaultMaxQueueBytes
	}
	if c.MaxBatchEvents <= 0 {
		c.MaxBatchEvents = DefaultMaxBatchEvents
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.Backoff == nil {
		c.Backoff = DefaultBackoff
	}
	if c.Wait == nil {
		c.Wait = sleepCtx
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// DefaultBackoff is exponential from 100 ms, capped at 5 s, with jitter in
// [d/2, d) so that many tracers restarting with one sidekick do not retry
// in lockstep.
func DefaultBackoff(attempt int) time.Duration {
	d := 5 * time.Second
	if attempt < 7 {
		d = 100 * time.Millisecond << max(attempt-1, 0)
		d = min(d, 5*time.Second)
	}
	return d/2 + rand.N(d/2)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
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

// HTTP sends events to the sidekick as NDJSON batches. Emit never blocks;
// one goroutine marshals, posts and retries.
type HTTP struct {
	cfg    HTTPConfig
	logger *slog.Logger
	client *http.Client
	q      *queue

	// ctx is cancelled when Close gives up: it aborts the POST in flight
	// and any backoff wait.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	sent, rejected, retries, batches, sysEvents atomic.Uint64

	// id names this emitter in Idempotency-Key headers.
	id string

	// Owned by the sender goroutine.
	reportKey string
	batch     []item
	body      bytes.Buffer
	enc       *encoder // writes into body
	offs      []int
	seenErrs  map[string]struct{}
	rep       reporter
	failing   bool
}

// NewHTTP validates cfg and starts the sender goroutine. Close stops it.
func NewHTTP(cfg HTTPConfig, logger *slog.Logger) (*HTTP, error) {
	cfg.setDefaults()
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("sidekick URL %q: want http(s)://host[:port]/path", cfg.URL)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	client := cfg.Client
	if client == nil {
		client, err = newClient(cfg)
		if err != nil {
			return nil, err
		}
	}
	cfg.Container = withHostName(cfg.Container)
	ctx, cancel := context.WithCancel(context.Background())
	h := &HTTP{
		cfg:      cfg,
		logger:   logger.With("emitter", "sidekick", "url", u.Scheme+"://"+u.Host),
		client:   client,
		q:        newQueue(cfg.MaxQueueEvents, cfg.MaxQueueBytes),
		ctx:      ctx,
		cancel:   cancel,
		done:     make(chan struct{}),
		seenErrs: make(map[string]struct{}),
		id:       fmt.Sprintf("%016x", rand.Uint64()),
	}
	h.enc = newEncoder(&h.body)
	go h.run()
	return h, nil
}

func newClient(cfg HTTPConfig) (*http.Client, error) {
	tr := &http.Transport{
		// The sidekick is a sidecar on localhost: never go through a proxy.
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          2,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: cfg.RequestTimeout,
	}
	if cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("sidekick CA: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("sidekick CA %s: no PEM certificate found", cfg.CAFile)
			}
			tc.RootCAs = pool
		}
		if cfg.CertFile != "" || cfg.KeyFile != "" {
			if cfg.CertFile == "" || cfg.KeyFile == "" {
				return nil, errors.New("sidekick client certificate: need both SIDEKICK_CERT_FILE and SIDEKICK_KEY_FILE")
			}
			cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("sidekick client certificate: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		tr.TLSClientConfig = tc
	}
	return &http.Client{Transport: tr}, nil
}

// Emit queues ev for delivery or counts it as dropped. It never blocks and
// does not marshal: safe on the stop loop. The caller must not modify ev
// after handing it over.
func (h *HTTP) Emit(ev schema.Event) { h.q.push(ev) }

// Stats returns the counters.
func (h *HTTP) Stats() Stats {
	return Stats{
		Emitted:       h.q.c.emitted.Load(),
		Queued:        h.q.held(),
		Sent:          h.sent.Load(),
		DroppedAlerts: h.q.c.droppedAlerts.Load(),
		DroppedLogs:   h.q.c.droppedLogs.Load(),
		Rejected:      h.rejected.Load(),
		Retries:       h.retries.Load(),
		Batches:       h.batches.Load(),
		SystemEvents:  h.sysEvents.Load(),
	}
}

// Close stops accepting events and delivers what is queued until ctx is
// done; whatever is left then is counted as dropped and reported in the
// error. Close is safe to call more than once.
func (h *HTTP) Close(ctx context.Context) error {
	h.once.Do(h.q.close)
	before := h.Stats()
	select {
	case <-h.done:
	case <-ctx.Done():
		h.cancel()
		<-h.done
	}
	h.cancel()
	after := h.Stats()
	if lost := (after.DroppedAlerts + after.DroppedLogs) - (before.DroppedAlerts + before.DroppedLogs); lost > 0 {
		return fmt.Errorf("sidekick emitter: %d events not delivered before the close deadline: %w", lost, ctx.Err())
	}
	return nil
}

// run is the sender: take a batch, deliver it (retrying), report drops.
func (h *HTTP) run() {
	defer close(h.done)
	linger := newStoppedTimer()
	for {
		h.batch = h.q.take(h.batch[:0], h.cfg.MaxBatchEvents, h.cfg.MaxBatchBytes)
		if len(h.batch) == 0 {
			if h.q.isClosed() {
				// Flushed: tell the consumers about drops they have not
				// heard of, then stop.
				h.report()
				return
			}
			select {
			case <-h.q.wake:
			case <-h.ctx.Done():
			}
			h.q.linger(linger, h.cfg.Linger, h.ctx.Done())
			if h.ctx.Err() != nil {
				h.q.dropAll()
				return
			}
			continue
		}
		delivered := h.deliver(h.batch, false)
		h.q.release(h.batch)
		clear(h.batch) // drop references to the events
		if h.ctx.Err() != nil {
			h.q.dropAll()
			return
		}
		if delivered {
			h.report()
		}
	}
}

// report sends a SystemEvent for full-queue drops not reported yet. It runs
// only after a delivery succeeded, i.e. once the sidekick is reachable again.
func (h *HTTP) report() {
	a, l, ok := h.rep.pending(&h.q.c)
	if !ok || h.ctx.Err() != nil {
		return
	}
	ev := dropReport(h.cfg.Container, h.cfg.Now(), a, l)
	h.reportKey = fmt.Sprintf("%s-report-%d-%d", h.id, h.rep.alerts+a, h.rep.logs+l)
	if h.deliver([]item{{ev: ev, alert: true}}, true) || h.ctx.Err() == nil {
		// Delivered, or refused for good: either way, do not repeat it
		// after every batch. Only a Close deadline leaves it pending.
		h.rep.done(a, l)
	}
}

// deliver marshals batch as NDJSON and posts it until it is accepted,
// refused, or the emitter is closed. It accounts for every event in batch
// and reports whether any of them was accepted.
func (h *HTTP) deliver(batch []item, sys bool) bool {
	h.body.Reset()
	h.offs = append(h.offs[:0], 0)
	kept := batch[:0:0]
	for i := range batch {
		if err := h.enc.encode(batch[i].ev); err != nil {
			h.rejected.Add(1)
			h.logOnce("marshal", err.Error())
			continue
		}
		h.offs = append(h.offs, h.body.Len())
		kept = append(kept, batch[i])
	}
	if len(kept) == 0 {
		return false
	}
	return h.sendRange(kept, h.body.Bytes(), h.offs, 0, len(kept), sys)
}

// sendRange posts events [lo, hi) of the encoded batch, retrying what can
// succeed later. A 413 splits the batch in halves until it fits; another
// 4xx ends the batch, counting as rejected what the sidekick did not accept.
func (h *HTTP) sendRange(items []item, body []byte, offs []int, lo, hi int, sys bool) bool {
	for attempt := 1; ; attempt++ {
		err := h.post(body[offs[lo]:offs[hi]], h.idempotencyKey(items, lo, hi, sys))
		if err == nil {
			h.batches.Add(1)
			if sys {
				h.sysEvents.Add(uint64(hi - lo))
			} else {
				h.sent.Add(uint64(hi - lo))
			}
			if h.failing {
				h.failing = false
				h.logger.Info("sidekick delivery resumed", "retries", h.retries.Load())
			}
			return true
		}
		var pe *postError
		if errors.As(err, &pe) && !pe.retryable {
			n := hi - lo
			if pe.status == http.StatusRequestEntityTooLarge && n > 1 {
				// Nothing was taken: halve the body until it fits.
				mid := lo + n/2
				a := h.sendRange(items, body, offs, lo, mid, sys)
				b := h.sendRange(items, body, offs, mid, hi, sys)
				return a || b
			}
			// The sidekick keeps the valid events of a body and refuses
			// the others with a 400 that counts what it accepted: resending
			// would duplicate the accepted ones, so the batch is done.
			accepted := 0
			if pe.accepted >= 0 && pe.accepted <= n {
				accepted = pe.accepted
			}
			if accepted > 0 {
				h.batches.Add(1)
				if sys {
					h.sysEvents.Add(uint64(accepted))
				} else {
					h.sent.Add(uint64(accepted))
				}
			}
			h.rejected.Add(uint64(n - accepted))
			h.logOnce(strconv.Itoa(pe.status), pe.text)
			return accepted > 0
		}
		if h.ctx.Err() != nil {
			h.dropItems(items[lo:hi], sys)
			return false
		}
		h.retries.Add(1)
		if !h.failing {
			h.failing = true
			h.logger.Warn("sidekick unreachable, retrying; events queue up and the oldest logs are dropped when full", "err", err)
		} else {
			h.logger.Debug("sidekick retry", "attempt", attempt, "err", err)
		}
		wait := h.cfg.Backoff(attempt)
		if errors.As(err, &pe) && pe.retryAfter > 0 {
			wait = pe.retryAfter
		}
		if h.cfg.Wait(h.ctx, wait) != nil {
			h.dropItems(items[lo:hi], sys)
			return false
		}
	}
}

func (h *HTTP) dropItems(items []item, sys bool) {
	if sys {
		return // a lost report is not an event the tracer emitted
	}
	for i := range items {
		h.q.c.drop(items[i].alert, false)
	}
}

// logOnce logs each distinct refusal text once, so a sidekick refusing
// every batch for the same reason does not flood the tracer's log.
func (h *HTTP) logOnce(kind, text string) {
	key := kind + " " + text
	if _, ok := h.seenErrs[key]; ok {
		return
	}
	if len(h.seenErrs) < maxDistinctErrors {
		h.seenErrs[key] = struct{}{}
	}
	h.logger.Error("sidekick refused events; dropping them", "status", kind, "error", text)
}

// postError is a POST that got an HTTP answer other than 2xx.
type postError struct {
	status     int
	text       string
	retryable  bool
	retryAfter time.Duration
	// accepted is the sidekick's count of events it kept from a refused
	// body (its 400 answer's "accepted" field), or -1 when it gave none.
	accepted int
}

func (e *postError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.status, e.text) }

// idempotencyKey names the events [lo, hi) of a batch, the same on every
// retry. Delivery is at least once: when the sidekick delivered a batch but
// its answer was lost (it crashed, the connection broke), the retry carries
// the same key, so a sidekick that remembers recent keys can drop the
// duplicate. Events are named by their emission sequence number; a drop
// report by the cumulative counts it brings the reports up to.
func (h *HTTP) idempotencyKey(items []item, lo, hi int, sys bool) string {
	if sys {
		return h.reportKey
	}
	return fmt.Sprintf("%s-%d-%d", h.id, items[lo].seq, hi-lo)
}

func (h *HTTP) post(body []byte, key string) error {
	ctx, cancel := context.WithTimeout(h.ctx, h.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Idempotency-Key", key)
	if h.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+h.cfg.Token)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// Drain so the connection is reused (keep-alive).
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	text := strings.TrimSpace(string(answer))
	if len(text) > maxErrorText {
		text = text[:maxErrorText] + "..."
	}
	pe := &postError{status: resp.StatusCode, text: text, accepted: acceptedCount(answer)}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		pe.retryable = true
		pe.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), h.cfg.Now())
	case resp.StatusCode == http.StatusRequestTimeout:
		pe.retryable = true
	}
	return pe
}

// acceptedCount reads the "accepted" count of a sidekick's 400 answer
// ({"accepted": 3, "rejected": [...]}), -1 if there is none.
func acceptedCount(answer []byte) int {
	var v struct {
		Accepted *int `json:"accepted"`
	}
	if json.Unmarshal(answer, &v) != nil || v.Accepted == nil {
		return -1
	}
	return *v.Accepted
}

// parseRetryAfter reads delta-seconds or an HTTP date, capped at maxRetryAfter.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.Atoi(v); err == nil {
		if secs > int(maxRetryAfter/time.Second) {
			return maxRetryAfter // and no overflow below
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}
