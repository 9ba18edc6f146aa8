// Package eks holds the Kubernetes manifests for running bluelock on EKS
// (Fargate or EC2 nodes): the upstream-compatible KubeArmorPolicy CRD, the
// tracer's least-privilege RBAC, the protected demo Deployment, example
// policies and an optional shared sidekick. It has no Go code, only tests:
// every manifest parses, the demo and the RBAC equal what `bluelock inject`
// writes, the policies pass bluelock's policy parser, and everything passes a
// server-side dry run against a real kube-apiserver. See docs/eks.md.
package eks
