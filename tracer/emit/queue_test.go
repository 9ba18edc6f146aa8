package emit

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/bluelock/bluelock/schema"
	"github.com/bluelock/bluelock/tracer/container"
)

// TestQueueBounds drives the queue alone through count and byte bounds.
// Each op is "A<n>" or "L<n>" (emit), or "take<k>" (the sender takes k,
// which stay charged as in flight), or "release" (the batch is done).
func TestQueueBounds(t *testing.T) {
	a0, l0 := estimateSize(testAlert(0)), estimateSize(testLog(0))
	tests := []struct {
		name      string
		maxCount  int
		maxBytes  int
		ops       []string
		wantQueue string // what take then returns, in order
		wantDropA uint64
		wantDropL uint64
	}{
		{
			name: "under the bounds keeps order", maxCount: 10, maxBytes: 1 << 20,
			ops: []string{"L1", "A2", "L3", "A4"}, wantQueue: "L1 A2 L3 A4",
		},
		{
			name: "count bound drops incoming logs", maxCount: 2, maxBytes: 1 << 20,
			ops: []string{"L1", "L2", "L3", "L4"}, wantQueue: "L1 L2", wantDropL: 2,
		},
		{
			name: "alert evicts the oldest log", maxCount: 3, maxBytes: 1 << 20,
			ops: []string{"L1", "A2", "L3", "A4", "A5"}, wantQueue: "A2 A4 A5", wantDropL: 2,
		},
		{
			name: "alerts alone fill the queue", maxCount: 2, maxBytes: 1 << 20,
			ops: []string{"A1", "A2", "A3", "L4"}, wantQueue: "A1 A2", wantDropA: 1, wantDropL: 1,
		},
		{
			name: "in-flight events count against the bound", maxCount: 3, maxBytes: 1 << 20,
			ops: []string{"L1", "L2", "take2", "L3", "L4", "A5", "release", "L6"}, wantQueue: "A5 L6", wantDropL: 2,
		},
		{
			name: "byte bound", maxCount: 100, maxBytes: 2*l0 + a0,
			ops: []string{"L1", "L2", "A3", "L4"}, wantQueue: "L1 L2 A3", wantDropL: 1,
		},
		{
			name: "byte bound: alert evicts exactly enough logs", maxCount: 100, maxBytes: 3 * l0,
			ops: []string{"L1", "L2", "L3", "A4"}, wantQueue: "L3 A4", wantDropL: 2,
		},
		{
			name: "an alert larger than the logs could free evicts nothing", maxCount: 100, maxBytes: a0 + l0,
			ops: []string{"A1", "L2", "A3"}, wantQueue: "A1 L2", wantDropA: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q := newQueue(tc.maxCount, tc.maxBytes)
			var inflight []item
			for _, op := range tc.ops {
				switch {
				case strings.HasPrefix(op, "take"):
					inflight = q.take(nil, int(op[4]-'0'), 1<<30)
				case op == "release":
					q.release(inflight)
					inflight = nil
				default:
					q.push(opEvent(op))
				}
			}
			got := q.take(nil, 1000, 1<<30)
			evs := make([]schema.Event, len(got))
			for i := range got {
				evs[i] = got[i].ev
			}
			if g := tags(evs); g != tc.wantQueue {
				t.Errorf("queue = %q, want %q", g, tc.wantQueue)
			}
			if da, dl := q.c.droppedAlerts.Load(), q.c.droppedLogs.Load(); da != tc.wantDropA || dl != tc.wantDropL {
				t.Errorf("dropped alerts=%d logs=%d, want %d/%d", da, dl, tc.wantDropA, tc.wantDropL)
			}
			if fa, fl := q.c.fullAlerts.Load(), q.c.fullLogs.Load(); fa != tc.wantDropA || fl != tc.wantDropL {
				t.Errorf("full-queue drops alerts=%d logs=%d, want %d/%d", fa, fl, tc.wantDropA, tc.wantDropL)
			}
		})
	}
}

func opEvent(op string) schema.Event {
	n := 0
	for _, c := range op[1:] {
		n = n*10 + int(c-'0')
	}
	if op[0] == 'A' {
		return testAlert(n)
	}
	return testLog(n)
}

// TestQueueTakeBytes: a batch stops at the byte limit but always takes one.
func TestQueueTakeBytes(t *testing.T) {
	q := newQueue(100, 1<<20)
	for i := range 5 {
		q.push(testLog(i))
	}
	l := estimateSize(testLog(0))
	if got := len(q.take(nil, 100, 2*l)); got != 2 {
		t.Errorf("took %d, want 2", got)
	}
	if got := len(q.take(nil, 100, 1)); got != 1 {
		t.Errorf("took %d with a tiny limit, want 1", got)
	}
}

