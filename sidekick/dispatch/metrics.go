package dispatch

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Drop reasons: the values of output_drops_total's reason label. If you add
// one, add it here so it is pre-created, and to docs/sidekick.md.
const (
	DropQueueFull    = "queue_full"
	DropNonRetryable = "non_retryable"
	DropMaxRetries   = "max_retries"
	DropMaxAge       = "max_age"
	DropShutdown     = "shutdown"
)

var dropReasons = [...]string{DropQueueFull, DropNonRetryable, DropMaxRetries, DropMaxAge, DropShutdown}

// retryReasons bounds output_retries_total's reason label: SendError.Reason
// values outside this set are counted as "other".
var retryReasons = [...]string{"ratelimit", "5xx", "4xx", "network", "timeout", "invalid", "canceled", "io", "unknown", "other"}

func retryReason(r string) string {
	for _, k := range retryReasons {
		if k == r {
			return r
		}
	}
	return "other"
}

type metrics struct {
	outputs  *prometheus.CounterVec
	retries  *prometheus.CounterVec
	drops    *prometheus.CounterVec
	filtered *prometheus.CounterVec
	depth    *prometheus.GaugeVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		outputs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bluelock_sidekick_outputs_total",
			Help: "Delivery attempts per output, one per event per attempt, by outcome.",
		}, []string{"destination", "status"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bluelock_sidekick_output_retries_total",
			Help: "Retries scheduled per output (one per retried send or batch), by the reason of the failure.",
		}, []string{"destination", "reason"}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bluelock_sidekick_output_drops_total",
			Help: "Events an output will never deliver, by reason.",
		}, []string{"destination", "reason"}),
		filtered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bluelock_sidekick_output_filtered_total",
			Help: "Events an output's filters did not select (not a loss: configured).",
		}, []string{"destination"}),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bluelock_sidekick_output_queue_depth",
			Help: "Events waiting in an output's queue.",
		}, []string{"destination"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bluelock_sidekick_delivery_latency_seconds",
			Help:    "Time from queueing an event to its successful delivery, retries included.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 15, 60, 300},
		}, []string{"destination"}),
	}
	for _, c := range []prometheus.Collector{m.outputs, m.retries, m.drops, m.filtered, m.depth, m.latency} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// initFor creates every series of one destination at zero, so dashboards and
// alerts see it before the first failure.
func (m *metrics) initFor(dest string) {
	m.outputs.WithLabelValues(dest, "ok")
	m.outputs.WithLabelValues(dest, "error")
	for _, r := range retryReasons {
		m.retries.WithLabelValues(dest, r)
	}
	for _, r := range dropReasons {
		m.drops.WithLabelValues(dest, r)
	}
	m.filtered.WithLabelValues(dest)
	m.depth.WithLabelValues(dest)
	m.latency.WithLabelValues(dest)
}
