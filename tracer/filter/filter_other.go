//go:build !linux || !cgo

package filter

import "errors"

// Supported reports whether this build can build and load the filter.
const Supported = false

// ExportBPF is unavailable without Linux and cgo (libseccomp).
func ExportBPF() ([]byte, error) { return nil, errors.ErrUnsupported }

// Load is unavailable without Linux and cgo (libseccomp).
func Load() error { return errors.ErrUnsupported }
