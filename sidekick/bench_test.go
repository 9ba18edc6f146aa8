package sidekick_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluelock/bluelock/outputs/webhook"
	"github.com/bluelock/bluelock/sidekick"
	"github.com/bluelock/bluelock/sidekick/dispatch"
)

// BenchmarkIngestToWebhook measures events/s from POST / (NDJSON bodies of
// 100 events) to their arrival at an in-process webhook sink, through
// validation, the queue, the worker(s) and a real HTTP client, and reports
// the peak Go heap seen while it ran.
//
//	go test -run XXX -bench IngestToWebhook -benchtime 20000x ./sidekick
func BenchmarkIngestToWebhook(b *testing.B) {
	for _, bc := range []struct {
		name    string
		batch   bool
		workers int
	}{
		{"single/workers=1", false, 1},
		{"single/workers=8", false, 8},
		{"batch100/workers=1", true, 1},
	} {
		b.Run(bc.name, func(b *testing.B) { benchIngest(b, bc.batch, bc.workers) })
	}
}

func benchIngest(b *testing.B, batch bool, workers int) {
	var got atomic.Int64
	done := make(chan struct{})
	target := int64(b.N)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n := int64(1)
		if batch {
			n = int64(bytes.Count(body, []byte("\n")))
		}
		if got.Add(n) == target {
			close(done)
		}
	}))
	defer sink.Close()
	sink.Client().Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	wh, err := webhook.New(webhook.Config{Address: sink.URL, Batch: batch, MaxBatch: 100, MaxWait: 10 * time.Millisecond}, sink.Client())
	if err != nil {
		b.Fatal(err)
	}
	route := sidekick.BuiltOutput{Name: "webhook", Output: wh, Route: dispatch.Route{Output: wh, Workers: workers, QueueSize: b.N + 1, MaxRetries: 5}}
	r := startB(b, route)

	const perBody = 100
	bodies := make([]string, 0, b.N/perBody+1)
	for left := b.N; left > 0; left -= perBody {
		bodies = append(bodies, ndjson(min(left, perBody)))
	}
	var peak atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-t.C:
			case <-stopSampling:
				return
			}
		}
	}()
	client := &http.Client{Timeout: 30 * time.Second}
	b.ResetTimer()
	start := time.Now()
	for _, body := range bodies {
		resp, err := client.Post(r.url, "application/x-ndjson", bytes.NewBufferString(body))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("POST = %d", resp.StatusCode)
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("sink got %d of %d", got.Load(), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	close(stopSampling)
	<-sampled
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(0, "ns/op")
	if err := r.stopB(); err != nil {
		b.Fatal(err)
	}
}

func startB(b *testing.B, built ...sidekick.BuiltOutput) *running {
	b.Helper()
	cfg := sidekick.Config{ListenAddress: "127.0.0.1", ShutdownTimeout: 10 * time.Second, BodyLimit: 4 << 20}
	return startWith(b, cfg, built, dispatch.Options{})
}

func (r *running) stopB() error {
	r.cancel()
	err := <-r.done
	r.done <- err
	return err
}
