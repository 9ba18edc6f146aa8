package emit

import "github.com/prometheus/client_golang/prometheus"

// StatsSource is what both emitters offer: cmd/bluelock can type-assert its
// tracer.Emitter to it to export the counters.
type StatsSource interface {
	Stats() Stats
}

var (
	_ StatsSource = (*HTTP)(nil)
	_ StatsSource = (*Writer)(nil)
)

// Collector exposes an emitter's Stats as bluelock_emitter_* metrics, read
// at scrape time (no second set of counters to keep in sync). Every series
// exists from the first scrape, at zero, so alerts on drops work before the
// first drop. Register it on the tracer's own registry.
type Collector struct {
	src                                               StatsSource
	emitted, queued, sent, dropped, rejected, retries *prometheus.Desc
	batches, reports                                  *prometheus.Desc
}

// NewCollector returns a collector reading src.
func NewCollector(src StatsSource) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("bluelock_emitter_"+name, help, labels, nil)
	}
	return &Collector{
		src:      src,
		emitted:  d("events_total", "Events handed to the emitter."),
		queued:   d("queued_events", "Events held: queued plus the batch in flight."),
		sent:     d("sent_total", "Events the sidekick (or the writer) accepted."),
		dropped:  d("dropped_total", "Events dropped: queue full, after Close, or at the Close deadline.", "type"),
		rejected: d("rejected_total", "Events the sidekick refused (4xx other than 408/429)."),
		retries:  d("retries_total", "Failed deliveries that were retried."),
		batches:  d("batches_total", "Successful POSTs (or writes)."),
		reports:  d("drop_reports_total", "SystemEvent drop reports delivered."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.emitted, c.queued, c.sent, c.dropped, c.rejected, c.retries, c.batches, c.reports} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(c.emitted, st.Emitted)
	ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(st.Queued))
	counter(c.sent, st.Sent)
	counter(c.dropped, st.DroppedAlerts, "alert")
	counter(c.dropped, st.DroppedLogs, "log")
	counter(c.rejected, st.Rejected)
	counter(c.retries, st.Retries)
	counter(c.batches, st.Batches)
	counter(c.reports, st.SystemEvents)
}
