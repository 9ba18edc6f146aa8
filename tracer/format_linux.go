package tracer

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// This file turns raw syscall arguments into KubeArmor's text formats. It is
// pure: bytes and integers in, strings out.

// openFlagNames is KubeArmor's order for symbolic open flags (monitor's
// getOpenFlags), after the access mode. O_SYNC contains O_DSYNC's bit, so it
// is tested first and O_DSYNC only when O_SYNC is absent; O_TMPFILE contains
// O_DIRECTORY's bit likewise.
var openFlagNames = [...]struct {
	bit  int
	name string
}{
	{unix.O_CREAT, "O_CREAT"},
	{unix.O_EXCL, "O_EXCL"},
	{unix.O_NOCTTY, "O_NOCTTY"},
	{unix.O_TRUNC, "O_TRUNC"},
	{unix.O_APPEND, "O_APPEND"},
	{unix.O_NONBLOCK, "O_NONBLOCK"},
	{unix.O_SYNC, "O_SYNC"},
	{unix.O_DSYNC, "O_DSYNC"},
	{unix.O_ASYNC, "O_ASYNC"},
	{0x8000, "O_LARGEFILE"}, // unix.O_LARGEFILE is 0 on amd64; the kernel's bit is 0100000
	{unix.O_DIRECTORY, "O_DIRECTORY"},
	{unix.O_NOFOLLOW, "O_NOFOLLOW"},
	{unix.O_CLOEXEC, "O_CLOEXEC"},
	{unix.O_DIRECT, "O_DIRECT"},
	{unix.O_NOATIME, "O_NOATIME"},
	{unix.O_PATH, "O_PATH"},
	{unix.O_TMPFILE, "O_TMPFILE"},
}

// OpenFlags renders open(2) flags as KubeArmor does: access mode first, then
// the other flags in a fixed order, joined by "|".
func OpenFlags(flags int) string {
	var b strings.Builder
	writeOpenFlags(&b, flags)
	return b.String()
}

// writeOpenFlags writes OpenFlags(flags) to b.
func writeOpenFlags(b *strings.Builder, flags int) {
	switch flags & unix.O_ACCMODE {
	case unix.O_RDONLY:
		b.WriteString("O_RDONLY")
	case unix.O_WRONLY:
		b.WriteString("O_WRONLY")
	case unix.O_RDWR:
		b.WriteString("O_RDWR")
	default:
		b.WriteString("O_ACCMODE")
	}
	for _, f := range openFlagNames {
		switch {
		case flags&f.bit != f.bit:
			continue
		case f.bit == unix.O_DSYNC && flags&unix.O_SYNC == unix.O_SYNC:
			continue // already said O_SYNC
		case f.bit == unix.O_DIRECTORY && flags&unix.O_TMPFILE == unix.O_TMPFILE:
			continue // O_TMPFILE includes the directory bit
		}
		b.WriteByte('|')
		b.WriteString(f.name)
	}
}

// OpenWrites reports whether open flags may change the file: write access,
// create, truncate or append (readOnly rules treat all of these as writes).
func OpenWrites(flags int) bool {
	return flags&unix.O_ACCMODE != unix.O_RDONLY ||
		flags&(unix.O_CREAT|unix.O_TRUNC|unix.O_APPEND) != 0 ||
		flags&unix.O_TMPFILE == unix.O_TMPFILE
}

var domainNames = map[int]string{
	unix.AF_UNIX: "AF_UNIX", unix.AF_INET: "AF_INET", unix.AF_INET6: "AF_INET6",
	unix.AF_NETLINK: "AF_NETLINK", unix.AF_PACKET: "AF_PACKET", unix.AF_UNSPEC: "AF_UNSPEC",
	unix.AF_VSOCK: "AF_VSOCK", unix.AF_ALG: "AF_ALG", unix.AF_KEY: "AF_KEY", unix.AF_BLUETOOTH: "AF_BLUETOOTH",
}

// DomainName is the AF_* name of a socket domain.
func DomainName(d int) string {
	if n, ok := domainNames[d]; ok {
		return n
	}
	return strconv.Itoa(d)
}

var typeNames = map[int]string{
	unix.SOCK_STREAM: "SOCK_STREAM", unix.SOCK_DGRAM: "SOCK_DGRAM", unix.SOCK_RAW: "SOCK_RAW",
	unix.SOCK_RDM: "SOCK_RDM", unix.SOCK_SEQPACKET: "SOCK_SEQPACKET", unix.SOCK_DCCP: "SOCK_DCCP",
	unix.SOCK_PACKET: "SOCK_PACKET",
}

// TypeName renders a socket type with its SOCK_NONBLOCK/SOCK_CLOEXEC bits.
func TypeName(t int) string {
	base := t &^ (unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC)
	s, ok := typeNames[base]
	if !ok {
		s = strconv.Itoa(base)
	}
	if t&unix.SOCK_NONBLOCK != 0 {
		s += "|SOCK_NONBLOCK"
	}
	if t&unix.SOCK_CLOEXEC != 0 {
		s += "|SOCK_CLOEXEC"
	}
	return s
}

// Protocol is what a socket is, both as KubeArmor prints it in Resource
// (TCP, UDP, ...) and as a policy names it (tcp, udp, raw, ...).
type Protocol struct {
	Display string // Resource's protocol=...
	Policy  string // policy.Request.Protocol
	Raw     bool   // needs CAP_NET_RAW (SOCK_RAW, AF_PACKET)
}

