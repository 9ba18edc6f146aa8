package emit

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type fixedStats Stats

func (f fixedStats) Stats() Stats { return Stats(f) }

func TestCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(fixedStats{Emitted: 10, Queued: 2, Sent: 5, DroppedAlerts: 1, DroppedLogs: 1,
		Rejected: 1, Retries: 7, Batches: 3, SystemEvents: 1}))
	want := `
# HELP bluelock_emitter_dropped_total Events dropped: queue full, after Close, or at the Close deadline.
# TYPE bluelock_emitter_dropped_total counter
bluelock_emitter_dropped_total{type="alert"} 1
bluelock_emitter_dropped_total{type="log"} 1
# HELP bluelock_emitter_events_total Events handed to the emitter.
# TYPE bluelock_emitter_events_total counter
bluelock_emitter_events_total 10
# HELP bluelock_emitter_queued_events Events held: queued plus the batch in flight.
# TYPE bluelock_emitter_queued_events gauge
bluelock_emitter_queued_events 2
# HELP bluelock_emitter_sent_total Events the sidekick (or the writer) accepted.
# TYPE bluelock_emitter_sent_total counter
bluelock_emitter_sent_total 5
# HELP bluelock_emitter_rejected_total Events the sidekick refused (4xx other than 408/429).
# TYPE bluelock_emitter_rejected_total counter
bluelock_emitter_rejected_total 1
# HELP bluelock_emitter_retries_total Failed deliveries that were retried.
# TYPE bluelock_emitter_retries_total counter
bluelock_emitter_retries_total 7
# HELP bluelock_emitter_batches_total Successful POSTs (or writes).
# TYPE bluelock_emitter_batches_total counter
bluelock_emitter_batches_total 3
# HELP bluelock_emitter_drop_reports_total SystemEvent drop reports delivered.
# TYPE bluelock_emitter_drop_reports_total counter
bluelock_emitter_drop_reports_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
