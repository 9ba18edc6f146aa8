package conformance_test

import (
	"fmt"
	"strings"
	"testing"
)

// alert is what a step expects KubeArmor to report. PolicyName, Severity,
// Action, Result and Operation are compared exactly, as KubeArmor's tests
// do; Resource and Source must contain the given text ({R} expanded).
type alert struct {
	policy, severity, action, result, operation, resource, source string
}

// step is one command of a case.
type step struct {
	name   string
	argv   []string
	env    []string // extra environment for the app (CONFORMANCE_HELPER)
	before func(t *testing.T, e *env)
	// denied: the command fails with "Permission denied".
	denied bool
	// want: an alert that must be among the events; nil: no alert at all
	// unless noAlertFrom is set, which only forbids alerts whose Source
	// contains it.
	want        *alert
	noAlertFrom string
}

type kaCase struct {
	name   string
	policy string
	flags  []string
	steps  []step
}

// header is the start of every policy: it selects the suite's container
// through KubeArmor's container-name list syntax.
func header(name string, severity int) string {
	return fmt.Sprintf(`apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: %s
spec:
  severity: %d
  selector:
    matchLabels:
      kubearmor.io/container.name: "[%s, other]"
`, name, severity, containerName)
}

func sh(cmd string) []string { return []string{"{R}/bin/dash", "-c", cmd} }

