// Package conformance holds the KubeArmor conformance suite: real commands
// run under the real bluelock binary, mirroring KubeArmor's own test cases
// (tests/k8s_env/ksp, smoke, networktests, syscalls), with the policies
// rewritten for a fixture tree under a temporary directory.
//
// # How it works
//
// BLUELOCK_BIN names the binary (`make test` sets it to bin/bluelock); the
// suite skips when it is unset or missing, or when not run as root. Each test
// builds a tree (R/bin with copies of dash, cat, head, ... so executable paths
// are exact and free of the /bin -> /usr/bin symlink; R/credentials,
// R/secret.txt, R/etc/shadow, ...), writes a policy for those paths, and runs
//
//	bluelock --policy P --emit file:EVENTS --visibility none [--posture-...] -- CMD...
//
// with CONTAINER_NAME=conformance (the policies select that container by
// kubearmor.io/container.name). It asserts the command's exit status, the
// "Permission denied" on stderr, and the alert KubeArmor would raise:
// PolicyName, Severity, Action, Result, Operation, Resource and Source, read
// from the JSON lines bluelock wrote. Network cases re-execute the test
// binary itself as the client that opens the socket (TestMain handles
// CONFORMANCE_HELPER).
package conformance
