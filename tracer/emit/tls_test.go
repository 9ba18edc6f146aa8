package emit

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestHTTPTLS: with SIDEKICK_CA_FILE the emitter trusts the sidekick's CA
// and nothing else; without it the same server is refused.
func TestHTTPTLS(t *testing.T) {
	ctx := testCtx(t)
	sk := &sidekick{t: t, reqs: make(chan request, 16), respond: func(http.ResponseWriter, request) {}}
	srv := httptest.NewTLSServer(sk)
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	h := newTestHTTP(t, HTTPConfig{URL: srv.URL, CAFile: ca}, nil)
	h.Emit(testAlert(1))
	if got := tags(sk.next(ctx).events); got != "A1" {
		t.Fatalf("over TLS: %q", got)
	}

	rw := newRecordingWait()
	untrusted := newTestHTTP(t, HTTPConfig{URL: srv.URL, Wait: rw.wait}, nil)
	untrusted.Emit(testAlert(2))
	<-rw.waits // the handshake failed and is retried, nothing arrived
	select {
	case r := <-sk.reqs:
		t.Fatalf("untrusted server received %q", tags(r.events))
	default:
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := untrusted.Close(cctx); err == nil {
		t.Error("Close reported no loss")
	}
	if st := untrusted.Stats(); st.DroppedAlerts != 1 || st.Sent != 0 {
		t.Errorf("stats = %+v", st)
	}
}