var kubearmorCases = []kaCase{
	{
		name: "1-block-proc-path",
		policy: header("ksp-group-1-block-proc-path", 5) + `  process:
    matchPaths:
      - path: "{R}/bin/sleep"
  action: Block
`,
		steps: []step{
			{name: "sleep denied", argv: sh("{R}/bin/sleep 0"), denied: true,
				want: &alert{"ksp-group-1-block-proc-path", "5", "Block", "Permission denied", "Process", "{R}/bin/sleep", "{R}/bin/dash"}},
			{name: "other binary runs", argv: sh("{R}/bin/ls {R}")},
		},
	},
	{
		name: "2-audit-proc-path",
		policy: header("ksp-group-2-audit-proc-path", 4) + `  process:
    matchPaths:
      - path: "{R}/bin/sleep"
  action: Audit
`,
		steps: []step{
			{name: "sleep runs, audited", argv: sh("{R}/bin/sleep 0"),
				want: &alert{"ksp-group-2-audit-proc-path", "4", "Audit", "Passed", "Process", "{R}/bin/sleep", "{R}/bin/dash"}},
		},
	},
	{
		name: "3-block-proc-dir",
		policy: header("ksp-ubuntu-1-block-proc-dir", 6) + `  process:
    matchDirectories:
      - dir: "{R}/sbin/"
  action: Block
`,
		steps: []step{
			{name: "route denied", argv: sh("{R}/sbin/route"), denied: true,
				want: &alert{"ksp-ubuntu-1-block-proc-dir", "6", "Block", "Permission denied", "Process", "{R}/sbin/route", "{R}/bin/dash"}},
			{name: "not recursive", argv: sh("{R}/sbin/sub/tool")},
		},
	},
	{
		name: "4-block-proc-dir-recursive",
		policy: header("ksp-ubuntu-1-block-proc-dir-recursive", 2) + `  process:
    matchDirectories:
      - dir: "{R}/usr/"
        recursive: true
  action: Block
`,
		steps: []step{
			{name: "whoami denied", argv: sh("{R}/usr/bin/whoami"), denied: true,
				want: &alert{"ksp-ubuntu-1-block-proc-dir-recursive", "2", "Block", "Permission denied", "Process", "{R}/usr/bin/whoami", "{R}/bin/dash"}},
		},
	},
	{
		name: "5-block-proc-path-from-source",
		policy: header("ksp-group-1-block-proc-path-from-source", 5) + `  process:
    matchPaths:
      - path: "{R}/bin/ls"
        fromSource:
          - path: "{R}/bin/dash"
  action: Block
`,
		steps: []step{
			{name: "dash -c ls denied", argv: sh("{R}/bin/ls {R}"), denied: true,
				want: &alert{"ksp-group-1-block-proc-path-from-source", "5", "Block", "Permission denied", "Process", "{R}/bin/ls", "{R}/bin/dash"}},
			{name: "dash -c pwd runs", argv: sh("pwd")},
			{name: "ls from another shell runs", argv: []string{"/usr/bin/dash", "-c", "{R}/bin/ls {R}"}},
		},
	},
	{
		name: "6-block-proc-path-owner",
		policy: header("ksp-ubuntu-3-block-proc-path-owner", 7) + `  process:
    matchPaths:
      - path: "{R}/home/user1/hello"
        ownerOnly: true
  action: Block
`,
		steps: []step{
			{name: "root denied", argv: sh("{R}/home/user1/hello"), denied: true,
				want: &alert{"ksp-ubuntu-3-block-proc-path-owner", "7", "Block", "Permission denied", "Process", "{R}/home/user1/hello", "{R}/bin/dash"}},
			{name: "owner runs", argv: []string{"/usr/bin/setpriv", "--reuid=1000", "--regid=1000", "--clear-groups", "{R}/home/user1/hello"}},
		},
	},
	{
		name: "7-block-file-dir-recursive",
		policy: header("ksp-ubuntu-4-block-file-dir-recursive", 9) + `  file:
    matchDirectories:
      - dir: "{R}/credentials/"
        recursive: true
  action: Block
`,
		steps: []step{
			{name: "password denied", argv: []string{"{R}/bin/cat", "{R}/credentials/password"}, denied: true,
				want: &alert{"ksp-ubuntu-4-block-file-dir-recursive", "9", "Block", "Permission denied", "File", "{R}/credentials/password", "{R}/bin/cat"}},
			{name: "key denied", argv: []string{"{R}/bin/cat", "{R}/credentials/keys/priv.key"}, denied: true,
				want: &alert{"ksp-ubuntu-4-block-file-dir-recursive", "9", "Block", "Permission denied", "File", "{R}/credentials/keys/priv.key", "{R}/bin/cat"}},
			{name: "elsewhere readable", argv: []string{"{R}/bin/cat", "{R}/secret.txt"}},
		},
	},
	{
		name: "8-block-file-path-from-source",
		policy: header("ksp-group-2-block-file-path-from-source-path", 5) + `  file:
    matchPaths:
      - path: "{R}/secret.txt"
        fromSource:
          - path: "{R}/bin/cat"
  action: Block
`,
		steps: []step{
			{name: "cat denied", argv: []string{"{R}/bin/cat", "{R}/secret.txt"}, denied: true,
				want: &alert{"ksp-group-2-block-file-path-from-source-path", "5", "Block", "Permission denied", "File", "{R}/secret.txt", "{R}/bin/cat"}},
			{name: "head reads", argv: []string{"{R}/bin/head", "{R}/secret.txt"}},
		},
	},
	{
		name: "9-audit-file-dir",
		policy: header("ksp-ubuntu-1-audit-file-dir", 5) + `  file:
    matchDirectories:
      - dir: "{R}/credentials/"
        recursive: true
  action: Audit
`,
		steps: []step{
			{name: "password audited", argv: []string{"{R}/bin/cat", "{R}/credentials/password"},
				want: &alert{"ksp-ubuntu-1-audit-file-dir", "5", "Audit", "Passed", "File", "{R}/credentials/password", "{R}/bin/cat"}},
			{name: "key audited", argv: []string{"{R}/bin/cat", "{R}/credentials/keys/priv.key"},
				want: &alert{"ksp-ubuntu-1-audit-file-dir", "5", "Audit", "Passed", "File", "{R}/credentials/keys/priv.key", "{R}/bin/cat"}},
		},
	},
	{
		name: "10-file-path-readonly-block",
		policy: header("ksp-ubuntu-4-file-path-readonly-block", 10) + `  file:
    matchPaths:
      - path: "{R}/credentials/password"
        readOnly: true
  action: Block
`,
		steps: []step{
			{name: "read passes", argv: []string{"{R}/bin/cat", "{R}/credentials/password"}},
			{name: "append denied", argv: sh("echo test >> {R}/credentials/password"), denied: true,
				want: &alert{"ksp-ubuntu-4-file-path-readonly-block", "10", "Block", "Permission denied", "File", "{R}/credentials/password", "{R}/bin/dash"}},
		},
	},
	{
		name: "11-file-pattern-block",
		policy: header("ksp-ubuntu-1-file-pattern-block", 8) + `  file:
    matchPatterns:
      - pattern: "{R}/etc/*hado?"
  action: Block
`,
		steps: []step{
			{name: "shadow denied", argv: []string{"{R}/bin/cat", "{R}/etc/shadow"}, denied: true,
				want: &alert{"ksp-ubuntu-1-file-pattern-block", "8", "Block", "Permission denied", "File", "{R}/etc/shadow", "{R}/bin/cat"}},
			{name: "gshadow denied", argv: []string{"{R}/bin/cat", "{R}/etc/gshadow"}, denied: true,
				want: &alert{"ksp-ubuntu-1-file-pattern-block", "8", "Block", "Permission denied", "File", "{R}/etc/gshadow", "{R}/bin/cat"}},
			{name: "hostname readable", argv: []string{"{R}/bin/cat", "{R}/etc/hostname"}},
		},
	},
	{
		name:   "12-allow-list-posture-block",
		policy: allowListPolicy,
		flags:  []string{"--posture-file", "block"},
		steps: []step{
			{name: "unlisted file denied by DefaultPosture", argv: []string{"{R}/bin/cat", "{R}/etc/hostname"}, denied: true,
				want: &alert{"DefaultPosture", "", "Block", "Permission denied", "File", "{R}/etc/hostname", "{R}/bin/cat"}},
			{name: "listed file readable", argv: []string{"{R}/bin/cat", "{R}/credentials/password"}},
		},
	},
	{
		name:   "12b-allow-list-posture-audit",
		policy: allowListPolicy,
		flags:  []string{"--posture-file", "audit"},
		steps: []step{
			{name: "unlisted file audited by DefaultPosture", argv: []string{"{R}/bin/cat", "{R}/etc/hostname"},
				want: &alert{"DefaultPosture", "", "Audit", "Passed", "File", "{R}/etc/hostname", "{R}/bin/cat"}},
		},
	},
	{
		name: "13-lenient-allow-sa",
		policy: header("ksp-wordpress-lenient-allow-sa", 7) + `  tags: ["NIST"]
  message: sa token accessed
  file:
    matchDirectories:
      - dir: "{R}/run/secrets/kubernetes.io/serviceaccount/"
        recursive: true
        action: Block
      - dir: /
        recursive: true
      - dir: "{R}/run/secrets/kubernetes.io/serviceaccount/"
        recursive: true
        fromSource:
          - path: "{R}/bin/cat"
  process:
    matchDirectories:
      - dir: "{R}/bin/"
        recursive: true
  action: Allow
`,
		flags: []string{"--posture-file", "block"},
		steps: []step{
			{name: "head token denied", argv: []string{"{R}/bin/head", "{R}/run/secrets/kubernetes.io/serviceaccount/token"}, denied: true,
				want: &alert{"ksp-wordpress-lenient-allow-sa", "7", "Block", "Permission denied", "File", "{R}/run/secrets/kubernetes.io/serviceaccount/token", "{R}/bin/head"}},
			{name: "cat token passes silently", argv: []string{"{R}/bin/cat", "{R}/run/secrets/kubernetes.io/serviceaccount/token"}, noAlertFrom: "{R}/bin/cat"},
			{name: "cat passwd", argv: []string{"{R}/bin/cat", "/etc/passwd"}, noAlertFrom: "{R}/bin/cat"},
			{name: "head passwd", argv: []string{"{R}/bin/head", "/etc/passwd"}},
		},
	},
	{
		name: "14-block-net-raw",
		policy: header("ksp-ubuntu-1-block-net-raw", 8) + `  network:
    matchProtocols:
      - protocol: raw
  action: Block
`,
		steps: []step{
			{name: "raw socket denied", argv: []string{"{SELF}"}, env: []string{helperEnv + "=raw"}, denied: true,
				want: &alert{"ksp-ubuntu-1-block-net-raw", "8", "Block", "Permission denied", "Network", "type=SOCK_RAW", "{SELF}"}},
			{name: "tcp still works", argv: []string{"{SELF}"}, env: []string{helperEnv + "=tcp"}},
		},
	},
	{
		name: "15-audit-net-icmp",
		policy: header("ksp-ubuntu-1-audit-net-icmp", 8) + `  network:
    matchProtocols:
      - protocol: ICMP
  action: Audit
`,
		steps: []step{
			{name: "icmp socket audited", argv: []string{"{SELF}"}, env: []string{helperEnv + "=icmp"},
				want: &alert{"ksp-ubuntu-1-audit-net-icmp", "8", "Audit", "Passed", "Network", "protocol=ICMP", "{SELF}"}},
		},
	},
	{
		name: "16-allow-net-tcp-from-source",
		policy: header("ksp-ubuntu-1-allow-net-tcp-from-source", 8) + `  network:
    matchProtocols:
      - protocol: tcp
        fromSource:
          - path: "{SELF}"
  action: Allow
`,
		flags: []string{"--posture-network", "block"},
		steps: []step{
			{name: "tcp from the allowed client", argv: []string{"{SELF}"}, env: []string{helperEnv + "=tcp"}},
			{name: "udp (DNS) denied by DefaultPosture", argv: []string{"{SELF}"}, env: []string{helperEnv + "=udp"}, denied: true,
				want: &alert{"DefaultPosture", "", "Block", "Permission denied", "Network", "type=SOCK_DGRAM", "{SELF}"}},
			{name: "tcp from another client denied", argv: []string{"{R}/bin/other-client"}, env: []string{helperEnv + "=tcp"}, denied: true,
				want: &alert{"DefaultPosture", "", "Block", "Permission denied", "Network", "type=SOCK_STREAM", "{R}/bin/other-client"}},
		},
	},
	{
		name: "17-audit-syscall-unlink",
		policy: header("audit-all-unlink", 3) + `  syscalls:
    matchSyscalls:
      - syscall: [unlink, unlinkat]
`,
		steps: []step{
			{name: "unlink audited", argv: []string{"{R}/bin/unlink", "{R}/dummy"}, before: touchDummy,
				want: &alert{"audit-all-unlink", "3", "Audit", "Passed", "Syscall", "", "{R}/bin/unlink"}},
		},
	},
	{
		name: "17b-audit-syscall-unlink-path",
		policy: header("audit-unlink-file-path", 3) + `  syscalls:
    matchPaths:
      - path: "{R}/dummy"
        syscall: [unlink, unlinkat]
`,
		steps: []step{
			{name: "unlink of the path audited", argv: []string{"{R}/bin/unlink", "{R}/dummy"}, before: touchDummy,
				want: &alert{"audit-unlink-file-path", "3", "Audit", "Passed", "Syscall", "{R}/dummy", "{R}/bin/unlink"}},
		},
	},
	{
		name: "18-block-net-raw-cap",
		policy: header("ksp-ubuntu-1-block-net-raw-cap", 1) + `  capabilities:
    matchCapabilities:
      - capability: net_raw
  action: Block
`,
		steps: []step{
			{name: "raw socket needs CAP_NET_RAW: denied", argv: []string{"{SELF}"}, env: []string{helperEnv + "=raw"}, denied: true,
				want: &alert{"ksp-ubuntu-1-block-net-raw-cap", "1", "Block", "Permission denied", "Capabilities", "CAP_NET_RAW", "{SELF}"}},
		},
	},
	{
		name: "19-other-container-not-selected",
		policy: `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: for-another-container
spec:
  selector:
    matchLabels:
      kubearmor.io/container.name: "[web, worker]"
  file:
    matchPaths:
      - path: "{R}/secret.txt"
`,
		steps: []step{
			{name: "not in force here", argv: []string{"{R}/bin/cat", "{R}/secret.txt"}},
		},
	},
}

