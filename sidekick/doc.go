// Package sidekick is the bluelock sidekick: it receives KubeArmor events
// over HTTP, validates them (package schema) and hands them to the
// dispatcher (package sidekick/dispatch), which fans them out to outputs.
//
// How it works
//
//   - Config (config.go) merges an optional YAML file and the environment,
//     falcosidekick-style: the YAML path slack.webhookurl is the env var
//     SLACK_WEBHOOKURL, and the environment wins. Unknown YAML keys, bad
//     numbers, unknown actions and out-of-range values fail start-up with
//     one error naming every offending key.
//   - BuildRoutes (wire.go) turns each outputs.Factory whose Enabled says
//     yes into a dispatch.Route: it reads the keys common to every output
//     (<PREFIX>_MINIMUMSEVERITY, _ACTIONS, _TYPES, _NAMESPACES, _QUEUESIZE,
//     _MAXCONCURRENTREQUESTS, _MAXRETRIES, _MAXAGE, _CHECKCERT, _MUTUALTLS,
//     _TIMEOUT), builds the output's HTTP client with timeouts and TLS, and
//     calls Factory.New with the output's own settings.
//   - Handler (server.go) serves POST / (one event, a JSON array, or
//     NDJSON), /test, /healthz, /ping and /metrics. Valid events of a body
//     are always queued, even when others in the same body are invalid: a
//     bad event never costs a good one. The reply is 200 when every event
//     was accepted, else 400 with the index and reason of every rejected
//     event and the count of accepted ones (do not resend a 400).
//   - Run (run.go) serves HTTP (optionally TLS / mutual TLS) and gRPC
//     (for outputs that register services), and on cancellation stops
//     intake, then drains the dispatcher within ShutdownTimeout.
package sidekick
