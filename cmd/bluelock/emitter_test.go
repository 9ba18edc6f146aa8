package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	pb "github.com/kubearmor/KubeArmor/protobuf"

	"github.com/bluelock/bluelock/schema"
	"github.com/bluelock/bluelock/tracer/container"
	"github.com/bluelock/bluelock/tracer/emit"
)

// TestNewEmitterQueueBounds: the queue variables bind every emitter, the
// Writer's too; a bad one stops start-up before a file is created.
func TestNewEmitterQueueBounds(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, spec string
		env        map[string]string
		wantErr    string
	}{
		{name: "stdout-bad", spec: "stdout", env: map[string]string{"BLUELOCK_EMIT_QUEUE_EVENTS": "x"}, wantErr: "BLUELOCK_EMIT_QUEUE_EVENTS"},
		{name: "file-bad", spec: "file:" + filepath.Join(dir, "bad.jsonl"), env: map[string]string{"BLUELOCK_EMIT_QUEUE_BYTES": "0"}, wantErr: "BLUELOCK_EMIT_QUEUE_BYTES"},
		{name: "file-good", spec: "file:" + filepath.Join(dir, "good.jsonl"), env: map[string]string{"BLUELOCK_EMIT_QUEUE_EVENTS": "100"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			em, closeFn, err := newEmitter(tc.spec, container.Info{}, func(k string) string { return tc.env[k] }, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				if path, ok := strings.CutPrefix(tc.spec, "file:"); ok {
					if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
						t.Errorf("%s exists after the refusal (%v)", path, err)
					}
				}
				return
			}
			if err != nil || em == nil {
				t.Fatalf("newEmitter: %v", err)
			}
			if err := closeFn(t.Context()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestWriterQueueBound: file:PATH keeps BLUELOCK_EMIT_QUEUE_EVENTS. The
// path is a FIFO nobody reads, so the writer blocks once the pipe is full;
// with a bound of 100 the queue then holds at most 100 and the rest of
// 5,000 events are dropped and counted, where the default bound (10,000)
// would have kept them all.
func TestWriterQueueBound(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "events")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	reader, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	em, closeFn, err := newEmitter("file:"+fifo, container.Info{},
		func(k string) string { return map[string]string{"BLUELOCK_EMIT_QUEUE_EVENTS": "100"}[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	for i := range n {
		em.Emit(schema.NewLog(&pb.Log{Timestamp: int64(i), Type: schema.TypeContainerLog, Operation: "File",
			Resource: "/etc/hostname", Result: "Passed"}))
	}
	st := em.(interface{ Stats() emit.Stats }).Stats()
	if st.Queued > 100 {
		t.Errorf("queued %d, want at most the bound of 100", st.Queued)
	}
	// The pipe holds 64 KiB, a few hundred of these lines: most must have
	// been dropped at Emit.
	if st.DroppedLogs < n/2 {
		t.Errorf("dropped %d of %d with a bound of 100 and a full pipe (stats %+v)", st.DroppedLogs, n, st)
	}
	_ = reader.Close() // the writer's blocked write fails (EPIPE) and it carries on
	if err := closeFn(t.Context()); err != nil {
		t.Logf("close: %v", err)
	}
}
