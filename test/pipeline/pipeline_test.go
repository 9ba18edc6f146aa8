package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluelock/bluelock/schema"
)

// binaries returns the tracer and sidekick binaries or skips the test.
func binaries(t *testing.T) (bluelock, sidekick string) {
	t.Helper()
	for _, b := range []struct {
		env string
		dst *string
	}{{"BLUELOCK_BIN", &bluelock}, {"SIDEKICK_BIN", &sidekick}} {
		p := os.Getenv(b.env)
		if p == "" {
			t.Skipf("%s is not set: build with `make build` and run with BLUELOCK_BIN=$PWD/bin/bluelock SIDEKICK_BIN=$PWD/bin/sidekick (make test does)", b.env)
		}
		if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			t.Skipf("%s=%s is not an executable file (%v): run `make build` first", b.env, p, err)
		}
		*b.dst = p
	}
	return bluelock, sidekick
}

// requireTracing skips when this machine does not let the tracer trace
// (no ptrace or seccomp: an unprivileged container), so that the failure
// is named for what it is rather than as a count mismatch.
func requireTracing(t *testing.T, bluelock string) {
	t.Helper()
	cmd := exec.Command(bluelock, "--emit", "stdout", "--visibility", "none",
		"--policy-grpc", "off", "--policy-http", "off", "--policy-k8s", "false", "--", "/bin/true")
	out, err := cmd.CombinedOutput()
	if err == nil {
		return
	}
	low := strings.ToLower(string(out))
	if strings.Contains(low, "operation not permitted") || strings.Contains(low, "permission denied") {
		t.Skipf("the tracer cannot trace here (%v):\n%s", err, out)
	}
	t.Fatalf("bluelock -- /bin/true failed: %v\n%s", err, out)
}

// freePort returns a TCP port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// webhook records every event the sidekick's webhook output delivers.
type webhook struct {
	t       *testing.T
	mu      sync.Mutex
	events  []schema.Event
	changed chan struct{} // a token after every delivery
}

func newWebhook(t *testing.T) (*webhook, *httptest.Server) {
	w := &webhook{t: t, changed: make(chan struct{}, 1)}
	srv := httptest.NewServer(w)
	t.Cleanup(srv.Close)
	return w, srv
}

func (w *webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	evs, err := schema.Decode(r.Body, 64<<20)
	if err != nil {
		w.t.Errorf("webhook: undecodable delivery: %v", err)
	}
	w.mu.Lock()
	w.events = append(w.events, evs...)
	w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// tally is what the webhook holds, split into the tracer's events and the
// emitter's drop reports.
type tally struct {
	events   int            // tracer events (not drop reports)
	reports  int            // drop reports
	dropped  int            // the sum of the drop reports' counts
	markers  map[string]int // marker file name -> deliveries
	others   []string       // the other events, for failure messages
	firstErr string
}

var reportRe = regexp.MustCompile(`^bluelock dropped (\d+) events \((\d+) alerts, (\d+) logs\) while the sidekick was unreachable or the queue was full$`)

func (w *webhook) tally(markerDir string) tally {
	w.mu.Lock()
	defer w.mu.Unlock()
	tl := tally{markers: make(map[string]int)}
	for _, ev := range w.events {
		if a := ev.Alert; a != nil && a.Type == schema.TypeSystemEvent && a.PolicyName == "bluelock-emitter" {
			tl.reports++
			m := reportRe.FindStringSubmatch(a.Message)
			if m == nil {
				tl.firstErr = fmt.Sprintf("drop report with an unexpected message: %q", a.Message)
				continue
			}
			n, _ := strconv.Atoi(m[1])
			al, _ := strconv.Atoi(m[2])
			lo, _ := strconv.Atoi(m[3])
			if al+lo != n {
				tl.firstErr = fmt.Sprintf("drop report does not add up: %q", a.Message)
			}
			tl.dropped += n
			continue
		}
		tl.events++
		if ev.Log != nil && filepath.Dir(ev.Log.Resource) == markerDir {
			tl.markers[filepath.Base(ev.Log.Resource)]++
		} else if len(tl.others) < 20 {
			tl.others = append(tl.others, fmt.Sprintf("%s %s %s pid=%d", ev.Type(), ev.Operation(), resource(ev), pid(ev)))
		}
	}
	return tl
}

func resource(ev schema.Event) string {
	if ev.Alert != nil {
		return ev.Alert.Resource
	}
	return ev.Log.Resource
}

func pid(ev schema.Event) int32 {
	if ev.Alert != nil {
		return ev.Alert.PID
	}
	return ev.Log.PID
}

// waitFor waits until cond holds on the webhook's tally, or fails at ctx's
// deadline with the last tally.
func (w *webhook) waitFor(ctx context.Context, what, markerDir string, cond func(tally) bool) tally {
	w.t.Helper()
	for {
		tl := w.tally(markerDir)
		if cond(tl) {
			return tl
		}
		select {
		case <-w.changed:
		case <-ctx.Done():
			w.t.Fatalf("waiting for %s: %v; webhook has %d events, %d drop reports (%d dropped)",
				what, ctx.Err(), tl.events, tl.reports, tl.dropped)
			return tl
		}
	}
}

// syncBuffer collects a process's stderr for failure messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) tail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.b.String()
	if len(b) > 4000 {
		b = "..." + b[len(b)-4000:]
	}
	return b
}

