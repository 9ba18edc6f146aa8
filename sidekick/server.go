package sidekick

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	pb "github.com/kubearmor/KubeArmor/protobuf"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bluelock/bluelock/schema"
)

// Enqueuer receives accepted events (a *dispatch.Dispatcher).
type Enqueuer interface {
	Enqueue(ev schema.Event)
	EnqueueTest(ev schema.Event)
}

// HandlerConfig configures the HTTP handler.
type HandlerConfig struct {
	BodyLimit int64  // bytes; over it → 413
	AuthToken string // if set, "Authorization: Bearer <token>" on / and /test
	HostName  string // HostName of /test alerts
	// MaxConcurrent bounds requests decoding at once (memory ≤ MaxConcurrent
	// × BodyLimit); others wait for a slot.
	MaxConcurrent int
	// Now stamps /test alerts; default time.Now.
	Now func() time.Time
}

// maxListedErrors bounds the rejection list in one reply.
const maxListedErrors = 100

// Reply is the JSON body of POST / and /test.
type Reply struct {
	Accepted int      `json:"accepted"`
	Rejected int      `json:"rejected,omitempty"`
	Errors   []string `json:"errors,omitempty"`
	// More is how many rejections are not listed in Errors.
	More int `json:"more,omitempty"`
}

// NewHandler returns the sidekick's HTTP handler. gatherer serves /metrics.
func NewHandler(cfg HandlerConfig, logger *slog.Logger, reg prometheus.Registerer, gatherer prometheus.Gatherer, q Enqueuer) (http.Handler, error) {
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = DefaultBodyLimit
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 64
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HostName == "" {
		cfg.HostName = "bluelock-sidekick"
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("sidekick: register metrics: %w", err)
	}
	h := &handler{cfg: cfg, log: logger, m: m, q: q, slots: make(chan struct{}, cfg.MaxConcurrent)}
	mux := http.NewServeMux()
	mux.HandleFunc("/", h.ingest)
	mux.HandleFunc("/test", h.test)
	addProbes(mux, logger, gatherer)
	return mux, nil
}

// ProbeHandler serves only /healthz, /ping and /metrics: the plain-HTTP
// listener (TLSSERVER_NOTLSPORT) next to a TLS ingest port, so probes and
// scrapers need no client certificate.
func ProbeHandler(logger *slog.Logger, gatherer prometheus.Gatherer) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	addProbes(mux, logger, gatherer)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpError(w, http.StatusNotFound, fmt.Sprintf("%s is not served on the plain-HTTP port; send events to the TLS port", r.URL.Path))
	})
	return mux
}

func addProbes(mux *http.ServeMux, logger *slog.Logger, gatherer prometheus.Gatherer) {
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("/ping", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("pong\n"))
	})
	mux.Handle("/metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelError)}))
}

type handler struct {
	cfg   HandlerConfig
	log   *slog.Logger
	m     *metrics
	q     Enqueuer
	slots chan struct{}
}

func (h *handler) authorized(w http.ResponseWriter, r *http.Request) bool {
	if h.cfg.AuthToken == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(h.cfg.AuthToken)) == 1 {
		return true
	}
	h.m.inputs.WithLabelValues(InputUnauthorized).Inc()
	w.Header().Set("WWW-Authenticate", `Bearer realm="bluelock-sidekick"`)
	httpError(w, http.StatusUnauthorized, "missing or wrong bearer token (Authorization: Bearer <AUTH_TOKEN>)")
	return false
}

