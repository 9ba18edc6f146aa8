package emit

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bluelock/bluelock/schema"
)

// BenchmarkEmit is the stop loop's cost of one event, with the sender
// draining concurrently (the real situation) or the queue full (drop path).
func BenchmarkEmit(b *testing.B) {
	b.Run("writer draining", func(b *testing.B) {
		w := NewWriter(io.Discard)
		ev := testAlert(1)
		b.ReportAllocs()
		for b.Loop() {
			w.Emit(ev)
		}
		b.StopTimer()
		_ = w.Close(context.Background())
	})
	b.Run("http sending", func(b *testing.B) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
		}))
		defer srv.Close()
		h, err := NewHTTP(HTTPConfig{URL: srv.URL}, nil)
		if err != nil {
			b.Fatal(err)
		}
		ev := testLog(1)
		b.ReportAllocs()
		for b.Loop() {
			h.Emit(ev)
		}
		b.StopTimer()
		_ = h.Close(context.Background())
	})
	b.Run("queue full", func(b *testing.B) {
		q := newQueue(1, 1<<20)
		q.push(testLog(0))
		ev := testLog(1)
		b.ReportAllocs()
		for b.Loop() {
			q.push(ev)
		}
	})
}

// BenchmarkMarshal is what Emit would cost if it marshalled on the stop
// loop: through schema.Event's MarshalJSON, and as the sender encodes.
func BenchmarkMarshal(b *testing.B) {
	ev := testAlert(1)
	b.Run("schema.Event MarshalJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		enc := json.NewEncoder(io.Discard)
		b.ReportAllocs()
		for b.Loop() {
			if err := enc.Encode(ev.Alert); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode", func(b *testing.B) {
		enc := newEncoder(io.Discard)
		b.ReportAllocs()
		for b.Loop() {
			if err := enc.encode(ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkBurst emits 10,000 events at once into a local sidekick that
// accepts everything and measures the time until Close has delivered them all.
func BenchmarkBurst(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	const n = 10_000
	evs := make([]schema.Event, n)
	for i := range evs {
		if i%10 == 0 {
			evs[i] = testAlert(i)
		} else {
			evs[i] = testLog(i)
		}
	}
	for b.Loop() {
		h, err := NewHTTP(HTTPConfig{URL: srv.URL}, nil)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for _, ev := range evs {
			h.Emit(ev)
		}
		emitted := time.Since(start)
		if err := h.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
		st := h.Stats()
		if st.Sent != n {
			b.Fatalf("sent %d of %d: %+v", st.Sent, n, st)
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
		b.ReportMetric(float64(emitted.Nanoseconds())/n, "emit-ns/event")
		b.ReportMetric(float64(st.Batches), "batches")
	}
}
