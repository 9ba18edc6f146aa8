package emit

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluelock/bluelock/schema"
)

// item is one queued event. The event is kept as the tracer built it and
// marshalled later by the sender goroutine (see doc.go: marshalling costs
// ~4 µs, as much as the trapped syscall itself, so it stays off the stop loop).
type item struct {
	ev    schema.Event
	seq   uint64 // emission order, to merge the alert and log FIFOs
	size  int    // estimated JSON bytes, charged against the byte bound
	alert bool
}

// ring is a growable FIFO of items. It only grows (to the queue's count
// bound at most), so a warmed-up queue does not allocate in push.
type ring struct {
	buf  []item
	head int
	n    int
}

func (r *ring) len() int { return r.n }

func (r *ring) push(it item) {
	if r.n == len(r.buf) {
		size := 2 * len(r.buf)
		if size < 64 {
			size = 64
		}
		nb := make([]item, size)
		for i := 0; i < r.n; i++ {
			nb[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = nb, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = it
	r.n++
}

func (r *ring) front() *item { return &r.buf[r.head] }

func (r *ring) pop() item {
	it := r.buf[r.head]
	r.buf[r.head] = item{} // let the event be collected
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return it
}

// counters are the queue's statistics. Atomics, so Stats never contends
// with Emit on the stop loop.
type counters struct {
	emitted       atomic.Uint64
	droppedAlerts atomic.Uint64 // queue full, closed, or cut off by Close
	droppedLogs   atomic.Uint64
	// fullAlerts and fullLogs count only the drops the SystemEvent reports:
	// those caused by a full queue while the emitter was running.
	fullAlerts atomic.Uint64
	fullLogs   atomic.Uint64
}

func (c *counters) drop(alert, full bool) {
	if alert {
		c.droppedAlerts.Add(1)
		if full {
			c.fullAlerts.Add(1)
		}
		return
	}
	c.droppedLogs.Add(1)
	if full {
		c.fullLogs.Add(1)
	}
}

// queue is the bounded, two-class FIFO between Emit and the sender.
//
// Alerts and logs sit in separate FIFOs so that evicting the oldest log for
// an incoming alert is O(1); take merges them back in emission order by seq.
// The count and byte bounds cover everything the emitter holds: queued events
// and the batch in flight, so memory is bounded by the configuration alone.
type queue struct {
	maxCount int
	maxBytes int

	mu       sync.Mutex
	alerts   ring
	logs     ring
	seq      uint64
	count    int // queued + in flight
	bytes    int // queued + in flight, estimated
	logBytes int // queued logs only: what an alert may evict
	closed   bool

	// wake has room for one token: a push into empty FIFOs leaves one
	// without blocking, the sender takes it. A missed wake-up is impossible
	// because the sender re-checks the queue under the lock after every
	// wake-up and sleeps only after seeing it empty.
	wake chan struct{}

	c counters
}

func newQueue(maxCount, maxBytes int) *queue {
	return &queue{maxCount: maxCount, maxBytes: maxBytes, wake: make(chan struct{}, 1)}
}

// push queues ev or drops it; it never blocks beyond the short critical section.
func (q *queue) push(ev schema.Event) {
	alert := ev.IsAlert()
	size := estimateSize(ev)
	q.c.emitted.Add(1)

	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		q.c.drop(alert, false)
		return
	}
	if !q.fitsLocked(size) {
		// Logs go before alerts: an alert may evict queued logs, oldest
		// first, but only if that actually makes room (never evict for
		// nothing when the alert alone is larger than what logs free up).
		if !alert || !q.fitsAfterEvictingLogsLocked(size) {
			q.mu.Unlock()
			q.c.drop(alert, true)
			return
		}
		for !q.fitsLocked(size) {
			old := q.logs.pop()
			q.count--
			q.bytes -= old.size
			q.logBytes -= old.size
			q.c.drop(false, true)
		}
	}
	// The sender only sleeps after finding the FIFOs empty, so only a push
	// into empty FIFOs needs to wake it: any later push finds them
	// non-empty because of a push that did. This saves a channel operation
	// per event on the stop loop when busy.
	wasEmpty := q.alerts.len()+q.logs.len() == 0
	q.seq++
	it := item{ev: ev, seq: q.seq, size: size, alert: alert}
	if alert {
		q.alerts.push(it)
	} else {
		q.logs.push(it)
		q.logBytes += size
	}
	q.count++
	q.bytes += size
	q.mu.Unlock()

	if wasEmpty {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// linger waits up to d once the sender was woken, so that a burst of
// events leaves as one batch. Without it a sender that keeps up wakes for
// every event, and each wake-up of its goroutine is a futex call and a
// context switch taken from the stop loop and the app (with visibility on,
// 20,000 logged opens took a median of 2.14 s instead of 1.75 s on 2 vCPUs,
// docs/benchmarks.md). Even one wake-up per millisecond costs: on a VM
// each wakes a halted vCPU, the one the app would run on. At 1 ms rather
// than 10 the sender's threads spent about 26 ms more CPU per 20,000
// logged opens, and the loop took 12 % longer (medians of 8). It ends
// early when the queue is closed (close sends the only wake token that
// can come while the FIFOs hold events) or done is.
func (q *queue) linger(t *time.Timer, d time.Duration, done <-chan struct{}) {
	if d <= 0 || q.isClosed() {
		return
	}
	t.Reset(d)
	select {
	case <-t.C:
	case <-q.wake:
	case <-done:
	}
	t.Stop()
}

// newStoppedTimer is a timer for linger, not running.
func newStoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

func (q *queue) fitsLocked(size int) bool {
	return q.count+1 <= q.maxCount && q.bytes+size <= q.maxBytes
}

func (q *queue) fitsAfterEvictingLogsLocked(size int) bool {
	return q.count-q.logs.len()+1 <= q.maxCount && q.bytes-q.logBytes+size <= q.maxBytes
}

// takeChunk bounds how many events take moves per critical section, so
// Emit on the stop loop never waits behind a whole 500-event batch: about
// 64 pops, well under a microsecond.
const takeChunk = 64

// take moves up to maxN events (and about maxBytes) from the queue into the
// caller's batch, in emission order. They stay charged against the bounds
// until release. At least one event is taken when any is queued, so one
// oversized event cannot wedge the queue.
func (q *queue) take(dst []item, maxN, maxBytes int) []item {
	bytes := 0
	for {
		more, full := q.takeSome(&dst, maxN, maxBytes, &bytes)
		if !more || full {
			return dst
		}
	}
}

// takeSome is one critical section of take. It reports whether the queue
// may hold more (it stopped at the chunk size) and whether the batch is full.
func (q *queue) takeSome(dst *[]item, maxN, maxBytes int, bytes *int) (more, full bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for n := 0; n < takeChunk; n++ {
		if len(*dst) >= maxN {
			return true, true
		}
		var from *ring
		switch {
		case q.alerts.len() > 0 && q.logs.len() > 0:
			if q.alerts.front().seq < q.logs.front().seq {
				from = &q.alerts
			} else {
				from = &q.logs
			}
		case q.alerts.len() > 0:
			from = &q.alerts
		case q.logs.len() > 0:
			from = &q.logs
		default:
			return false, false
		}
		if len(*dst) > 0 && *bytes+from.front().size > maxBytes {
			return true, true
		}
		it := from.pop()
		if !it.alert {
			q.logBytes -= it.size
		}
		*bytes += it.size
		*dst = append(*dst, it)
	}
	return true, false
}

// release uncharges a finished batch (delivered, rejected or dropped).
func (q *queue) release(batch []item) {
	n, b := len(batch), 0
	for i := range batch {
		b += batch[i].size
	}
	q.mu.Lock()
	q.count -= n
	q.bytes -= b
	q.mu.Unlock()
}

// close makes every later push a drop and wakes the sender.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// held returns what the queue holds: queued plus in flight.
func (q *queue) held() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.count
}

// queuedLen returns only what waits in the FIFOs.
func (q *queue) queuedLen() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.alerts.len() + q.logs.len()
}

// isClosed reports whether close was called.
func (q *queue) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// dropAll empties the FIFOs, counting every event as dropped: the end of a
// Close whose deadline passed.
func (q *queue) dropAll() int {
	q.mu.Lock()
	var gone []item
	for q.alerts.len() > 0 {
		gone = append(gone, q.alerts.pop())
	}
	for q.logs.len() > 0 {
		gone = append(gone, q.logs.pop())
	}
	q.logBytes = 0
	q.mu.Unlock()
	for _, it := range gone {
		q.c.drop(it.alert, false)
	}
	q.release(gone)
	return len(gone)
}
