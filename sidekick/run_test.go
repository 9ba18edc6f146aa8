package sidekick_test

import (
	"bytes"
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
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/kubearmor/KubeArmor/protobuf"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/bluelock/bluelock/outputs"
	"github.com/bluelock/bluelock/outputs/relay"
	"github.com/bluelock/bluelock/outputs/stdout"
	"github.com/bluelock/bluelock/outputs/webhook"
	"github.com/bluelock/bluelock/sidekick"
	"github.com/bluelock/bluelock/sidekick/dispatch"
)

const okLog = `{"Timestamp":1700000001,"UpdatedTime":"2023-11-14T22:13:21.000000Z","HostName":"h","NamespaceName":"shop","PPID":1,"PID":%d,"UID":0,"Type":"ContainerLog","Source":"/bin/sh","Operation":"Process","Resource":"/bin/ls","Data":"syscall=SYS_EXECVE","Result":"Passed"}`

func ndjson(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, okLog+"\n", i+1)
	}
	return b.String()
}

// lineWriter sends each written line to a channel (stdout's destination).
type lineWriter struct{ lines chan string }

func (w lineWriter) Write(p []byte) (int, error) {
	for _, l := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		w.lines <- string(l)
	}
	return len(p), nil
}

type running struct {
	url    string
	grpc   net.Addr // nil when gRPC is off
	cancel context.CancelFunc
	done   chan error
	reg    *prometheus.Registry
}

// start runs the sidekick on a free port with the given outputs.
func start(t *testing.T, cfg sidekick.Config, built []sidekick.BuiltOutput, dopts dispatch.Options) *running {
	t.Helper()
	return startWith(t, cfg, built, dopts)
}

func startWith(t testing.TB, cfg sidekick.Config, built []sidekick.BuiltOutput, dopts dispatch.Options) *running {
	t.Helper()
	cfg.ListenAddress, cfg.ListenPort = "127.0.0.1", 0
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if cfg.BodyLimit == 0 {
		cfg.BodyLimit = 4 << 20
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1), reg: prometheus.NewRegistry()}
	ready := make(chan net.Addr, 1)
	go func() {
		r.done <- sidekick.Run(ctx, cfg, built, sidekick.RunOptions{Registry: r.reg, Dispatch: dopts,
			Ready: func(h, g net.Addr) { r.grpc = g; ready <- h }})
	}()
	select {
	case a := <-ready:
		scheme := "http"
		if cfg.TLSServer.Deploy {
			scheme = "https"
		}
		r.url = scheme + "://" + a.String() + "/"
	case err := <-r.done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("sidekick did not start")
	}
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

func routeFor(o outputs.Output) sidekick.BuiltOutput {
	return sidekick.BuiltOutput{Name: o.Name(), Output: o, Route: dispatch.Route{Output: o, MaxRetries: 5}}
}

func post(t *testing.T, client *http.Client, url, body string) (int, string) {
	t.Helper()
	resp, err := client.Post(url, "application/x-ndjson", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// A webhook whose server hangs must not delay stdout: stdout gets every
// event while the webhook's first request is still blocked.
func TestDeadWebhookDoesNotDelayStdout(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	var got atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-block:
		case <-r.Context().Done():
			return
		}
		got.Add(1)
	}))
	t.Cleanup(hook.Close)
	var once sync.Once
	unblock := func() { once.Do(func() { close(block) }) }
	t.Cleanup(unblock) // runs before hook.Close, even after a t.Fatal
	wh, err := webhook.New(webhook.Config{Address: hook.URL}, hook.Client())
	if err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1000)
	r := start(t, sidekick.Config{}, []sidekick.BuiltOutput{routeFor(stdout.New(lineWriter{lines})), routeFor(wh)}, dispatch.Options{})
	const n = 200
	if code, body := post(t, http.DefaultClient, r.url, ndjson(n)); code != 200 || body != `{"accepted":200}` {
		t.Fatalf("POST = %d %s", code, body)
	}
	deadline := time.After(10 * time.Second)
	for i := range n {
		select {
		case l := <-lines:
			if want := fmt.Sprintf(`"PID":%d,`, i+1); !strings.Contains(l, want) {
				t.Fatalf("line %d = %s, want %s in order", i, l, want)
			}
		case <-deadline:
			t.Fatalf("stdout got %d of %d events while the webhook hangs", i, n)
		}
	}
	if g := got.Load(); g != 0 {
		t.Fatalf("the webhook answered %d requests while blocked", g)
	}
	if v := testutil.ToFloat64(mustGauge(t, r.reg, "bluelock_sidekick_output_queue_depth", "webhook")); v < n-2 {
		t.Errorf("webhook queue depth = %v, want about %d", v, n-1)
	}
	// Once the webhook recovers, it gets everything: nothing was lost.
	unblock()
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if g := got.Load(); g != n {
		t.Errorf("webhook got %d of %d after recovering", g, n)
	}
}

