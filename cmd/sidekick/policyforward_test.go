package main

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	pb "github.com/kubearmor/KubeArmor/protobuf"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// fakeTracer is the tracer's PolicyService as the forwarder sees it.
type fakeTracer struct {
	mu   sync.Mutex
	got  [][]byte
	auth []string
}

func (f *fakeTracer) ContainerPolicy(ctx context.Context, in *pb.Policy) (*pb.Response, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, in.Policy)
	f.auth = append(f.auth, md.Get("authorization")...)
	return &pb.Response{Status: pb.PolicyStatus_Applied}, nil
}
func (f *fakeTracer) HostPolicy(context.Context, *pb.Policy) (*pb.Response, error) {
	return &pb.Response{Status: pb.PolicyStatus_NotEnabled}, nil
}
func (f *fakeTracer) NetworkPolicy(context.Context, *pb.Policy) (*pb.Response, error) {
	return &pb.Response{Status: pb.PolicyStatus_NotEnabled}, nil
}

// TestPolicyServiceForward: with POLICYSERVICE_FORWARDTO set, a KubeArmor
// PolicyService client (what `karmor vm policy add --gRPC` is) talking to the
// sidekick's gRPC port reaches the tracer, with the tracer's token and never
// the caller's credentials.
func TestPolicyServiceForward(t *testing.T) {
	tracer := &fakeTracer{}
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := grpc.NewServer()
	pb.RegisterPolicyServiceServer(ts, tracer)
	go func() { _ = ts.Serve(tln) }()
	defer ts.Stop()

	gport := freePort(t)
	env := map[string]string{
		"LISTENADDRESS": "127.0.0.1", "LISTENPORT": "0", "STDOUT_ENABLED": "false",
		"GRPC_LISTENADDRESS":      "127.0.0.1:" + strconv.Itoa(gport),
		"POLICYSERVICE_FORWARDTO": tln.Addr().String(),
		"POLICYSERVICE_TOKEN":     "tracer-secret",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan int, 1)
	var errb bytes.Buffer
	go func() {
		done <- run(runCtx, nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil, &bytes.Buffer{}, &errb)
	}()

	conn, err := grpc.NewClient("127.0.0.1:"+strconv.Itoa(gport), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := pb.NewPolicyServiceClient(conn)
	payload := []byte(`{"type":"ADDED","object":{"metadata":{"name":"p"},"spec":{"process":{"matchPaths":[{"path":"/bin/sleep"}]},"action":"Block"}}}`)
	callCtx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer caller-credential")
	resp, err := client.ContainerPolicy(callCtx, &pb.Policy{Policy: payload}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatalf("containerPolicy through the sidekick: %v\nsidekick stderr:\n%s", err, errb.String())
	}
	if resp.Status != pb.PolicyStatus_Applied {
		t.Fatalf("status %v, want Applied", resp.Status)
	}
	tracer.mu.Lock()
	got, auth := tracer.got, tracer.auth
	tracer.mu.Unlock()
	if len(got) != 1 || !bytes.Equal(got[0], payload) {
		t.Fatalf("tracer received %q, want the payload once", got)
	}
	if len(auth) != 1 || auth[0] != "Bearer tracer-secret" {
		t.Fatalf("tracer saw authorization %q, want only the configured tracer token", auth)
	}
	stop()
	if code := <-done; code != 0 {
		t.Fatalf("sidekick exit %d:\n%s", code, errb.String())
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
