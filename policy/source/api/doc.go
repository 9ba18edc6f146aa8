// Package api lets operators push KubeArmorPolicies to a running tracer: the
// KubeArmor PolicyService over gRPC (so `karmor vm policy add p.yaml --gRPC
// host:port` works unchanged) and a small HTTP API for scripts and ECS.
//
// How it works: both front ends share one Set, a map from policy name to the
// parsed policy. Every change builds a new map, hands the whole set to the
// sink (Store.Apply under the source name "api"), and commits the map only if
// the sink accepted it. A rejected push therefore changes nothing: the last
// good set stays in force and the caller gets the engine's error (gRPC status
// Invalid, HTTP 400 with the message).
//
// PolicyService semantics follow KubeArmor's daemon (KubeArmor/policy/policy.go
// and core.ParseAndUpdateContainerSecurityPolicy):
//
//   - bad JSON, an empty metadata.name, a policy Parse or the engine rejects,
//     or an unknown event type          → Invalid
//   - ADDED                             → Applied (an existing name is replaced,
//     as KubeArmor does, and the reply is still Applied)
//   - MODIFIED                          → Modified (an unknown name is added)
//   - DELETED of a known name           → Deleted
//   - DELETED of an unknown name        → NotExist
//   - hostPolicy, networkPolicy         → NotEnabled (no host policies here)
//
// HTTP: POST /policies adds or replaces the posted policies (YAML or JSON,
// multi-document, a JSON array or a List); PUT /policies replaces the whole
// API-pushed set with the body; DELETE /policies/<name> lifts one; GET
// /policies lists the API-pushed names and everything in force.
//
// Exposure: both listeners bind to loopback by default. CheckExposure refuses
// a non-loopback address unless a bearer token or mutual TLS protects it, or
// the operator said --policy-insecure.
package api
