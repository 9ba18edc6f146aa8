#!/usr/bin/env bash
# Cross-build the static tracer (and the sidekick) for linux/arm64 on an amd64 Debian
# bookworm host: bin/bluelock-arm64, bin/sidekick-arm64. Fargate runs both architectures.
#
# The tracer needs cgo for libseccomp, so it needs an aarch64 cross gcc and the arm64
# libseccomp.a. This script does not install anything; when something is missing it prints
# the commands (as root):
#
#   dpkg --add-architecture arm64
#   apt-get update
#   apt-get install -y --no-install-recommends gcc-aarch64-linux-gnu libc6-dev-arm64-cross libseccomp-dev:arm64
#
# (libseccomp-dev is Multi-Arch: same, so the arm64 package sits next to the amd64 one.)
# The build flags are the Makefile's STATIC_TAGS / STATIC_LDFLAGS; keep them in sync.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
BIN=${BIN:-bin}
TRIPLET=aarch64-linux-gnu
log() { echo ">> cross-arm64: $*" >&2; }

missing=()
command -v "$TRIPLET-gcc" >/dev/null 2>&1 || missing+=(gcc-aarch64-linux-gnu)
dpkg -s libc6-dev-arm64-cross >/dev/null 2>&1 || missing+=(libc6-dev-arm64-cross)
[ -f "/usr/lib/$TRIPLET/libseccomp.a" ] || missing+=(libseccomp-dev:arm64)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
if [ ${#missing[@]} -gt 0 ]; then
	log "missing: ${missing[*]}"
	if ! dpkg --print-foreign-architectures | grep -qx arm64; then
		echo "  dpkg --add-architecture arm64" >&2
	fi
	echo "  apt-get update" >&2
	echo "  apt-get install -y --no-install-recommends ${missing[*]}" >&2
	exit 1
fi

mkdir -p "$BIN"
log "building $BIN/bluelock-arm64 (cgo, static libseccomp)"
CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC="$TRIPLET-gcc" \
	PKG_CONFIG_LIBDIR="/usr/lib/$TRIPLET/pkgconfig:/usr/share/pkgconfig" \
	"$GO" build -trimpath -tags "netgo osusergo" \
	-ldflags "-s -w -linkmode external -extldflags -static" \
	-o "$BIN/bluelock-arm64" ./cmd/bluelock
log "building $BIN/sidekick-arm64"
CGO_ENABLED=0 GOOS=linux GOARCH=arm64 "$GO" build -trimpath -ldflags "-s -w" -o "$BIN/sidekick-arm64" ./cmd/sidekick

for b in "$BIN/bluelock-arm64" "$BIN/sidekick-arm64"; do
	readelf -h "$b" | grep -q 'Machine:.*AArch64' || { log "$b is not an arm64 ELF"; exit 1; }
	if readelf -l "$b" | grep -q INTERP; then log "$b is not static"; exit 1; fi
	if readelf -d "$b" 2>/dev/null | grep -q NEEDED; then log "$b needs shared libraries"; exit 1; fi
done
log "ok: $BIN/bluelock-arm64 ($(du -h "$BIN/bluelock-arm64" | cut -f1)), $BIN/sidekick-arm64 ($(du -h "$BIN/sidekick-arm64" | cut -f1)), static arm64"
