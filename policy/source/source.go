// Package source starts the policy sources (files, Kubernetes, PolicyService,
// HTTP) that feed a policy.Store. STUB: replaced by the policy-delivery work
// (issue 4). Signatures are the contract cmd/bluelock uses.
package source

import (
	"context"
	"flag"
	"log/slog"
	"time"

	"github.com/bluelock/bluelock/policy"
)

// Config is the policy-delivery configuration of the tracer.
type Config struct {
	Files      []string
	Wait       time.Duration
	FailClosed bool
}

// RegisterFlags adds the delivery flags (with BLUELOCK_* env defaults) to fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {}

// Start launches every configured source feeding store, and returns once each
// has delivered its first complete set, or the wait expired (an error when
// FailClosed). The sources keep running until ctx ends.
func Start(ctx context.Context, cfg Config, store *policy.Store, logger *slog.Logger) error {
	return nil
}
