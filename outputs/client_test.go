package outputs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNewHTTPClient(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		o       ClientOptions
		wantErr string
	}{
		{name: "defaults", o: ClientOptions{CheckCert: true}},
		{name: "insecure", o: ClientOptions{CheckCert: false}},
		{name: "missing CA", o: ClientOptions{CACertFile: filepath.Join(dir, "nope.pem")}, wantErr: "TLS client CA"},
		{name: "CA without PEM", o: ClientOptions{CACertFile: notPEM}, wantErr: "no PEM certificate found"},
		{name: "mutual without cert", o: ClientOptions{MutualTLS: true}, wantErr: "MUTUALTLSCLIENT_CERTFILE"},
		{name: "mutual bad cert", o: ClientOptions{MutualTLS: true, CertFile: notPEM, KeyFile: notPEM}, wantErr: "mutual TLS client certificate"},
	}
	for _, tc := range cases {
		c, err := NewHTTPClient(tc.o)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: err = %v, want %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if c.Timeout != DefaultTimeout {
			t.Errorf("%s: Timeout = %v, want %v (no client may hang)", tc.name, c.Timeout, DefaultTimeout)
		}
	}
	c, _ := NewHTTPClient(ClientOptions{Timeout: 3 * time.Second})
	if c.Timeout != 3*time.Second {
		t.Errorf("Timeout = %v", c.Timeout)
	}
}
