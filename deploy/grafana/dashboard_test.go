package grafana

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// metrics is the metric contract the dashboard relies on: name → labels.
// Keep in sync with the sidekick's and the tracer's metrics code and with
// docs/configuration.md; a metric renamed there must be renamed here and in
// bluelock.json, or this test keeps passing against a dashboard that shows
// nothing.
var metrics = map[string][]string{
	// sidekick (sidekick/metrics.go, sidekick/dispatch/metrics.go; :2801/metrics)
	"bluelock_sidekick_inputs_total":             {"status"},
	"bluelock_sidekick_events_total":             {"type", "action"},
	"bluelock_sidekick_unknown_fields_total":     {},
	"bluelock_sidekick_outputs_total":            {"destination", "status"},
	"bluelock_sidekick_output_retries_total":     {"destination", "reason"},
	"bluelock_sidekick_output_drops_total":       {"destination", "reason"},
	"bluelock_sidekick_output_filtered_total":    {"destination"},
	"bluelock_sidekick_output_queue_depth":       {"destination"},
	"bluelock_sidekick_delivery_latency_seconds": {"destination"},
	// LogService output (outputs/relay/metrics.go) and CloudWatch (outputs/cloudwatch)
	"bluelock_sidekick_relay_drops_total":                 {"stream", "reason"},
	"bluelock_sidekick_relay_clients":                     {"stream"},
	"bluelock_sidekick_relay_backlog":                     {"stream"},
	"bluelock_sidekick_cloudwatch_rejected_events_total":  {"reason"},
	"bluelock_sidekick_cloudwatch_truncated_events_total": {},
	// tracer (cmd/bluelock/metrics.go; bluelock --metrics-addr)
	"bluelock_tracer_syscalls_trapped_total":     {"syscall"},
	"bluelock_tracer_decisions_total":            {"verdict"},
	"bluelock_tracer_unreadable_arguments_total": {},
	"bluelock_tracer_failed_closed_total":        {},
	"bluelock_tracer_post_exec_kills_total":      {},
	"bluelock_tracer_tracees":                    {},
	"bluelock_tracer_tracees_total":              {},
	"bluelock_tracer_events_total":               {},
	"bluelock_tracer_relocated_total":            {},
	"bluelock_tracer_pinned_opens_total":         {},
	"bluelock_tracer_region_injected_total":      {},
	"bluelock_tracer_region_at_exec_total":       {},
	"bluelock_tracer_reloc_failed_closed_total":  {},
	"bluelock_tracer_region_refusals_total":      {},
	"bluelock_tracer_parked_calls_total":         {},
	"bluelock_tracer_spin_hits_total":            {},
	"bluelock_tracer_spin_misses_total":          {},
	"bluelock_tracer_spin_rests_total":           {},
}

// histograms expose _bucket, _sum and _count series.
var histograms = map[string]bool{"bluelock_sidekick_delivery_latency_seconds": true}

var (
	metricRe   = regexp.MustCompile(`\bbluelock_[a-z0-9_]+`)
	byRe       = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	matcherRe  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"`)
	selectorRe = regexp.MustCompile(`(bluelock_[a-z0-9_]+)\s*\{([^}]*)\}`)
)

type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query string `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

func load(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile("bluelock.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("bluelock.json: %v", err)
	}
	return d
}

func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// baseMetric maps a series name to the metric in the table.
func baseMetric(name string) string {
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if b := strings.TrimSuffix(name, suf); b != name && histograms[b] {
			return b
		}
	}
	return name
}

// checkExpr returns the problems of one PromQL expression.
func checkExpr(expr string) []string {
	var problems []string
	used := map[string]bool{}
	for _, m := range metricRe.FindAllString(expr, -1) {
		base := baseMetric(m)
		if _, ok := metrics[base]; !ok {
			problems = append(problems, "unknown metric "+m)
			continue
		}
		if histograms[base] && m == base {
			problems = append(problems, "histogram "+m+" queried without _bucket/_sum/_count")
		}
		used[base] = true
	}
	labelsOf := map[string]bool{"le": true}
	for m := range used {
		for _, l := range metrics[m] {
			labelsOf[l] = true
		}
	}
	for _, g := range byRe.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(g[1], ",") {
			if l = strings.TrimSpace(l); l != "" && !labelsOf[l] {
				problems = append(problems, "grouping by unknown label "+l)
			}
		}
	}
	for _, sel := range selectorRe.FindAllStringSubmatch(expr, -1) {
		own := map[string]bool{}
		for _, l := range metrics[baseMetric(sel[1])] {
			own[l] = true
		}
		for _, mm := range matcherRe.FindAllStringSubmatch(sel[2], -1) {
			if !own[mm[1]] {
				problems = append(problems, "matcher on unknown label "+mm[1]+" of "+sel[1])
			}
		}
	}
	return problems
}

func TestDashboardQueries(t *testing.T) {
	t.Parallel()
	d := load(t)
	if d.UID == "" || d.Title == "" {
		t.Error("dashboard needs uid and title")
	}
	seenMetric := map[string]bool{}
	ids := map[int]bool{}
	exprs := 0
	for _, p := range allPanels(d.Panels) {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource must be the ${datasource} variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no queries", p.Title)
		}
		for _, tg := range p.Targets {
			exprs++
			for _, prob := range checkExpr(tg.Expr) {
				t.Errorf("panel %q query %s: %s\n  %s", p.Title, tg.RefID, prob, tg.Expr)
			}
			for _, m := range metricRe.FindAllString(tg.Expr, -1) {
				seenMetric[baseMetric(m)] = true
			}
		}
	}
	if exprs == 0 {
		t.Fatal("no queries found")
	}
	var unused []string
	for m := range metrics {
		if !seenMetric[m] {
			unused = append(unused, m)
		}
	}
	sort.Strings(unused)
	if len(unused) > 0 {
		t.Errorf("metrics with no panel: %v", unused)
	}
	hasDS := false
	for _, v := range d.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus" {
			hasDS = true
		}
	}
	if !hasDS {
		t.Error("no Prometheus datasource variable named datasource")
	}
}

// TestCheckExpr shows the checker catches what it is for.
func TestCheckExpr(t *testing.T) {
	t.Parallel()
	cases := []struct {
		expr string
		want string // substring of a problem; "" = clean
	}{
		{`sum by (destination) (rate(bluelock_sidekick_outputs_total[5m]))`, ""},
		{`histogram_quantile(0.99, sum by (le, destination) (rate(bluelock_sidekick_delivery_latency_seconds_bucket[5m])))`, ""},
		{`rate(bluelock_sidekick_output_errors_total[5m])`, "unknown metric bluelock_sidekick_output_errors_total"},
		{`sum by (output) (rate(bluelock_sidekick_outputs_total[5m]))`, "grouping by unknown label output"},
		{`bluelock_sidekick_events_total{severity="7"}`, "matcher on unknown label severity"},
		{`bluelock_sidekick_delivery_latency_seconds`, "queried without _bucket"},
	}
	for _, tc := range cases {
		probs := strings.Join(checkExpr(tc.expr), "; ")
		if tc.want == "" && probs != "" {
			t.Errorf("%s: unexpected problems: %s", tc.expr, probs)
		}
		if tc.want != "" && !strings.Contains(probs, tc.want) {
			t.Errorf("%s: problems %q, want %q", tc.expr, probs, tc.want)
		}
	}
}
