#!/usr/bin/env bash
# Docker end-to-end suite (docs/e2e.md): builds the e2e images, then runs the Go tests in
# test/e2e against real containers (a pod-like set-up and an ECS-like task).
#
#   hack/e2e.sh           images + tests
#   hack/e2e.sh images    images only
#
# Heavy artefacts live under $BLUELOCK_CACHE (default ~/.cache/bluelock), keyed by content:
# the debootstrap root tarball of the app image is built once (minutes) and `docker import`ed
# (seconds), or reused when the image with the same content tag already exists.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

CACHE=${BLUELOCK_CACHE:-$HOME/.cache/bluelock}
BLUELOCK_BIN=${BLUELOCK_BIN:-$ROOT/bin/bluelock}
SIDEKICK_BIN=${SIDEKICK_BIN:-$ROOT/bin/sidekick}
TESTDATA=$ROOT/test/e2e/testdata

log() { echo ">> e2e: $*" >&2; }

if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
	log "SKIP: Docker is not available (docker info failed); the container e2e suite did not run"
	exit 0
fi

RUN_ID=${BLUELOCK_E2E_RUN:-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')}
LABEL=bluelock-e2e.run=$RUN_ID
# Image tags of this run: bluelock-init:e2e-<run id> and so on, so that two runs on one
# machine (two engineers' `make test`) never remove or rebuild each other's images.
# `hack/e2e.sh images` builds the plain :e2e tags instead, for use by hand.
TAG=e2e-$RUN_ID
CREATED_TAGS=()

# Everything the run created goes, even on failure: containers, volumes and networks carry
# the run's label; the run's image tags are removed unless BLUELOCK_E2E_KEEP_IMAGES=1 (or
# `hack/e2e.sh images`). The cached Debian root (bluelock-rootfs:<content key>) stays: it
# is the cache.
cleanup() {
	local ids
	ids=$(docker ps -aq --filter "label=$LABEL" 2>/dev/null || true)
	[[ -z $ids ]] || docker rm -f -v $ids >/dev/null 2>&1 || true
	ids=$(docker volume ls -q --filter "label=$LABEL" 2>/dev/null || true)
	[[ -z $ids ]] || docker volume rm -f $ids >/dev/null 2>&1 || true
	ids=$(docker network ls -q --filter "label=$LABEL" 2>/dev/null || true)
	[[ -z $ids ]] || docker network rm $ids >/dev/null 2>&1 || true
	if [[ ${BLUELOCK_E2E_KEEP_IMAGES:-0} != 1 && ${#CREATED_TAGS[@]} -gt 0 ]]; then
		docker rmi "${CREATED_TAGS[@]}" >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT

# The legacy builder: this engine has no BuildKit/buildx plugin and nothing can be pulled.
export DOCKER_BUILDKIT=0

# Debian mirror: the one apt on this machine uses (deb822 or one-line sources).
debian_mirror() {
	local m
	m=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
		grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n1 | tr -d ' ' || true)
	echo "${m:-http://deb.debian.org/debian}"
}

SUITE=bookworm
VARIANT=minbase
# What the app scenarios use: socat (the app and its client), procps (ps), coreutils/bash (minbase).
PACKAGES=socat,procps
ROOTFS_RECIPE_VERSION=1

rootfs_key() {
	printf '%s\n' "$ROOTFS_RECIPE_VERSION" "$SUITE" "$VARIANT" "$PACKAGES" "$(uname -m)" | sha256sum | cut -c1-16
}

# rootfs_tarball prints the path of the cached root tarball, building it when missing.
rootfs_tarball() {
	local mirror dir tar tmp
	mirror=$(debian_mirror)
	dir=$CACHE/e2e
	tar=$dir/rootfs-$SUITE-$(rootfs_key).tar
	if [[ -s $tar ]]; then
		echo "$tar"
		return
	fi
	mkdir -p "$dir"
	command -v debootstrap >/dev/null || { log "debootstrap missing (make deps-test installs it)"; return 1; }
	tmp=$(mktemp -d "$dir/rootfs.XXXXXX")
	log "debootstrap $SUITE ($VARIANT, +$PACKAGES) from $mirror into the cache; takes a few minutes, once"
	if ! debootstrap --variant="$VARIANT" --include="$PACKAGES" "$SUITE" "$tmp/root" "$mirror" >"$tmp/debootstrap.log" 2>&1; then
		tail -n 30 "$tmp/debootstrap.log" >&2
		rm -rf "$tmp"
		return 1
	fi
	rm -rf "$tmp/root/var/cache/apt/archives/"*.deb "$tmp/root/var/lib/apt/lists/"*
	tar --numeric-owner -C "$tmp/root" -cf "$tmp/rootfs.tar" .
	mv "$tmp/rootfs.tar" "$tar" # atomic: a half-written tarball is never used
	rm -rf "$tmp"
	echo "$tar"
}

# ensure_rootfs_image prints the tag of the imported Debian root: the existing image with
# the same content tag, else the cached tarball imported (built first when missing).
ensure_rootfs_image() {
	local tag tar
	tag=bluelock-rootfs:$SUITE-$(rootfs_key)
	if ! docker image inspect "$tag" >/dev/null 2>&1; then
		tar=$(rootfs_tarball)
		log "docker import $tar as $tag"
		docker import --change 'CMD ["/bin/bash"]' "$tar" "$tag" >/dev/null
	fi
	echo "$tag"
}

# build_image TAG DOCKERFILE CONTEXT_FILES... builds TAG from a throw-away context holding
# exactly the given files (src:dst-name pairs), so nothing else of the repo leaks in.
build_image() {
	local tag=$1 dockerfile=$2
	shift 2
	local ctx old
	old=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
	ctx=$(mktemp -d)
	cp "$dockerfile" "$ctx/Dockerfile"
	local pair
	for pair in "$@"; do
		cp -a "${pair%%:*}" "$ctx/${pair#*:}"
	done
	if ! docker build -q --force-rm --build-arg "ROOTFS=${ROOTFS_IMAGE:-scratch}" -t "$tag" "$ctx" >"$ctx.log" 2>&1; then
		grep -v -e DEPRECATED -e 'legacy builder' -e BuildKit "$ctx.log" >&2 || true
		rm -rf "$ctx" "$ctx.log"
		log "docker build $tag failed"
		return 1
	fi
	rm -f "$ctx.log"
	CREATED_TAGS+=("$tag")
	# A rebuilt tag leaves its previous image dangling: remove it (refused, harmlessly, if
	# something still uses it).
	if [[ -n $old && $old != "$(docker image inspect -f '{{.Id}}' "$tag")" ]]; then
		docker rmi "$old" >/dev/null 2>&1 || true
	fi
	rm -rf "$ctx"
	log "built $tag"
}

build_images() {
	[[ -x $BLUELOCK_BIN ]] || { log "$BLUELOCK_BIN missing (make build)"; return 1; }
	[[ -x $SIDEKICK_BIN ]] || { log "$SIDEKICK_BIN missing (make build)"; return 1; }
	ROOTFS_IMAGE=$(ensure_rootfs_image)
	export ROOTFS_IMAGE
	build_image "bluelock-init:$TAG" "$TESTDATA/init.Dockerfile" "$BLUELOCK_BIN:bluelock"
	build_image "bluelock-sidekick:$TAG" "$TESTDATA/sidekick.Dockerfile" "$SIDEKICK_BIN:sidekick"
	build_image "bluelock-app:$TAG" "$TESTDATA/app.Dockerfile" "$TESTDATA/app:app" "$TESTDATA/secret:secret"
	# Static helpers (webhook sink, HTTP client for the policy API) in FROM-scratch images.
	local hb
	hb=$(mktemp -d)
	CGO_ENABLED=0 "${GO:-go}" build -trimpath -ldflags "-s -w" -o "$hb/e2etool" ./test/e2e/e2etool
	build_image "bluelock-e2etool:$TAG" "$TESTDATA/e2etool.Dockerfile" "$hb/e2etool:e2etool"
	rm -rf "$hb"
}

case ${1:-} in
rootfs)
	ensure_rootfs_image
	exit 0
	;;
images)
	BLUELOCK_E2E_KEEP_IMAGES=1
	TAG=e2e
	build_images
	exit 0
	;;
esac
build_images

log "go test ./test/e2e (run $RUN_ID)"
BLUELOCK_E2E=1 BLUELOCK_E2E_RUN=$RUN_ID BLUELOCK_E2E_TAG=$TAG BLUELOCK_BIN=$BLUELOCK_BIN SIDEKICK_BIN=$SIDEKICK_BIN \
	"${GO:-go}" test -count=1 -timeout 9m -v ./test/e2e/
