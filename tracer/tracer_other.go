//go:build !linux || !amd64

package tracer

import (
	"context"
	"errors"
)

// Run is implemented for linux/amd64 only: ptrace and seccomp have no
// equivalent elsewhere, and the arm64 register accessors are not written yet.
func Run(ctx context.Context, cfg Config) (int, error) { return 0, errors.ErrUnsupported }
