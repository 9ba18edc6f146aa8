package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// doc wraps a spec body (indented two spaces) into a full policy document.
func doc(name, spec string) string {
	return "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata:\n  name: " + name +
		"\nspec:\n" + spec
}

func TestValidateErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		yaml string
		want []string // exact error lines, in order
	}{
		{"bad file path",
			doc("p", "  file:\n    matchPaths:\n      - path: /ok\n      - path: /ok2\n      - path: etc/passwd\n"),
			[]string{`f.yaml: document 1 (line 1): policy "p": spec.file.matchPaths[2].path: invalid path "etc/passwd": must be absolute and not end in "/"`}},
		{"path ending in slash",
			doc("p", "  process:\n    matchPaths:\n      - path: /bin/\n"),
			[]string{`f.yaml: document 1 (line 1): policy "p": spec.process.matchPaths[0].path: invalid path "/bin/": must be absolute and not end in "/"`}},
		{"dir without trailing slash",
			doc("p", "  file:\n    matchDirectories:\n      - dir: /etc\n"),
			[]string{`f.yaml: document 1 (line 1): policy "p": spec.file.matchDirectories[0].dir: invalid directory "/etc": must be absolute and end in "/"`}},
		{"execname with slash",
			doc("p", "  process:\n    matchPaths:\n      - execname: bin/ls\n"),
			[]string{`f.yaml: document 1 (line 1): policy "p": spec.process.matchPaths[0].execname: invalid execname "bin/ls": must be a file name without "/"`}},
		{"path and execname",
			doc("p", "  process:\n    matchPaths:\n      - path: /bin/ls\n        execname: ls\n"),
			[]string{`f.yaml: document 1 (line 1): policy "p": spec.process.matchPaths[0]: path and execname are mutually exclusive`}},
		{"fromSource relative",
			doc("p", "  file:\n    matchPaths:\n      - path: /a\n        fromSource:\n          - path: cat\n"),
			[]string{`f.yaml: document 1 (line 1): policy "p": spec.file.matchPaths[0].fromSource[0].path: invalid path "cat": must be absolute and not end in "/"`}},
		{"bad glob",
			doc("p", "  file:\n    matchPatterns:\n      - pattern: /etc/[\n"),
			[]string{`f.yaml: document 1 (line 1): policy "p": spec.file.matchPatterns[0].pattern: invalid pattern "/etc/[": syntax error in pattern`}},
		{"severity out of range at every level",
			doc("p", "  severity: 0\n  file:\n    severity: 11\n    matchPaths:\n      - path: /a\n        severity: -1\n"),
			[]string{
				`f.yaml: document 1 (line 1): policy "p": spec.file.severity: must be between 1 and 10, got 11`,
				`f.yaml: document 1 (line 1): policy "p": spec.file.matchPaths[0].severity: must be between 1 and 10, got -1`,
			}},
		{"bad action",
			doc("p", "  action: Deny\n  network:\n    matchProtocols:\n      - protocol: tcp\n        action: Permit\n"),
			[]string{
				`f.yaml: document 1 (line 1): policy "p": spec.action: must be Allow, Audit or Block, got "Deny"`,
				`f.yaml: document 1 (line 1): policy "p": spec.network.matchProtocols[0].action: must be Allow, Audit or Block, got "Permit"`,
			}},
		{"bad protocol in a list",
			doc("p", "  network:\n    matchProtocols:\n      - protocol: TCP,quic\n"),
			[]string{`f.yaml: document 1 (line 1): policy "p": spec.network.matchProtocols[0].protocol: invalid protocol "quic": must be one of tcp, udp, icmp, icmpv6, raw, sctp, stream, dgram, rdm, seqpacket, dccp, packet, all`}},
		{"bad capability",
			doc("p", "  capabilities:\n    matchCapabilities:\n      - capability: net_rawx\n"),
			[]string{`f.yaml: document 1 (line 1): policy "p": spec.capabilities.matchCapabilities[0].capability: unknown capability "net_rawx"`}},
		{"bad syscall",
			doc("p", "  syscalls:\n    matchSyscalls:\n      - syscall: [unlink, frobnicate]\n"),
			[]string{`f.yaml: document 1 (line 1): policy "p": spec.syscalls.matchSyscalls[0].syscall[1]: unknown syscall "frobnicate"`}},
		{"syscall rules take no action",
			doc("p", "  syscalls:\n    action: Block\n    matchSyscalls:\n      - syscall: [unlink]\n"),
			[]string{`f.yaml: document 1 (line 1): policy "p": spec.syscalls.action: unknown field`}},
		{"unknown field and wrong type together with a bad path",
			doc("p", "  file:\n    matchPath:\n      - path: /x\n    matchPaths:\n      - path: /etc/\n        readOnly: \"yes\"\n"),
			[]string{
				`f.yaml: document 1 (line 1): policy "p": spec.file.matchPath: unknown field`,
				`f.yaml: document 1 (line 1): policy "p": spec.file.matchPaths[0].readOnly: expected true or false, got string "yes"`,
				`f.yaml: document 1 (line 1): policy "p": spec.file.matchPaths[0].path: invalid path "/etc/": must be absolute and not end in "/"`,
			}},
		{"container name list empty",
			doc("p", "  selector:\n    matchLabels:\n      kubearmor.io/container.name: \"[ ]\"\n  file:\n    matchPaths:\n      - path: /a\n"),
			[]string{`f.yaml: document 1 (line 1): policy "p": spec.selector.matchLabels.kubearmor.io/container.name: invalid container name list "[ ]": want "name" or "[name1, name2]"`}},
		{"match expression",
			doc("p", "  selector:\n    matchExpressions:\n      - key: namespace\n        operator: Exists\n        values: [app]\n  file:\n    matchPaths:\n      - path: /a\n"),
			[]string{
				`f.yaml: document 1 (line 1): policy "p": spec.selector.matchExpressions[0].key: must be "label", got "namespace"`,
				`f.yaml: document 1 (line 1): policy "p": spec.selector.matchExpressions[0].operator: must be In or NotIn, got "Exists"`,
				`f.yaml: document 1 (line 1): policy "p": spec.selector.matchExpressions[0].values[0]: must be key=value, got "app"`,
			}},
		{"required fields",
			doc("p", "  file:\n    matchPaths:\n      - readOnly: true\n    matchDirectories:\n      - recursive: true\n    matchPatterns:\n      - pattern: \"\"\n"),
			[]string{
				`f.yaml: document 1 (line 1): policy "p": spec.file.matchPaths[0].path: required`,
				`f.yaml: document 1 (line 1): policy "p": spec.file.matchDirectories[0].dir: required`,
				`f.yaml: document 1 (line 1): policy "p": spec.file.matchPatterns[0].pattern: required`,
			}},
		{"syscall sources and paths",
			doc("p", "  syscalls:\n    matchPaths:\n      - path: tmp\n        syscall: [unlink]\n        fromSource:\n          - path: /bin/rm\n            dir: /bin/\n          - recursive: true\n          - dir: /bin\n"),
			[]string{
				`f.yaml: document 1 (line 1): policy "p": spec.syscalls.matchPaths[0].path: invalid path "tmp": must be an absolute file path or a directory ending in "/"`,
				`f.yaml: document 1 (line 1): policy "p": spec.syscalls.matchPaths[0].fromSource[0]: path and dir are mutually exclusive`,
				`f.yaml: document 1 (line 1): policy "p": spec.syscalls.matchPaths[0].fromSource[1]: one of path or dir is required`,
				`f.yaml: document 1 (line 1): policy "p": spec.syscalls.matchPaths[0].fromSource[2].dir: invalid directory "/bin": must be absolute and end in "/"`,
			}},
		{"wrong types",
			doc("p", "  severity: high\n  tags: security\n  selector: [a]\n  file:\n    matchPaths:\n      - path: /a\n        severity: 2.5\n"),
			[]string{
				`f.yaml: document 1 (line 1): policy "p": spec.file.matchPaths[0].severity: expected an integer, got 2.5`,
				`f.yaml: document 1 (line 1): policy "p": spec.selector: expected an object, got a list`,
				`f.yaml: document 1 (line 1): policy "p": spec.severity: expected an integer, got string "high"`,
				`f.yaml: document 1 (line 1): policy "p": spec.tags: expected a list, got string "security"`,
			}},
		{"no rules",
			doc("p", "  severity: 3\n"),
			[]string{`f.yaml: document 1 (line 1): policy "p": spec: no rules: one of process, file, network, capabilities or syscalls is required`}},
		{"missing name, wrong kind and apiVersion",
			"apiVersion: v1\nkind: Pod\nmetadata:\n  namespace: x\nspec:\n  file:\n    matchPaths:\n      - path: /a\n",
			[]string{
				`f.yaml: document 1 (line 1): apiVersion: must be "security.kubearmor.com/v1", got "v1"`,
				`f.yaml: document 1 (line 1): kind: must be "KubeArmorPolicy", got "Pod"`,
				`f.yaml: document 1 (line 1): metadata.name: required`,
			}},
		{"second document named by index and line",
			doc("good", "  file:\n    matchPaths:\n      - path: /a\n") + "---\n# comment\n" + doc("bad", "  file:\n    matchPaths:\n      - path: a\n"),
			[]string{`f.yaml: document 2 (line 10): policy "bad": spec.file.matchPaths[0].path: invalid path "a": must be absolute and not end in "/"`}},
		{"not yaml",
			"apiVersion: [\n",
			[]string{`f.yaml: document 1 (line 1): not valid YAML or JSON: yaml: line 1: did not find expected node content`}},
		{"not an object",
			"- 1\n- 2\n",
			[]string{
				`f.yaml: document 1 (line 1) [0]: expected a KubeArmorPolicy object, got number 1`,
				`f.yaml: document 1 (line 1) [1]: expected a KubeArmorPolicy object, got number 2`,
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ps, err := Parse([]byte(tc.yaml), "f.yaml")
			if err == nil {
				t.Fatalf("no error, got %d policies", len(ps))
			}
			if ps != nil {
				t.Errorf("policies returned with an error: %v", ps)
			}
			got := strings.Split(err.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error %T does not hold a *FieldError", err)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	t.Parallel()
	spec := "  file:\n    matchPaths:\n      - path: /a\n"
	cases := []struct {
		name  string
		data  string
		names []string
	}{
		{"yaml multi-document", "---\n" + doc("a", spec) + "--- # second\n" + doc("b", spec) + "---\n# only a comment\n", []string{"a", "b"}},
		{"json", `{"apiVersion":"security.kubearmor.com/v1","kind":"KubeArmorPolicy","metadata":{"name":"j"},"spec":{"file":{"matchPaths":[{"path":"/a"}]}}}`, []string{"j"}},
		{"json array", `[{"apiVersion":"security.kubearmor.com/v1","kind":"KubeArmorPolicy","metadata":{"name":"j1"},"spec":{"network":{"matchProtocols":[{"protocol":"udp"}]}}}]`, []string{"j1"}},
		{"kubernetes list", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: security.kubearmor.com/v1\n  kind: KubeArmorPolicy\n  metadata:\n    name: l1\n    uid: 1234\n    resourceVersion: \"9\"\n  spec:\n    capabilities:\n      matchCapabilities:\n      - capability: CAP_NET_RAW\n  status:\n    status: OK\n", []string{"l1"}},
		{"every field", doc("full", `  severity: 5
  tags: [a, b]
  message: m
  action: block
  status: Active
  apparmor: "deny /x r,"
  presets:
    - name: filelessExec
      action: Audit
  selector:
    matchLabels:
      app: x
      kubearmor.io/container.name: "[c1, c2]"
    matchExpressions:
      - key: label
        operator: NotIn
        values: [env=dev]
  process:
    severity: 2
    matchPaths:
      - path: /bin/sh
        ownerOnly: true
        pts: true
        allowedArgs: ["-c"]
        fromSource: [{path: /bin/bash}]
        severity: 1
        tags: [t]
        message: m2
        action: Allow
      - execname: nc
    matchDirectories:
      - dir: /sbin/
        recursive: true
        ownerOnly: false
        fromSource: [{path: /bin/bash}]
    matchPatterns:
      - pattern: /tmp/*.sh
        ownerOnly: true
  file:
    action: Audit
    matchPaths:
      - path: /etc/passwd
        readOnly: true
        ownerOnly: true
        fromSource: [{path: /bin/cat}]
    matchDirectories:
      - dir: /
        recursive: true
        readOnly: true
    matchPatterns:
      - pattern: /etc/*hado?
        readOnly: true
  network:
    matchProtocols:
      - protocol: TCP,udp
        fromSource: [{path: /usr/bin/curl}]
    matchDNSQueries:
      - domain: example.com
  capabilities:
    matchCapabilities:
      - capability: net_raw
        fromSource: [{path: /usr/bin/arping}]
  syscalls:
    severity: 3
    tags: [s]
    message: sm
    matchSyscalls:
      - syscall: [unlink, rmdir]
        fromSource: [{dir: /usr/bin/, recursive: true}]
    matchPaths:
      - path: /tmp/
        recursive: true
        syscall: [unlinkat]
        fromSource: [{path: /usr/bin/rm}]
`), []string{"full"}},
		{"empty file", "# nothing\n", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ps, err := Parse([]byte(tc.data), "f")
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range ps {
				names = append(names, p.Metadata.Name)
			}
			if strings.Join(names, ",") != strings.Join(tc.names, ",") {
				t.Errorf("names %v, want %v", names, tc.names)
			}
		})
	}
}

func TestParseObject(t *testing.T) {
	t.Parallel()
	// The PolicyService object may omit apiVersion and kind.
	p, err := ParseObject([]byte(`{"metadata":{"name":"o","namespace":"ns"},"spec":{"file":{"matchPaths":[{"path":"/a"}]}}}`), "grpc")
	if err != nil {
		t.Fatal(err)
	}
	if p.Metadata.Name != "o" || p.Metadata.Namespace != "ns" || p.Origin != "grpc" {
		t.Errorf("got %+v", p)
	}
	_, err = ParseObject([]byte(`{"kind":"Pod","metadata":{"name":"o"},"spec":{"file":{"matchPaths":[{"path":"/a"}]}}}`), "grpc")
	if err == nil || !strings.Contains(err.Error(), `kind: must be "KubeArmorPolicy", got "Pod"`) {
		t.Errorf("wrong kind: got %v", err)
	}
	_, err = ParseObject([]byte(`{"metadata":{"name":""},"spec":{"file":{"matchPaths":[{"path":"/a"}]}}}`), "grpc")
	if err == nil || err.Error() != `grpc: metadata.name: required` {
		t.Errorf("empty name: got %v", err)
	}
}

func TestValidateBuiltInCode(t *testing.T) {
	t.Parallel()
	p := KubeArmorPolicy{APIVersion: APIVersion, Kind: Kind, Metadata: ObjectMeta{Name: "code"}, Origin: "api",
		Spec: Spec{Network: &NetworkSection{MatchProtocols: []NetworkProtocol{{Protocol: "tcp"}, {Protocol: "QUIC"}}}}}
	err := p.Validate()
	const want = `api: policy "code": spec.network.matchProtocols[1].protocol: invalid protocol "QUIC": must be one of tcp, udp, icmp, icmpv6, raw, sctp, stream, dgram, rdm, seqpacket, dccp, packet, all`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v", err)
	}
	fes := FieldErrors(fmt.Errorf("wrapped: %w", err))
	if len(fes) != 1 || fes[0].Field != "spec.network.matchProtocols[1].protocol" || fes[0].Policy != "code" {
		t.Errorf("FieldErrors: %+v", fes)
	}
	p.Spec.Network.MatchProtocols = p.Spec.Network.MatchProtocols[:1]
	if err := p.Validate(); err != nil {
		t.Errorf("valid policy: %v", err)
	}
}
