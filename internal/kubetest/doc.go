// Package kubetest runs a real, throwaway Kubernetes control plane for tests:
// Debian's etcd and a kube-apiserver built from the Go module proxy by
// hack/kube-apiserver.sh (`make kube-apiserver`). No kubelet, scheduler or
// controller-manager: objects are stored and validated, RBAC is enforced,
// watches work, nothing runs.
//
// How it works: Start picks free loopback ports, starts etcd with a temp data
// dir, writes a throwaway CA and serving certificate, a static token file
// (an admin token in system:masters) and a service-account signing key, starts
// kube-apiserver against them with RBAC authorization, and polls /readyz
// until it answers (there is no event to wait on). Both processes are killed
// by t.Cleanup. It takes a few seconds.
//
// Binaries: BLUELOCK_KUBE_APISERVER (else the newest
// $BLUELOCK_CACHE/kube-apiserver-*/kube-apiserver, BLUELOCK_CACHE defaulting to
// ~/.cache/bluelock) and BLUELOCK_ETCD (else etcd on PATH). Start skips the
// test, saying what is missing and how to get it, when either is absent.
//
// Helpers: Apply (server-side apply of multi-document YAML, waits for CRDs to
// be established), DryRun (server-side dry run of manifests), Delete,
// ServiceAccount (a real ServiceAccount token via the TokenRequest API, for a
// least-privilege identity bound by RBAC), Kubeconfig (write a kubeconfig
// file for a rest.Config, for processes under test).
package kubetest
