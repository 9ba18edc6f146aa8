package forward_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	pb "github.com/kubearmor/KubeArmor/protobuf"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/bluelock/bluelock/policy"
	"github.com/bluelock/bluelock/policy/source/api"
	"github.com/bluelock/bluelock/policy/source/forward"
	"github.com/bluelock/bluelock/policy/source/internal/docs"
)

type sink struct{}

func (sink) Apply(string, []policy.KubeArmorPolicy) error { return nil }

func parse(data []byte, origin string) ([]policy.KubeArmorPolicy, error) {
	ds, err := docs.Split(data)
	if err != nil || len(ds) != 1 {
		return nil, errors.New("bad")
	}
	var p policy.KubeArmorPolicy
	p.Metadata.Name = ds[0].Name
	return []policy.KubeArmorPolicy{p}, nil
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestForwarder runs the real tracer-side API (with a token) and a sidekick-like
// gRPC server carrying the Forwarder, and drives it with KubeArmor's client.
func TestForwarder(t *testing.T) {
	const token = "tracer-token"
	set := api.NewSet(sink{}, nil, parse, discard)
	tracer, err := api.Listen(api.ServerConfig{GRPCAddr: "127.0.0.1:0", Token: token}, set, discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- tracer.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-served })

	cases := []struct {
		name     string
		token    string
		target   string
		payloads []string
		want     []pb.PolicyStatus
		wantCode codes.Code
	}{
		{name: "statuses pass through", token: token, target: tracer.GRPCAddr().String(),
			payloads: []string{
				`{"type":"ADDED","object":{"metadata":{"name":"a"}}}`,
				`{"type":"MODIFIED","object":{"metadata":{"name":"a"}}}`,
				`{"type":"DELETED","object":{"metadata":{"name":"a"}}}`,
				`{"type":"DELETED","object":{"metadata":{"name":"a"}}}`,
				`not json`,
			},
			want: []pb.PolicyStatus{pb.PolicyStatus_Applied, pb.PolicyStatus_Modified, pb.PolicyStatus_Deleted, pb.PolicyStatus_NotExist, pb.PolicyStatus_Invalid}},
		{name: "without the tracer token", token: "", target: tracer.GRPCAddr().String(),
			payloads: []string{`{"type":"ADDED","object":{"metadata":{"name":"a"}}}`}, wantCode: codes.Unauthenticated},
		{name: "tracer not running", token: token, target: closedAddr(t),
			payloads: []string{`{"type":"ADDED","object":{"metadata":{"name":"a"}}}`}, wantCode: codes.Unavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fw, err := forward.New(forward.Config{Target: tc.target, Token: tc.token}, discard)
			if err != nil {
				t.Fatal(err)
			}
			defer fw.Close()
			side := grpc.NewServer()
			pb.RegisterPolicyServiceServer(side, fw)
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go func() { _ = side.Serve(l) }()
			defer side.Stop()

			conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			client := pb.NewPolicyServiceClient(conn)
			for i, p := range tc.payloads {
				cctx, ccancel := context.WithTimeout(t.Context(), 5*time.Second)
				resp, err := client.ContainerPolicy(cctx, &pb.Policy{Policy: []byte(p)})
				ccancel()
				if tc.wantCode != codes.OK {
					if status.Code(err) != tc.wantCode {
						t.Fatalf("call %d: %v %v, want code %v", i, resp, err, tc.wantCode)
					}
					continue
				}
				if err != nil || resp.Status != tc.want[i] {
					t.Fatalf("call %d: %v %v, want %v", i, resp, err, tc.want[i])
				}
			}
		})
	}
}

func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return fmt.Sprint(addr)
}
