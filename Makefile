# bluelock: two commands matter on a fresh Debian machine with Go:
#   make demo   build everything and show a blocked access and its alert
#   make test   the whole suite (unit, root tracer tests, apiserver, docker e2e)
SHELL := /bin/bash
GO    ?= go
BIN   ?= bin
CACHE ?= $(HOME)/.cache/bluelock
export BLUELOCK_CACHE := $(CACHE)

# The tracer is fully static: cgo only for libseccomp (libseccomp.a), netgo+osusergo so
# nothing is resolved at run time, external link -static. It must run in an empty image.
STATIC_TAGS    := netgo osusergo
STATIC_LDFLAGS := -s -w -linkmode external -extldflags -static
GOARCH_HOST    := $(shell $(GO) env GOARCH)

# System packages the build and the tests need; installed when missing (root, Debian).
APT_BUILD := libseccomp-dev pkg-config gcc
APT_TEST  := busybox-static etcd-server debootstrap socat
APT_BENCH := strace nginx-light wrk curl
APT_DEMO  := curl

.PHONY: all deps deps-test deps-bench deps-demo cross images build static-check test unit e2e demo bench lint fmt vet clean kube-apiserver

all: build

define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo ">> installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "need root to apt-get install:$$missing" >&2; exit 1; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

deps:
	$(call apt_install,$(APT_BUILD))
deps-test: deps
	$(call apt_install,$(APT_TEST))
deps-bench: deps
	$(call apt_install,$(APT_BENCH))
deps-demo: deps
	$(call apt_install,$(APT_DEMO))

build: deps $(BIN)/bluelock $(BIN)/sidekick static-check

$(BIN)/bluelock: FORCE
	@mkdir -p $(BIN)
	CGO_ENABLED=1 $(GO) build -trimpath -tags "$(STATIC_TAGS)" -ldflags "$(STATIC_LDFLAGS)" -o $@ ./cmd/bluelock

$(BIN)/sidekick: FORCE
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o $@ ./cmd/sidekick

FORCE:

# Refuse a tracer that would need a loader or shared libraries at run time.
static-check: $(BIN)/bluelock
	@if readelf -l $(BIN)/bluelock | grep -q 'INTERP'; then echo "$(BIN)/bluelock is not static" >&2; exit 1; fi
	@if readelf -d $(BIN)/bluelock 2>/dev/null | grep -q NEEDED; then echo "$(BIN)/bluelock needs shared libraries" >&2; exit 1; fi
	@echo ">> $(BIN)/bluelock is static ($$(du -h $(BIN)/bluelock | cut -f1))"

fmt:
	gofmt -w $$(git ls-files '*.go')

vet: deps
	$(GO) vet ./...

# unsafe stays in *_unsafe.go files (gVisor's rule).
lint: vet
	@bad=$$(grep -l '"unsafe"' $$(git ls-files '*.go') | grep -v '_unsafe\(_test\)\?\.go$$' || true); \
	if [ -n "$$bad" ]; then echo "unsafe imported outside *_unsafe.go: $$bad" >&2; exit 1; fi
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt: $$unformatted" >&2; exit 1; fi

# The real kube-apiserver for the policy-delivery and manifest tests, built once from the
# Go module proxy and cached under $(CACHE), keyed by version.
kube-apiserver: deps-test
	@hack/kube-apiserver.sh

unit: deps-test build
	$(GO) test -count=1 ./...

test: deps-test build lint kube-apiserver
	BLUELOCK_BIN=$(CURDIR)/$(BIN)/bluelock SIDEKICK_BIN=$(CURDIR)/$(BIN)/sidekick \
	  $(GO) test -count=1 -timeout 40m ./...
	@hack/fuzz-smoke.sh
	@$(MAKE) --no-print-directory e2e

e2e: deps-test build
	@hack/e2e.sh

demo: deps-demo build
	@hack/demo.sh

bench: deps-bench build
	@hack/bench.sh

# arm64 (Fargate Graviton): static cross-build where Debian's arm64 libseccomp and a cross
# gcc are installed; the script prints the exact apt commands when they are not.
cross: deps
	@hack/cross-arm64.sh

# Release images (needs a registry and buildx): REGISTRY=... VERSION=... make images
REGISTRY ?= ghcr.io/bluelock
VERSION  ?= dev
images:
	docker buildx build --platform linux/amd64,linux/arm64 -f Dockerfile.bluelock -t $(REGISTRY)/bluelock:$(VERSION) .
	docker buildx build --platform linux/amd64,linux/arm64 -f Dockerfile.sidekick -t $(REGISTRY)/sidekick:$(VERSION) .

clean:
	rm -rf $(BIN)
