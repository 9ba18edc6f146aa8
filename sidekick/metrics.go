package sidekick

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bluelock/bluelock/schema"
)

// Input statuses: the values of inputs_total's status label.
const (
	InputAccepted     = "accepted"     // per event
	InputRejected     = "rejected"     // per event (or per body with no readable event)
	InputTooLarge     = "toolarge"     // per request
	InputUnauthorized = "unauthorized" // per request
)

type metrics struct {
	inputs  *prometheus.CounterVec
	events  *prometheus.CounterVec
	unknown prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		inputs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bluelock_sidekick_inputs_total",
			Help: "Ingest outcomes: accepted and rejected count events; toolarge and unauthorized count requests.",
		}, []string{"status"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bluelock_sidekick_events_total",
			Help: "Accepted events by kind and alert action (\"none\" for logs and actionless alerts).",
		}, []string{"type", "action"}),
		unknown: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bluelock_sidekick_unknown_fields_total",
			Help: "Keys in accepted events that this sidekick does not know (accepted, not forwarded).",
		}),
	}
	for _, c := range []prometheus.Collector{m.inputs, m.events, m.unknown} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, s := range []string{InputAccepted, InputRejected, InputTooLarge, InputUnauthorized} {
		m.inputs.WithLabelValues(s)
	}
	for _, a := range schema.Actions() {
		m.events.WithLabelValues("alert", a)
	}
	m.events.WithLabelValues("alert", "none")
	m.events.WithLabelValues("alert", "other")
	m.events.WithLabelValues("log", "none")
	return m, nil
}

// countEvent keeps the action label bounded: known actions, "none", "other".
func (m *metrics) countEvent(ev schema.Event) {
	if !ev.IsAlert() {
		m.events.WithLabelValues("log", "none").Inc()
		return
	}
	a := ev.Action()
	switch {
	case a == "":
		a = "none"
	case !isKnownAction(a):
		a = "other"
	}
	m.events.WithLabelValues("alert", a).Inc()
}

func isKnownAction(a string) bool {
	for _, k := range schema.Actions() {
		if k == a {
			return true
		}
	}
	return false
}
