// Package forward relays KubeArmor PolicyService calls to the tracer.
//
// The sidekick serves LogService on :32767, the port karmor and the relay
// expect. With a Forwarder registered on the same gRPC server, one address
// serves both `karmor logs --gRPC <pod-ip>:32767` and `karmor vm policy add
// p.yaml --gRPC <pod-ip>:32767`: each containerPolicy call is passed
// unchanged to the tracer's PolicyService (default 127.0.0.1:32766, the same
// network namespace) and its reply is returned unchanged.
//
// Security trade-off (why it is opt-in): karmor speaks plaintext gRPC without
// credentials, so whoever can reach the sidekick's port can replace or lift
// the container's policies. The tracer itself only listens on loopback and
// the forwarder is the one door through which the network reaches it. Enable
// it only where the pod network is already restricted (Kubernetes
// NetworkPolicy, ECS security group allowing only the operators' hosts), or
// serve the sidekick's gRPC with mTLS. The forwarder authenticates to the
// tracer with the tracer's bearer token when one is configured, so the
// tracer's own port stays closed to other local processes that lack it.
package forward
