package policy

// STUB: replaced by the policy engine work (issue 3). Signatures are the contract.

import "errors"

// Posture is a domain's default posture: "block" or "audit".
type Posture string

const (
	PostureBlock Posture = "block"
	PostureAudit Posture = "audit"
)

// Options say whom the policies are for and what the default postures are.
type Options struct {
	ContainerName       string
	Namespace           string
	Labels              map[string]string
	FilePosture         Posture
	NetworkPosture      Posture
	CapabilitiesPosture Posture
	// Audited is the pod annotation kubearmor-policy: audited: blocks become "Audit (Block)".
	Audited bool
}

// KubeArmorPolicy is one security.kubearmor.com/v1 KubeArmorPolicy.
type KubeArmorPolicy struct{}

// Store holds the compiled rule set in force and swaps it atomically.
type Store struct{}

func NewStore(opts Options) *Store { return &Store{} }

// Apply replaces the full set of policies from one source.
func (s *Store) Apply(source string, policies []KubeArmorPolicy) error {
	return errors.New("policy engine not built yet")
}

// SetOptions changes identity or postures (namespace annotations) and recompiles.
func (s *Store) SetOptions(opts Options) error { return errors.New("policy engine not built yet") }

// Decide answers one request against the set in force.
func (s *Store) Decide(r Request) Decision { return Decision{Verdict: Allow, Action: "Allow"} }

// MayBlock reports whether the set in force could block an operation of this
// domain (a Block rule, or an allow-list under block posture). The tracer
// fails closed on unreadable arguments only where this is true.
func (s *Store) MayBlock(op Operation) bool { return false }

// Names lists the policies in force.
func (s *Store) Names() []string { return nil }

// Parse reads KubeArmorPolicy documents (YAML or JSON, multi-document);
// origin names the file or object in errors.
func Parse(data []byte, origin string) ([]KubeArmorPolicy, error) {
	return nil, errors.New("policy engine not built yet")
}
