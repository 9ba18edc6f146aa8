//go:build !linux || !amd64

package reloc

// The tracer is Linux/amd64-only for now; layout.go stays portable so the
// filter rules and Touches can be reviewed and tested anywhere.
