package stdout

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	pb "github.com/kubearmor/KubeArmor/protobuf"

	"github.com/bluelock/bluelock/outputs"
	"github.com/bluelock/bluelock/schema"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func TestWritesExactKubeArmorJSONLines(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	o := New(&buf)
	ev := schema.NewLog(&pb.Log{Timestamp: 1, UpdatedTime: "2023-11-14T22:13:21Z", HostName: "h", Type: schema.TypeContainerLog, Operation: schema.OpFile, Resource: "/x", Result: "Passed"})
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := o.Send(context.Background(), ev); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	want := `{"Timestamp":1,"UpdatedTime":"2023-11-14T22:13:21Z","HostName":"h","PPID":0,"UID":0,"Type":"ContainerLog","Operation":"File","Resource":"/x","Result":"Passed"}`
	lines := strings.Split(strings.TrimSuffix(buf.b.String(), "\n"), "\n")
	if len(lines) != 50 {
		t.Fatalf("%d lines, want 50", len(lines))
	}
	for i, l := range lines {
		if l != want {
			t.Fatalf("line %d = %s\nwant %s", i, l, want)
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestErrors(t *testing.T) {
	t.Parallel()
	var se *outputs.SendError
	if err := New(failWriter{}).Send(context.Background(), schema.NewLog(&pb.Log{})); !errors.As(err, &se) || se.Reason != "io" {
		t.Errorf("write failure: %v", err)
	}
	if err := New(&bytes.Buffer{}).Send(context.Background(), schema.Event{}); !errors.As(err, &se) || se.Reason != "invalid" || se.Retryable {
		t.Errorf("empty event: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := New(&bytes.Buffer{}).Send(ctx, schema.NewLog(&pb.Log{})); !errors.As(err, &se) || se.Reason != "canceled" {
		t.Errorf("canceled: %v", err)
	}
}

func TestFactory(t *testing.T) {
	t.Parallel()
	cases := []struct {
		values  map[string]string
		enabled bool
		newErr  string
	}{
		{values: map[string]string{}, enabled: true},
		{values: map[string]string{"ENABLED": "false"}, enabled: false},
		{values: map[string]string{"ENABLED": "true"}, enabled: true},
		{values: map[string]string{"ENABLED": "nah"}, enabled: true, newErr: `STDOUT_ENABLED: want true or false, got "nah"`},
	}
	for _, tc := range cases {
		s := outputs.MapSettings{Prefix: "STDOUT", Values: tc.values}
		if got := Factory.Enabled(s); got != tc.enabled {
			t.Errorf("%v: Enabled = %v", tc.values, got)
		}
		_, err := Factory.New(s, outputs.Deps{})
		if (err != nil) != (tc.newErr != "") || (err != nil && err.Error() != tc.newErr) {
			t.Errorf("%v: New err = %v, want %q", tc.values, err, tc.newErr)
		}
	}
}
