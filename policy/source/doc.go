// Package source starts the policy sources that feed a policy.Store and holds
// the application back until they have delivered: the start-up gate.
//
// Sources (each a subpackage, each depending only on a one-method sink, never
// on the engine):
//
//   - file (--policy FILE|DIR, BLUELOCK_POLICY): polled files, ConfigMap-safe;
//   - k8s (in-cluster or --kubeconfig): the pod's namespace KubeArmorPolicies,
//     namespace posture annotations, the pod's kubearmor-policy annotation.
//     Compiled out with -tags nok8s (ECS builds do not link client-go);
//   - api (--policy-grpc, --policy-http): KubeArmor's PolicyService and a small
//     HTTP API to push policies at run time.
//
// The gate (Start): every configured file and Kubernetes source must deliver
// its first complete set within --policy-wait (30s). The push API gates only
// with --policy-wait-api (ECS: hold the app until the first push). On timeout,
// --policy-fail-closed (default true) makes Start return an error naming the
// sources that did not deliver and why, so the tracer exits non-zero and the
// app never starts unprotected by accident; with --policy-fail-closed=false
// the app starts with whatever is in force plus the default postures.
//
// Every update is a full set per source, validated, compiled and swapped
// atomically by Store.Apply; a rejected update leaves the last good set in
// force. Deleting a policy lifts it.
package source
