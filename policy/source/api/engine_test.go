package api

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	pb "github.com/kubearmor/KubeArmor/protobuf"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/bluelock/bluelock/policy"
)

// TestWithTheRealEngine pushes through both front ends into a real
// policy.Store, so the statuses and messages are the engine's own.
func TestWithTheRealEngine(t *testing.T) {
	store := policy.NewStore(policy.Options{ContainerName: "web", Namespace: "default", Labels: map[string]string{"app": "web"}})
	set := NewSet(store, store, nil, discard)
	srv, err := Listen(ServerConfig{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"}, set, discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()

	conn, err := grpc.NewClient(srv.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := pb.NewPolicyServiceClient(conn)

	obj := func(name, path string) string {
		return `{"apiVersion":"security.kubearmor.com/v1","kind":"KubeArmorPolicy","metadata":{"name":"` + name +
			`","namespace":"default"},"spec":{"selector":{"matchLabels":{"app":"web"}},"file":{"matchPaths":[{"path":"` + path + `"}]},"action":"Block"}}`
	}
	grpcSteps := []struct {
		name    string
		payload string
		want    pb.PolicyStatus
		inForce []string
	}{
		{"valid", `{"type":"ADDED","object":` + obj("g1", "/etc/shadow") + `}`, pb.PolicyStatus_Applied, []string{"g1"}},
		{"relative path refused by the engine", `{"type":"ADDED","object":` + obj("g2", "etc/shadow") + `}`, pb.PolicyStatus_Invalid, []string{"g1"}},
		{"modify", `{"type":"MODIFIED","object":` + obj("g1", "/etc/gshadow") + `}`, pb.PolicyStatus_Modified, []string{"g1"}},
		{"delete lifts", `{"type":"DELETED","object":{"metadata":{"name":"g1"}}}`, pb.PolicyStatus_Deleted, nil},
	}
	for _, st := range grpcSteps {
		t.Run("grpc/"+st.name, func(t *testing.T) {
			resp, err := client.ContainerPolicy(ctx, &pb.Policy{Policy: []byte(st.payload)})
			if err != nil || resp.Status != st.want {
				t.Fatalf("%v %v, want %v", resp, err, st.want)
			}
			if got := store.Names(); !slices.Equal(got, st.inForce) {
				t.Fatalf("in force %v, want %v", got, st.inForce)
			}
		})
	}

	yamlPolicy := func(name, path string) string {
		return "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata:\n  name: " + name +
			"\n  namespace: default\nspec:\n  selector:\n    matchLabels:\n      app: web\n  file:\n    matchPaths:\n    - path: " + path + "\n  action: Block\n"
	}
	httpSteps := []struct {
		name     string
		body     string
		status   int
		wantBody string
		inForce  []string
	}{
		{"two documents", yamlPolicy("h1", "/etc/passwd") + "---\n" + yamlPolicy("h2", "/etc/group"), 200, `"applied":["h1","h2"]`, []string{"h1", "h2"}},
		{"one bad document refuses all, naming document and field", yamlPolicy("h3", "/ok") + "---\n" + yamlPolicy("h4", "relative"), 400,
			`request document 2 (h4)`, []string{"h1", "h2"}},
	}
	for _, st := range httpSteps {
		t.Run("http/"+st.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+srv.HTTPAddr().String()+"/policies", strings.NewReader(st.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != st.status || !strings.Contains(string(b), st.wantBody) {
				t.Fatalf("%d %s, want %d containing %q", resp.StatusCode, b, st.status, st.wantBody)
			}
			if st.status == 400 && !strings.Contains(string(b), "matchPaths[0].path") {
				t.Errorf("400 body %s does not name the field", b)
			}
			if got := store.Names(); !slices.Equal(got, st.inForce) {
				t.Fatalf("in force %v, want %v", got, st.inForce)
			}
		})
	}
}
