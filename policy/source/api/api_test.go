package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/kubearmor/KubeArmor/protobuf"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/bluelock/bluelock/policy"
	"github.com/bluelock/bluelock/policy/source/internal/docs"
	"github.com/bluelock/bluelock/policy/source/internal/testcert"
)

// fakeSink stands in for policy.Store: it rejects a set containing a policy
// named "engine-rejects" and records the last accepted set.
type fakeSink struct {
	mu   sync.Mutex
	last []string
	n    int
}

func (f *fakeSink) Apply(source string, ps []policy.KubeArmorPolicy) error {
	if source != SourceName {
		return fmt.Errorf("source %q", source)
	}
	var names []string
	for _, p := range ps {
		if p.Metadata.Name == "engine-rejects" {
			return errors.New("compile engine-rejects: spec.process.matchPaths[0]: no path")
		}
		names = append(names, p.Metadata.Name)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last, f.n = names, f.n+1
	return nil
}

func (f *fakeSink) Names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string{"from-file"}, f.last...)
}

func (f *fakeSink) applied() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.last)
}

// fakeParse stands in for policy.Parse: content with "INVALID" is rejected
// with a field-level error naming origin.
func fakeParse(data []byte, origin string) ([]policy.KubeArmorPolicy, error) {
	if bytes.Contains(data, []byte("INVALID")) {
		return nil, fmt.Errorf("%s: spec.file.matchPaths[0].path: INVALID is not an absolute path", origin)
	}
	ds, err := docs.Split(data)
	if err != nil {
		return nil, err
	}
	var out []policy.KubeArmorPolicy
	for _, d := range ds {
		var p policy.KubeArmorPolicy
		p.Metadata.Name = d.Name
		out = append(out, p)
	}
	return out, nil
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func serve(t *testing.T, cfg ServerConfig) (*Server, *fakeSink, *Set) {
	t.Helper()
	sink := &fakeSink{}
	set := NewSet(sink, sink, fakeParse, discard)
	srv, err := Listen(cfg, set, discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv, sink, set
}

func kspEvent(typ, name, extra string) []byte {
	obj := fmt.Sprintf(`{"apiVersion":"security.kubearmor.com/v1","kind":"KubeArmorPolicy","metadata":{"name":%q},"spec":{"selector":{"matchLabels":{"app":"x"}},"file":{"matchPaths":[{"path":"/etc/%s"}]},"action":"Block"}}`, name, extra)
	return fmt.Appendf(nil, `{"type":%q,"object":%s}`, typ, obj)
}

func TestPolicyServiceStatuses(t *testing.T) {
	srv, sink, set := serve(t, ServerConfig{GRPCAddr: "127.0.0.1:0"})
	conn, err := grpc.NewClient(srv.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := pb.NewPolicyServiceClient(conn)

	steps := []struct {
		name    string
		payload []byte
		want    pb.PolicyStatus
		applied []string // the set in force afterwards
	}{
		{"add", kspEvent("ADDED", "a", "passwd"), pb.PolicyStatus_Applied, []string{"a"}},
		{"add second", kspEvent("ADDED", "b", "passwd"), pb.PolicyStatus_Applied, []string{"a", "b"}},
		{"add existing name replaces it (KubeArmor: Applied)", kspEvent("ADDED", "a", "shadow"), pb.PolicyStatus_Applied, []string{"a", "b"}},
		{"modify", kspEvent("MODIFIED", "b", "group"), pb.PolicyStatus_Modified, []string{"a", "b"}},
		{"modify unknown name adds it", kspEvent("MODIFIED", "c", "group"), pb.PolicyStatus_Modified, []string{"a", "b", "c"}},
		{"bad json", []byte(`{"type":"ADDED","object":`), pb.PolicyStatus_Invalid, []string{"a", "b", "c"}},
		{"empty name", []byte(`{"type":"ADDED","object":{"metadata":{"name":""},"spec":{}}}`), pb.PolicyStatus_Invalid, []string{"a", "b", "c"}},
		{"no object", []byte(`{"type":"ADDED"}`), pb.PolicyStatus_Invalid, []string{"a", "b", "c"}},
		{"parse rejects", kspEvent("ADDED", "d", "INVALID"), pb.PolicyStatus_Invalid, []string{"a", "b", "c"}},
		{"engine rejects, last good stays", kspEvent("ADDED", "engine-rejects", "x"), pb.PolicyStatus_Invalid, []string{"a", "b", "c"}},
		{"unknown type", kspEvent("BOOKMARK", "a", "x"), pb.PolicyStatus_Invalid, []string{"a", "b", "c"}},
		{"delete", kspEvent("DELETED", "a", "x"), pb.PolicyStatus_Deleted, []string{"b", "c"}},
		{"delete unknown", kspEvent("DELETED", "a", "x"), pb.PolicyStatus_NotExist, []string{"b", "c"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			resp, err := client.ContainerPolicy(ctx, &pb.Policy{Policy: st.payload})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != st.want {
				t.Fatalf("status %v, want %v", resp.Status, st.want)
			}
			if got := sink.applied(); !slices.Equal(got, st.applied) {
				t.Fatalf("in force %v, want %v", got, st.applied)
			}
		})
	}
	if got := set.Names(); !slices.Equal(got, []string{"b", "c"}) {
		t.Fatalf("Names() = %v", got)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for name, call := range map[string]func(context.Context, *pb.Policy, ...grpc.CallOption) (*pb.Response, error){
		"host": client.HostPolicy, "network": client.NetworkPolicy,
	} {
		resp, err := call(ctx, &pb.Policy{Policy: kspEvent("ADDED", "h", "x")})
		if err != nil || resp.Status != pb.PolicyStatus_NotEnabled {
			t.Errorf("%s policy: %v %v, want NotEnabled", name, resp, err)
		}
	}
}

func TestPolicyServiceReadiness(t *testing.T) {
	sink := &fakeSink{}
	set := NewSet(sink, nil, fakeParse, discard)
	ps := NewPolicyServer(set, discard)
	if resp, _ := ps.ContainerPolicy(t.Context(), &pb.Policy{Policy: kspEvent("ADDED", "engine-rejects", "x")}); resp.Status != pb.PolicyStatus_Invalid {
		t.Fatalf("status %v", resp.Status)
	}
	select {
	case <-set.Ready():
		t.Fatal("ready after a rejected push")
	default:
	}
	if resp, _ := ps.ContainerPolicy(t.Context(), &pb.Policy{Policy: kspEvent("ADDED", "ok", "x")}); resp.Status != pb.PolicyStatus_Applied {
		t.Fatalf("status %v", resp.Status)
	}
	select {
	case <-set.Ready():
	default:
		t.Fatal("not ready after the first accepted push")
	}
}

type httpReply struct {
	status int
	body   string
}

func do(t *testing.T, c *http.Client, method, url, body, token string) httpReply {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return httpReply{resp.StatusCode, string(b)}
}

const yamlAB = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: a
spec:
  file:
    matchPaths:
    - path: /etc/passwd
---
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: b
spec: {}
`

func TestHTTPAPI(t *testing.T) {
	srv, sink, _ := serve(t, ServerConfig{HTTPAddr: "127.0.0.1:0"})
	base := "http://" + srv.HTTPAddr().String()
	c := &http.Client{}
	steps := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		wantBody   string // substring
		applied    []string
	}{
		{"post multi-document yaml", "POST", "/policies", yamlAB, 200, `"applied":["a","b"]`, []string{"a", "b"}},
		{"post json", "POST", "/policies", `{"kind":"KubeArmorPolicy","metadata":{"name":"c"},"spec":{}}`, 200, `"applied":["c"]`, []string{"a", "b", "c"}},
		{"list", "GET", "/policies", "", 200, `{"api":["a","b","c"],"inForce":["from-file","a","b","c"]}`, []string{"a", "b", "c"}},
		{"invalid document is named", "POST", "/policies", "metadata: {name: ok}\n---\nmetadata: {name: bad}\nspec: INVALID\n", 400, `request document 2 (bad): spec.file.matchPaths[0].path`, []string{"a", "b", "c"}},
		{"engine rejection", "POST", "/policies", "metadata: {name: engine-rejects}\n", 400, `rejected by the policy engine: compile engine-rejects`, []string{"a", "b", "c"}},
		{"missing name", "POST", "/policies", "kind: KubeArmorPolicy\nspec: {}\n", 400, `request document 1: metadata.name is required`, []string{"a", "b", "c"}},
		{"duplicate name", "POST", "/policies", "metadata: {name: x}\n---\nmetadata: {name: x}\n", 400, `repeats document 1`, []string{"a", "b", "c"}},
		{"bad yaml", "POST", "/policies", "metadata: [\n", 400, `request body: document 1`, []string{"a", "b", "c"}},
		{"empty post", "POST", "/policies", "", 400, `no policy`, []string{"a", "b", "c"}},
		{"delete", "DELETE", "/policies/a", "", 200, `"deleted":"a"`, []string{"b", "c"}},
		{"delete unknown", "DELETE", "/policies/a", "", 404, `no such policy`, []string{"b", "c"}},
		{"put replaces the api set", "PUT", "/policies", "metadata: {name: z}\n", 200, `"applied":["z"]`, []string{"z"}},
		{"put empty clears it", "PUT", "/policies", "", 200, `"applied":[]`, nil},
		{"wrong method", "PATCH", "/policies", "", 405, ``, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			r := do(t, c, st.method, base+st.path, st.body, "")
			if r.status != st.wantStatus || !strings.Contains(r.body, st.wantBody) {
				t.Fatalf("%s %s = %d %s, want %d containing %q", st.method, st.path, r.status, r.body, st.wantStatus, st.wantBody)
			}
			if got := sink.applied(); !slices.Equal(got, st.applied) {
				t.Fatalf("in force %v, want %v", got, st.applied)
			}
		})
	}
}

func TestValidateExposure(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		cfg     ServerConfig
		wantErr string
	}{
		{"loopback v4", ServerConfig{GRPCAddr: "127.0.0.1:32766", HTTPAddr: "127.0.0.1:2802"}, ""},
		{"loopback v6", ServerConfig{GRPCAddr: "[::1]:32766"}, ""},
		{"localhost", ServerConfig{HTTPAddr: "localhost:2802"}, ""},
		{"all interfaces refused", ServerConfig{GRPCAddr: ":32766"}, "--policy-grpc: refusing to serve the policy API"},
		{"0.0.0.0 refused", ServerConfig{HTTPAddr: "0.0.0.0:2802"}, "--policy-http: refusing"},
		{"pod ip refused", ServerConfig{GRPCAddr: "10.0.3.7:32766"}, "--policy-token"},
		{"hostname refused", ServerConfig{GRPCAddr: "example.com:32766"}, "refusing"},
		{"token allows", ServerConfig{GRPCAddr: "0.0.0.0:32766", Token: "s3cret"}, ""},
		{"mtls allows", ServerConfig{GRPCAddr: "0.0.0.0:32766", TLSCert: "c", TLSKey: "k", TLSCA: "ca"}, ""},
		{"server-only tls does not", ServerConfig{GRPCAddr: "0.0.0.0:32766", TLSCert: "c", TLSKey: "k"}, "refusing"},
		{"insecure allows", ServerConfig{GRPCAddr: "0.0.0.0:32766", Insecure: true}, ""},
		{"cert without key", ServerConfig{GRPCAddr: "127.0.0.1:1", TLSCert: "c"}, "go together"},
		{"ca without cert", ServerConfig{GRPCAddr: "127.0.0.1:1", TLSCA: "ca"}, "needs"},
		{"bad address", ServerConfig{GRPCAddr: "nonsense"}, "listen address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate()
			if tc.wantErr == "" && err != nil {
				t.Fatalf("Validate() = %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.wantErr)
			}
		})
	}
	// Listen refuses before binding anything.
	if _, err := Listen(ServerConfig{GRPCAddr: "0.0.0.0:0"}, NewSet(&fakeSink{}, nil, fakeParse, discard), discard); err == nil {
		t.Fatal("Listen on 0.0.0.0 without auth succeeded")
	}
}

func TestBearerToken(t *testing.T) {
	const token = "correct-horse"
	srv, sink, _ := serve(t, ServerConfig{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Token: token})
	conn, err := grpc.NewClient(srv.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := pb.NewPolicyServiceClient(conn)
	c := &http.Client{}
	cases := []struct {
		name   string
		header string // full authorization value; "" sends none
		ok     bool
	}{
		{"none", "", false},
		{"wrong", "Bearer nope", false},
		{"not bearer", "Basic " + token, false},
		{"right", "Bearer " + token, true},
		{"right, lower-case scheme", "bearer " + token, true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			if tc.header != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", tc.header)
			}
			name := fmt.Sprintf("p%d", i)
			resp, err := client.ContainerPolicy(ctx, &pb.Policy{Policy: kspEvent("ADDED", name, "x")})
			if tc.ok {
				if err != nil || resp.Status != pb.PolicyStatus_Applied {
					t.Fatalf("gRPC: %v %v", resp, err)
				}
			} else if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("gRPC: %v %v, want Unauthenticated", resp, err)
			}

			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+srv.HTTPAddr().String()+"/policies", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			hr, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			hr.Body.Close()
			if want := map[bool]int{true: 200, false: 401}[tc.ok]; hr.StatusCode != want {
				t.Fatalf("HTTP status %d, want %d", hr.StatusCode, want)
			}
		})
	}
	if got := sink.applied(); !slices.Equal(got, []string{"p3", "p4"}) {
		t.Fatalf("in force %v: only authenticated pushes may apply", got)
	}
}

func TestMutualTLS(t *testing.T) {
	ca := testcert.NewCA(t, "policy")
	srvCert, srvKey := ca.Issue(t, "server", "127.0.0.1")
	cliCert, cliKey := ca.Issue(t, "client")
	other := testcert.NewCA(t, "other")
	badCert, badKey := other.Issue(t, "intruder")

	srv, sink, _ := serve(t, ServerConfig{GRPCAddr: "0.0.0.0:0", HTTPAddr: "0.0.0.0:0", TLSCert: srvCert, TLSKey: srvKey, TLSCA: ca.CertPEM})
	grpcAddr := strings.Replace(srv.GRPCAddr().String(), "[::]", "127.0.0.1", 1)
	httpAddr := strings.Replace(srv.HTTPAddr().String(), "[::]", "127.0.0.1", 1)

	roots := x509.NewCertPool()
	pemBytes, _ := os.ReadFile(ca.CertPEM)
	roots.AppendCertsFromPEM(pemBytes)
	clientTLS := func(cert, key string) *tls.Config {
		tc := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
		if cert != "" {
			kp, err := tls.LoadX509KeyPair(cert, key)
			if err != nil {
				t.Fatal(err)
			}
			tc.Certificates = []tls.Certificate{kp}
		}
		return tc
	}
	cases := []struct {
		name      string
		cert, key string
		ok        bool
	}{
		{"no client certificate", "", "", false},
		{"certificate from another CA", badCert, badKey, false},
		{"certificate from the trusted CA", cliCert, cliKey, true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(clientTLS(tc.cert, tc.key))))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			resp, err := pb.NewPolicyServiceClient(conn).ContainerPolicy(ctx, &pb.Policy{Policy: kspEvent("ADDED", fmt.Sprintf("m%d", i), "x")})
			if tc.ok != (err == nil && resp.Status == pb.PolicyStatus_Applied) {
				t.Fatalf("gRPC ok=%v: %v %v", tc.ok, resp, err)
			}
			hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS(tc.cert, tc.key)}}
			defer hc.CloseIdleConnections()
			req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+httpAddr+"/policies", nil)
			hr, err := hc.Do(req)
			if err == nil {
				var lr listReply
				_ = json.NewDecoder(hr.Body).Decode(&lr)
				hr.Body.Close()
			}
			if tc.ok != (err == nil && hr.StatusCode == 200) {
				t.Fatalf("HTTP ok=%v: %v", tc.ok, err)
			}
		})
	}
	if got := sink.applied(); !slices.Equal(got, []string{"m2"}) {
		t.Fatalf("in force %v", got)
	}
}