// TestEstimateSize keeps the byte bound honest: the estimate stays close to
// the real JSON size for typical events.
func TestEstimateSize(t *testing.T) {
	for _, ev := range []schema.Event{testAlert(1), testLog(1), dropReport(testInfo(), testNow, 1, 2)} {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		est, real := estimateSize(ev), len(b)
		if est < real || float64(est) > 1.3*float64(real) {
			t.Errorf("%s: estimate %d, real %d (want real <= estimate <= 1.3 real)", tag(ev), est, real)
		}
		t.Logf("%s: estimate %d, real %d", tag(ev), est, real)
	}
}

// TestEncodeMatchesMarshal: the sender's encoder writes exactly what
// schema.Event marshals to (the KubeArmor JSON), plus the NDJSON newline.
func TestEncodeMatchesMarshal(t *testing.T) {
	for _, ev := range []schema.Event{testAlert(1), testLog(2), dropReport(testInfo(), testNow, 3, 4)} {
		want, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		var buf strings.Builder
		if err := newEncoder(&buf).encode(ev); err != nil {
			t.Fatal(err)
		}
		if buf.String() != string(want)+"\n" {
			t.Errorf("%s:\nencode  %s\nmarshal %s", tag(ev), buf.String(), want)
		}
	}
	if err := newEncoder(io.Discard).encode(schema.Event{}); err == nil {
		t.Error("empty event encoded")
	}
}

// TestDropReportValid: the sidekick validates every event; the drop report
// must pass, including when the container context is unknown.
func TestDropReportValid(t *testing.T) {
	for _, info := range []container.Info{testInfo(), withHostName(container.Info{})} {
		ev := dropReport(info, testNow, 1, 2)
		if err := ev.Validate(); err != nil {
			t.Errorf("drop report with %+v: %v", info, err)
		}
		if !ev.IsAlert() || ev.Type() != schema.TypeSystemEvent {
			t.Errorf("drop report is not a SystemEvent alert: %+v", ev.Alert)
		}
	}
}

// TestQueueTakeChunks: a batch larger than one critical section comes out
// whole and in order, and stops at maxN.
func TestQueueTakeChunks(t *testing.T) {
	q := newQueue(1000, 1<<30)
	var want []string
	for i := range 3*takeChunk + 5 {
		ev := testLog(i)
		if i%3 == 0 {
			ev = testAlert(i)
		}
		q.push(ev)
		want = append(want, tag(ev))
	}
	got := q.take(nil, 2*takeChunk+1, 1<<30)
	evs := make([]schema.Event, len(got))
	for i := range got {
		evs[i] = got[i].ev
	}
	if g, w := tags(evs), strings.Join(want[:2*takeChunk+1], " "); g != w {
		t.Errorf("took %q\nwant %q", g, w)
	}
	if n := q.queuedLen(); n != takeChunk+4 {
		t.Errorf("%d left, want %d", n, takeChunk+4)
	}
}

// TestQueueLinger: the sender's linger ends when its time is up, when the
// queue is closed (at once if it already is), or when done is; with no
// linger configured it does not wait at all.
func TestQueueLinger(t *testing.T) {
	const never = time.Hour
	for _, c := range []struct {
		name   string
		d      time.Duration
		before func(q *queue, done chan struct{}) // before linger starts
		during func(q *queue, done chan struct{}) // while it lingers
	}{
		{name: "time-up", d: time.Millisecond},
		{name: "none", d: -1},
		{name: "zero", d: 0},
		{name: "closed-before", d: never, before: func(q *queue, _ chan struct{}) { q.close() }},
		{name: "closed-during", d: never, during: func(q *queue, _ chan struct{}) { q.close() }},
		{name: "done-during", d: never, during: func(_ *queue, done chan struct{}) { close(done) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := newQueue(10, 1<<20)
			done := make(chan struct{})
			q.push(testLog(1)) // the event that woke the sender
			<-q.wake
			if c.before != nil {
				c.before(q, done)
			}
			ended := make(chan struct{})
			go func() {
				q.linger(newStoppedTimer(), c.d, done)
				close(ended)
			}()
			if c.during != nil {
				c.during(q, done)
			}
			select {
			case <-ended:
			case <-time.After(10 * time.Second):
				t.Fatal("linger did not end")
			}
		})
	}
}
