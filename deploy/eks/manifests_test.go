package eks

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/bluelock/bluelock/inject"
	"github.com/bluelock/bluelock/policy"
)

// object is one decoded manifest document.
type object struct {
	file string
	doc  int
	raw  []byte
	tree map[string]any
}

func (o object) kind() string { return str(o.tree, "kind") }
func (o object) meta() map[string]any {
	m, _ := o.tree["metadata"].(map[string]any)
	return m
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

// clusterScoped are the kinds without a namespace in these manifests.
var clusterScoped = map[string]bool{
	"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true, "CustomResourceDefinition": true,
}

// manifestFiles lists every YAML file under deploy/eks.
func manifestFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatal("no manifests found")
	}
	return files
}

func decodeDocs(t *testing.T, name string, data []byte) []object {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []object
	for n := 1; ; n++ {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", name, n, err)
		}
		var tree map[string]any
		if err := yaml.Unmarshal(raw, &tree); err != nil {
			t.Fatalf("%s: document %d: %v", name, n, err)
		}
		if tree == nil {
			continue
		}
		out = append(out, object{file: name, doc: n, raw: raw, tree: tree})
	}
	return out
}

func loadFile(t *testing.T, path string) []object {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return decodeDocs(t, path, data)
}

// loadAll returns every object of every manifest under deploy/eks, except
// examples/ (unprotected inputs for bluelock inject, not meant to be applied).
func loadAll(t *testing.T) []object {
	t.Helper()
	var all []object
	for _, f := range manifestFiles(t) {
		if strings.HasPrefix(f, "examples"+string(filepath.Separator)) {
			continue
		}
		all = append(all, loadFile(t, f)...)
	}
	return all
}

func TestManifestsWellFormed(t *testing.T) {
	t.Parallel()
	for _, f := range manifestFiles(t) {
		objs := loadFile(t, f)
		if len(objs) == 0 {
			t.Errorf("%s: no documents", f)
		}
		for _, o := range objs {
			where := fmt.Sprintf("%s document %d", f, o.doc)
			if str(o.tree, "apiVersion") == "" || o.kind() == "" || str(o.meta(), "name") == "" {
				t.Errorf("%s: apiVersion, kind and metadata.name are required", where)
			}
			ns := str(o.meta(), "namespace")
			if clusterScoped[o.kind()] && ns != "" {
				t.Errorf("%s: %s is cluster-scoped but has namespace %q", where, o.kind(), ns)
			}
			if !clusterScoped[o.kind()] && ns == "" {
				t.Errorf("%s: %s %s has no namespace; every namespaced manifest names its namespace", where, o.kind(), str(o.meta(), "name"))
			}
			if bytes.Contains(o.raw, []byte("hooks.slack.com/services/T")) || bytes.Contains(o.raw, []byte("discord.com/api/webhooks/")) {
				t.Errorf("%s: contains a webhook URL; credentials belong in a Secret", where)
			}
			if o.kind() == "ClusterRoleBinding" || o.kind() == "RoleBinding" {
				ref, _ := o.tree["roleRef"].(map[string]any)
				if str(ref, "name") == "cluster-admin" || str(ref, "name") == "admin" || str(ref, "name") == "edit" {
					t.Errorf("%s: binds %s; bluelock needs only its own least-privilege roles", where, str(ref, "name"))
				}
			}
		}
	}
}

// semantic decodes YAML for comparison without formatting, order or comments.
func semantic(t *testing.T, name string, data []byte) []any {
	t.Helper()
	var out []any
	for _, o := range decodeDocs(t, name, data) {
		out = append(out, o.tree)
	}
	return out
}

// demoInject are the options the header of demo-protected.yaml quotes.
var demoInject = inject.Options{
	ServiceAccount: "bluelock",
	SidekickSecret: "bluelock-sidekick",
	SidekickEnv:    []inject.EnvVar{{Name: "STDOUT_ENABLED", Value: "true"}},
}

