package file

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluelock/bluelock/policy"
	"github.com/bluelock/bluelock/policy/source/internal/docs"
)

// recSink records every Apply on a channel.
type recSink struct {
	calls chan []string
	fail  string // Apply fails when a policy has this name
}

func (r *recSink) Apply(source string, ps []policy.KubeArmorPolicy) error {
	var names []string
	for _, p := range ps {
		if p.Metadata.Name == r.fail {
			return errors.New("engine says no: " + r.fail)
		}
		names = append(names, p.Metadata.Name)
	}
	slices.Sort(names)
	r.calls <- names
	return nil
}

// fakeParse stands in for policy.Parse: names from metadata.name; content
// containing "INVALID" is rejected with a field-level message.
func fakeParse(data []byte, origin string) ([]policy.KubeArmorPolicy, error) {
	if strings.Contains(string(data), "INVALID") {
		return nil, errors.New(origin + ": document 1: spec.file.matchPaths[0].path: must be absolute")
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

func pol(name string) string { return "kind: KubeArmorPolicy\nmetadata:\n  name: " + name + "\n" }

// write replaces path atomically, as well-behaved writers do.
func write(t *testing.T, path, data string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

type harness struct {
	src    *Source
	sink   *recSink
	polled chan string
	ctx    context.Context
}

func start(t *testing.T, paths []string, fail string) *harness {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	sink := &recSink{calls: make(chan []string, 16), fail: fail}
	src, err := New(Config{Paths: paths, Interval: time.Millisecond, Parse: fakeParse}, sink, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	polled := make(chan string)
	src.polled = polled
	done := make(chan struct{})
	go func() { defer close(done); _ = src.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &harness{src: src, sink: sink, polled: polled, ctx: ctx}
}

func (h *harness) nextApply(t *testing.T) []string {
	t.Helper()
	for {
		select {
		case got := <-h.sink.calls:
			return got
		case <-h.polled:
		case <-h.ctx.Done():
			t.Fatalf("no Apply before the deadline (source error: %v)", h.src.Err())
		}
	}
}

// settle waits for a poll that saw content with a new hash (or an error).
func (h *harness) settle(t *testing.T, prev string) string {
	t.Helper()
	for {
		select {
		case got := <-h.polled:
			if got != prev {
				return got
			}
		case <-h.ctx.Done():
			t.Fatal("no poll before the deadline")
		}
	}
}

func TestDirectoryDeliveryAndChanges(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), pol("a"))
	write(t, filepath.Join(dir, "b.yml"), pol("b")+"---\n"+pol("c"))
	write(t, filepath.Join(dir, "d.json"), `{"kind":"KubeArmorPolicy","metadata":{"name":"d"}}`)
	write(t, filepath.Join(dir, "notes.txt"), pol("ignored-ext"))
	write(t, filepath.Join(dir, ".hidden.yaml"), pol("ignored-hidden"))
	h := start(t, []string{dir}, "rejected-by-engine")

	if got, want := h.nextApply(t), []string{"a", "b", "c", "d"}; !slices.Equal(got, want) {
		t.Fatalf("first set = %v, want %v", got, want)
	}
	select {
	case <-h.src.Ready():
	case <-h.ctx.Done():
		t.Fatal("not ready after the first set")
	}

	steps := []struct {
		name    string
		change  func()
		want    []string // nil: no Apply expected, last good stays
		wantErr string
	}{
		{name: "modify a file", change: func() { write(t, filepath.Join(dir, "a.yaml"), pol("a2")) }, want: []string{"a2", "b", "c", "d"}},
		{name: "remove a file lifts its policy", change: func() { os.Remove(filepath.Join(dir, "d.json")) }, want: []string{"a2", "b", "c"}},
		{name: "invalid file keeps the last good set", change: func() { write(t, filepath.Join(dir, "a.yaml"), "INVALID") }, wantErr: "a.yaml: document 1: spec.file"},
		{name: "engine rejection keeps the last good set", change: func() { write(t, filepath.Join(dir, "a.yaml"), pol("rejected-by-engine")) }, wantErr: "rejected-by-engine"},
		{name: "fixed file applies", change: func() { write(t, filepath.Join(dir, "a.yaml"), pol("a3")) }, want: []string{"a3", "b", "c"}},
	}
	prev := h.settle(t, "")
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.change()
			if st.want != nil {
				if got := h.nextApply(t); !slices.Equal(got, st.want) {
					t.Fatalf("set = %v, want %v", got, st.want)
				}
				prev = h.settle(t, "")
				if err := h.src.Err(); err != nil {
					t.Fatalf("Err() = %v after a good set", err)
				}
				return
			}
			prev = h.settle(t, prev)
			select {
			case got := <-h.sink.calls:
				t.Fatalf("unexpected Apply %v", got)
			default:
			}
			if err := h.src.Err(); err == nil || !strings.Contains(err.Error(), st.wantErr) {
				t.Fatalf("Err() = %v, want it to contain %q", err, st.wantErr)
			}
		})
	}
}

// TestConfigMapSwap mimics a kubelet ConfigMap volume: entries are symlinks
// into ..data, which is itself a symlink swapped atomically to a new
// timestamped directory.
func TestConfigMapSwap(t *testing.T) {
	dir := t.TempDir()
	mkgen := func(gen string, files map[string]string) {
		d := filepath.Join(dir, gen)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for n, c := range files {
			write(t, filepath.Join(d, n), c)
		}
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(gen, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	mkgen("..2026_01_01", map[string]string{"p.yaml": pol("v1")})
	if err := os.Symlink("..data/p.yaml", filepath.Join(dir, "p.yaml")); err != nil {
		t.Fatal(err)
	}
	h := start(t, []string{dir}, "")
	if got := h.nextApply(t); !slices.Equal(got, []string{"v1"}) {
		t.Fatalf("first set = %v", got)
	}
	mkgen("..2026_01_02", map[string]string{"p.yaml": pol("v2")})
	if got := h.nextApply(t); !slices.Equal(got, []string{"v2"}) {
		t.Fatalf("after swap = %v", got)
	}
}

func TestSingleFilesAndMissingPath(t *testing.T) {
	dir := t.TempDir()
	f1 := filepath.Join(dir, "one.yaml")
	write(t, f1, pol("one"))
	missing := filepath.Join(dir, "later.yaml")
	h := start(t, []string{f1, missing}, "")
	h.settle(t, "x")
	if err := h.src.Err(); err == nil || !strings.Contains(err.Error(), "later.yaml") {
		t.Fatalf("Err() = %v, want it to name the missing file", err)
	}
	select {
	case <-h.src.Ready():
		t.Fatal("ready although a configured path is missing")
	default:
	}
	write(t, missing, pol("later"))
	if got := h.nextApply(t); !slices.Equal(got, []string{"later", "one"}) {
		t.Fatalf("set = %v", got)
	}
}

func TestNewRequiresPaths(t *testing.T) {
	if _, err := New(Config{}, &recSink{}, slog.Default()); err == nil {
		t.Fatal("New without paths succeeded")
	}
}