// allowListPolicy is ksp-ubuntu-3-allow-proc-dir, rewritten for the tree:
// besides what the test reads, it allows what any dynamically linked
// program opens (loader cache, libraries, /proc, /dev).
var allowListPolicy = header("ksp-ubuntu-3-allow-proc-dir", 8) + `  process:
    matchDirectories:
      - dir: "{R}/bin/"
        recursive: true
  file:
    matchDirectories:
      - dir: "{R}/credentials/"
        recursive: true
      - dir: /lib/
        recursive: true
      - dir: /lib64/
        recursive: true
      - dir: /usr/lib/
        recursive: true
      - dir: /proc/
        recursive: true
      - dir: /dev/
        recursive: true
    matchPaths:
      - path: /etc/ld.so.cache
      - path: /etc/ld.so.preload
  action: Allow
`

func touchDummy(t *testing.T, e *env) {
	t.Helper()
	e.write(t, "dummy", "")
}

func TestKubeArmorConformance(t *testing.T) {
	e := setup(t)
	for _, tc := range kubearmorCases {
		t.Run(tc.name, func(t *testing.T) {
			for _, s := range tc.steps {
				t.Run(strings.ReplaceAll(s.name, " ", "_"), func(t *testing.T) {
					if s.before != nil {
						s.before(t, e)
					}
					r := e.run(t, tc.policy, tc.flags, s.env, s.argv...)
					e.assertStep(t, s, r)
				})
			}
		})
	}
}