// proc is a started binary.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

func start(t *testing.T, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{name: name, cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, p.stderr.tail())
		}
	})
	return p
}

// wait waits for the process to exit and returns its error.
func (p *proc) wait(t *testing.T, ctx context.Context) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		t.Fatalf("%s did not exit: %v\nstderr:\n%s", p.name, ctx.Err(), p.stderr.tail())
		return nil
	}
}

func startSidekick(t *testing.T, bin string, port int, webhookURL string) *proc {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"LISTENADDRESS=127.0.0.1",
		"LISTENPORT="+strconv.Itoa(port),
		"STDOUT_ENABLED=false",
		"GRPC_LISTENADDRESS=",
		"WEBHOOK_ADDRESS="+webhookURL,
		// The sidekick's own queue must not be what drops in this test.
		"WEBHOOK_QUEUESIZE=100000",
		"OUTPUT_QUEUESIZE=100000",
	)
	return start(t, "sidekick", cmd)
}

// workload is the traced shell: it opens m0..m(half-1), says "half", waits
// for a line, opens the rest, says "done", and waits for end of input.
const workload = `d=$1; half=$2; n=$3; i=0
while [ $i -lt $half ]; do : < "$d/m$i"; i=$((i+1)); done
echo half; read x
while [ $i -lt $n ]; do : < "$d/m$i"; i=$((i+1)); done
echo done; read x; exit 0`

// scrape reads the tracer's metrics: name (with labels, as exposed) -> value.
func scrape(t *testing.T, ctx context.Context, addr string) map[string]float64 {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape the tracer's metrics: %v", err)
	}
	defer resp.Body.Close()
	m := make(map[string]float64)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	return m
}

// scrapeEvents reads bluelock_tracer_events_total: what the tracer handed
// to its emitter.
func scrapeEvents(t *testing.T, ctx context.Context, addr string) int {
	t.Helper()
	v, ok := scrape(t, ctx, addr)["bluelock_tracer_events_total"]
	if !ok {
		t.Fatalf("no bluelock_tracer_events_total in the tracer's metrics")
	}
	return int(v)
}

// emitterMetrics reports whether the tracer exports the emitter's counters
// (emit.NewCollector), which a crash scenario needs.
func emitterMetrics(t *testing.T, ctx context.Context, addr string) bool {
	_, ok := scrape(t, ctx, addr)["bluelock_emitter_events_total"]
	return ok
}

// waitEmitterIdle waits until the emitter holds nothing: every event it was
// given is acknowledged (or counted otherwise). Only then can the sidekick
// be killed without a lost acknowledgement making the emitter resend what
// the sidekick already delivered (at-least-once, not the emitter's loss).
// The tracer is another process: this polls its metrics, every 10 ms, under
// ctx's deadline.
func waitEmitterIdle(t *testing.T, ctx context.Context, addr string) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		m := scrape(t, ctx, addr)
		if m["bluelock_emitter_queued_events"] == 0 && m["bluelock_emitter_events_total"] > 0 &&
			m["bluelock_emitter_events_total"] == m["bluelock_emitter_sent_total"]+m["bluelock_emitter_rejected_total"]+
				m[`bluelock_emitter_dropped_total{type="alert"}`]+m[`bluelock_emitter_dropped_total{type="log"}`] {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("the emitter did not become idle: %v (last metrics: %v)", ctx.Err(), m)
		}
	}
}

// outage is how the sidekick goes away at "half".
type outage int

const (
	none  outage = iota
	stop         // SIGTERM: the sidekick drains and exits
	crash        // SIGKILL once the emitter is idle
)

