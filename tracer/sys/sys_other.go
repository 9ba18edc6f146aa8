//go:build !linux

package sys

// The tracer is Linux-only; this file keeps the package importable elsewhere.
