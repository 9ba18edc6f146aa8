// Package e2e is bluelock's Docker end-to-end suite: real containers, a real tracer binary, a
// real sidekick and a webhook sink, put together the way Fargate runs them.
//
// How it works: hack/e2e.sh builds the images (bluelock-init:e2e, bluelock-sidekick:e2e,
// bluelock-app:e2e from a cached debootstrap root, bluelock-e2etool:e2e) and runs
// `go test ./test/e2e` with BLUELOCK_E2E=1. Each test then builds a "pod" or "task":
//
//  1. a pause container (e2etool pause) owns the network namespace, as in a Kubernetes pod
//     or a Fargate task (awsvpc), and the hostname;
//  2. the init container copies bluelock into a named volume; the test waits for exit 0
//     (dependsOn: COMPLETE, or an initContainer);
//  3. the sidekick joins the namespace (--network container:<pause>) and posts every event
//     to a webhook sink that runs inside the test process, on the Docker network's gateway;
//  4. the app container (Debian userland, Fargate's capabilities, Docker's default seccomp
//     profile) runs `/kubearmor/bluelock ... -- /app/app.sh` with the volume mounted read-only.
//
// The app performs the blocked accesses itself, on request over its TCP port, so they
// happen inside the traced process tree. The tests assert what the app sees (Permission
// denied), the KubeArmor alert at the sink, the container's exit code and the absence of
// leftover processes. Without BLUELOCK_E2E=1 (plain `go test ./...`) every test skips.
// See docs/e2e.md.
package e2e
