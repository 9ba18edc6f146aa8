package emit

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluelock/bluelock/schema"
	"github.com/bluelock/bluelock/tracer/container"
)

// WriterConfig configures a Writer. Zero values take the defaults.
type WriterConfig struct {
	MaxQueueEvents int
	MaxQueueBytes  int
	MaxBatchEvents int
	// Linger is how long the writer gathers events after the first of a
	// burst before it writes them: 0 means DefaultLinger, negative none.
	Linger time.Duration
	// Container fills the container fields of the drop report.
	Container container.Info
	// Now is the clock for drop reports.
	Now func() time.Time
}

// Writer writes one JSON line per event (stdout or a file) from its own
// goroutine, behind the same bounded queue and drop policy as HTTP, so a
// slow or blocked stdout never stalls the stop loop.
type Writer struct {
	cfg    WriterConfig
	logger *slog.Logger
	out    io.Writer
	w      *bufio.Writer
	enc    *encoder // writes into w
	q      *queue
	done   chan struct{}
	stop   chan struct{} // closed when Close gives up
	once   sync.Once
	stopMu sync.Once

	sent, rejected, batches, sysEvents atomic.Uint64

	// Owned by the writer goroutine.
	batch   []item
	rep     reporter
	failing bool
}

// NewWriter starts a Writer with the default bounds and no logging.
func NewWriter(w io.Writer) *Writer {
	return NewWriterWith(WriterConfig{}, w, nil)
}

// NewWriterWith starts a Writer with cfg.
func NewWriterWith(cfg WriterConfig, w io.Writer, logger *slog.Logger) *Writer {
	if cfg.MaxQueueEvents <= 0 {
		cfg.MaxQueueEvents = DefaultMaxQueueEvents
	}
	if cfg.MaxQueueBytes <= 0 {
		cfg.MaxQueueBytes = DefaultMaxQueueBytes
	}
	if cfg.MaxBatchEvents <= 0 {
		cfg.MaxBatchEvents = DefaultMaxBatchEvents
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Linger == 0 {
		cfg.Linger = DefaultLinger
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg.Container = withHostName(cfg.Container)
	wr := &Writer{
		cfg:    cfg,
		logger: logger.With("emitter", "writer"),
		out:    w,
		w:      bufio.NewWriterSize(w, 64<<10),
		q:      newQueue(cfg.MaxQueueEvents, cfg.MaxQueueBytes),
		done:   make(chan struct{}),
		stop:   make(chan struct{}),
	}
	wr.enc = newEncoder(wr.w)
	go wr.run()
	return wr
}

// Emit queues ev or counts it as dropped; it never blocks. The caller must
// not modify ev after handing it over.
func (w *Writer) Emit(ev schema.Event) { w.q.push(ev) }

// Stats returns the counters. Write errors count as dropped.
func (w *Writer) Stats() Stats {
	return Stats{
		Emitted:       w.q.c.emitted.Load(),
		Queued:        w.q.held(),
		Sent:          w.sent.Load(),
		DroppedAlerts: w.q.c.droppedAlerts.Load(),
		DroppedLogs:   w.q.c.droppedLogs.Load(),
		Rejected:      w.rejected.Load(),
		Batches:       w.batches.Load(),
		SystemEvents:  w.sysEvents.Load(),
	}
}

// Close stops accepting events and writes what is queued until ctx is done.
// A write blocked in the underlying writer cannot be interrupted: Close then
// returns at the deadline, counting the queued events as dropped, and the
// goroutine ends when that write returns.
func (w *Writer) Close(ctx context.Context) error {
	w.once.Do(w.q.close)
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		w.stopMu.Do(func() { close(w.stop) })
		n := w.q.dropAll()
		return fmt.Errorf("writer emitter: %d queued events not written before the close deadline: %w", n, ctx.Err())
	}
}

func (w *Writer) stopped() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

func (w *Writer) run() {
	defer close(w.done)
	linger := newStoppedTimer()
	for {
		w.batch = w.q.take(w.batch[:0], w.cfg.MaxBatchEvents, DefaultMaxBatchBytes)
		if len(w.batch) == 0 {
			if w.q.isClosed() {
				w.report()
				return
			}
			select {
			case <-w.q.wake:
			case <-w.stop:
			}
			w.q.linger(linger, w.cfg.Linger, w.stop)
			if w.stopped() {
				return
			}
			continue
		}
		ok := w.write(w.batch, false)
		w.q.release(w.batch)
		clear(w.batch)
		if ok {
			w.report()
		}
	}
}

func (w *Writer) report() {
	a, l, ok := w.rep.pending(&w.q.c)
	if !ok || w.stopped() {
		return
	}
	w.write([]item{{ev: dropReport(w.cfg.Container, w.cfg.Now(), a, l), alert: true}}, true)
	w.rep.done(a, l)
}

// write writes the batch and flushes; on a write error the whole batch
// counts as dropped, since we cannot tell which lines made it.
func (w *Writer) write(batch []item, sys bool) bool {
	n, alerts := 0, 0
	for i := range batch {
		if err := w.enc.encode(batch[i].ev); err != nil {
			w.rejected.Add(1)
			continue
		}
		n++
		if batch[i].alert {
			alerts++
		}
	}
	if err := w.w.Flush(); err != nil {
		// A bufio.Writer keeps failing after one error: start afresh on
		// the same destination so a transient error does not end output.
		w.w.Reset(w.out)
		if !w.failing {
			w.failing = true
			w.logger.Error("event write failed; dropping", "err", err)
		}
		if !sys {
			w.q.c.droppedAlerts.Add(uint64(alerts))
			w.q.c.droppedLogs.Add(uint64(n - alerts))
		}
		return false
	}
	w.failing = false
	w.batches.Add(1)
	if sys {
		w.sysEvents.Add(uint64(n))
	} else {
		w.sent.Add(uint64(n))
	}
	return n > 0
}
