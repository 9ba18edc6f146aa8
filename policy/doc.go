// Package policy is bluelock's pure policy engine: it reads KubeArmorPolicy
// documents, validates them with the CRD's own rules, compiles the ones that
// select this container into an immutable rule set, and answers the tracer's
// Requests with Decisions (allow, audit or block, and what the alert says).
// It does no I/O, imports no Kubernetes or gRPC code, and keeps no global
// mutable state.
//
// # How it works
//
//  1. Parse splits a YAML/JSON stream at "---", converts each document to
//     JSON (sigs.k8s.io/yaml) and walks the generic value alongside the Go
//     types (types.go), reporting unknown fields and wrong types with their
//     full path ("spec.file.matchPaths[2].path"). It then decodes and runs
//     the CRD's semantic checks (validate.go): path and directory patterns,
//     execname, enums for action, protocol, capability and syscall,
//     severity 1..10, metadata.name. Every problem becomes a *FieldError
//     naming origin, document, policy, field and reason; all are joined.
//  2. Store.Apply receives the full set of one source (file, CRD, gRPC,
//     ...), re-validates it, merges it with the other sources' sets (for a
//     namespace/name in several sources the later delivery wins and is
//     reported in ApplyReport) and compiles the result (compile.go).
//  3. compile keeps the policies whose selector matches Options (labels,
//     kubearmor.io/container.name list, matchExpressions, namespace), fills
//     each rule's severity/tags/message/action from its section and then the
//     spec (empty action = Block), and indexes the rules:
//     exact paths and execnames in maps, keyed by (path, source) for
//     fromSource rules; directories in a prefix tree walked by path
//     component; patterns in a tree keyed by the directory of their literal
//     prefix; protocols and capabilities in maps. A domain with an Allow rule
//     becomes an allow-list.
//  4. The new set is published with one atomic pointer store. Decide loads
//     the pointer and looks the request up tier by tier (decide.go): the
//     cost depends on the path's depth, not on the number of rules, and a
//     decision allocates nothing.
//
// The precedence table and the mapping to KubeArmor's semantics are in
// docs/policy.md.
package policy