// mustGauge finds one series by destination in the registry.
func mustGauge(t *testing.T, reg *prometheus.Registry, name, dest string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "destination" && l.GetValue() == dest {
					g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
					switch {
					case m.Gauge != nil:
						g.Set(m.Gauge.GetValue())
					case m.Counter != nil:
						g.Set(m.Counter.GetValue())
					}
					return g
				}
			}
		}
	}
	t.Fatalf("no %s{destination=%q}", name, dest)
	return nil
}

func metric(t *testing.T, reg *prometheus.Registry, name, dest, labelName, labelValue string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			if have["destination"] != dest || (labelName != "" && have[labelName] != labelValue) {
				continue next
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	t.Fatalf("no %s{destination=%q,%s=%q}", name, dest, labelName, labelValue)
	return 0
}

// 429 + Retry-After: the retry waits at least the header's delay (observed
// through the injected Wait, so the test does not sleep) and then succeeds.
func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "3")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		}
	}))
	defer hook.Close()
	wh, err := webhook.New(webhook.Config{Address: hook.URL}, hook.Client())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var waits []time.Duration
	r := start(t, sidekick.Config{}, []sidekick.BuiltOutput{routeFor(wh)}, dispatch.Options{
		Backoff: func(int) time.Duration { return 10 * time.Millisecond },
		Wait: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			waits = append(waits, d)
			mu.Unlock()
			return ctx.Err()
		},
	})
	if code, _ := post(t, http.DefaultClient, r.url, ndjson(1)); code != 200 {
		t.Fatalf("POST = %d", code)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(waits) != 1 || waits[0] < 3*time.Second {
		t.Errorf("waits = %v, want one of at least 3s", waits)
	}
	if calls.Load() != 2 {
		t.Errorf("webhook got %d requests, want 2", calls.Load())
	}
	if v := metric(t, r.reg, "bluelock_sidekick_output_retries_total", "webhook", "reason", "ratelimit"); v != 1 {
		t.Errorf("retries{ratelimit} = %v, want 1", v)
	}
	if v := metric(t, r.reg, "bluelock_sidekick_outputs_total", "webhook", "status", "ok"); v != 1 {
		t.Errorf("outputs{ok} = %v, want 1", v)
	}
}

// Graceful drain: events queued behind a slow webhook are delivered when
// the sidekick is asked to stop, within SHUTDOWN_TIMEOUT.
func TestGracefulDrain(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var got atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		got.Add(1)
	}))
	defer hook.Close()
	wh, err := webhook.New(webhook.Config{Address: hook.URL}, hook.Client())
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, sidekick.Config{ShutdownTimeout: 15 * time.Second}, []sidekick.BuiltOutput{routeFor(wh)}, dispatch.Options{})
	if code, _ := post(t, http.DefaultClient, r.url, ndjson(50)); code != 200 {
		t.Fatalf("POST = %d", code)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- r.stop(t) }()
	close(release)
	if err := <-stopped; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got.Load() != 50 {
		t.Errorf("webhook got %d of 50 after the drain", got.Load())
	}
}

