// Package k8s is the end-to-end test of Kubernetes policy delivery: the real
// bluelock binary (BLUELOCK_BIN) against a real kube-apiserver and etcd
// (internal/kubetest), with the upstream-compatible CRD from deploy/eks and a
// least-privilege ServiceAccount.
package k8s
