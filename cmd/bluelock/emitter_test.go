package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluelock/bluelock/tracer/container"
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
