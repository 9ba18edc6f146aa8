package forward

import (
	"context"
	"fmt"
	"log/slog"

	pb "github.com/kubearmor/KubeArmor/protobuf"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// DefaultTarget is the tracer's default PolicyService address (same network
// namespace as the sidekick).
const DefaultTarget = "127.0.0.1:32766"

// Config says where the tracer's PolicyService is.
type Config struct {
	// Target is the tracer's PolicyService address; DefaultTarget when empty.
	Target string
	// Token is sent as "authorization: Bearer <token>" when set.
	Token string
	// TLS, when set, is used towards the tracer (mTLS client certificate).
	TLS credentials.TransportCredentials
}

// Forwarder is a pb.PolicyServiceServer that forwards to the tracer.
type Forwarder struct {
	cfg    Config
	conn   *grpc.ClientConn
	client pb.PolicyServiceClient
	logger *slog.Logger
}

var _ pb.PolicyServiceServer = (*Forwarder)(nil)

// New prepares a Forwarder; the connection is made lazily by the first call.
func New(cfg Config, logger *slog.Logger) (*Forwarder, error) {
	if cfg.Target == "" {
		cfg.Target = DefaultTarget
	}
	creds := cfg.TLS
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient(cfg.Target, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("policy forwarder to %s: %w", cfg.Target, err)
	}
	return &Forwarder{cfg: cfg, conn: conn, client: pb.NewPolicyServiceClient(conn), logger: logger.With("forward_to", cfg.Target)}, nil
}

// Close releases the connection to the tracer.
func (f *Forwarder) Close() error { return f.conn.Close() }

func (f *Forwarder) outgoing(ctx context.Context) context.Context {
	// Never pass the caller's metadata through: the caller's credentials are
	// not the tracer's, and the tracer token must not be forgeable by callers.
	ctx = metadata.NewOutgoingContext(ctx, metadata.MD{})
	if f.cfg.Token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+f.cfg.Token)
	}
	return ctx
}

func (f *Forwarder) relay(ctx context.Context, kind string, in *pb.Policy, call func(context.Context, *pb.Policy, ...grpc.CallOption) (*pb.Response, error)) (*pb.Response, error) {
	resp, err := call(f.outgoing(ctx), in)
	if err != nil {
		f.logger.Warn("policy forward failed", "call", kind, "err", err)
		// Keep the tracer's code (Unavailable, Unauthenticated...) for the caller.
		return nil, status.Errorf(status.Code(err), "bluelock tracer at %s: %v", f.cfg.Target, status.Convert(err).Message())
	}
	f.logger.Info("policy forwarded", "call", kind, "status", resp.GetStatus().String())
	return resp, nil
}

// ContainerPolicy forwards a KubeArmorPolicy event.
func (f *Forwarder) ContainerPolicy(ctx context.Context, in *pb.Policy) (*pb.Response, error) {
	return f.relay(ctx, "containerPolicy", in, f.client.ContainerPolicy)
}

// HostPolicy forwards (the tracer answers NotEnabled).
func (f *Forwarder) HostPolicy(ctx context.Context, in *pb.Policy) (*pb.Response, error) {
	return f.relay(ctx, "hostPolicy", in, f.client.HostPolicy)
}

// NetworkPolicy forwards (the tracer answers NotEnabled).
func (f *Forwarder) NetworkPolicy(ctx context.Context, in *pb.Policy) (*pb.Response, error) {
	return f.relay(ctx, "networkPolicy", in, f.client.NetworkPolicy)
}
