package emit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/kubearmor/KubeArmor/protobuf"

	"github.com/bluelock/bluelock/schema"
	"github.com/bluelock/bluelock/tracer/container"
)

// testAlert and testLog build realistic events tagged by n in Resource.
func testAlert(n int) schema.Event {
	return schema.NewAlert(&pb.Alert{
		Timestamp: 1763836000, UpdatedTime: "2026-11-22T19:46:40.123456Z",
		ClusterName: "prod", HostName: "web-7d9f8c6b5-x2x9q", NamespaceName: "shop",
		PodName: "web-7d9f8c6b5-x2x9q", Labels: "app=web,kubearmor.io/container.name=web",
		ContainerID:    "4f1c2a9e0b7d6c5a4f1c2a9e0b7d6c5a4f1c2a9e0b7d6c5a4f1c2a9e0b7d6c5a",
		ContainerName:  "web",
		ContainerImage: "docker.io/library/nginx:1.27@sha256:0b7d6c5a4f1c2a9e0b7d6c5a4f1c2a9e0b7d6c5a4f1c2a9e0b7d6c5a4f1c2a9e",
		PPID:           1, PID: 42, UID: 0, ParentProcessName: "/bin/sh", ProcessName: "/bin/cat",
		PolicyName: "block-secrets", Severity: "7", Tags: "NIST,FIM", ATags: []string{"NIST", "FIM"},
		Message: "secret read", Type: schema.TypeMatchedPolicy, Source: "/bin/cat /etc/shadow",
		Operation: schema.OpFile, Resource: fmt.Sprintf("/etc/shadow-%d", n),
		Data: "syscall=SYS_OPENAT fd=-100 flags=O_RDONLY", Enforcer: schema.EnforcerPtrace,
		Action: "Block", Result: schema.ResultPermissionDenied,
	})
}

func testLog(n int) schema.Event {
	return schema.NewLog(&pb.Log{
		Timestamp: 1763836000, UpdatedTime: "2026-11-22T19:46:40.123456Z",
		ClusterName: "prod", HostName: "web-7d9f8c6b5-x2x9q", NamespaceName: "shop",
		PodName: "web-7d9f8c6b5-x2x9q", Labels: "app=web,kubearmor.io/container.name=web",
		ContainerID:    "4f1c2a9e0b7d6c5a4f1c2a9e0b7d6c5a4f1c2a9e0b7d6c5a4f1c2a9e0b7d6c5a",
		ContainerName:  "web",
		ContainerImage: "docker.io/library/nginx:1.27@sha256:0b7d6c5a4f1c2a9e0b7d6c5a4f1c2a9e0b7d6c5a4f1c2a9e0b7d6c5a4f1c2a9e",
		PPID:           1, PID: 42, ParentProcessName: "/bin/sh", ProcessName: "/bin/cat",
		Type: schema.TypeContainerLog, Source: "/bin/cat /etc/hosts", Operation: schema.OpFile,
		Resource: fmt.Sprintf("/etc/hosts-%d", n), Data: "syscall=SYS_OPENAT fd=-100 flags=O_RDONLY",
		Result: schema.ResultPassed,
	})
}

// tag names an event for order assertions: "A3" is testAlert(3), "L5" testLog(5).
func tag(ev schema.Event) string {
	switch {
	case ev.Alert != nil && ev.Alert.Type == schema.TypeSystemEvent:
		return "SYS"
	case ev.Alert != nil:
		return "A" + ev.Alert.Resource[strings.LastIndexByte(ev.Alert.Resource, '-')+1:]
	case ev.Log != nil:
		return "L" + ev.Log.Resource[strings.LastIndexByte(ev.Log.Resource, '-')+1:]
	}
	return "?"
}

func tags(evs []schema.Event) string {
	s := make([]string, len(evs))
	for i, ev := range evs {
		s[i] = tag(ev)
	}
	return strings.Join(s, " ")
}

// request is one POST the fake sidekick received.
type request struct {
	header http.Header
	events []schema.Event
}

// sidekick is a fake sidekick. Every request is decoded and sent on reqs
// before respond decides the answer, so tests can hold a request open (to
// let a batch build up) by blocking in respond.
type sidekick struct {
	t       *testing.T
	reqs    chan request
	respond func(w http.ResponseWriter, r request)
}

func (s *sidekick) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req request
	req.header = r.Header.Clone()
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var ev schema.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			s.t.Errorf("sidekick: bad NDJSON line %q: %v", sc.Text(), err)
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		req.events = append(req.events, ev)
	}
	select {
	case s.reqs <- req:
	case <-r.Context().Done():
		return
	}
	if s.respond != nil {
		s.respond(w, req)
	}
}

func newSidekick(t *testing.T, respond func(http.ResponseWriter, request)) (*sidekick, *httptest.Server) {
	t.Helper()
	sk := &sidekick{t: t, reqs: make(chan request, 1024), respond: respond}
	srv := httptest.NewServer(sk)
	t.Cleanup(srv.Close)
	return sk, srv
}

// next receives the next request or fails the test after the deadline.
func (s *sidekick) next(ctx context.Context) request {
	s.t.Helper()
	select {
	case r := <-s.reqs:
		return r
	case <-ctx.Done():
		s.t.Fatalf("no request from the emitter: %v", ctx.Err())
		return request{}
	}
}

// testCtx is the deadline for everything a test waits on.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// noWait is a Wait that returns at once (or when ctx is done).
func noWait(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// recordingWait records every wait and blocks until the test lets it go.
type recordingWait struct {
	waits   chan time.Duration
	proceed chan struct{}
}

func newRecordingWait() *recordingWait {
	return &recordingWait{waits: make(chan time.Duration, 1024), proceed: make(chan struct{})}
}

func (r *recordingWait) wait(ctx context.Context, d time.Duration) error {
	r.waits <- d
	select {
	case <-r.proceed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// logBuffer is a concurrency-safe slog destination.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var _ io.Writer = (*logBuffer)(nil)

var testNow = time.Date(2026, 11, 22, 20, 0, 0, 0, time.UTC)

func testInfo() container.Info {
	return container.Info{ClusterName: "prod", HostName: "web-1", NamespaceName: "shop", PodName: "web-1",
		ContainerID: "4f1c2a9e0b7d6c5a4f1c2a9e0b7d6c5a4f1c2a9e0b7d6c5a4f1c2a9e0b7d6c5a", ContainerName: "web",
		ContainerImage: "nginx@sha256:00", Labels: "app=web"}
}
