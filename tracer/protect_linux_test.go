package tracer

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bluelock/bluelock/tracer/container"
)

func TestProtectedPortsCovers(t *testing.T) {
	t.Parallel()
	p := newProtectedPorts([]int{32766, 2802})
	// A non-loopback address of this host, if it has one, counts as local.
	var hostIP string
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
				hostIP = n.IP.String()
				break
			}
		}
	}
	cases := []struct {
		name string
		sa   Sockaddr
		want bool
	}{
		{"loopback v4", Sockaddr{Family: unix.AF_INET, Addr: "127.0.0.1", Port: 32766}, true},
		{"other loopback v4", Sockaddr{Family: unix.AF_INET, Addr: "127.9.9.9", Port: 2802}, true},
		{"unspecified v4", Sockaddr{Family: unix.AF_INET, Addr: "0.0.0.0", Port: 2802}, true},
		{"loopback v6", Sockaddr{Family: unix.AF_INET6, Addr: "::1", Port: 32766}, true},
		{"v4-mapped loopback", Sockaddr{Family: unix.AF_INET6, Addr: "::ffff:127.0.0.1", Port: 32766}, true},
		{"unspecified v6", Sockaddr{Family: unix.AF_INET6, Addr: "::", Port: 32766}, true},
		{"unprotected port", Sockaddr{Family: unix.AF_INET, Addr: "127.0.0.1", Port: 8080}, false},
		{"remote host", Sockaddr{Family: unix.AF_INET, Addr: "192.0.2.10", Port: 32766}, false},
		{"unix socket", Sockaddr{Family: unix.AF_UNIX, Addr: "/run/x.sock"}, false},
	}
	if hostIP != "" {
		cases = append(cases, struct {
			name string
			sa   Sockaddr
			want bool
		}{"this host's interface address", Sockaddr{Family: unix.AF_INET, Addr: hostIP, Port: 2802}, true})
	}
	for _, c := range cases {
		if got := p.covers(c.sa); got != c.want {
			t.Errorf("%s: covers(%+v) = %v, want %v", c.name, c.sa, got, c.want)
		}
	}
	if (protectedPorts{}).covers(Sockaddr{Family: unix.AF_INET, Addr: "127.0.0.1", Port: 32766}) {
		t.Error("no protected ports must cover nothing")
	}
	if _, err := netip.ParseAddr("::ffff:127.0.0.1"); err != nil {
		t.Fatal(err)
	}
}

// TestProtectedPortRefused: a traced process cannot reach a protected local
// port (the app lifting its own policies through 127.0.0.1), whatever the
// policy says, and the refusal is alerted.
func TestProtectedPortRefused(t *testing.T) {
	requirePtrace(t)
	args, env := helper(t, "connect") // connects to 127.0.0.1:9
	rec := newRecorder()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	code, err := Run(ctx, Config{
		Args: args, Env: append(os.Environ(), env...), Self: testSelf(t),
		Policy: fakePolicy{}, Emitter: rec, Container: container.Info{HostName: "testhost"},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: out,
		ProtectedPorts: []int{9},
	})
	if err != nil {
		t.Fatal(err)
	}
	if code != int(unix.EACCES) {
		t.Fatalf("exit %d, want %d (EACCES): the connect must be refused before it runs", code, unix.EACCES)
	}
	var found bool
	for _, ev := range rec.all() {
		if a := ev.Alert; a != nil && a.Operation == "Network" && a.Action == "Block" &&
			a.Resource == "sa_family=AF_INET sin_port=9 sin_addr=127.0.0.1" && a.Result == "Permission denied" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no Block alert for the protected port:\n%s", dump(rec.all()))
	}
}
