package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/bluelock/bluelock/inject"
)

const injectUsage = `usage: bluelock inject [flags] [FILE|-]

Reads Kubernetes manifests (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
Job, CronJob; multi-document YAML) or an ECS task definition (JSON, detected) from
FILE or stdin and writes the protected version to stdout. Notes go to stderr.

Examples:
  bluelock inject deploy.yaml | kubectl apply -f -
  bluelock inject --service-account shop-bluelock --rbac deploy.yaml > protected.yaml
  bluelock inject --entrypoint "/docker-entrypoint.sh nginx -g 'daemon off;'" nginx.yaml
  aws ecs describe-task-definition --task-definition web | bluelock inject > web.json

Flags:
`

// stringsFlag is a repeatable string flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

// envFlag is a repeatable NAME=value flag.
type envFlag []inject.EnvVar

func (e *envFlag) String() string { return "" }
func (e *envFlag) Set(v string) error {
	ev, err := inject.ParseEnv(v)
	if err != nil {
		return err
	}
	*e = append(*e, ev)
	return nil
}

// parseArgv reads a command line: a JSON array, or words split on blanks
// with single/double quotes grouping.
func parseArgv(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") {
		var argv []string
		if err := json.Unmarshal([]byte(s), &argv); err != nil {
			return nil, fmt.Errorf("--entrypoint %s: not a JSON array of strings: %w", s, err)
		}
		if len(argv) == 0 {
			return nil, errors.New("--entrypoint: empty array")
		}
		return argv, nil
	}
	var argv []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				argv = append(argv, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("--entrypoint %s: unterminated %c quote", s, quote)
	}
	if inWord {
		argv = append(argv, cur.String())
	}
	if len(argv) == 0 {
		return nil, errors.New("--entrypoint: empty command")
	}
	return argv, nil
}

func injectMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bluelock inject", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, injectUsage)
		fs.PrintDefaults()
	}
	var (
		o          inject.Options
		containers stringsFlag
		env        envFlag
		skEnv      envFlag
		entrypoint string
	)
	fs.StringVar(&o.Image, "image", inject.DefaultImage, "tracer image (its /bluelock is copied by the init container)")
	fs.StringVar(&o.SidekickImage, "sidekick-image", inject.DefaultSidekickImage, "sidekick sidecar image")
	fs.StringVar(&o.SidekickURL, "sidekick-url", "", "send events to this shared sidekick instead of adding a sidecar")
	fs.BoolVar(&o.NoSidekick, "no-sidekick", false, "do not add the sidekick sidecar")
	fs.BoolVar(&o.ClassicSidecar, "classic-sidecar", false, "Kubernetes < 1.29: run the sidekick as a regular container, not a native sidecar (Jobs then never complete)")
	fs.StringVar(&o.ServiceAccount, "service-account", "", "set the pod's serviceAccountName (Kubernetes)")
	fs.Var(&containers, "container", "wrap only this container (repeatable; default: every app container, ECS: every essential one)")
	fs.StringVar(&entrypoint, "entrypoint", "", `the image's ENTRYPOINT (+CMD when there are no args) for containers without a command: "cmd arg" or ["cmd","arg"]`)
	fs.Var(&env, "env", "extra tracer env NAME=value for wrapped containers (repeatable), e.g. BLUELOCK_POSTURE_FILE=block")
	fs.Var(&skEnv, "sidekick-env", "extra sidekick env NAME=value (repeatable), e.g. STDOUT_ENABLED=true")
	fs.StringVar(&o.SidekickSecret, "sidekick-secret", "", "Secret whose keys become the sidekick's env, e.g. SLACK_WEBHOOKURL (Kubernetes)")
	fs.BoolVar(&o.RelayLabel, "relay-label", false, "label the pod kubearmor-app=kubearmor so kubearmor-relay-server discovers its sidekick (Kubernetes)")
	fs.BoolVar(&o.RBAC, "rbac", false, "append ServiceAccount, Role/RoleBinding and a namespace-scoped ClusterRole/Binding for the tracer (Kubernetes)")
	fs.StringVar(&o.Namespace, "namespace", "", "namespace for --rbac when a manifest has none")
	fs.StringVar(&o.ClusterName, "cluster-name", "", "CLUSTER_NAME for the events' ClusterName (Kubernetes; default \"default\", as KubeArmor)")
	fs.BoolVar(&o.PolicyAPI, "policy-api", false, "Kubernetes: keep the tracer's local policy APIs (127.0.0.1:32766/2802) on; off by default because the app shares loopback")
	fs.BoolVar(&o.NoPtraceCap, "no-sys-ptrace", false, "ECS: do not add SYS_PTRACE to the wrapped containers")
	fs.StringVar(&o.Format, "format", "", "force the input format: k8s or ecs (default: detect)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	o.Containers, o.Env, o.SidekickEnv = containers, env, skEnv
	if entrypoint != "" {
		argv, err := parseArgv(entrypoint)
		if err != nil {
			fmt.Fprintln(stderr, "bluelock inject:", err)
			return 2
		}
		o.Entrypoint = argv
	}
	if fs.NArg() > 1 {
		fmt.Fprintln(stderr, "bluelock inject: at most one input file (flags go before it)")
		fs.Usage()
		return 2
	}
	name := "-"
	if fs.NArg() == 1 {
		name = fs.Arg(0)
	}
	var input []byte
	var err error
	if name == "-" {
		input, err = io.ReadAll(stdin)
	} else {
		input, err = os.ReadFile(name)
	}
	if err != nil {
		fmt.Fprintf(stderr, "bluelock inject: read %s: %v\n", name, err)
		return 1
	}
	res, err := inject.Inject(input, o)
	if err != nil {
		fmt.Fprintf(stderr, "bluelock inject: %s: %v\n", name, err)
		return 1
	}
	for _, n := range res.Notes {
		fmt.Fprintln(stderr, "note:", n)
	}
	if _, err := stdout.Write(res.Output); err != nil {
		fmt.Fprintln(stderr, "bluelock inject: write:", err)
		return 1
	}
	return 0
}
