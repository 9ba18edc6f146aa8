package emit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bluelock/bluelock/schema"
)

// gateWriter records what is written; each Write announces itself on
// entered and then waits for a token on release (or passes if release is nil).
type gateWriter struct {
	entered chan struct{}
	release chan struct{}
	fail    chan error // if a value is ready, Write returns it
	buf     bytes.Buffer
}

func (g *gateWriter) Write(p []byte) (int, error) {
	if g.entered != nil {
		g.entered <- struct{}{}
	}
	if g.release != nil {
		<-g.release
	}
	select {
	case err := <-g.fail:
		return 0, err
	default:
	}
	return g.buf.Write(p)
}

func parseLines(t *testing.T, b []byte) []schema.Event {
	t.Helper()
	var evs []schema.Event
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var ev schema.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		evs = append(evs, ev)
	}
	return evs
}

func TestWriterOrder(t *testing.T) {
	ctx := testCtx(t)
	var out gateWriter
	w := NewWriter(&out)
	var want []string
	for i := range 1000 {
		ev := testLog(i)
		if i%7 == 0 {
			ev = testAlert(i)
		}
		want = append(want, tag(ev))
		w.Emit(ev)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got := parseLines(t, out.buf.Bytes())
	if tags(got) != strings.Join(want, " ") {
		t.Errorf("lines out of order or missing: got %d lines", len(got))
	}
	if st := w.Stats(); st.Sent != 1000 || st.Queued != 0 || st.DroppedAlerts+st.DroppedLogs != 0 {
		t.Errorf("stats = %+v", st)
	}
}

// TestWriterBlocked: a stdout that does not drain fills the queue; the
// stop loop never waits, drops follow the policy and are reported.
func TestWriterBlocked(t *testing.T) {
	ctx := testCtx(t)
	out := &gateWriter{entered: make(chan struct{}, 16), release: make(chan struct{})}
	w := NewWriterWith(WriterConfig{MaxQueueEvents: 3, Container: testInfo(), Now: func() time.Time { return testNow }}, out, nil)
	w.Emit(testLog(0))
	<-out.entered // L0 is being written and blocks
	for _, ev := range []schema.Event{testLog(1), testLog(2), testLog(3), testAlert(4)} {
		w.Emit(ev) // L3 dropped (full), A4 evicts L1
	}
	if st := w.Stats(); st.DroppedLogs != 2 || st.Queued != 3 {
		t.Fatalf("stats while blocked = %+v", st)
	}
	close(out.release)
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got := parseLines(t, out.buf.Bytes())
	if g := tags(got); g != "L0 SYS L2 A4" {
		t.Fatalf("written %q, want L0 SYS L2 A4", g)
	}
	if m := got[1].Alert.Message; !strings.Contains(m, "dropped 2 events (0 alerts, 2 logs)") {
		t.Errorf("report = %q", m)
	}
	if st := w.Stats(); st.Sent != 3 || st.SystemEvents != 1 || st.DroppedLogs != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestWriterCloseBound(t *testing.T) {
	ctx := testCtx(t)
	out := &gateWriter{entered: make(chan struct{}, 16), release: make(chan struct{})}
	defer close(out.release)
	w := NewWriterWith(WriterConfig{MaxBatchEvents: 1}, out, nil)
	w.Emit(testAlert(0))
	<-out.entered
	w.Emit(testLog(1))
	w.Emit(testLog(2))
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err := w.Close(cctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "2 queued events") {
		t.Errorf("Close = %v", err)
	}
	if st := w.Stats(); st.DroppedLogs != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestWriterError(t *testing.T) {
	ctx := testCtx(t)
	out := &gateWriter{entered: make(chan struct{}, 16), release: make(chan struct{}), fail: make(chan error, 1)}
	w := NewWriterWith(WriterConfig{}, out, nil)
	out.fail <- errors.New("EPIPE")
	w.Emit(testAlert(0))
	<-out.entered
	out.release <- struct{}{} // fails: A0 dropped
	w.Emit(testLog(1))
	<-out.entered
	out.release <- struct{}{} // succeeds
	close(out.release)
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if g := tags(parseLines(t, out.buf.Bytes())); g != "L1" {
		t.Errorf("written %q, want L1", g)
	}
	if st := w.Stats(); st.DroppedAlerts != 1 || st.Sent != 1 || st.SystemEvents != 0 {
		t.Errorf("stats = %+v (a write error is not a full-queue drop: no report)", st)
	}
}

// TestWriterCloseEndsLinger: a writer lingering for a burst does not hold
// Close up: the queued event is written and Close returns in time.
func TestWriterCloseEndsLinger(t *testing.T) {
	var out bytes.Buffer
	w := NewWriterWith(WriterConfig{Linger: time.Hour}, &out, nil)
	w.Emit(testLog(1))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatalf("Close: %v (the linger held it)", err)
	}
	if st := w.Stats(); st.Sent != 1 {
		t.Fatalf("sent %d, want 1", st.Sent)
	}
	if evs := parseLines(t, out.Bytes()); len(evs) != 1 {
		t.Fatalf("%d lines written, want 1", len(evs))
	}
}