// Shutdown with a karmor-like client watching the relay: the client gets
// every event posted before the shutdown, then a clean end of stream, not
// the transport cut of a gRPC Stop (which took a second, too).
func TestShutdownEndsRelayStreams(t *testing.T) {
	t.Parallel()
	rl, err := relay.New(relay.Config{Enabled: true, ClientBuffer: relay.DefaultClientBuffer, Backlog: relay.DefaultBacklog}, outputs.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, sidekick.Config{GRPCListenAddress: "127.0.0.1:0"}, []sidekick.BuiltOutput{routeFor(rl)}, dispatch.Options{})
	conn, err := grpc.NewClient(r.grpc.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	logs, err := pb.NewLogServiceClient(conn).WatchLogs(ctx, &pb.RequestMessage{Filter: "all"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := logs.Header(); err != nil { // subscribed
		t.Fatal(err)
	}
	if code, _ := post(t, http.DefaultClient, r.url, ndjson(50)); code != 200 {
		t.Fatalf("POST = %d", code)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := 0
	for {
		l, err := logs.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("after %d logs the stream ended with %v, want a clean end", got, err)
		}
		if l.GetPID() != int32(got+1) {
			t.Fatalf("log %d has PID %d, want %d", got, l.GetPID(), got+1)
		}
		got++
	}
	if got != 50 {
		t.Errorf("the client got %d of the 50 logs posted before the shutdown", got)
	}
}

// A dead webhook and a short SHUTDOWN_TIMEOUT: Run returns an error saying
// how many events were lost, and the drop counter agrees.
func TestShutdownTimeoutCountsLoss(t *testing.T) {
	t.Parallel()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // net/http notices a gone client only after the body is read
		<-r.Context().Done()
	}))
	defer hook.Close()
	wh, err := webhook.New(webhook.Config{Address: hook.URL}, hook.Client())
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, sidekick.Config{ShutdownTimeout: 50 * time.Millisecond}, []sidekick.BuiltOutput{routeFor(wh)}, dispatch.Options{})
	if code, _ := post(t, http.DefaultClient, r.url, ndjson(20)); code != 200 {
		t.Fatalf("POST = %d", code)
	}
	err = r.stop(t)
	if err == nil || !strings.Contains(err.Error(), "20 events not delivered") {
		t.Fatalf("Run = %v, want 20 events not delivered", err)
	}
	if v := metric(t, r.reg, "bluelock_sidekick_output_drops_total", "webhook", "reason", "shutdown"); v != 20 {
		t.Errorf("drops{shutdown} = %v, want 20", v)
	}
}

func TestMutualTLSIngest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := newCA(t, "ingest CA")
	other := newCA(t, "someone else")
	ca.issue(t, dir, "server", x509.ExtKeyUsageServerAuth)
	ca.issue(t, dir, "client", x509.ExtKeyUsageClientAuth)
	other.issue(t, dir, "stranger", x509.ExtKeyUsageClientAuth)
	writePEM(t, filepath.Join(dir, "ca.crt"), "CERTIFICATE", ca.der)
	lines := make(chan string, 10)
	cfg := sidekick.Config{TLSServer: sidekick.TLSServerConfig{Deploy: true, MutualTLS: true,
		CertFile: filepath.Join(dir, "server.crt"), KeyFile: filepath.Join(dir, "server.key"), CACertFile: filepath.Join(dir, "ca.crt")}}
	r := start(t, cfg, []sidekick.BuiltOutput{routeFor(stdout.New(lineWriter{lines}))}, dispatch.Options{})

	clientFor := func(cert string) *http.Client {
		opts := outputs.ClientOptions{CACertFile: filepath.Join(dir, "ca.crt"), CheckCert: true, Timeout: 5 * time.Second}
		if cert != "" {
			opts.MutualTLS, opts.CertFile, opts.KeyFile = true, filepath.Join(dir, cert+".crt"), filepath.Join(dir, cert+".key")
		}
		c, err := outputs.NewHTTPClient(opts)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if code, body := post(t, clientFor("client"), r.url, ndjson(1)); code != 200 {
		t.Fatalf("with a client certificate: %d %s", code, body)
	}
	for _, cert := range []string{"", "stranger"} {
		resp, err := clientFor(cert).Post(r.url, "application/json", strings.NewReader(ndjson(1)))
		if err == nil {
			resp.Body.Close()
			t.Errorf("client cert %q: request succeeded (%d), want a TLS failure", cert, resp.StatusCode)
		}
	}
	if _, err := http.Post(strings.Replace(r.url, "https", "http", 1), "application/json", strings.NewReader(ndjson(1))); err == nil {
		// a plain-HTTP request to a TLS port gets a 400 from net/http or a
		// reset, never a delivery
		t.Log("plain HTTP got an answer (expected net/http's 400)")
	}
	select {
	case <-lines:
	case <-time.After(10 * time.Second):
		t.Fatal("the mTLS event was not delivered")
	}
	select {
	case l := <-lines:
		t.Fatalf("an unauthenticated event was delivered: %s", l)
	default:
	}
}

