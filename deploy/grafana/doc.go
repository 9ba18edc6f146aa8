// Package grafana holds the Grafana dashboard (bluelock.json) over the
// sidekick's bluelock_sidekick_* and the tracer's bluelock_tracer_* Prometheus
// metrics, and the test that every metric and label its queries use exists.
// Import it in Grafana (Dashboards → Import) and pick a Prometheus data source.
package grafana
