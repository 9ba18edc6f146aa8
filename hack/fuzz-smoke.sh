#!/usr/bin/env bash
# Runs every Go fuzz target briefly (FUZZTIME, default 10s each), so the
# decoders and parsers meet random input in every CI run.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10s}
n=0
while IFS=: read -r file func; do
  pkg=./$(dirname "$file")
  echo ">> fuzz $pkg $func ($FUZZTIME)"
  go test -run='^$' -fuzz="^${func}\$" -fuzztime="$FUZZTIME" "$pkg"
  n=$((n+1))
done < <(grep -rHoE --include='*_test.go' '^func (Fuzz[A-Za-z0-9_]+)' . | sed -E 's/func //' | sort)
echo ">> $n fuzz targets ran"
