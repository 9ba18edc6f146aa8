package relay

import (
	"testing"

	pb "github.com/kubearmor/KubeArmor/protobuf"

	"github.com/bluelock/bluelock/schema"
)

// BenchmarkGRPCStream measures alerts per second from Send to a KubeArmor
// gRPC client over bufconn. The client buffer holds every event, so this
// measures delivery, not dropping.
func BenchmarkGRPCStream(b *testing.B) {
	cfg := defaultConfig()
	cfg.ClientBuffer = b.N + 1
	h := start(b, cfg)
	s, err := h.client.WatchAlerts(b.Context(), &pb.RequestMessage{Filter: "all"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Header(); err != nil {
		b.Fatal(err)
	}
	ev := schema.NewAlert(alert(1))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		_ = h.relay.Send(b.Context(), ev)
	}
	for range b.N {
		if _, err := s.Recv(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendNoClient measures Send while nobody watches (the backlog).
func BenchmarkSendNoClient(b *testing.B) {
	r, err := New(defaultConfig(), outputsDeps())
	if err != nil {
		b.Fatal(err)
	}
	ev := schema.NewAlert(alert(1))
	b.ReportAllocs()
	for range b.N {
		_ = r.Send(b.Context(), ev)
	}
}
