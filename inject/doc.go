// Package inject rewrites workload definitions so that their containers run
// under the bluelock tracer. It is a pure transform: bytes in, bytes out,
// plus human-readable notes; no cluster or AWS access.
//
// How it works:
//
//   - The input is auto-detected. A JSON object with "containerDefinitions"
//     (or "taskDefinition.containerDefinitions", the describe-task-definition
//     form) is an ECS task definition; anything else is read as a stream of
//     Kubernetes YAML documents.
//   - Kubernetes: every Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
//     Job and CronJob (also inside a kind: List) gets, in its pod spec:
//     an emptyDir volume mounted at /kubearmor, a downward-API volume with
//     the pod's labels and annotations at /etc/podinfo, an init container that
//     runs "/bluelock install /kubearmor" to copy the static tracer into that
//     volume, the sidekick as a native sidecar (an init container with
//     restartPolicy: Always, so Jobs still complete) unless a shared sidekick
//     is used, and for each selected app container a wrapped command
//     ["/kubearmor/bluelock", "--", <original command...>] (args kept),
//     the downward-API env POD_NAME, POD_NAMESPACE, CONTAINER_NAME and
//     SIDEKICK_URL. Other kinds pass through byte for byte.
//   - ECS: the same pieces in task-definition terms: a bluelock-init
//     container (essential: false) and a bind-mount volume, the app's
//     entryPoint wrapped, dependsOn bluelock-init COMPLETE, the sidekick
//     container on localhost:2801/32767, SYS_PTRACE added (the only
//     capability Fargate lets a task add).
//
// The tracer's argv is its own command line plus "--" plus the application
// argv, so the wrapper never has to guess where its flags stop.
//
// When a container has no command (Kubernetes) or no entryPoint (ECS), the
// image's ENTRYPOINT runs and the manifest does not say what it is. Setting a
// command also discards the image's CMD, so the caller must pass the whole
// original argv with Options.Entrypoint; Inject refuses rather than guesses.
//
// Injection is idempotent: a pod spec that already has the bluelock-init
// container, or a container whose command already starts with the wrapper,
// is left as it is. Documents that Inject did not change are written back
// unchanged, comments included; changed documents are re-encoded (keys sorted,
// comments dropped, unrelated fields kept).
package inject