func (h *handler) ingest(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		httpError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint %s; POST events to /", r.URL.Path))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed: POST events to /", r.Method))
		return
	}
	if !h.authorized(w, r) {
		return
	}
	if msg := checkContentType(r.Header.Get("Content-Type")); msg != "" {
		h.m.inputs.WithLabelValues(InputRejected).Inc()
		httpError(w, http.StatusUnsupportedMediaType, msg)
		return
	}
	if r.ContentLength > h.cfg.BodyLimit {
		h.tooLarge(w)
		return
	}
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	case <-r.Context().Done():
		return
	}
	b, err := schema.DecodeBatch(r.Body, h.cfg.BodyLimit)
	switch {
	case errors.Is(err, schema.ErrTooLarge):
		h.tooLarge(w)
		return
	case errors.Is(err, schema.ErrEmpty):
		h.m.inputs.WithLabelValues(InputRejected).Inc()
		httpError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		h.m.inputs.WithLabelValues(InputRejected).Inc()
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	for _, ev := range b.Events {
		h.q.Enqueue(ev)
		h.m.countEvent(ev)
	}
	h.m.inputs.WithLabelValues(InputAccepted).Add(float64(len(b.Events)))
	h.m.inputs.WithLabelValues(InputRejected).Add(float64(len(b.Rejected)))
	if len(b.Unknown) > 0 {
		h.m.unknown.Add(float64(len(b.Unknown)))
		h.log.Debug("unknown keys accepted", "first", b.Unknown[0].Key, "count", len(b.Unknown))
	}
	reply := Reply{Accepted: len(b.Events), Rejected: len(b.Rejected)}
	status := http.StatusOK
	if len(b.Rejected) > 0 {
		status = http.StatusBadRequest
		for i, e := range b.Rejected {
			if i == maxListedErrors {
				reply.More = len(b.Rejected) - i
				break
			}
			reply.Errors = append(reply.Errors, e.Error())
		}
		h.log.Warn("rejected events", "rejected", len(b.Rejected), "accepted", len(b.Events), "first", b.Rejected[0].Error())
	}
	writeJSON(w, status, reply)
}

func (h *handler) tooLarge(w http.ResponseWriter) {
	h.m.inputs.WithLabelValues(InputTooLarge).Inc()
	httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over the limit of %d bytes (BODYLIMIT); send fewer events per request", h.cfg.BodyLimit))
}

// checkContentType accepts JSON and NDJSON media types, and none at all.
func checkContentType(ct string) string {
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Sprintf("unreadable Content-Type %q: %v", ct, err)
	}
	switch mt {
	case "application/json", "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines", "text/plain":
		return ""
	}
	return fmt.Sprintf("Content-Type %q not supported: send application/json (one event or an array) or application/x-ndjson", mt)
}

// test queues one synthetic alert to every output, bypassing filters.
func (h *handler) test(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost { // it has side effects: no GET
		w.Header().Set("Allow", http.MethodPost)
		httpError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on /test", r.Method))
		return
	}
	if !h.authorized(w, r) {
		return
	}
	ev := TestAlert(h.cfg.HostName, h.cfg.Now())
	h.q.EnqueueTest(ev)
	writeJSON(w, http.StatusOK, Reply{Accepted: 1})
}

// TestAlert is the synthetic alert /test sends: a valid MatchedPolicy audit
// alert whose PolicyName says what it is.
func TestAlert(host string, now time.Time) schema.Event {
	now = now.UTC()
	return schema.NewAlert(&pb.Alert{
		Timestamp:     now.Unix(),
		UpdatedTime:   now.Format("2006-01-02T15:04:05.000000Z"),
		HostName:      host,
		NamespaceName: "bluelock-test",
		PodName:       "bluelock-sidekick-test",
		ContainerName: "sidekick",
		PPID:          1,
		PID:           1,
		ProcessName:   "/bluelock/sidekick",
		PolicyName:    "bluelock-sidekick-test",
		Severity:      "1",
		Tags:          "test",
		ATags:         []string{"test"},
		Message:       "Test alert from the bluelock sidekick (/test endpoint)",
		Type:          schema.TypeMatchedPolicy,
		Source:        "/bluelock/sidekick",
		Operation:     schema.OpProcess,
		Resource:      "/bin/true",
		Data:          "syscall=SYS_EXECVE",
		Enforcer:      schema.EnforcerMonitor,
		Action:        schema.ActionAudit,
		Result:        schema.ResultPassed,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func httpError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
