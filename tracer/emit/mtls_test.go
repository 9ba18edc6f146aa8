package emit

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testPKI is a CA with one server and one client certificate, as PEM files.
type testPKI struct {
	caFile, clientCert, clientKey string
	serverTLS                     *tls.Config
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, usage x509.ExtKeyUsage, ips ...net.IP) (certPEM, keyPEM []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "leaf"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sCert, sKey := issue(2, x509.ExtKeyUsageServerAuth, net.IPv4(127, 0, 0, 1))
	cCert, cKey := issue(3, x509.ExtKeyUsageClientAuth)
	serverPair, err := tls.X509KeyPair(sCert, sKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return testPKI{
		caFile:     write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})),
		clientCert: write("client.pem", cCert),
		clientKey:  write("client-key.pem", cKey),
		serverTLS: &tls.Config{Certificates: []tls.Certificate{serverPair}, ClientCAs: pool,
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12},
	}
}

// TestHTTPMutualTLS: a sidekick that requires client certificates gets
// events from an emitter configured with one, and none from one without.
func TestHTTPMutualTLS(t *testing.T) {
	pki := newTestPKI(t)
	tests := []struct {
		name      string
		cert, key string
		delivered bool
	}{
		{"client certificate", pki.clientCert, pki.clientKey, true},
		{"no client certificate", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			sk := &sidekick{t: t, reqs: make(chan request, 16), respond: func(http.ResponseWriter, request) {}}
			srv := httptest.NewUnstartedServer(sk)
			srv.TLS = pki.serverTLS
			srv.StartTLS()
			defer srv.Close()
			rw := newRecordingWait()
			h := newTestHTTP(t, HTTPConfig{URL: srv.URL, CAFile: pki.caFile, CertFile: tc.cert, KeyFile: tc.key, Wait: rw.wait}, nil)
			h.Emit(testAlert(1))
			if tc.delivered {
				if got := tags(sk.next(ctx).events); got != "A1" {
					t.Fatalf("got %q", got)
				}
				if err := h.Close(ctx); err != nil {
					t.Fatal(err)
				}
				return
			}
			select {
			case <-rw.waits: // refused at the handshake: retrying
			case r := <-sk.reqs:
				t.Fatalf("delivered without a client certificate: %q", tags(r.events))
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			}
			cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
			defer cancel()
			if err := h.Close(cctx); err == nil {
				t.Error("Close reported no loss")
			}
		})
	}
}
