package policy

// The types below mirror the security.kubearmor.com/v1 KubeArmorPolicy CRD field
// for field, with the same JSON names, so a policy written for KubeArmor loads
// unchanged. Parse rejects any field not declared here (except under metadata
// and status, which Kubernetes fills with its own bookkeeping).

// APIVersion and Kind a KubeArmorPolicy document must carry.
const (
	APIVersion = "security.kubearmor.com/v1"
	Kind       = "KubeArmorPolicy"
)

// ContainerNameLabel is KubeArmor's special selector label: its value names the
// container(s) inside the selected pods, either "name" or "[name1, name2]".
const ContainerNameLabel = "kubearmor.io/container.name"

// KubeArmorPolicy is one security.kubearmor.com/v1 KubeArmorPolicy.
type KubeArmorPolicy struct {
	APIVersion string     `json:"apiVersion,omitempty"`
	Kind       string     `json:"kind,omitempty"`
	Metadata   ObjectMeta `json:"metadata"`
	Spec       Spec       `json:"spec"`
	// Status is the CRD's status subresource; kept only so objects read back
	// from the API server load. The engine ignores it.
	Status map[string]any `json:"status,omitempty"`

	// Origin says where the policy came from (file, document), for errors
	// and for the caller's logs. Not part of the wire format.
	Origin string `json:"-"`
}

// ObjectMeta is the part of Kubernetes metadata the engine uses. Every other
// metadata field (uid, resourceVersion, managedFields, ...) is accepted and
// dropped.
type ObjectMeta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Spec is KubeArmorPolicySpec.
type Spec struct {
	Selector     Selector             `json:"selector"`
	Process      *ProcessSection      `json:"process,omitempty"`
	File         *FileSection         `json:"file,omitempty"`
	Network      *NetworkSection      `json:"network,omitempty"`
	Capabilities *CapabilitiesSection `json:"capabilities,omitempty"`
	Syscalls     *SyscallsSection     `json:"syscalls,omitempty"`
	// Presets and AppArmor are enforcer-specific in KubeArmor (BPF presets, a
	// raw AppArmor profile snippet). They are accepted so such policies load,
	// and ignored: a ptrace enforcer cannot apply them.
	Presets  []Preset `json:"presets,omitempty"`
	AppArmor string   `json:"apparmor,omitempty"`

	Severity int      `json:"severity,omitempty"`
	Tags     []string `json:"tags,omitempty"`
	Message  string   `json:"message,omitempty"`
	Action   string   `json:"action,omitempty"`
	// Status is the old spec.status (Active|Inactive) some policies carry.
	Status string `json:"status,omitempty"`
}

// Selector picks the containers a policy applies to. matchLabels and
// matchExpressions are ANDed.
type Selector struct {
	MatchLabels      map[string]string `json:"matchLabels,omitempty"`
	MatchExpressions []MatchExpression `json:"matchExpressions,omitempty"`
}

// MatchExpression is KubeArmor's selector expression: Key is "label" and each
// value is "key=value".
type MatchExpression struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// Preset names a KubeArmor preset (ignored by bluelock).
type Preset struct {
	Name   string `json:"name"`
	Action string `json:"action,omitempty"`
}

// Meta is the severity, tags, message and action every rule, section and the
// spec may carry; a rule inherits what it leaves empty from its section, then
// from the spec.
type Meta struct {
	Severity int      `json:"severity,omitempty"`
	Tags     []string `json:"tags,omitempty"`
	Message  string   `json:"message,omitempty"`
	Action   string   `json:"action,omitempty"`
}

// FromSource restricts a rule to one acting executable.
type FromSource struct {
	Path string `json:"path,omitempty"`
}

// ProcessSection is spec.process.
type ProcessSection struct {
	MatchPaths       []ProcessPath      `json:"matchPaths,omitempty"`
	MatchDirectories []ProcessDirectory `json:"matchDirectories,omitempty"`
	MatchPatterns    []ProcessPattern   `json:"matchPatterns,omitempty"`
	Meta
}

// ProcessPath matches one executable by absolute path or by name (execname).
type ProcessPath struct {
	Path     string `json:"path,omitempty"`
	ExecName string `json:"execname,omitempty"`
	// AllowedArgs is accepted for compatibility; bluelock does not match
	// arguments (see docs/policy.md).
	AllowedArgs []string     `json:"allowedArgs,omitempty"`
	OwnerOnly   bool         `json:"ownerOnly,omitempty"`
	Pts         *bool        `json:"pts,omitempty"`
	FromSource  []FromSource `json:"fromSource,omitempty"`
	Meta
}

