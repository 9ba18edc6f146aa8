package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/bluelock/bluelock/policy"
)

const policyUsage = `usage: bluelock policy COMMAND ...

Commands:
  validate FILE...|-   check KubeArmorPolicy files (YAML or JSON, multi-document;
                       "-" reads stdin) against the CRD's rules; prints
                       "FILE: ok (N policies: names)" or every error; exit 1 on any error
  decide [flags] OP RESOURCE [SOURCE]
                       load policies and print the decision for one request, as JSON
                       (OP: process, file, network, capabilities, syscall)
`

// policyMain runs `bluelock policy ...`; it returns the exit code.
func policyMain(args []string, stdout, stderr io.Writer) int {
	return runPolicy(args, os.Stdin, stdout, stderr)
}

func runPolicy(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, policyUsage)
		return 2
	}
	switch args[0] {
	case "validate":
		return policyValidate(args[1:], stdin, stdout, stderr)
	case "decide":
		return policyDecide(args[1:], stdin, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, policyUsage)
		return 0
	}
	fmt.Fprintf(stderr, "bluelock policy: unknown command %q\n%s", args[0], policyUsage)
	return 2
}

// readPolicyFile reads FILE, or stdin for "-" (named "<stdin>" in messages).
func readPolicyFile(name string, stdin io.Reader) ([]byte, string, error) {
	if name == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, "<stdin>", fmt.Errorf("read stdin: %w", err)
		}
		return b, "<stdin>", nil
	}
	b, err := os.ReadFile(name)
	return b, name, err
}

func policyValidate(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "usage: bluelock policy validate FILE...|-\n")
		return 2
	}
	code := 0
	for _, name := range args {
		data, origin, err := readPolicyFile(name, stdin)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", origin, err)
			code = 1
			continue
		}
		ps, err := policy.Parse(data, origin)
		if err != nil {
			fmt.Fprintln(stderr, err)
			code = 1
			continue
		}
		names := make([]string, 0, len(ps))
		for _, p := range ps {
			names = append(names, p.Metadata.Name)
		}
		if len(ps) == 0 {
			fmt.Fprintf(stdout, "%s: ok (0 policies)\n", origin)
			continue
		}
		// The wording is a contract (scripts grep it): always "policies".
		fmt.Fprintf(stdout, "%s: ok (%d policies: %s)\n", origin, len(ps), strings.Join(names, ", "))
	}
	return code
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func policyDecide(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bluelock policy decide", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files, labels listFlag
	fs.Var(&files, "policy", "policy `FILE` (repeatable; - for stdin)")
	fs.Var(&labels, "label", "container label `k=v` (repeatable)")
	container := fs.String("container", "", "container name")
	namespace := fs.String("namespace", "", "namespace")
	filePosture := fs.String("posture-file", "audit", "default file (and process) posture: block|audit|allow")
	netPosture := fs.String("posture-network", "audit", "default network posture")
	capPosture := fs.String("posture-capabilities", "audit", "default capabilities posture")
	audited := fs.Bool("audited", false, "kubearmor-policy: audited (blocks are only reported)")
	write := fs.Bool("write", false, "the file request writes")
	uid := fs.Int("uid", 0, "the caller's UID")
	ownerUID := fs.Int("owner", -1, "the file owner's UID (-1: unknown)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: bluelock policy decide [flags] OP RESOURCE [SOURCE]\n\n"+
			"RESOURCE is the path (process, file, syscall: SYSCALL:PATH), the protocol (network)\n"+
			"or the capability (capabilities). SOURCE is the acting executable.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() < 2 || fs.NArg() > 3 {
		fs.Usage()
		return 2
	}
	opts := policy.Options{ContainerName: *container, Namespace: *namespace, Labels: map[string]string{},
		FilePosture: policy.Posture(*filePosture), NetworkPosture: policy.Posture(*netPosture),
		CapabilitiesPosture: policy.Posture(*capPosture), Audited: *audited}
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			fmt.Fprintf(stderr, "--label %q: want k=v\n", l)
			return 2
		}
		opts.Labels[k] = v
	}
	store := policy.NewStore(opts)
	if err := store.SetOptions(opts); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	var all []policy.KubeArmorPolicy
	for _, f := range files {
		data, origin, err := readPolicyFile(f, stdin)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", origin, err)
			return 1
		}
		ps, err := policy.Parse(data, origin)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		all = append(all, ps...)
	}
	if err := store.Apply("cli", all); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	req := policy.Request{UID: *uid, Write: *write}
	if *ownerUID >= 0 {
		o := *ownerUID
		req.Owner = func(string) (int, bool) { return o, true }
	}
	if fs.NArg() == 3 {
		req.Source = fs.Arg(2)
	}
	res := fs.Arg(1)
	switch strings.ToLower(fs.Arg(0)) {
	case "process":
		req.Op, req.Path = policy.OpProcess, res
	case "file":
		req.Op, req.Path = policy.OpFile, res
	case "network":
		req.Op, req.Protocol = policy.OpNetwork, res
	case "capabilities", "capability":
		req.Op, req.Capability = policy.OpCapabilities, res
	case "syscall":
		req.Op = policy.OpSyscall
		req.Syscall, req.Path, _ = strings.Cut(res, ":")
	default:
		fmt.Fprintf(stderr, "unknown operation %q: want process, file, network, capabilities or syscall\n", fs.Arg(0))
		return 2
	}
	d := store.Decide(req)
	out := struct {
		Verdict    string
		Action     string
		PolicyName string   `json:",omitempty"`
		Severity   int      `json:",omitempty"`
		Tags       []string `json:",omitempty"`
		Message    string   `json:",omitempty"`
		Alert      bool
		Silent     bool
		Policies   []string
	}{d.Verdict.String(), d.Action, d.PolicyName, d.Severity, d.Tags, d.Message, d.Alert, d.Silent, store.Names()}
	enc := json.NewEncoder(stdout)
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}
