// Package stdout is the sidekick output that writes every event to standard
// output as one JSON line, exactly the JSON KubeArmor's protobuf structs
// marshal to (PascalCase keys), so `kubectl logs` / CloudWatch container
// logs / `jq` read the same format `karmor logs --json` prints.
//
// How it works: Send marshals the event and writes the line with a single
// Write under a mutex, so lines from concurrent workers never interleave.
// It is on by default; STDOUT_ENABLED=false turns it off.
package stdout

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/bluelock/bluelock/outputs"
	"github.com/bluelock/bluelock/schema"
)

// Factory registers the stdout output with cmd/sidekick.
var Factory = outputs.Factory{
	Name:   "stdout",
	Prefix: "STDOUT",
	Enabled: func(s outputs.Settings) bool {
		on, err := outputs.GetBool(s, "ENABLED", true)
		return on || err != nil // a bad value reaches New, which reports it
	},
	New: func(s outputs.Settings, _ outputs.Deps) (outputs.Output, error) {
		if _, err := outputs.GetBool(s, "ENABLED", true); err != nil {
			return nil, err
		}
		return New(os.Stdout), nil
	},
}

// Output writes JSON lines to a writer.
type Output struct {
	mu sync.Mutex
	w  io.Writer
}

// New returns an output writing to w.
func New(w io.Writer) *Output { return &Output{w: w} }

// Name implements outputs.Output.
func (o *Output) Name() string { return "stdout" }

// Send implements outputs.Output.
func (o *Output) Send(ctx context.Context, ev schema.Event) error {
	if err := ctx.Err(); err != nil {
		return &outputs.SendError{Err: err, Reason: "canceled"}
	}
	b, err := ev.MarshalJSON()
	if err != nil {
		return &outputs.SendError{Err: fmt.Errorf("marshal event: %w", err), Reason: "invalid"}
	}
	b = append(b, '\n')
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, err := o.w.Write(b); err != nil {
		return &outputs.SendError{Err: fmt.Errorf("write stdout: %w", err), Reason: "io"}
	}
	return nil
}
