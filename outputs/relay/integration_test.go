package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	pb "github.com/kubearmor/KubeArmor/protobuf"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/bluelock/bluelock/outputs"
	"github.com/bluelock/bluelock/outputs/discord"
	"github.com/bluelock/bluelock/outputs/relay"
	"github.com/bluelock/bluelock/outputs/slack"
	"github.com/bluelock/bluelock/sidekick"
)

const (
	blockAlert = `{"Timestamp":1795000000,"UpdatedTime":"2026-11-18T10:13:20.123456Z","ClusterName":"prod-eks","HostName":"web-7f9c","NamespaceName":"default","PodName":"web-7f9c","ContainerName":"web","ContainerImage":"nginx:1.27","PPID":41,"PID":42,"UID":0,"ParentProcessName":"/bin/sh","ProcessName":"/usr/bin/cat","PolicyName":"ksp-block-secrets","Severity":"8","Tags":"secrets","ATags":["secrets"],"Message":"Reading /etc/shadow is denied","Type":"MatchedPolicy","Source":"/usr/bin/cat /etc/shadow","Operation":"File","Resource":"/etc/shadow","Data":"syscall=SYS_OPENAT fd=-100 flags=O_RDONLY","Enforcer":"bluelock","Action":"Block","Result":"Permission denied"}`
	execLog    = `{"Timestamp":1795000200,"UpdatedTime":"2026-11-18T10:16:40.000000Z","ClusterName":"prod-eks","HostName":"web-7f9c","NamespaceName":"default","PodName":"web-7f9c","ContainerName":"web","PPID":1,"PID":12,"UID":0,"ParentProcessName":"/bin/sh","ProcessName":"/usr/bin/ls","Type":"ContainerLog","Source":"/bin/sh","Operation":"Process","Resource":"/usr/bin/ls -la","Data":"syscall=SYS_EXECVE","Result":"Passed"}`
)

// recorder is a webhook endpoint that hands each body to the test.
func recorder(t *testing.T, status int, body string) (*httptest.Server, <-chan []byte) {
	ch := make(chan []byte, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- b
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func recv[T any](t *testing.T, ctx context.Context, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

// TestThroughTheSidekick wires the relay, Slack and Discord outputs into the
// real sidekick (config source, routes, dispatcher, HTTP ingest, shared gRPC
// server), posts events over HTTP and reads them back with KubeArmor's gRPC
// client and the fake webhooks.
func TestThroughTheSidekick(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	slackSrv, slackBodies := recorder(t, http.StatusOK, "ok")
	discordSrv, discordBodies := recorder(t, http.StatusNoContent, "")
	env := map[string]string{
		"LISTENADDRESS":      "127.0.0.1",
		"LISTENPORT":         "0",
		"GRPC_LISTENADDRESS": "127.0.0.1:0",
		"SLACK_WEBHOOKURL":   slackSrv.URL + "/services/T0/B0/SECRET",
		"SLACK_TYPES":        "alerts",
		"DISCORD_WEBHOOKURL": discordSrv.URL + "/api/webhooks/1/SECRET",
		"DISCORD_TYPES":      "alerts",
		"KUBEARMOR_BACKLOG":  "10",
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
	reg := prometheus.NewRegistry()
	built, err := sidekick.BuildRoutes(src, cfg, []outputs.Factory{relay.Factory, slack.Factory, discord.Factory}, logger, reg)
	if err != nil {
		t.Fatal(err)
	}
	type addrs struct{ http, grpc net.Addr }
	ready := make(chan addrs, 1)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- sidekick.Run(runCtx, cfg, built, sidekick.RunOptions{Logger: logger, Registry: reg,
			Ready: func(h, g net.Addr) { ready <- addrs{h, g} }})
	}()
	a := recv(t, ctx, ready, "the sidekick to listen")
	if a.grpc == nil {
		t.Fatal("no gRPC listener")
	}
	post := func(body string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+a.http.String()+"/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("ingest: %d %s", resp.StatusCode, b)
		}
	}

	// A log posted before any gRPC client exists waits in the backlog.
	post(execLog)

	conn, err := grpc.NewClient(a.grpc.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := pb.NewLogServiceClient(conn)
	if rep, err := c.HealthCheck(ctx, &pb.NonceMessage{Nonce: 31337}); err != nil || rep.GetRetval() != 31337 {
		t.Fatalf("HealthCheck: %v %v", rep, err)
	}
	logs, err := c.WatchLogs(ctx, &pb.RequestMessage{Filter: "system"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := logs.Recv()
	if err != nil || l.GetResource() != "/usr/bin/ls -la" {
		t.Fatalf("backlogged log: %v, %v", l, err)
	}
	alerts, err := c.WatchAlerts(ctx, &pb.RequestMessage{Filter: "policy"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alerts.Header(); err != nil {
		t.Fatal(err)
	}
	post(blockAlert)
	al, err := alerts.Recv()
	if err != nil || al.GetPolicyName() != "ksp-block-secrets" || al.GetAction() != "Block" {
		t.Fatalf("alert over gRPC: %v, %v", al, err)
	}
	if got, _ := json.Marshal(al); !bytes.Equal(got, []byte(blockAlert)) {
		t.Errorf("alert changed on the way:\n got %s\nwant %s", got, blockAlert)
	}

	sb := recv(t, ctx, slackBodies, "the Slack message")
	if !strings.Contains(string(sb), `[Block] ksp-block-secrets: /usr/bin/cat → /etc/shadow (Permission denied) in default/web-7f9c`) {
		t.Errorf("Slack body: %s", sb)
	}
	db := recv(t, ctx, discordBodies, "the Discord message")
	if !strings.Contains(string(db), `"color":14813963`) {
		t.Errorf("Discord body: %s", db)
	}
	// SLACK_TYPES=alerts: the log went to the relay only.
	select {
	case b := <-slackBodies:
		t.Errorf("Slack got a second message: %s", b)
	default:
	}

	stop()
	if err := recv(t, ctx, done, "the sidekick to stop"); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