func TestPipeline(t *testing.T) {
	bluelockBin, sidekickBin := binaries(t)
	requireTracing(t, bluelockBin)
	tests := []struct {
		name      string
		half, n   int
		queue     int    // BLUELOCK_EMIT_QUEUE_EVENTS; 0 = default (10,000)
		outage    outage // at "half"; the sidekick is restarted at "done"
		wantDrops bool
	}{
		{name: "sidekick up", half: 1500, n: 3000},
		{name: "sidekick stopped and restarted within the queue bound", half: 1500, n: 3000, outage: stop},
		{name: "sidekick crashed and restarted within the queue bound", half: 1500, n: 3000, outage: crash},
		// half < queue: the first half fits in the queue even if the tracer
		// starts before the sidekick listens, so only the outage drops.
		{name: "sidekick stopped beyond the queue bound", half: 250, n: 3000, queue: 300, outage: stop, wantDrops: true},
		{name: "sidekick crashed beyond the queue bound", half: 250, n: 3000, queue: 300, outage: crash, wantDrops: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()

			dir := t.TempDir()
			for i := range tc.n {
				if err := os.WriteFile(filepath.Join(dir, "m"+strconv.Itoa(i)), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			hook, hookSrv := newWebhook(t)
			skPort := freePort(t)
			metricsAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
			sk := startSidekick(t, sidekickBin, skPort, hookSrv.URL+"/")

			cmd := exec.Command(bluelockBin,
				"--emit", "sidekick", "--visibility", "file", "--metrics-addr", metricsAddr,
				"--policy-grpc", "off", "--policy-http", "off", "--policy-k8s", "false",
				"--", "/bin/sh", "-c", workload, "sh", dir, strconv.Itoa(tc.half), strconv.Itoa(tc.n))
			cmd.Env = append(os.Environ(), "SIDEKICK_URL=http://127.0.0.1:"+strconv.Itoa(skPort)+"/")
			if tc.queue > 0 {
				cmd.Env = append(cmd.Env, "BLUELOCK_EMIT_QUEUE_EVENTS="+strconv.Itoa(tc.queue))
			}
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			bl := start(t, "bluelock", cmd)
			lines := make(chan string, 4)
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			expect := func(want string) {
				t.Helper()
				select {
				case l, ok := <-lines:
					if !ok || l != want {
						t.Fatalf("workload said %q (open %v), want %q\nbluelock stderr:\n%s", l, ok, want, bl.stderr.tail())
					}
				case <-ctx.Done():
					t.Fatalf("workload did not say %q: %v\nbluelock stderr:\n%s", want, ctx.Err(), bl.stderr.tail())
				}
			}

			expect("half")
			if tc.outage != none {
				// Start the outage from a clean state: the webhook has
				// everything emitted so far, so what follows is only about
				// the outage.
				sofar := scrapeEvents(t, ctx, metricsAddr)
				hook.waitFor(ctx, "the first half", dir, func(tl tally) bool { return tl.events >= sofar })
			}
			switch tc.outage {
			case stop:
				_ = sk.cmd.Process.Signal(syscall.SIGTERM)
				if err := sk.wait(t, ctx); err != nil {
					t.Errorf("sidekick after SIGTERM: %v", err)
				}
			case crash:
				if !emitterMetrics(t, ctx, metricsAddr) {
					t.Skip("the tracer does not export bluelock_emitter_* metrics (emit.NewCollector is not registered in cmd/bluelock): " +
						"cannot tell when the emitter is idle, so a SIGKILL could lose an acknowledgement and duplicate events")
				}
				// (A SIGKILL loses what the sidekick acknowledged but has
				// not delivered yet: the sidekick's loss, not the emitter's;
				// hence the wait for the webhook above.)
				waitEmitterIdle(t, ctx, metricsAddr)
				_ = sk.cmd.Process.Signal(syscall.SIGKILL)
				_ = sk.wait(t, ctx)
			}
			if _, err := io.WriteString(stdin, "go\n"); err != nil {
				t.Fatal(err)
			}
			expect("done")

			// The workload is parked in read(2), which is not traced: the
			// tracer's count is final.
			emitted := scrapeEvents(t, ctx, metricsAddr)
			if emitted < tc.n {
				t.Fatalf("the tracer counted %d events for %d marker opens", emitted, tc.n)
			}
			if tc.outage != none {
				sk = startSidekick(t, sidekickBin, skPort, hookSrv.URL+"/")
			}
			tl := hook.waitFor(ctx, fmt.Sprintf("%d events delivered or reported dropped", emitted), dir,
				func(tl tally) bool { return tl.events+tl.dropped >= emitted })

			// The app ends; the tracer flushes and exits 0; the sidekick drains
			// on SIGTERM. Nothing may arrive after that.
			stdin.Close()
			if err := bl.wait(t, ctx); err != nil {
				t.Errorf("bluelock: %v", err)
			}
			_ = sk.cmd.Process.Signal(syscall.SIGTERM)
			if err := sk.wait(t, ctx); err != nil {
				t.Errorf("sidekick after SIGTERM: %v", err)
			}
			tl = hook.tally(dir)

			if tl.firstErr != "" {
				t.Error(tl.firstErr)
			}
			if tl.events+tl.dropped != emitted {
				t.Errorf("the tracer emitted %d events; the webhook got %d and the drop reports count %d (sum %d)",
					emitted, tl.events, tl.dropped, tl.events+tl.dropped)
			}
			dups, missing := 0, 0
			for i := range tc.n {
				switch c := tl.markers["m"+strconv.Itoa(i)]; {
				case c > 1:
					dups++
				case c == 0:
					missing++
				}
			}
			if dups > 0 {
				t.Errorf("%d marker events delivered more than once", dups)
			}
			if tc.wantDrops {
				if tl.dropped == 0 || tl.reports == 0 {
					t.Errorf("want drops beyond the queue bound of %d, reported %d in %d reports", tc.queue, tl.dropped, tl.reports)
				}
				if missing > tl.dropped {
					t.Errorf("%d markers missing but only %d events reported dropped", missing, tl.dropped)
				}
			} else if missing > 0 || tl.dropped > 0 {
				t.Errorf("%d markers missing, %d reported dropped: want none", missing, tl.dropped)
			}
			t.Logf("emitted %d, delivered %d, reported dropped %d in %d reports, markers missing %d",
				emitted, tl.events, tl.dropped, tl.reports, missing)
		})
	}
}
