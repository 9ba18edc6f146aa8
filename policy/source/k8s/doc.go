// Package k8s delivers the KubeArmorPolicies of the pod's own namespace from
// the Kubernetes API, and the namespace's default postures.
//
// How it works: Run finds the pod's identity (POD_NAMESPACE and POD_NAME from
// the downward API, else the service-account namespace file and the
// hostname; labels and annotations from the downward API files in
// PodInfoDir, else a GET of the pod) and starts two informers, each with the
// reflector's list+watch, resync and reconnect-with-backoff:
//
//   - kubearmorpolicies.security.kubearmor.com/v1 in the namespace (dynamic
//     client, no generated types). Every change kicks one reconcile loop that
//     reads the informer's cache and hands the namespace's full set to the
//     sink; selection of the policies that match this pod's labels and
//     container is the engine's job (policy.Options).
//   - the namespace object itself (field selector on its name), for the
//     annotations kubearmor-file-posture, kubearmor-network-posture and
//     kubearmor-capabilities-posture (block|audit). Changes go to
//     SetOptions, together with the pod annotation kubearmor-policy: audited.
//
// Invalid policies: each object is parsed on its own; an object Parse or the
// engine refuses is reported (an error log naming namespace/name and a
// Warning Event "InvalidPolicy" on the object, when RBAC allows events) and
// its last good version, if any, stays in force while the other objects are
// applied. When a batch of changes is refused as a whole, the changes are
// retried one by one to find the culprit. A refused resourceVersion is not
// retried or reported again.
//
// Least-privilege RBAC (see docs/policy-delivery.md): get pods (only for
// the fallback when the downward API files are missing); list+watch
// kubearmorpolicies in the namespace; get/list/watch the namespace itself
// (a ClusterRole restricted with resourceNames); create/patch events in the
// namespace. Nothing cluster-wide, never cluster-admin.
package k8s
