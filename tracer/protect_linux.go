package tracer

import (
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// protectedPorts says whether a connect() destination is one of bluelock's
// own control endpoints in this network namespace. The app shares the pod's
// (or task's) network with the tracer and the sidekick, so "local" means any
// address that reaches this namespace: loopback, the unspecified address (the
// kernel routes a connect to 0.0.0.0 or :: to the local host), and every
// address of a local interface (the pod IP).
type protectedPorts struct {
	ports map[int]bool
	local map[netip.Addr]bool
}

func newProtectedPorts(ports []int) protectedPorts {
	p := protectedPorts{ports: map[int]bool{}, local: map[netip.Addr]bool{}}
	for _, port := range ports {
		if port > 0 {
			p.ports[port] = true
		}
	}
	if len(p.ports) == 0 {
		return p
	}
	// The interfaces are read once at start: a Fargate task's addresses do
	// not change while it runs.
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok {
					p.local[ip.Unmap()] = true
				}
			}
		}
	}
	return p
}

func (p protectedPorts) covers(sa Sockaddr) bool {
	if len(p.ports) == 0 || (sa.Family != unix.AF_INET && sa.Family != unix.AF_INET6) || !p.ports[sa.Port] {
		return false
	}
	ip, err := netip.ParseAddr(sa.Addr)
	if err != nil {
		return true // a destination we cannot read on a protected port: refuse
	}
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsUnspecified() || p.local[ip]
}
