package cloudwatch

import (
	"fmt"
	"testing"
	"time"

	"github.com/bluelock/bluelock/schema"
)

// BenchmarkSendBatch10k writes 10,000 alerts per op through the real SDK to
// the fake service (signing, JSON, HTTP on loopback, validation).
func BenchmarkSendBatch10k(b *testing.B) {
	evs := make([]schema.Event, 10_000)
	for i := range evs {
		evs[i] = alertAt(base.Add(time.Duration(i)*time.Millisecond), fmt.Sprintf("/etc/file-%d", i))
	}
	f, srv := newFakeLogs(b)
	c, _ := newOutput(b, srv, nil)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := c.SendBatch(b.Context(), evs); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	f.script(func(f *fakeLogs) { f.streams = map[string][]wireEvent{} })
	b.ReportMetric(float64(b.N*len(evs))/b.Elapsed().Seconds(), "events/s")
}
