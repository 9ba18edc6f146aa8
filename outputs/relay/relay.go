package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	pb "github.com/kubearmor/KubeArmor/protobuf"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"

	"github.com/bluelock/bluelock/outputs"
	"github.com/bluelock/bluelock/schema"
)

// Relay serves feeder.LogService and is the "relay" output.
type Relay struct {
	cfg    Config
	logger *slog.Logger
	m      *metrics
	alerts *topic[*pb.Alert]
	logs   *topic[*pb.Log]

	hostName string
	done     chan struct{}
	once     sync.Once
}

var (
	_ outputs.Output      = (*Relay)(nil)
	_ pb.LogServiceServer = (*Relay)(nil)
)

// New builds the relay. Deps.Registerer receives its metrics; without one
// they go to a private registry (never the default one).
func New(cfg Config, deps outputs.Deps) (*Relay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	reg := deps.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	return &Relay{
		cfg:      cfg,
		logger:   logger.With("output", "relay"),
		m:        m,
		alerts:   newTopic[*pb.Alert](streamAlerts, cfg.ClientBuffer, cfg.Backlog, m),
		logs:     newTopic[*pb.Log](streamLogs, cfg.ClientBuffer, cfg.Backlog, m),
		hostName: host,
		done:     make(chan struct{}),
	}, nil
}

// Name implements outputs.Output.
func (r *Relay) Name() string { return "relay" }

// Send publishes ev to the matching stream. It never blocks and only fails
// for an empty event.
func (r *Relay) Send(_ context.Context, ev schema.Event) error {
	switch {
	case ev.Alert != nil:
		r.alerts.publish(ev.Alert)
	case ev.Log != nil:
		r.logs.publish(ev.Log)
	default:
		return &outputs.SendError{Err: errors.New("relay: empty event"), Reason: "invalid"}
	}
	return nil
}

// RegisterGRPC registers feeder.LogService on s.
func (r *Relay) RegisterGRPC(s *grpc.Server) {
	pb.RegisterLogServiceServer(s, r)
}

// ServerOptions are the options cmd/sidekick should build its grpc.Server
// with: TLS credentials when KUBEARMOR_TLSCERTFILE/KEYFILE are set, and
// keepalive settings that find dead clients (so their streams end and the
// backlog takes over) while tolerating clients that ping often.
func (r *Relay) ServerOptions() ([]grpc.ServerOption, error) {
	opts := []grpc.ServerOption{
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 10 * time.Second, Timeout: 5 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
	}
	if r.cfg.TLSCertFile == "" {
		return opts, nil
	}
	cert, err := tls.LoadX509KeyPair(r.cfg.TLSCertFile, r.cfg.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("relay: load TLS key pair: %w", err)
	}
	creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	return append(opts, grpc.Creds(creds)), nil
}

// Close ends every open stream, each once it has sent what its buffer
// holds. Send keeps working (into the backlog).
func (r *Relay) Close() error {
	r.once.Do(func() { close(r.done) })
	return nil
}

// HealthCheck echoes the nonce, which karmor and the relay compare.
func (r *Relay) HealthCheck(_ context.Context, n *pb.NonceMessage) (*pb.ReplyMessage, error) {
	return &pb.ReplyMessage{Retval: n.GetNonce()}, nil
}

// WatchAlerts streams alerts for filter "all" or "policy"; for any other
// filter it returns at once, as KubeArmor does.
func (r *Relay) WatchAlerts(req *pb.RequestMessage, stream grpc.ServerStreamingServer[pb.Alert]) error {
	if f := req.GetFilter(); f != "all" && f != "policy" {
		r.logger.Debug("WatchAlerts with a filter KubeArmor does not serve", "filter", f)
		return nil
	}
	return serve(r, r.alerts, stream)
}

// WatchLogs streams logs for filter "all" or "system"; for any other filter
// it returns at once, as KubeArmor does.
func (r *Relay) WatchLogs(req *pb.RequestMessage, stream grpc.ServerStreamingServer[pb.Log]) error {
	if f := req.GetFilter(); f != "all" && f != "system" {
		r.logger.Debug("WatchLogs with a filter KubeArmor does not serve", "filter", f)
		return nil
	}
	return serve(r, r.logs, stream)
}

// WatchMessages sends one hello and stays open until the client goes away
// or Close: ending it would make kubearmor-relay-server reconnect.
func (r *Relay) WatchMessages(_ *pb.RequestMessage, stream grpc.ServerStreamingServer[pb.Message]) error {
	r.m.clients.WithLabelValues(streamMessages).Inc()
	defer r.m.clients.WithLabelValues(streamMessages).Dec()
	now := time.Now().UTC()
	hello := &pb.Message{
		Timestamp:   now.Unix(),
		UpdatedTime: now.Format("2006-01-02T15:04:05.000000Z"),
		HostName:    r.hostName,
		Type:        "Message",
		Level:       "INFO",
		Message:     "bluelock sidekick: KubeArmor LogService relay connected",
	}
	if err := stream.Send(hello); err != nil {
		return err
	}
	select {
	case <-stream.Context().Done():
	case <-r.done:
	}
	return nil
}

// serve subscribes the stream to t and forwards until the client goes away
// or Close. It returns a send error as is (the client is gone anyway).
func serve[T any](r *Relay, t *topic[*T], stream grpc.ServerStreamingServer[T]) error {
	sub, pending := t.subscribe()
	unsent := pending
	defer func() { t.unsubscribe(sub, unsent) }()

	// Headers tell the client it is subscribed (see the package doc).
	if err := stream.SendHeader(metadata.Pairs("bluelock-relay", "subscribed")); err != nil {
		return err
	}
	ctx := stream.Context()
	for len(unsent) > 0 {
		if err := stream.Send(unsent[0]); err != nil {
			return err
		}
		unsent[0] = nil
		unsent = unsent[1:]
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.done:
			// Close comes after the sidekick's drain: what is in this
			// stream's buffer by now goes out before the stream ends (only
			// that much, should Send go on publishing).
			for n := len(sub.ch); n > 0; n-- {
				v := <-sub.ch
				if ctx.Err() != nil {
					unsent = append(unsent, v)
					return nil
				}
				if err := stream.Send(v); err != nil {
					return err
				}
			}
			return nil
		case v := <-sub.ch:
			// The select picks at random among ready cases: do not hand
			// an event to a stream that is already over; keep it.
			if ctx.Err() != nil {
				unsent = append(unsent, v)
				return nil
			}
			if err := stream.Send(v); err != nil {
				return err
			}
		}
	}
}
