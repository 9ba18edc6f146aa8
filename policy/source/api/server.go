package api

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	pb "github.com/kubearmor/KubeArmor/protobuf"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// ServerConfig says where and how the API listens.
type ServerConfig struct {
	// GRPCAddr and HTTPAddr are host:port; empty disables that front end.
	GRPCAddr string
	HTTPAddr string
	// Token, when set, is required as "authorization: Bearer <token>" (gRPC
	// metadata or HTTP header) on every call, on any address.
	Token string
	// TLSCert and TLSKey enable TLS; TLSCA additionally requires client
	// certificates signed by it (mutual TLS).
	TLSCert, TLSKey, TLSCA string
	// Insecure allows a non-loopback address with neither token nor mTLS.
	Insecure bool
}

// MutualTLS reports whether client certificates are required.
func (c ServerConfig) MutualTLS() bool { return c.TLSCert != "" && c.TLSKey != "" && c.TLSCA != "" }

// Validate checks the TLS settings and refuses to expose an unauthenticated
// API beyond loopback (fail closed).
func (c ServerConfig) Validate() error {
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("policy API: --policy-tls-cert and --policy-tls-key go together")
	}
	if c.TLSCA != "" && c.TLSCert == "" {
		return errors.New("policy API: --policy-tls-ca needs --policy-tls-cert and --policy-tls-key")
	}
	var errs []error
	for _, a := range []struct{ flag, addr string }{{"--policy-grpc", c.GRPCAddr}, {"--policy-http", c.HTTPAddr}} {
		if a.addr == "" {
			continue
		}
		if err := CheckExposure(a.addr, c.Token != "" || c.MutualTLS(), c.Insecure); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a.flag, err))
		}
	}
	return errors.Join(errs...)
}

// CheckExposure refuses a non-loopback listen address unless authenticated
// or insecure is set.
func CheckExposure(addr string, authenticated, insecure bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if IsLoopback(host) || authenticated || insecure {
		return nil
	}
	return fmt.Errorf("refusing to serve the policy API on %q without authentication: anyone who can reach it could "+
		"replace or lift the policies; set --policy-token (BLUELOCK_POLICY_TOKEN) or mutual TLS "+
		"(--policy-tls-cert, --policy-tls-key, --policy-tls-ca), listen on 127.0.0.1, or accept the risk with --policy-insecure", addr)
}

// IsLoopback reports whether host (no port) is a loopback address. Hostnames
// other than "localhost" and the empty host (all interfaces) are not.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Server runs the gRPC and HTTP front ends of a Set.
type Server struct {
	cfg     ServerConfig
	logger  *slog.Logger
	grpcLis net.Listener
	httpLis net.Listener
	grpcSrv *grpc.Server
	httpSrv *http.Server
	tlsConf *tls.Config
}

// Listen validates cfg and binds the listeners now, so an address in use is a
// start-up error. Call Serve.
func Listen(cfg ServerConfig, set *Set, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, logger: logger}
	if cfg.TLSCert != "" {
		tc, err := serverTLS(cfg)
		if err != nil {
			return nil, err
		}
		s.tlsConf = tc
	}
	if cfg.GRPCAddr != "" {
		l, err := net.Listen("tcp", cfg.GRPCAddr)
		if err != nil {
			return nil, fmt.Errorf("policy PolicyService: %w", err)
		}
		s.grpcLis = l
		opts := []grpc.ServerOption{grpc.UnaryInterceptor(s.grpcAuth)}
		if s.tlsConf != nil {
			opts = append(opts, grpc.Creds(credentials.NewTLS(s.tlsConf)))
		}
		s.grpcSrv = grpc.NewServer(opts...)
		pb.RegisterPolicyServiceServer(s.grpcSrv, NewPolicyServer(set, logger))
	}
	if cfg.HTTPAddr != "" {
		l, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("policy HTTP API: %w", err)
		}
		if s.tlsConf != nil {
			l = tls.NewListener(l, s.tlsConf)
		}
		s.httpLis = l
		s.httpSrv = &http.Server{
			Handler:           s.httpAuth(Handler(set, logger)),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
		}
	}
	return s, nil
}

// GRPCAddr is the bound PolicyService address (nil when disabled).
func (s *Server) GRPCAddr() net.Addr { return addrOf(s.grpcLis) }

// HTTPAddr is the bound HTTP address (nil when disabled).
func (s *Server) HTTPAddr() net.Addr { return addrOf(s.httpLis) }

func addrOf(l net.Listener) net.Addr {
	if l == nil {
		return nil
	}
	return l.Addr()
}

// Serve serves until ctx ends, then stops gracefully.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 2)
	n := 0
	if s.grpcSrv != nil {
		n++
		s.logger.Info("KubeArmor PolicyService listening", "addr", s.grpcLis.Addr().String(), "tls", s.tlsConf != nil, "token", s.cfg.Token != "")
		go func() { errc <- s.grpcSrv.Serve(s.grpcLis) }()
	}
	if s.httpSrv != nil {
		n++
		s.logger.Info("policy HTTP API listening", "addr", s.httpLis.Addr().String(), "tls", s.tlsConf != nil, "token", s.cfg.Token != "")
		go func() {
			err := s.httpSrv.Serve(s.httpLis)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errc <- err
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		n--
	}
	s.shutdown(ctx)
	for ; n > 0; n-- {
		<-errc
	}
	if err != nil {
		return fmt.Errorf("policy API: %w", err)
	}
	return nil
}

func (s *Server) shutdown(ctx context.Context) {
	if s.grpcSrv != nil {
		s.grpcSrv.GracefulStop()
	}
	if s.httpSrv != nil {
		// The drain outlives the cancelled parent, bounded by its own timeout.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = s.httpSrv.Shutdown(ctx)
	}
}

func (s *Server) close() {
	if s.grpcLis != nil {
		s.grpcLis.Close()
	}
	if s.httpLis != nil {
		s.httpLis.Close()
	}
}

func (s *Server) tokenOK(header string) bool {
	tok, ok := bearer(header)
	return ok && subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.Token)) == 1
}

func (s *Server) grpcAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if s.cfg.Token != "" {
		md, _ := metadata.FromIncomingContext(ctx)
		vals := md.Get("authorization")
		if len(vals) != 1 || !s.tokenOK(vals[0]) {
			return nil, status.Error(codes.Unauthenticated, "policy API: missing or wrong bearer token")
		}
	}
	return handler(ctx, req)
}

func (s *Server) httpAuth(next http.Handler) http.Handler {
	if s.cfg.Token == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.tokenOK(r.Header.Get("Authorization")) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="bluelock"`)
			writeJSON(w, http.StatusUnauthorized, errorReply{Error: "missing or wrong bearer token"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func serverTLS(cfg ServerConfig) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("policy API TLS: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if cfg.TLSCA != "" {
		pem, err := os.ReadFile(cfg.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("policy API TLS: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("policy API TLS: no certificate in %s", cfg.TLSCA)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}