type testCA struct {
	cert *x509.Certificate
	der  []byte
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, der: der, key: key}
}

func (ca *testCA) issue(t *testing.T, dir, name string, usage x509.ExtKeyUsage) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, name+".crt"), "CERTIFICATE", der)
	writePEM(t, filepath.Join(dir, name+".key"), "EC PRIVATE KEY", kb)
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

var _ = tls.VersionTLS12

// The webhook's TLS settings, through the real config path: WEBHOOK_MUTUALTLS
// with MUTUALTLSCLIENT_* files, TLSCLIENT_CACERTFILE, WEBHOOK_CHECKCERT.
func TestWebhookClientTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := newCA(t, "hook CA")
	ca.issue(t, dir, "server", x509.ExtKeyUsageServerAuth)
	ca.issue(t, dir, "client", x509.ExtKeyUsageClientAuth)
	writePEM(t, filepath.Join(dir, "ca.crt"), "CERTIFICATE", ca.der)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	serverCert, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	var got atomic.Int64
	hook := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) }))
	hook.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	hook.StartTLS()
	defer hook.Close()

	base := map[string]string{"WEBHOOK_ADDRESS": hook.URL + "/s3cret", "STDOUT_ENABLED": "false", "GRPC_LISTENADDRESS": ""}
	cases := []struct {
		name   string
		env    map[string]string
		wantOK bool
	}{
		{"mutual TLS with the client certificate", map[string]string{"WEBHOOK_MUTUALTLS": "true", "TLSCLIENT_CACERTFILE": filepath.Join(dir, "ca.crt"),
			"MUTUALTLSCLIENT_CERTFILE": filepath.Join(dir, "client.crt"), "MUTUALTLSCLIENT_KEYFILE": filepath.Join(dir, "client.key")}, true},
		{"mutual TLS from MUTUALTLSFILESPATH", map[string]string{"WEBHOOK_MUTUALTLS": "true", "MUTUALTLSFILESPATH": dir}, true},
		{"no client certificate", map[string]string{"TLSCLIENT_CACERTFILE": filepath.Join(dir, "ca.crt")}, false},
		{"unknown CA", map[string]string{"WEBHOOK_MUTUALTLS": "true", "MUTUALTLSCLIENT_CERTFILE": filepath.Join(dir, "client.crt"), "MUTUALTLSCLIENT_KEYFILE": filepath.Join(dir, "client.key")}, false},
		{"CHECKCERT=false without a client certificate", map[string]string{"WEBHOOK_CHECKCERT": "false"}, false}, // server check skipped, client cert still missing
	}
	for _, tc := range cases {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for k, v := range tc.env {
			env[k] = v
		}
		src, err := sidekick.NewSource(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := sidekick.LoadConfig(src)
		if err != nil {
			t.Fatal(err)
		}
		built, err := sidekick.BuildRoutes(src, cfg, []outputs.Factory{stdout.Factory, webhook.Factory}, slogDiscard(), prometheus.NewRegistry())
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(built) != 1 {
			t.Fatalf("%s: built %d outputs", tc.name, len(built))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = built[0].Output.Send(ctx, testAlert())
		cancel()
		if (err == nil) != tc.wantOK {
			t.Errorf("%s: Send = %v, want ok=%v", tc.name, err, tc.wantOK)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: secret in error %v", tc.name, err)
		}
	}
	if got.Load() != 2 {
		t.Errorf("webhook got %d requests, want 2", got.Load())
	}
}
