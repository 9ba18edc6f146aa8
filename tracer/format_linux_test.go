package tracer

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

func TestOpenFlags(t *testing.T) {
	cases := []struct {
		flags int
		want  string
	}{
		{unix.O_RDONLY, "O_RDONLY"},
		{unix.O_RDONLY | unix.O_CLOEXEC, "O_RDONLY|O_CLOEXEC"},
		{unix.O_RDWR | unix.O_CREAT | unix.O_NOFOLLOW | unix.O_CLOEXEC, "O_RDWR|O_CREAT|O_NOFOLLOW|O_CLOEXEC"},
		{unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOCTTY | unix.O_TRUNC | unix.O_APPEND | unix.O_NONBLOCK,
			"O_WRONLY|O_CREAT|O_EXCL|O_NOCTTY|O_TRUNC|O_APPEND|O_NONBLOCK"},
		{unix.O_WRONLY | unix.O_SYNC, "O_WRONLY|O_SYNC"},
		{unix.O_WRONLY | unix.O_DSYNC, "O_WRONLY|O_DSYNC"},
		{unix.O_RDONLY | unix.O_DIRECTORY | 0x8000, "O_RDONLY|O_LARGEFILE|O_DIRECTORY"},
		{unix.O_RDWR | unix.O_TMPFILE, "O_RDWR|O_TMPFILE"},
		{unix.O_PATH | unix.O_NOATIME | unix.O_DIRECT | unix.O_ASYNC, "O_RDONLY|O_ASYNC|O_DIRECT|O_NOATIME|O_PATH"},
	}
	for _, c := range cases {
		if got := OpenFlags(c.flags); got != c.want {
			t.Errorf("OpenFlags(%#o) = %s, want %s", c.flags, got, c.want)
		}
	}
}

func TestOpenWrites(t *testing.T) {
	for flags, want := range map[int]bool{
		unix.O_RDONLY: false, unix.O_RDONLY | unix.O_CLOEXEC: false, unix.O_WRONLY: true, unix.O_RDWR: true,
		unix.O_RDONLY | unix.O_CREAT: true, unix.O_RDONLY | unix.O_TRUNC: true, unix.O_RDONLY | unix.O_APPEND: true,
		unix.O_RDWR | unix.O_TMPFILE: true, unix.O_RDONLY | unix.O_DIRECTORY: false,
	} {
		if got := OpenWrites(flags); got != want {
			t.Errorf("OpenWrites(%#o) = %v, want %v", flags, got, want)
		}
	}
}

func TestSocketProtocol(t *testing.T) {
	cases := []struct {
		name             string
		domain, typ, pro int
		policy, display  string
		raw              bool
	}{
		{"tcp-default", unix.AF_INET, unix.SOCK_STREAM, 0, "tcp", "TCP", false},
		{"tcp6-explicit", unix.AF_INET6, unix.SOCK_STREAM | unix.SOCK_NONBLOCK, unix.IPPROTO_TCP, "tcp", "TCP", false},
		{"udp", unix.AF_INET, unix.SOCK_DGRAM, 0, "udp", "UDP", false},
		{"ping-socket", unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP, "icmp", "ICMP", false},
		{"raw-icmp", unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP, "icmp", "ICMP", true},
		{"icmpv6", unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_ICMPV6, "icmpv6", "IPv6-ICMP", true},
		{"raw-other", unix.AF_INET, unix.SOCK_RAW, 255, "raw", "255", true},
		{"packet", unix.AF_PACKET, unix.SOCK_RAW, 768, "raw", "768", true},
		{"sctp", unix.AF_INET, unix.SOCK_SEQPACKET, unix.IPPROTO_SCTP, "sctp", "SCTP", false},
		{"unix-stream", unix.AF_UNIX, unix.SOCK_STREAM, 0, "stream", "0", false},
		{"unix-dgram", unix.AF_UNIX, unix.SOCK_DGRAM, 0, "dgram", "0", false},
	}
	for _, c := range cases {
		p := SocketProtocol(c.domain, c.typ, c.pro)
		if p.Policy != c.policy || p.Display != c.display || p.Raw != c.raw {
			t.Errorf("%s: got %+v, want policy=%s display=%s raw=%v", c.name, p, c.policy, c.display, c.raw)
		}
	}
	if got := SocketResource(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, SocketProtocol(unix.AF_INET, unix.SOCK_STREAM, 0)); got != "domain=AF_INET type=SOCK_STREAM|SOCK_CLOEXEC protocol=TCP" {
		t.Errorf("SocketResource = %s", got)
	}
}

func TestParseSockaddr(t *testing.T) {
	in4 := make([]byte, 16)
	binary.NativeEndian.PutUint16(in4, unix.AF_INET)
	binary.BigEndian.PutUint16(in4[2:], 443)
	copy(in4[4:], []byte{1, 2, 3, 4})
	in6 := make([]byte, 28)
	binary.NativeEndian.PutUint16(in6, unix.AF_INET6)
	binary.BigEndian.PutUint16(in6[2:], 8080)
	in6[8+15] = 1 // ::1
	un := append(binary.NativeEndian.AppendUint16(nil, unix.AF_UNIX), []byte("/run/x.sock\x00junk")...)
	abstract := append(binary.NativeEndian.AppendUint16(nil, unix.AF_UNIX), []byte("\x00name")...)
	cases := []struct {
		name string
		b    []byte
		want string
		ok   bool
	}{
		{"inet", in4, "sa_family=AF_INET sin_port=443 sin_addr=1.2.3.4", true},
		{"inet6", in6, "sa_family=AF_INET6 sin6_port=8080 sin6_addr=::1", true},
		{"unix", un, "sa_family=AF_UNIX sun_path=/run/x.sock", true},
		{"abstract", abstract, "sa_family=AF_UNIX sun_path=@name", true},
		{"short-inet", in4[:6], "", false},
		{"empty", nil, "", false},
	}
	for _, c := range cases {
		sa, ok := ParseSockaddr(c.b)
		if ok != c.ok || (ok && sa.Resource() != c.want) {
			t.Errorf("%s: got %q, %v; want %q, %v", c.name, sa.Resource(), ok, c.want, c.ok)
		}
	}
}

func TestResultText(t *testing.T) {
	for ret, want := range map[int64]string{
		0: "Passed", 3: "Passed", -2: "No such file or directory", -13: "Permission denied",
		-1: "Operation not permitted", -111: "Connection refused", -512: "Unknown (512)",
	} {
		if got := ResultText(ret); got != want {
			t.Errorf("ResultText(%d) = %q, want %q", ret, got, want)
		}
	}
}