// ProcessDirectory matches executables under a directory.
type ProcessDirectory struct {
	Dir        string       `json:"dir"`
	Recursive  bool         `json:"recursive,omitempty"`
	OwnerOnly  bool         `json:"ownerOnly,omitempty"`
	Pts        *bool        `json:"pts,omitempty"`
	FromSource []FromSource `json:"fromSource,omitempty"`
	Meta
}

// ProcessPattern matches executables by glob.
type ProcessPattern struct {
	Pattern   string `json:"pattern"`
	OwnerOnly bool   `json:"ownerOnly,omitempty"`
	Meta
}

// FileSection is spec.file.
type FileSection struct {
	MatchPaths       []FilePath      `json:"matchPaths,omitempty"`
	MatchDirectories []FileDirectory `json:"matchDirectories,omitempty"`
	MatchPatterns    []FilePattern   `json:"matchPatterns,omitempty"`
	Meta
}

// FilePath matches one file.
type FilePath struct {
	Path       string       `json:"path"`
	ReadOnly   bool         `json:"readOnly,omitempty"`
	OwnerOnly  bool         `json:"ownerOnly,omitempty"`
	Pts        *bool        `json:"pts,omitempty"`
	FromSource []FromSource `json:"fromSource,omitempty"`
	Meta
}

// FileDirectory matches files under a directory.
type FileDirectory struct {
	Dir        string       `json:"dir"`
	Recursive  bool         `json:"recursive,omitempty"`
	ReadOnly   bool         `json:"readOnly,omitempty"`
	OwnerOnly  bool         `json:"ownerOnly,omitempty"`
	Pts        *bool        `json:"pts,omitempty"`
	FromSource []FromSource `json:"fromSource,omitempty"`
	Meta
}

// FilePattern matches files by glob.
type FilePattern struct {
	Pattern   string `json:"pattern"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
	OwnerOnly bool   `json:"ownerOnly,omitempty"`
	Meta
}

// NetworkSection is spec.network.
type NetworkSection struct {
	MatchProtocols []NetworkProtocol `json:"matchProtocols,omitempty"`
	// MatchDNSQueries is accepted and validated, not enforced: the tracer
	// does not parse DNS.
	MatchDNSQueries []DNSQuery `json:"matchDNSQueries,omitempty"`
	Meta
}

// NetworkProtocol matches socket creation by protocol; Protocol may be a
// comma-separated list.
type NetworkProtocol struct {
	Protocol   string       `json:"protocol"`
	Pts        *bool        `json:"pts,omitempty"`
	FromSource []FromSource `json:"fromSource,omitempty"`
	Meta
}

// DNSQuery is spec.network.matchDNSQueries[] (not enforced).
type DNSQuery struct {
	Domain     string       `json:"domain"`
	FromSource []FromSource `json:"fromSource,omitempty"`
	Meta
}

// CapabilitiesSection is spec.capabilities.
type CapabilitiesSection struct {
	MatchCapabilities []Capability `json:"matchCapabilities,omitempty"`
	Meta
}

// Capability matches the use of one capability (lower-case, no CAP_).
type Capability struct {
	Capability string       `json:"capability"`
	FromSource []FromSource `json:"fromSource,omitempty"`
	Meta
}

// SyscallsSection is spec.syscalls. Syscall rules have no action: KubeArmor
// only ever audits them.
type SyscallsSection struct {
	MatchSyscalls []SyscallMatch     `json:"matchSyscalls,omitempty"`
	MatchPaths    []SyscallMatchPath `json:"matchPaths,omitempty"`
	Severity      int                `json:"severity,omitempty"`
	Tags          []string           `json:"tags,omitempty"`
	Message       string             `json:"message,omitempty"`
}

// SyscallSource restricts a syscall rule to executables: one path, or a
// directory (recursive or not).
type SyscallSource struct {
	Path      string `json:"path,omitempty"`
	Dir       string `json:"dir,omitempty"`
	Recursive bool   `json:"recursive,omitempty"`
}

// SyscallMatch audits syscalls by name.
type SyscallMatch struct {
	Syscalls   []string        `json:"syscall,omitempty"`
	FromSource []SyscallSource `json:"fromSource,omitempty"`
	Severity   int             `json:"severity,omitempty"`
	Tags       []string        `json:"tags,omitempty"`
	Message    string          `json:"message,omitempty"`
}

// SyscallMatchPath audits syscalls on a path or under a directory.
type SyscallMatchPath struct {
	Path       string          `json:"path,omitempty"`
	Recursive  bool            `json:"recursive,omitempty"`
	Syscalls   []string        `json:"syscall,omitempty"`
	FromSource []SyscallSource `json:"fromSource,omitempty"`
	Severity   int             `json:"severity,omitempty"`
	Tags       []string        `json:"tags,omitempty"`
	Message    string          `json:"message,omitempty"`
}
