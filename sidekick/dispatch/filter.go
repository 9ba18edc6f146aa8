package dispatch

import (
	"slices"

	"github.com/bluelock/bluelock/schema"
)

// Types selects alerts, logs or both; the zero value means "not set".
type Types uint8

// Type bits.
const (
	TypeAlerts Types = 1 << iota
	TypeLogs
)

// Filter decides which events an output receives. The zero Filter passes
// everything.
type Filter struct {
	// MinSeverity keeps alerts whose Severity is at least this (1..10); 0 =
	// no minimum. Alerts without a severity (DefaultPosture) count as 0.
	MinSeverity int
	// Actions keeps alerts whose Action is one of these (exact match).
	Actions []string
	// Types keeps only alerts or only logs. Left unset, severity and action
	// filters (which only alerts can pass) exclude logs; set to include
	// logs, logs pass those two filters.
	Types Types
	// Namespaces keeps events whose NamespaceName is one of these.
	Namespaces []string
}

// Match reports whether ev passes the filter.
func (f Filter) Match(ev schema.Event) bool {
	if ev.IsAlert() {
		if f.Types != 0 && f.Types&TypeAlerts == 0 {
			return false
		}
		if f.MinSeverity > 0 && ev.Severity() < f.MinSeverity {
			return false
		}
		if len(f.Actions) > 0 && !slices.Contains(f.Actions, ev.Action()) {
			return false
		}
	} else {
		if f.Types != 0 && f.Types&TypeLogs == 0 {
			return false
		}
		if (f.MinSeverity > 0 || len(f.Actions) > 0) && f.Types&TypeLogs == 0 {
			return false
		}
	}
	if len(f.Namespaces) > 0 && !slices.Contains(f.Namespaces, ev.Namespace()) {
		return false
	}
	return true
}
