package relay

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pb "github.com/kubearmor/KubeArmor/protobuf"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	"github.com/bluelock/bluelock/outputs"
	"github.com/bluelock/bluelock/schema"
)

type settings map[string]string

func (s settings) Get(k string) (string, bool) { v, ok := s[k]; return v, ok }

// KeyName makes errors name the full variable, as the sidekick's Settings do.
func (s settings) KeyName(k string) string { return "KUBEARMOR_" + k }

type harness struct {
	relay  *Relay
	reg    *prometheus.Registry
	client pb.LogServiceClient
}

// start serves a Relay over bufconn with the options it asks for, and
// returns a client built from KubeArmor's own protobuf package.
func start(t testing.TB, cfg Config) *harness {
	t.Helper()
	reg := prometheus.NewRegistry()
	r, err := New(cfg, outputs.Deps{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := r.ServerOptions()
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	r.RegisterGRPC(srv)
	lis := bufconn.Listen(1 << 20)
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		_ = r.Close()
		srv.Stop()
	})
	return &harness{relay: r, reg: reg, client: pb.NewLogServiceClient(conn)}
}

func defaultConfig() Config {
	return Config{Enabled: true, ClientBuffer: DefaultClientBuffer, Backlog: DefaultBacklog}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func alert(i int) *pb.Alert {
	return &pb.Alert{Timestamp: int64(1795000000 + i), NamespaceName: "default", PodName: "web",
		PolicyName: "ksp-block-secrets", Severity: "8", Type: schema.TypeMatchedPolicy, Operation: "File",
		Resource: fmt.Sprintf("/etc/shadow-%d", i), Action: "Block", Result: "Permission denied", PPID: 1, PID: 2}
}

func logEv(i int) *pb.Log {
	return &pb.Log{Timestamp: int64(1795000000 + i), NamespaceName: "default", PodName: "web",
		Type: schema.TypeContainerLog, Operation: "Process", Resource: fmt.Sprintf("/bin/ls %d", i), Result: "Passed"}
}

func (h *harness) send(t *testing.T, evs ...schema.Event) {
	t.Helper()
	for _, ev := range evs {
		if err := h.relay.Send(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

// watchAlerts opens WatchAlerts and waits until the server has subscribed.
func (h *harness) watchAlerts(t *testing.T, ctx context.Context, filter string) grpc.ServerStreamingClient[pb.Alert] {
	t.Helper()
	s, err := h.client.WatchAlerts(ctx, &pb.RequestMessage{Filter: filter})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Header(); err != nil {
		t.Fatal(err)
	}
	return s
}

func (h *harness) watchLogs(t *testing.T, ctx context.Context, filter string) grpc.ServerStreamingClient[pb.Log] {
	t.Helper()
	s, err := h.client.WatchLogs(ctx, &pb.RequestMessage{Filter: filter})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Header(); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHealthCheckEchoesNonce(t *testing.T) {
	t.Parallel()
	h := start(t, defaultConfig())
	for _, n := range []int32{0, 1, -7, 4242, math.MaxInt32, math.MinInt32} {
		rep, err := h.client.HealthCheck(testCtx(t), &pb.NonceMessage{Nonce: n})
		if err != nil {
			t.Fatal(err)
		}
		if rep.GetRetval() != n {
			t.Errorf("nonce %d: Retval %d", n, rep.GetRetval())
		}
	}
}

func TestAlertsAndLogsGoToTheirStreams(t *testing.T) {
	t.Parallel()
	h := start(t, defaultConfig())
	ctx := testCtx(t)
	as := h.watchAlerts(t, ctx, "policy")
	ls := h.watchLogs(t, ctx, "system")
	a, l := alert(1), logEv(2)
	// Log first, then alert: if the alert leaked into the logs stream, the
	// logs stream would see it before the second log.
	h.send(t, schema.NewLog(l), schema.NewAlert(a), schema.NewLog(logEv(3)))
	gotA, err := as.Recv()
	if err != nil || !proto.Equal(gotA, a) {
		t.Fatalf("alerts stream: %v, %v", gotA, err)
	}
	gotL, err := ls.Recv()
	if err != nil || !proto.Equal(gotL, l) {
		t.Fatalf("logs stream: %v, %v", gotL, err)
	}
	gotL, err = ls.Recv()
	if err != nil || !proto.Equal(gotL, logEv(3)) {
		t.Fatalf("logs stream second: %v, %v (an alert leaked into logs?)", gotL, err)
	}
	h.send(t, schema.NewAlert(alert(4)))
	gotA, err = as.Recv()
	if err != nil || !proto.Equal(gotA, alert(4)) {
		t.Fatalf("alerts stream second: %v, %v (a log leaked into alerts?)", gotA, err)
	}
}

// TestFilterSemantics follows KubeArmor's logServer: WatchAlerts serves
// "all" and "policy", WatchLogs "all" and "system"; anything else ends the
// stream at once with no events and no error.
func TestFilterSemantics(t *testing.T) {
	t.Parallel()
	cases := []struct {
		stream, filter string
		serves         bool
	}{
		{"alerts", "all", true},
		{"alerts", "policy", true},
		{"alerts", "system", false},
		{"alerts", "", false},
		{"alerts", "Policy", false},
		{"logs", "all", true},
		{"logs", "system", true},
		{"logs", "policy", false},
		{"logs", "", false},
		{"logs", "nonsense", false},
	}
	for _, tc := range cases {
		t.Run(tc.stream+"/"+tc.filter, func(t *testing.T) {
			t.Parallel()
			h := start(t, defaultConfig())
			ctx := testCtx(t)
			var recv func() (proto.Message, error)
			if tc.stream == "alerts" {
				s := h.watchAlerts(t, ctx, tc.filter)
				recv = func() (proto.Message, error) { return s.Recv() }
			} else {
				s := h.watchLogs(t, ctx, tc.filter)
				recv = func() (proto.Message, error) { return s.Recv() }
			}
			h.send(t, schema.NewAlert(alert(1)), schema.NewLog(logEv(1)))
			m, err := recv()
			if tc.serves {
				if err != nil || m == nil {
					t.Fatalf("want an event, got %v, %v", m, err)
				}
				return
			}
			if !errors.Is(err, io.EOF) {
				t.Fatalf("want the stream ended empty (io.EOF), got %v, %v", m, err)
			}
		})
	}
}

func TestWatchMessagesHelloAndStaysOpen(t *testing.T) {
	t.Parallel()
	h := start(t, defaultConfig())
	ctx, cancel := context.WithCancel(testCtx(t))
	ms, err := h.client.WatchMessages(ctx, &pb.RequestMessage{Filter: "all"})
	if err != nil {
		t.Fatal(err)
	}
	hello, err := ms.Recv()
	if err != nil || hello.GetType() != "Message" || hello.GetLevel() != "INFO" {
		t.Fatalf("hello: %v, %v", hello, err)
	}
	ended := make(chan error, 1)
	go func() { _, err := ms.Recv(); ended <- err }()

	// Traffic on the other streams, including one that ends (bad filter),
	// must not end the messages stream.
	as := h.watchAlerts(t, ctx, "all")
	bad, err := h.client.WatchLogs(ctx, &pb.RequestMessage{Filter: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("bad filter: %v", err)
	}
	for i := range 50 {
		h.send(t, schema.NewAlert(alert(i)))
		if _, err := as.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-ended:
		t.Fatalf("WatchMessages ended on its own: %v", err)
	default:
	}
	// The alerts stream is open too: it still delivers.
	h.send(t, schema.NewAlert(alert(99)))
	if got, err := as.Recv(); err != nil || got.GetResource() != alert(99).Resource {
		t.Fatalf("alerts stream after traffic: %v, %v", got, err)
	}
	cancel() // the client goes away: only now does the stream end
	if err := <-ended; status.Code(err) != codes.Canceled {
		t.Fatalf("messages stream ended with %v, want Canceled by the client", err)
	}
}

func TestCloseEndsStreams(t *testing.T) {
	t.Parallel()
	h := start(t, defaultConfig())
	ctx := testCtx(t)
	as := h.watchAlerts(t, ctx, "all")
	ls := h.watchLogs(t, ctx, "all")
	if err := h.relay.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := as.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("alerts after Close: %v", err)
	}
	if _, err := ls.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("logs after Close: %v", err)
	}
}

// Close comes after the sidekick's drain: a stream sends what its buffer
// holds before it ends, so events delivered to the relay reach a watching
// client even at shutdown.
func TestCloseSendsBuffered(t *testing.T) {
	t.Parallel()
	h := start(t, defaultConfig())
	ctx := testCtx(t)
	as := h.watchAlerts(t, ctx, "all")
	const n = 1000 // within the stream's buffer (DefaultClientBuffer)
	for i := range n {
		h.send(t, schema.NewAlert(alert(i)))
	}
	if err := h.relay.Close(); err != nil {
		t.Fatal(err)
	}
	got := 0
	for {
		a, err := as.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("after %d alerts: %v", got, err)
		}
		if want := alert(got).Resource; a.GetResource() != want {
			t.Fatalf("alert %d is %q, want %q", got, a.GetResource(), want)
		}
		got++
	}
	if got != n {
		t.Errorf("the stream ended after %d of %d alerts sent before Close", got, n)
	}
}

func TestBacklogDeliveredToFirstSubscriber(t *testing.T) {
	t.Parallel()
	cfg := defaultConfig()
	cfg.Backlog = 3
	h := start(t, cfg)
	ctx := testCtx(t)
	// Nobody watches: 5 alerts and 2 logs wait, the 2 oldest alerts fall out.
	for i := range 5 {
		h.send(t, schema.NewAlert(alert(i)))
	}
	h.send(t, schema.NewLog(logEv(0)), schema.NewLog(logEv(1)))
	if got := testutil.ToFloat64(h.relay.m.drops.WithLabelValues(streamAlerts, reasonBacklogFull)); got != 2 {
		t.Errorf("alert backlog drops = %v, want 2", got)
	}
	if got := testutil.ToFloat64(h.relay.m.drops.WithLabelValues(streamLogs, reasonBacklogFull)); got != 0 {
		t.Errorf("log backlog drops = %v, want 0", got)
	}
	if got := testutil.ToFloat64(h.relay.m.backlog.WithLabelValues(streamAlerts)); got != 3 {
		t.Errorf("alert backlog gauge = %v, want 3", got)
	}

	first := h.watchAlerts(t, ctx, "policy")
	second := h.watchAlerts(t, ctx, "all")
	h.send(t, schema.NewAlert(alert(5)))
	for _, want := range []int{2, 3, 4, 5} {
		got, err := first.Recv()
		if err != nil || !proto.Equal(got, alert(want)) {
			t.Fatalf("first subscriber: want alert %d, got %v, %v", want, got, err)
		}
	}
	// The second subscriber only sees what happened after it subscribed.
	if got, err := second.Recv(); err != nil || !proto.Equal(got, alert(5)) {
		t.Fatalf("second subscriber: want alert 5, got %v, %v", got, err)
	}
	// The logs backlog is separate and still waits for its first client.
	ls := h.watchLogs(t, ctx, "system")
	for _, want := range []int{0, 1} {
		got, err := ls.Recv()
		if err != nil || !proto.Equal(got, logEv(want)) {
			t.Fatalf("logs: want log %d, got %v, %v", want, got, err)
		}
	}
}

// TestBacklogRefilledWhenLastClientLeaves: events published while a client
// is connected but not yet sent to it are kept for the next client (a
// reconnecting relay) rather than lost.
func TestBacklogResumesWhenLastClientLeaves(t *testing.T) {
	t.Parallel()
	h := start(t, defaultConfig())
	left := make(chan struct{}, 1)
	h.relay.alerts.left = func() { left <- struct{}{} }
	ctx, cancel := context.WithCancel(testCtx(t))
	s := h.watchAlerts(t, ctx, "all")
	h.send(t, schema.NewAlert(alert(0)))
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel() // the relay goes away (e.g. to reconnect)
	select {
	case <-left:
	case <-testCtx(t).Done():
		t.Fatal("the server never noticed the client left")
	}
	h.send(t, schema.NewAlert(alert(1))) // nobody watches: kept
	s2 := h.watchAlerts(t, testCtx(t), "all")
	h.send(t, schema.NewAlert(alert(2)))
	for _, want := range []int{1, 2} {
		got, err := s2.Recv()
		if err != nil || !proto.Equal(got, alert(want)) {
			t.Fatalf("want alert %d, got %v, %v", want, got, err)
		}
	}
}

func TestSlowClientDropsAreCounted(t *testing.T) {
	t.Parallel()
	cfg := defaultConfig()
	cfg.ClientBuffer = 2
	h := start(t, cfg)
	ctx := testCtx(t)
	slow := h.watchAlerts(t, ctx, "all")
	// The client reads nothing while 3000 alerts of ~1 KiB are published:
	// far more than gRPC's flow-control windows plus a buffer of 2.
	const n = 3000
	pad := strings.Repeat("x", 1024)
	for i := range n {
		a := alert(i)
		a.Data = pad
		h.send(t, schema.NewAlert(a))
	}
	drops := testutil.ToFloat64(h.relay.m.drops.WithLabelValues(streamAlerts, reasonSlowClient))
	if drops == 0 {
		t.Fatal("no drops counted for a client that read nothing")
	}
	// Everything not dropped arrives, in order; then a marker proves there
	// is nothing else in flight.
	received, last := 0, -1
	marker := alert(n + 1)
	for {
		got, err := slow.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if proto.Equal(got, marker) {
			break
		}
		i := int(got.Timestamp - 1795000000)
		if i <= last {
			t.Fatalf("out of order: %d after %d", i, last)
		}
		last = i
		received++
		if received == n-int(drops) {
			h.send(t, schema.NewAlert(marker))
		}
	}
	if received+int(drops) != n {
		t.Fatalf("received %d + dropped %v != sent %d", received, drops, n)
	}
	// The metric is registered on the registerer from Deps.
	if c, err := testutil.GatherAndCount(h.reg, "bluelock_sidekick_relay_drops_total"); err != nil || c != 4 {
		t.Fatalf("drops series in the registry: %d, %v", c, err)
	}
}

func TestConfigFromSettings(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		s       settings
		want    Config
		enabled bool
		wantErr string
	}{
		{name: "defaults", s: settings{}, want: defaultConfig(), enabled: true},
		{name: "off", s: settings{"ENABLED": "no"}, want: Config{ClientBuffer: 1000, Backlog: 1000}},
		{name: "tuned", s: settings{"CLIENTBUFFER": "50", "BACKLOG": "0", "TLSCERTFILE": "/c", "TLSKEYFILE": "/k"},
			want: Config{Enabled: true, ClientBuffer: 50, Backlog: 0, TLSCertFile: "/c", TLSKeyFile: "/k"}, enabled: true},
		{name: "bad bool", s: settings{"ENABLED": "nope"}, wantErr: "KUBEARMOR_ENABLED", enabled: true},
		{name: "bad buffer", s: settings{"CLIENTBUFFER": "0"}, wantErr: "CLIENTBUFFER", enabled: true},
		{name: "bad backlog", s: settings{"BACKLOG": "-1"}, wantErr: "BACKLOG", enabled: true},
		{name: "cert without key", s: settings{"TLSCERTFILE": "/c"}, wantErr: "TLSKEYFILE", enabled: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ConfigFromSettings(tc.s)
			if Factory.Enabled(tc.s) != tc.enabled {
				t.Errorf("Enabled = %v, want %v", !tc.enabled, tc.enabled)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestSendEmptyEvent(t *testing.T) {
	t.Parallel()
	r, err := New(defaultConfig(), outputs.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	var se *outputs.SendError
	if err := r.Send(t.Context(), schema.Event{}); !errors.As(err, &se) || se.Retryable {
		t.Fatalf("empty event: %v", err)
	}
}

// TestTLS serves over a real loopback listener with the TLS options from
// ServerOptions and checks a TLS client can HealthCheck and watch.
func TestTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.TLSCertFile, cfg.TLSKeyFile = certFile, keyFile
	r, err := New(cfg, outputs.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := r.ServerOptions()
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	r.RegisterGRPC(srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	defer r.Close()

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	conn, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost"})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := pb.NewLogServiceClient(conn)
	ctx := testCtx(t)
	if rep, err := c.HealthCheck(ctx, &pb.NonceMessage{Nonce: 77}); err != nil || rep.GetRetval() != 77 {
		t.Fatalf("HealthCheck over TLS: %v, %v", rep, err)
	}
	if err := r.Send(ctx, schema.NewAlert(alert(1))); err != nil {
		t.Fatal(err)
	}
	s, err := c.WatchAlerts(ctx, &pb.RequestMessage{Filter: "policy"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Recv(); err != nil || !proto.Equal(got, alert(1)) {
		t.Fatalf("WatchAlerts over TLS: %v, %v", got, err)
	}

	// A plaintext client cannot talk to it.
	plain, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := pb.NewLogServiceClient(plain).HealthCheck(ctx, &pb.NonceMessage{Nonce: 1}); err == nil {
		t.Fatal("plaintext HealthCheck succeeded against a TLS server")
	}

	// A missing key file fails ServerOptions (start-up).
	cfg.TLSKeyFile = filepath.Join(dir, "missing.key")
	r2, err := New(cfg, outputs.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r2.ServerOptions(); err == nil {
		t.Fatal("ServerOptions with a missing key file succeeded")
	}
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func outputsDeps() outputs.Deps { return outputs.Deps{} }
