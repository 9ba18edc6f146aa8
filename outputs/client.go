package outputs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// DefaultTimeout bounds every request of an output's HTTP client, end to
// end: a hung endpoint costs at most this, never a stuck worker.
const DefaultTimeout = 10 * time.Second

// ClientOptions configures NewHTTPClient. The file names follow
// falcosidekick: TLSCLIENT_CACERTFILE, MUTUALTLSCLIENT_{CERTFILE,KEYFILE,
// CACERTFILE}, and per output <PREFIX>_CHECKCERT / <PREFIX>_MUTUALTLS.
type ClientOptions struct {
	// Timeout bounds a whole request, body included (default DefaultTimeout).
	Timeout time.Duration
	// CACertFile is added to the system roots (TLSCLIENT_CACERTFILE).
	CACertFile string
	// CheckCert=false skips server certificate checks (ignored with MutualTLS).
	CheckCert bool
	// MutualTLS presents CertFile/KeyFile and trusts MutualCACertFile.
	MutualTLS        bool
	CertFile         string
	KeyFile          string
	MutualCACertFile string
}

// NewHTTPClient builds a client with timeouts on every phase (dial, TLS
// handshake, response headers, whole request) and the TLS settings above.
func NewHTTPClient(o ClientOptions) (*http.Client, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	if o.CACertFile != "" {
		if err := appendPEM(roots, o.CACertFile); err != nil {
			return nil, fmt.Errorf("TLS client CA: %w", err)
		}
	}
	if o.MutualTLS {
		if o.CertFile == "" || o.KeyFile == "" {
			return nil, errors.New("mutual TLS needs a client certificate and key (MUTUALTLSCLIENT_CERTFILE, MUTUALTLSCLIENT_KEYFILE)")
		}
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("mutual TLS client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
		if o.MutualCACertFile != "" {
			if err := appendPEM(roots, o.MutualCACertFile); err != nil {
				return nil, fmt.Errorf("mutual TLS CA: %w", err)
			}
		}
	} else if !o.CheckCert {
		tc.InsecureSkipVerify = true
	}
	dialer := &net.Dialer{Timeout: min(o.Timeout, 10*time.Second), KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   min(o.Timeout, 10*time.Second),
		ResponseHeaderTimeout: o.Timeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   16,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{Transport: tr, Timeout: o.Timeout}, nil
}

func appendPEM(pool *x509.CertPool, file string) error {
	pem, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s: no PEM certificate found", file)
	}
	return nil
}
