#!/usr/bin/env bash
# Build a real kube-apiserver from the Go module proxy, once, into
#   ${BLUELOCK_CACHE:-~/.cache/bluelock}/kube-apiserver-<version>/kube-apiserver
# The throwaway module lives in the cache dir, never in the repo. etcd comes from Debian's
# etcd-server package (/usr/bin/etcd, `make deps-test`).
#
# Usage: hack/kube-apiserver.sh [version ...]   (default: 1.35.4, then 1.35.3, 1.35.2)
# Prints the path of the binary on the last line of stdout.
set -euo pipefail

CACHE="${BLUELOCK_CACHE:-$HOME/.cache/bluelock}"
GO="${GO:-go}"
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(1.35.4 1.35.3 1.35.2)

log() { echo ">> $*" >&2; }

build() {
	local v="$1"
	local dir="$CACHE/kube-apiserver-$v"
	local bin="$dir/kube-apiserver"
	if [ -x "$bin" ]; then
		log "kube-apiserver v$v already built: $bin"
		echo "$bin"
		return 0
	fi
	mkdir -p "$dir/src"
	log "fetching k8s.io/kubernetes@v$v go.mod from $($GO env GOPROXY)"
	local modjson gomod
	if ! modjson=$(cd "$dir/src" && GOFLAGS=-mod=mod $GO mod download -json "k8s.io/kubernetes@v$v"); then
		log "the module proxy refused k8s.io/kubernetes@v$v"
		return 1
	fi
	gomod=$(printf '%s\n' "$modjson" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
	[ -f "$gomod" ] || { log "no go.mod for k8s.io/kubernetes@v$v"; return 1; }
	# Staging modules: k8s.io/kubernetes replaces them with ./staging/src/k8s.io/X; we map each
	# to its published tag v0.<minor>.<patch>.
	local staging
	staging=$(sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\) => \./staging/.*#\1#p' "$gomod" | sort -u)
	[ -n "$staging" ] || { log "found no staging replaces in $gomod"; return 1; }
	local sv="v0.${v#1.}"
	log "staging modules ($(echo "$staging" | wc -l)) => $sv"
	{
		echo "module bluelock.local/kube-apiserver-build"
		echo
		echo "go $($GO env GOVERSION | sed 's/^go//; s/^\([0-9]*\.[0-9]*\).*/\1/')"
		echo
		echo "require k8s.io/kubernetes v$v"
		echo
		echo "replace ("
		for m in $staging; do echo "	$m => $m $sv"; done
		echo ")"
	} >"$dir/src/go.mod"
	cat >"$dir/src/tools.go" <<'GO'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
	log "resolving dependencies (go mod tidy in $dir/src)"
	if ! (cd "$dir/src" && GOFLAGS=-mod=mod $GO mod tidy -e >/dev/null 2>"$dir/tidy.log"); then
		log "go mod tidy failed for v$v (see $dir/tidy.log)"
		tail -20 "$dir/tidy.log" >&2 || true
		return 1
	fi
	log "building kube-apiserver v$v (this takes several minutes on 2 cores)"
	if ! (cd "$dir/src" && CGO_ENABLED=0 GOFLAGS=-mod=mod $GO build -trimpath -ldflags "-s -w" \
		-o "$bin.tmp" k8s.io/kubernetes/cmd/kube-apiserver); then
		log "build failed for v$v"
		return 1
	fi
	mv "$bin.tmp" "$bin"
	log "built $bin ($(du -h "$bin" | cut -f1))"
	echo "$bin"
}

for v in "${versions[@]}"; do
	if build "$v"; then exit 0; fi
	log "trying the next version"
done
log "could not build kube-apiserver from any of: ${versions[*]}"
exit 1
