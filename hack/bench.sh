#!/usr/bin/env bash
# make bench: run the side-by-side benchmark suite and write docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./hack/bench -out docs/benchmarks.md "$@"
