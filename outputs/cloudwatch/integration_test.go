package cloudwatch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pb "github.com/kubearmor/KubeArmor/protobuf"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bluelock/bluelock/outputs"
	"github.com/bluelock/bluelock/sidekick"
)

// TestThroughTheSidekick runs the output inside the real sidekick (config
// source, routes, the dispatcher's batching) against the fake service:
// events posted over HTTP arrive in CloudWatch, ordered, in batches.
// Not parallel: credentials come from the environment, as in production.
func TestThroughTheSidekick(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	f, srv := newFakeLogs(t)
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "SECRET")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	env := map[string]string{
		"LISTENADDRESS":                 "127.0.0.1",
		"LISTENPORT":                    "0",
		"GRPC_LISTENADDRESS":            "",
		"AWS_CLOUDWATCHLOGS_LOGGROUP":   group,
		"AWS_CLOUDWATCHLOGS_REGION":     "us-west-2",
		"AWS_CLOUDWATCHLOGS_ENDPOINT":   srv.URL,
		"AWS_CLOUDWATCHLOGS_BATCHWAIT":  "50ms",
		"AWS_CLOUDWATCHLOGS_BATCHSIZE":  "100",
		"AWS_CLOUDWATCHLOGS_LOGSTREAM":  "{{.ClusterName}}/{{.PodName}}",
		"AWS_CLOUDWATCHLOGS_MAXRETRIES": "3",
	}
	src, err := sidekick.NewSource(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := sidekick.LoadConfig(src)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	built, err := sidekick.BuildRoutes(src, cfg, []outputs.Factory{Factory}, logger, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan net.Addr, 1)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- sidekick.Run(runCtx, cfg, built, sidekick.RunOptions{Logger: logger, Registry: prometheus.NewRegistry(),
			Ready: func(h, _ net.Addr) { ready <- h }})
	}()
	var addr net.Addr
	select {
	case addr = <-ready:
	case <-ctx.Done():
		t.Fatal("sidekick did not start")
	}
	// The first put is throttled: the dispatcher must retry it.
	f.script(func(f *fakeLogs) { f.putFault = map[int]fault{1: {400, "ThrottlingException"}} })

	// 250 events in one NDJSON body, newest first.
	const n = 250
	var body strings.Builder
	for i := n - 1; i >= 0; i-- {
		ts := base.Add(time.Duration(i) * time.Second)
		b, _ := json.Marshal(&pb.Log{Timestamp: ts.Unix(), UpdatedTime: ts.Format("2006-01-02T15:04:05.000000Z"),
			ClusterName: "prod", HostName: "h", NamespaceName: "default", PodName: "web", ContainerName: "web",
			PID: 2, ProcessName: "/bin/ls", Type: "ContainerLog", Source: "/bin/sh", Operation: "Process",
			Resource: fmt.Sprintf("/bin/ls %d", i), Data: "syscall=SYS_EXECVE", Result: "Passed"})
		body.Write(b)
		body.WriteByte('\n')
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr.String()+"/", strings.NewReader(body.String()))
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("ingest: %d %s", resp.StatusCode, rb)
	}
	// Shutdown drains the queue: after Run returns, everything is written.
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("sidekick did not stop")
	}
	streams, calls := f.snapshot()
	got := streams["prod/web"]
	if len(got) != n {
		t.Fatalf("%d events in prod/web, want %d (calls %q)", len(got), n, calls)
	}
	seen := map[string]int{}
	for _, e := range got {
		var l pb.Log
		if err := json.Unmarshal([]byte(e.Message), &l); err != nil {
			t.Fatal(err)
		}
		seen[l.Resource]++
	}
	for r, c := range seen {
		if c != 1 {
			t.Errorf("%s written %d times", r, c)
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct events, want %d", len(seen), n)
	}
	puts := strings.Count(strings.Join(calls, "|"), "PutLogEvents")
	if puts < 3 {
		t.Errorf("%d PutLogEvents calls for %d events in batches of at most 100 plus one throttled call", puts, n)
	}
}
