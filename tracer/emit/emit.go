// Package emit delivers tracer events: JSON lines to a writer, or batched
// NDJSON to the sidekick. STUB: replaced by the emitter work; the signatures
// are the contract.
package emit

import (
	"context"
	"encoding/json"
	"io"
	"sync"

	"github.com/bluelock/bluelock/schema"
)

// Writer writes one JSON line per event.
type Writer struct {
	mu sync.Mutex
	w  io.Writer
}

func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

func (w *Writer) Emit(ev schema.Event) {
	b, err := json.Marshal(ev)
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, _ = w.w.Write(append(b, '\n'))
}

// Close flushes what is queued, within ctx.
func (w *Writer) Close(ctx context.Context) error { return nil }
