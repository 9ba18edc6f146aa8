package sidekick

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/bluelock/bluelock/sidekick/dispatch"
)

// GRPCRegistrar is implemented by outputs that serve gRPC (the relay output
// registers KubeArmor's feeder.LogService).
type GRPCRegistrar interface {
	RegisterGRPC(s *grpc.Server)
}

// GRPCServerOptioner is implemented by outputs that need options on the
// shared gRPC server (the relay's TLS credentials).
type GRPCServerOptioner interface {
	ServerOptions() ([]grpc.ServerOption, error)
}

// RunOptions are Run's dependencies.
type RunOptions struct {
	Logger   *slog.Logger
	Registry *prometheus.Registry // registers and serves every metric
	// Ready, if set, is called once both listeners are bound (tests use it
	// with port 0). grpcAddr is nil when gRPC is off.
	Ready func(httpAddr, grpcAddr net.Addr)
	// Dispatch overrides dispatcher options (tests inject Backoff/Wait).
	Dispatch dispatch.Options
	// GRPCServices are extra services served next to the outputs' on
	// GRPC_LISTENADDRESS (cmd/sidekick adds the optional PolicyService
	// forwarder, so karmor logs and karmor vm policy add share one address).
	GRPCServices []GRPCRegistrar
}

// Run serves until ctx is done, then stops intake, drains the outputs within
// cfg.ShutdownTimeout and closes them. It returns the first serving error,
// or the drain's error (events not delivered).
func Run(ctx context.Context, cfg Config, built []BuiltOutput, o RunOptions) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Registry == nil {
		return errors.New("sidekick: RunOptions.Registry is required")
	}
	routes := make([]dispatch.Route, len(built))
	names := make([]string, len(built))
	for i, b := range built {
		routes[i] = b.Route
		names[i] = b.Name
	}
	dopts := o.Dispatch
	dopts.Logger = log
	dopts.Registerer = o.Registry
	d, err := dispatch.New(routes, dopts)
	if err != nil {
		return err
	}
	log.Info(fmt.Sprintf("enabled outputs: %v", names))

	h, err := NewHandler(HandlerConfig{
		BodyLimit: cfg.BodyLimit, AuthToken: cfg.AuthToken, HostName: cfg.HostName, MaxConcurrent: cfg.MaxConcurrentIngestReq,
	}, log, o.Registry, o.Registry, d)
	if err != nil {
		return err
	}
	var tlsCfg *tls.Config
	if cfg.TLSServer.Deploy {
		if tlsCfg, err = ServerTLSConfig(cfg.TLSServer); err != nil {
			return err
		}
	}
	addr := net.JoinHostPort(cfg.ListenAddress, strconv.Itoa(cfg.ListenPort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s (LISTENADDRESS:LISTENPORT): %w", addr, err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.ReadTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	var probeSrv *http.Server
	if tlsCfg != nil && cfg.TLSServer.NoTLSPort != 0 {
		paddr := net.JoinHostPort(cfg.ListenAddress, strconv.Itoa(cfg.TLSServer.NoTLSPort))
		pln, err := net.Listen("tcp", paddr)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("listen on %s (TLSSERVER_NOTLSPORT): %w", paddr, err)
		}
		probeSrv = &http.Server{Handler: ProbeHandler(log, o.Registry), ReadHeaderTimeout: cfg.ReadHeaderTimeout, IdleTimeout: cfg.IdleTimeout}
		go func() { _ = probeSrv.Serve(pln) }()
		log.Info("serving /healthz, /ping and /metrics without TLS", "address", pln.Addr().String())
	}

	var gs *grpc.Server
	var gln net.Listener
	if cfg.GRPCListenAddress != "" {
		var gopts []grpc.ServerOption
		for _, b := range built {
			if so, ok := b.Output.(GRPCServerOptioner); ok {
				opts, err := so.ServerOptions()
				if err != nil {
					return fmt.Errorf("output %s: gRPC server options: %w", b.Name, err)
				}
				gopts = append(gopts, opts...)
			}
		}
		gs = grpc.NewServer(gopts...)
		n := 0
		for _, b := range built {
			if r, ok := b.Output.(GRPCRegistrar); ok {
				r.RegisterGRPC(gs)
				n++
			}
		}
		for _, r := range o.GRPCServices {
			r.RegisterGRPC(gs)
			n++
		}
		if n == 0 {
			gs = nil
			log.Info("no output serves gRPC; not listening on GRPC_LISTENADDRESS", "address", cfg.GRPCListenAddress)
		} else if gln, err = net.Listen("tcp", cfg.GRPCListenAddress); err != nil {
			_ = ln.Close()
			return fmt.Errorf("listen on %s (GRPC_LISTENADDRESS): %w", cfg.GRPCListenAddress, err)
		}
	}

	errc := make(chan error, 2)
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http server: %w", err)
		}
	}()
	var gaddr net.Addr
	if gs != nil {
		gaddr = gln.Addr()
		go func() {
			if err := gs.Serve(gln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				errc <- fmt.Errorf("grpc server: %w", err)
			}
		}()
	}
	log.Info("listening", "http", ln.Addr().String(), "tls", tlsCfg != nil, "mutual_tls", cfg.TLSServer.MutualTLS, "auth_token", cfg.AuthToken != "", "grpc", addrString(gaddr))
	if o.Ready != nil {
		o.Ready(ln.Addr(), gaddr)
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}

	// Stop intake first, then drain, then stop gRPC (streams read the drain).
	// The shutdown has its own deadline: ctx is already done.
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	if probeSrv != nil {
		defer probeSrv.Close() // probes answer until the drain is over
	}
	drainErr := d.Shutdown(sctx)
	// Outputs close before gRPC stops: closing the relay ends its streams,
	// each after sending what the drain gave it, which GracefulStop waits
	// for.
	for _, b := range built {
		if c, ok := b.Output.(io.Closer); ok {
			if err := c.Close(); err != nil {
				log.Warn("close output", "output", b.Name, "err", err)
			}
		}
	}
	if gs != nil {
		stopped := make(chan struct{})
		go func() { gs.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(time.Second): // a stream still sending to a slow client
			gs.Stop()
		}
	}
	if serveErr != nil {
		return serveErr
	}
	if drainErr != nil {
		return drainErr
	}
	log.Info("stopped; all queued events delivered")
	return nil
}

func addrString(a net.Addr) string {
	if a == nil {
		return "off"
	}
	return a.String()
}

// ServerTLSConfig builds the ingest listener's TLS: TLS 1.2+, and with
// MutualTLS a client certificate signed by CACertFile is required.
func ServerTLSConfig(c TLSServerConfig) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("TLSSERVER_CERTFILE/TLSSERVER_KEYFILE: %w", err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if c.MutualTLS {
		pem, err := os.ReadFile(c.CACertFile)
		if err != nil {
			return nil, fmt.Errorf("TLSSERVER_CACERTFILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLSSERVER_CACERTFILE %s: no PEM certificate found", c.CACertFile)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}
