package policy

// Operation is the domain of a request, as KubeArmor names them.
type Operation uint8

const (
	OpProcess Operation = iota + 1
	OpFile
	OpNetwork
	OpCapabilities
	OpSyscall
)

// String returns KubeArmor's Operation name.
func (o Operation) String() string {
	switch o {
	case OpProcess:
		return "Process"
	case OpFile:
		return "File"
	case OpNetwork:
		return "Network"
	case OpCapabilities:
		return "Capabilities"
	case OpSyscall:
		return "Syscall"
	}
	return "Unknown"
}

// Verdict is what the tracer must do.
type Verdict uint8

const (
	// Allow lets the syscall run.
	Allow Verdict = iota
	// Audit lets the syscall run and reports it.
	Audit
	// Block fails the syscall with EACCES before it runs.
	Block
)

func (v Verdict) String() string {
	switch v {
	case Allow:
		return "Allow"
	case Audit:
		return "Audit"
	case Block:
		return "Block"
	}
	return "Unknown"
}

// Request is what the tracer saw, reduced to what a KubeArmor rule can match on.
// The tracer fills it; the engine never does I/O.
type Request struct {
	Op Operation
	// Path is the absolute path the kernel would use: the file (File, Syscall)
	// or the executable being started (Process).
	Path string
	// Source is the executable path of the acting process: for Process, the
	// process that calls execve; otherwise the process that makes the syscall.
	Source string
	// Write is true for an open that may write, create, truncate or append,
	// and for every operation that changes a file (unlink, rename, ...).
	Write bool
	// UID is the calling process's real UID.
	UID int
	// Owner returns the UID owning path, which is always Path; ok is false
	// when unknown. Only ownerOnly rules call it, so the tracer can stat
	// lazily; it takes the path so that one function serves every request
	// (a closure over each Path cost the tracer an allocation per call).
	Owner func(path string) (uid int, ok bool)
	// Protocol is the KubeArmor protocol name of a socket: tcp, udp, icmp,
	// icmpv6, sctp, raw, or the socket type name (stream, dgram, seqpacket,
	// rdm, dccp, packet) when no better name applies.
	Protocol string
	// Capability is the capability a syscall needs, lower-case without CAP_
	// (net_raw, net_bind_service, sys_chroot, ...).
	Capability string
	// Syscall is the syscall name without SYS_ (unlink, rename, ...).
	Syscall string
}

// Decision is the engine's answer and everything an alert needs.
type Decision struct {
	Verdict Verdict
	// Action as KubeArmor reports it: Allow, Audit, Block, "Audit (Block)".
	Action string
	// PolicyName is the matched policy, or "DefaultPosture" when the domain's
	// default posture decided. Empty when nothing matched.
	PolicyName string
	// Severity, Tags and Message come from the matched rule (empty for
	// DefaultPosture, as in KubeArmor).
	Severity int
	Tags     []string
	Message  string
	// Alert reports whether KubeArmor would raise an alert (Type MatchedPolicy).
	// A matched Allow rule is silent: neither alert nor log.
	Alert bool
	// Silent is true when the event must not even be logged (a matched Allow).
	Silent bool
}

// Decider answers requests. Implementations are pure, allocation-light and safe
// for concurrent use.
type Decider interface {
	Decide(Request) Decision
}