// SocketProtocol classifies socket(domain, type, protocol). A zero protocol
// means the domain's default for the type (TCP for INET streams, UDP for
// datagrams), which is what the kernel picks.
func SocketProtocol(domain, typ, proto int) Protocol {
	base := typ &^ (unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC)
	inet := domain == unix.AF_INET || domain == unix.AF_INET6
	if domain == unix.AF_PACKET || base == unix.SOCK_PACKET {
		return Protocol{Display: strconv.Itoa(proto), Policy: "raw", Raw: true}
	}
	if inet {
		switch {
		case proto == unix.IPPROTO_TCP || (proto == 0 && base == unix.SOCK_STREAM):
			return Protocol{Display: "TCP", Policy: "tcp"}
		case proto == unix.IPPROTO_UDP || (proto == 0 && base == unix.SOCK_DGRAM):
			return Protocol{Display: "UDP", Policy: "udp"}
		case proto == unix.IPPROTO_ICMP:
			// Unprivileged ping sockets (SOCK_DGRAM) are ICMP without raw.
			return Protocol{Display: "ICMP", Policy: "icmp", Raw: base == unix.SOCK_RAW}
		case proto == unix.IPPROTO_ICMPV6:
			return Protocol{Display: "IPv6-ICMP", Policy: "icmpv6", Raw: base == unix.SOCK_RAW}
		case proto == unix.IPPROTO_SCTP:
			return Protocol{Display: "SCTP", Policy: "sctp"}
		}
	}
	p := Protocol{Display: strconv.Itoa(proto)}
	switch base {
	case unix.SOCK_RAW:
		p.Policy, p.Raw = "raw", inet
	case unix.SOCK_STREAM:
		p.Policy = "stream"
	case unix.SOCK_DGRAM:
		p.Policy = "dgram"
	case unix.SOCK_SEQPACKET:
		p.Policy = "seqpacket"
	case unix.SOCK_RDM:
		p.Policy = "rdm"
	case unix.SOCK_DCCP:
		p.Policy = "dccp"
	}
	return p
}

// SocketResource is KubeArmor's Resource of a socket() call.
func SocketResource(domain, typ int, p Protocol) string {
	return "domain=" + DomainName(domain) + " type=" + TypeName(typ) + " protocol=" + p.Display
}

// Sockaddr is a decoded socket address.
type Sockaddr struct {
	Family int
	Port   int    // INET, INET6
	Addr   string // INET, INET6 address; UNIX path ("@name" for abstract)
}

// ParseSockaddr decodes a struct sockaddr as the kernel received it (host
// order family, network order port). ok is false for a short buffer.
func ParseSockaddr(b []byte) (sa Sockaddr, ok bool) {
	if len(b) < 2 {
		return sa, false
	}
	sa.Family = int(binary.NativeEndian.Uint16(b))
	switch sa.Family {
	case unix.AF_INET:
		if len(b) < 8 {
			return sa, false
		}
		sa.Port = int(binary.BigEndian.Uint16(b[2:]))
		sa.Addr = netip.AddrFrom4([4]byte(b[4:8])).String()
	case unix.AF_INET6:
		if len(b) < 24 {
			return sa, false
		}
		sa.Port = int(binary.BigEndian.Uint16(b[2:]))
		sa.Addr = netip.AddrFrom16([16]byte(b[8:24])).String()
	case unix.AF_UNIX:
		path := b[2:]
		switch {
		case len(path) == 0:
			sa.Addr = "" // unnamed
		case path[0] == 0:
			end := len(path)
			sa.Addr = "@" + string(path[1:end]) // abstract: length-delimited, not NUL-terminated
			sa.Addr = strings.TrimRight(sa.Addr, "\x00")
		default:
			if i := strings.IndexByte(string(path), 0); i >= 0 {
				path = path[:i]
			}
			sa.Addr = string(path)
		}
	}
	return sa, true
}

// Resource is KubeArmor's Resource for an address.
func (sa Sockaddr) Resource() string {
	switch sa.Family {
	case unix.AF_INET:
		return "sa_family=AF_INET sin_port=" + strconv.Itoa(sa.Port) + " sin_addr=" + sa.Addr
	case unix.AF_INET6:
		return "sa_family=AF_INET6 sin6_port=" + strconv.Itoa(sa.Port) + " sin6_addr=" + sa.Addr
	case unix.AF_UNIX:
		return "sa_family=AF_UNIX sun_path=" + sa.Addr
	}
	return "sa_family=" + DomainName(sa.Family)
}

// ResultText is KubeArmor's Result for a syscall return value: "Passed", or
// the strerror text of the errno.
func ResultText(ret int64) string {
	if ret < 0 && ret >= -4095 {
		return ErrnoText(unix.Errno(-ret))
	}
	return "Passed"
}

// ErrnoText is strerror(3) of e: Go's table is glibc's with a lower-case
// first letter, KubeArmor prints glibc's.
func ErrnoText(e unix.Errno) string {
	s := e.Error()
	if strings.HasPrefix(s, "errno ") {
		return "Unknown (" + strconv.Itoa(int(e)) + ")"
	}
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

func addrString(b []byte) string {
	if a, ok := netip.AddrFromSlice(b); ok {
		return a.String()
	}
	return ""
}
