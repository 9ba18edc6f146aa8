package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bluelock/bluelock/tracer"
)

// statsCollector exposes tracer.Stats as bluelock_tracer_* metrics, read at
// scrape time (the stop loop only bumps atomics).
type statsCollector struct {
	stats        *tracer.Stats
	syscalls     *prometheus.Desc
	decisions    *prometheus.Desc
	unreadable   *prometheus.Desc
	failedClosed *prometheus.Desc
	postExec     *prometheus.Desc
	tracees      *prometheus.Desc
	traceesTotal *prometheus.Desc
	events       *prometheus.Desc
	// counters are the plain counters of Stats, each read at scrape time.
	counters []statsCounter
}

// statsCounter is one unlabelled counter of tracer.Stats.
type statsCounter struct {
	desc *prometheus.Desc
	read func() uint64
}

func newStatsCollector(s *tracer.Stats) *statsCollector {
	return &statsCollector{
		stats:        s,
		syscalls:     prometheus.NewDesc("bluelock_tracer_syscalls_trapped_total", "Trapped syscalls decided, by name (one that waited or was trapped again after the argument region was mapped counts once).", []string{"syscall"}, nil),
		decisions:    prometheus.NewDesc("bluelock_tracer_decisions_total", "Trapped syscalls by verdict.", []string{"verdict"}, nil),
		unreadable:   prometheus.NewDesc("bluelock_tracer_unreadable_arguments_total", "Trapped syscalls whose decision-relevant argument could not be read.", nil, nil),
		failedClosed: prometheus.NewDesc("bluelock_tracer_failed_closed_total", "Syscalls denied because an argument could not be read.", nil, nil),
		postExec:     prometheus.NewDesc("bluelock_tracer_post_exec_kills_total", "Processes killed because the image really loaded is blocked.", nil, nil),
		tracees:      prometheus.NewDesc("bluelock_tracer_tracees", "Traced threads alive now.", nil, nil),
		traceesTotal: prometheus.NewDesc("bluelock_tracer_tracees_total", "Traced threads seen.", nil, nil),
		events:       prometheus.NewDesc("bluelock_tracer_events_total", "Events handed to the emitter.", nil, nil),
		counters: []statsCounter{
			{prometheus.NewDesc("bluelock_tracer_relocated_total", "Allowed syscalls whose checked arguments were moved into the read-only region.", nil, nil), s.Relocated.Load},
			{prometheus.NewDesc("bluelock_tracer_pinned_opens_total", "Relocated opens handed to the kernel as openat2 of the checked, symlink-free path.", nil, nil), s.PinnedOpens.Load},
			{prometheus.NewDesc("bluelock_tracer_region_injected_total", "Processes the argument region was mapped into.", nil, nil), s.RegionInjected.Load},
			{prometheus.NewDesc("bluelock_tracer_region_at_exec_total", "Of those, new images the region was mapped into by the exec-time stub, without a stop of their own.", nil, nil), s.RegionAtExec.Load},
			{prometheus.NewDesc("bluelock_tracer_reloc_failed_closed_total", "Allowed syscalls denied because their arguments could not be relocated or pinned.", nil, nil), s.RelocFailedClosed.Load},
			{prometheus.NewDesc("bluelock_tracer_region_refusals_total", "Memory syscalls refused for touching the argument region's block.", nil, nil), s.RegionRefusals.Load},
			{prometheus.NewDesc("bluelock_tracer_parked_calls_total", "Path syscalls that waited for another to finish (serialized path calls).", nil, nil), s.ParkedCalls.Load},
			{prometheus.NewDesc("bluelock_tracer_spin_hits_total", "Tracee stops the stop loop found by polling, without sleeping (--spin).", nil, nil), s.SpinHits.Load},
			{prometheus.NewDesc("bluelock_tracer_spin_misses_total", "Polls that found no stop within the spin budget and slept (--spin).", nil, nil), s.SpinMisses.Load},
			{prometheus.NewDesc("bluelock_tracer_spin_rests_total", "Waits that slept without polling because a process had just been created or exec'd (--spin).", nil, nil), s.SpinRests.Load},
		},
	}
}

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.syscalls, c.decisions, c.unreadable, c.failedClosed, c.postExec, c.tracees, c.traceesTotal, c.events} {
		ch <- d
	}
	for _, k := range c.counters {
		ch <- k.desc
	}
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	for name, n := range c.stats.Syscalls() {
		ch <- prometheus.MustNewConstMetric(c.syscalls, prometheus.CounterValue, float64(n), name)
	}
	for v, n := range c.stats.Decisions() {
		ch <- prometheus.MustNewConstMetric(c.decisions, prometheus.CounterValue, float64(n), v.String())
	}
	ch <- prometheus.MustNewConstMetric(c.unreadable, prometheus.CounterValue, float64(c.stats.Unreadable.Load()))
	ch <- prometheus.MustNewConstMetric(c.failedClosed, prometheus.CounterValue, float64(c.stats.FailedClosed.Load()))
	ch <- prometheus.MustNewConstMetric(c.postExec, prometheus.CounterValue, float64(c.stats.PostExecKills.Load()))
	ch <- prometheus.MustNewConstMetric(c.tracees, prometheus.GaugeValue, float64(c.stats.Tracees.Load()))
	ch <- prometheus.MustNewConstMetric(c.traceesTotal, prometheus.CounterValue, float64(c.stats.TraceesTotal.Load()))
	ch <- prometheus.MustNewConstMetric(c.events, prometheus.CounterValue, float64(c.stats.Events.Load()))
	for _, k := range c.counters {
		ch <- prometheus.MustNewConstMetric(k.desc, prometheus.CounterValue, float64(k.read()))
	}
}

// newMetricsHandler serves the tracer's counters from a private registry
// (never the global default one).
func newMetricsHandler(s *tracer.Stats, extra ...prometheus.Collector) (http.Handler, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(newStatsCollector(s)); err != nil {
		return nil, fmt.Errorf("register tracer metrics: %w", err)
	}
	for _, c := range extra {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), nil
}

// serveMetrics listens on addr and serves /metrics until stop is called.
func serveMetrics(ctx context.Context, addr string, s *tracer.Stats, logger *slog.Logger, extra ...prometheus.Collector) (stop func(), err error) {
	h, err := newMetricsHandler(s, extra...)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("metrics server stopped", "err", err)
		}
	}()
	logger.Info("serving metrics", "addr", ln.Addr().String())
	return func() {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}
