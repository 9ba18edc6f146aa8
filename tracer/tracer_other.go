//go:build !linux

package tracer

import (
	"context"
	"errors"
)

// Run is Linux-only: ptrace and seccomp have no equivalent elsewhere.
func Run(ctx context.Context, cfg Config) (int, error) { return 0, errors.ErrUnsupported }

// MaybeStage2 does nothing off Linux: there is no stage 2.
func MaybeStage2() {}
