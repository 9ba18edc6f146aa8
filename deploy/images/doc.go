// Package images checks the release Dockerfiles at the repository root
// (Dockerfile.bluelock, Dockerfile.sidekick) and hack/cross-arm64.sh against
// the Makefile: the tracer must be built with the same static flags
// everywhere, and both images must be multi-arch and FROM scratch. The e2e
// suite separately checks that its bin/-built images equal the final stages
// (test/e2e/dockerfile_test.go). No Go code, only tests.
package images