func TestDemoEqualsInject(t *testing.T) {
	t.Parallel()
	in, err := os.ReadFile(filepath.Join("examples", "demo-app.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := inject.Inject(in, demoInject)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("demo-protected.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := semantic(t, "bluelock inject output", res.Output)
	if !reflect.DeepEqual(got, semantic(t, "demo-protected.yaml", want)) {
		t.Errorf("demo-protected.yaml differs from `bluelock inject` of examples/demo-app.yaml; inject now writes:\n%s", res.Output)
	}
}

// TestRBACEqualsInject keeps rbac.yaml and `bluelock inject --rbac` in step.
func TestRBACEqualsInject(t *testing.T) {
	t.Parallel()
	in, err := os.ReadFile(filepath.Join("examples", "demo-app.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	o := demoInject
	o.RBAC = true
	res, err := inject.Inject(in, o)
	if err != nil {
		t.Fatal(err)
	}
	byKey := func(objs []object) map[string]any {
		m := map[string]any{}
		for _, x := range objs {
			switch x.kind() {
			case "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding":
				m[x.kind()+"/"+str(x.meta(), "namespace")+"/"+str(x.meta(), "name")] = x.tree
			}
		}
		return m
	}
	got := byKey(decodeDocs(t, "bluelock inject --rbac", res.Output))
	want := byKey(loadFile(t, "rbac.yaml"))
	if len(want) != 5 {
		t.Fatalf("rbac.yaml: want ServiceAccount, Role, RoleBinding, ClusterRole, ClusterRoleBinding; got %d objects", len(want))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rbac.yaml differs from `bluelock inject --rbac --service-account bluelock`:\ninject: %v\nrbac.yaml: %v", got, want)
	}
}

func TestPoliciesParse(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("policies", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no policies: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ps, err := policy.Parse(data, f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if len(ps) == 0 {
			t.Errorf("%s: no policy", f)
		}
	}
}

// schemaAt walks the CRD's openAPIV3Schema along properties.
func schemaAt(t *testing.T, root map[string]any, path ...string) map[string]any {
	t.Helper()
	cur := root
	for _, p := range path {
		if p == "[]" {
			cur, _ = cur["items"].(map[string]any)
		} else {
			props, _ := cur["properties"].(map[string]any)
			cur, _ = props[p].(map[string]any)
		}
		if cur == nil {
			t.Fatalf("CRD schema has no %s", strings.Join(path, "."))
		}
	}
	return cur
}

func TestCRD(t *testing.T) {
	t.Parallel()
	objs := loadFile(t, "crd-kubearmorpolicy.yaml")
	if len(objs) != 1 {
		t.Fatalf("want one CRD, got %d documents", len(objs))
	}
	crd := objs[0].tree
	spec := crd["spec"].(map[string]any)
	names := spec["names"].(map[string]any)
	if spec["group"] != "security.kubearmor.com" || names["kind"] != "KubeArmorPolicy" || names["plural"] != "kubearmorpolicies" ||
		spec["scope"] != "Namespaced" || !reflect.DeepEqual(names["shortNames"], []any{"ksp"}) {
		t.Errorf("CRD identity differs from upstream: group %v, names %v, scope %v", spec["group"], names, spec["scope"])
	}
	versions := spec["versions"].([]any)
	v1 := versions[0].(map[string]any)
	if v1["name"] != "v1" || v1["served"] != true || v1["storage"] != true {
		t.Errorf("version: %v", v1)
	}
	if sub, _ := v1["subresources"].(map[string]any); sub == nil || sub["status"] == nil {
		t.Error("no status subresource")
	}
	var cols []string
	for _, c := range v1["additionalPrinterColumns"].([]any) {
		cols = append(cols, c.(map[string]any)["name"].(string))
	}
	if !reflect.DeepEqual(cols, []string{"Age", "Action", "Selector"}) {
		t.Errorf("printer columns %v", cols)
	}
	root := v1["schema"].(map[string]any)["openAPIV3Schema"].(map[string]any)

	sev := schemaAt(t, root, "spec", "file", "matchPaths", "[]", "severity")
	if sev["minimum"] != float64(1) || sev["maximum"] != float64(10) {
		t.Errorf("severity bounds %v..%v, want 1..10", sev["minimum"], sev["maximum"])
	}
	action := schemaAt(t, root, "spec", "process", "matchDirectories", "[]", "action")
	if !reflect.DeepEqual(action["enum"], []any{"Allow", "Audit", "Block"}) {
		t.Errorf("action enum %v", action["enum"])
	}

	// The patterns are ECMA-262 in the apiserver; these ones are also valid RE2.
	patterns := []struct {
		path       []string
		good, bads []string
	}{
		{[]string{"spec", "file", "matchPaths", "[]", "path"}, []string{"/etc/passwd", "/a"}, []string{"/etc/", "etc/passwd", "/"}},
		{[]string{"spec", "file", "matchDirectories", "[]", "dir"}, []string{"/", "/etc/", "/run/secrets/kubernetes.io/serviceaccount/"}, []string{"/etc", "etc/"}},
		{[]string{"spec", "process", "matchPaths", "[]", "fromSource", "[]", "path"}, []string{"/usr/bin/cat"}, []string{"/usr/bin/"}},
		{[]string{"spec", "process", "matchPaths", "[]", "execname"}, []string{"cat"}, []string{"/usr/bin/cat"}},
		{[]string{"spec", "network", "matchProtocols", "[]", "protocol"}, []string{"tcp", "UDP", "raw", "icmpv6", "tcp,udp", "all"}, []string{"http", "tcpx"}},
		{[]string{"spec", "capabilities", "matchCapabilities", "[]", "capability"}, []string{"net_raw", "sys_ptrace"}, []string{"NET_RAW", "ptrace"}},
	}
	for _, p := range patterns {
		s := schemaAt(t, root, p.path...)
		re, err := regexp.Compile(str(s, "pattern"))
		if err != nil {
			t.Errorf("%v: pattern: %v", p.path, err)
			continue
		}
		for _, g := range p.good {
			if !re.MatchString(g) {
				t.Errorf("%v: %q rejected by %s", p.path, g, re)
			}
		}
		for _, b := range p.bads {
			if re.MatchString(b) {
				t.Errorf("%v: %q accepted by %s", p.path, b, re)
			}
		}
	}
	req := schemaAt(t, root, "spec", "file", "matchDirectories", "[]")["required"]
	if !reflect.DeepEqual(req, []any{"dir"}) {
		t.Errorf("file.matchDirectories required = %v, want [dir]", req)
	}
	sys := schemaAt(t, root, "spec", "syscalls", "matchSyscalls", "[]", "syscall", "[]")
	enum, _ := sys["enum"].([]any)
	if len(enum) < 300 || enum[0] != "read" || enum[len(enum)-1] != "rseq" {
		t.Errorf("syscall enum: %d names from %v to %v, want read..rseq", len(enum), enum[0], enum[len(enum)-1])
	}
	if _, ok := schemaAt(t, root, "spec", "syscalls", "matchSyscalls", "[]")["properties"].(map[string]any)["action"]; ok {
		t.Error("syscall rules have an action; upstream syscall rules are always Audit")
	}
}