func (e *env) assertStep(t *testing.T, s step, r result) {
	t.Helper()
	out := r.stdout + r.stderr
	denied := strings.Contains(strings.ToLower(out), "permission denied")
	switch {
	case s.denied && (r.code == 0 || !denied):
		t.Errorf("want the command denied (non-zero exit, \"Permission denied\"), got %s", r)
	case !s.denied && (r.code != 0 || denied):
		t.Errorf("want the command to succeed, got %s", r)
	}
	alerts := r.alerts()
	if s.want == nil {
		for _, a := range alerts {
			if s.noAlertFrom == "" || strings.Contains(str(a["Source"]), e.expand(s.noAlertFrom)) {
				t.Errorf("unexpected alert: %v", a)
			}
		}
		return
	}
	w := *s.want
	w.resource, w.source = e.expand(w.resource), e.expand(w.source)
	for _, a := range alerts {
		if str(a["PolicyName"]) == w.policy && str(a["Severity"]) == w.severity && str(a["Action"]) == w.action &&
			str(a["Result"]) == w.result && str(a["Operation"]) == w.operation &&
			strings.Contains(str(a["Resource"]), w.resource) && strings.Contains(str(a["Source"]), w.source) {
			return
		}
	}
	t.Errorf("no alert {PolicyName %q Severity %q Action %q Result %q Operation %q Resource ⊇ %q Source ⊇ %q} among %d alerts:\n%s\n(run: %s)",
		w.policy, w.severity, w.action, w.result, w.operation, w.resource, w.source, len(alerts), dump(alerts), r)
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func dump(alerts []map[string]any) string {
	var b strings.Builder
	for _, a := range alerts {
		fmt.Fprintf(&b, "  {PolicyName %q Severity %q Action %q Result %q Operation %q Resource %q Source %q}\n",
			str(a["PolicyName"]), str(a["Severity"]), str(a["Action"]), str(a["Result"]), str(a["Operation"]), str(a["Resource"]), str(a["Source"]))
	}
	return b.String()
}
