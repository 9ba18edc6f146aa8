package relay

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Label values. If you add one, pre-create its series in newMetrics and
// document it in docs/outputs.md.
const (
	streamAlerts   = "alerts"
	streamLogs     = "logs"
	streamMessages = "messages"

	reasonSlowClient  = "slow_client"
	reasonBacklogFull = "backlog_full"
)

type metrics struct {
	drops   *prometheus.CounterVec // stream, reason
	clients *prometheus.GaugeVec   // stream
	backlog *prometheus.GaugeVec   // stream
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bluelock_sidekick_relay_drops_total",
			Help: "Events the KubeArmor LogService relay dropped: for a client whose buffer was full (slow_client), or the oldest of a full backlog while no client was connected (backlog_full).",
		}, []string{"stream", "reason"}),
		clients: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bluelock_sidekick_relay_clients",
			Help: "gRPC clients currently watching each LogService stream.",
		}, []string{"stream"}),
		backlog: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bluelock_sidekick_relay_backlog",
			Help: "Events held for the first client of a stream that nobody watches.",
		}, []string{"stream"}),
	}
	for _, c := range []prometheus.Collector{m.drops, m.clients, m.backlog} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("relay: register metrics: %w", err)
		}
	}
	// Every series exists at zero from the start, so alerts on rate() work
	// before the first drop.
	for _, s := range []string{streamAlerts, streamLogs} {
		m.drops.WithLabelValues(s, reasonSlowClient)
		m.drops.WithLabelValues(s, reasonBacklogFull)
		m.backlog.WithLabelValues(s)
	}
	for _, s := range []string{streamAlerts, streamLogs, streamMessages} {
		m.clients.WithLabelValues(s)
	}
	return m, nil
}
