package dispatch

import (
	"testing"

	"github.com/bluelock/bluelock/schema"
)

func TestFilter(t *testing.T) {
	t.Parallel()
	blockHigh := alert(1, "8", schema.ActionBlock, "shop")
	auditLow := alert(2, "2", schema.ActionAudit, "shop")
	posture := alert(3, "", schema.ActionBlock, "other")
	lg := logEv(4, "shop")
	cases := []struct {
		name   string
		f      Filter
		events []schema.Event
		want   []bool
	}{
		{"zero passes all", Filter{}, []schema.Event{blockHigh, auditLow, posture, lg}, []bool{true, true, true, true}},
		{"min severity excludes logs and unrated alerts", Filter{MinSeverity: 5}, []schema.Event{blockHigh, auditLow, posture, lg}, []bool{true, false, false, false}},
		{"min severity with logs asked for", Filter{MinSeverity: 5, Types: TypeAlerts | TypeLogs}, []schema.Event{blockHigh, auditLow, lg}, []bool{true, false, true}},
		{"actions", Filter{Actions: []string{schema.ActionBlock}}, []schema.Event{blockHigh, auditLow, posture, lg}, []bool{true, false, true, false}},
		{"alerts only", Filter{Types: TypeAlerts}, []schema.Event{blockHigh, lg}, []bool{true, false}},
		{"logs only", Filter{Types: TypeLogs}, []schema.Event{blockHigh, lg}, []bool{false, true}},
		{"logs only ignores severity", Filter{Types: TypeLogs, MinSeverity: 9}, []schema.Event{lg}, []bool{true}},
		{"namespaces", Filter{Namespaces: []string{"shop"}}, []schema.Event{blockHigh, posture, lg}, []bool{true, false, true}},
		{"severity 10 passes min 10", Filter{MinSeverity: 10}, []schema.Event{alert(5, "10", "Block", ""), alert(6, "9", "Block", "")}, []bool{true, false}},
	}
	for _, tc := range cases {
		for i, ev := range tc.events {
			if got := tc.f.Match(ev); got != tc.want[i] {
				t.Errorf("%s: event %d (%s sev %d action %q): Match = %v, want %v", tc.name, i, ev.Type(), ev.Severity(), ev.Action(), got, tc.want[i])
			}
		}
	}
}
