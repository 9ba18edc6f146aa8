package inject

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// podSpecPath is where each workload kind keeps its pod spec; the pod
// metadata is the sibling "metadata" of the last element's parent.
var podSpecPath = map[string][]string{
	"Pod":                   {"spec"},
	"Deployment":            {"spec", "template", "spec"},
	"StatefulSet":           {"spec", "template", "spec"},
	"DaemonSet":             {"spec", "template", "spec"},
	"ReplicaSet":            {"spec", "template", "spec"},
	"ReplicationController": {"spec", "template", "spec"},
	"Job":                   {"spec", "template", "spec"},
	"PodTemplate":           {"template", "spec"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template", "spec"},
}

// k8sRun accumulates what the documents of one input did.
type k8sRun struct {
	o        Options
	notes    []string
	matched  map[string]bool // --container names seen in some workload
	accounts map[saKey]bool  // service accounts of protected workloads
	// present holds "kind/namespace/name" of every input object, so --rbac
	// does not append what an earlier run already added.
	present map[string]bool
}

type saKey struct{ namespace, name string }

func injectK8s(input []byte, o Options) (Result, error) {
	run := &k8sRun{o: o, matched: map[string]bool{}, accounts: map[saKey]bool{}, present: map[string]bool{}}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(input)))
	var out [][]byte
	var errs []error
	changedAny := false
	for n := 1; ; n++ {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Result{}, fmt.Errorf("document %d: %w", n, err)
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		doc, changed, err := run.document(raw, n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		changedAny = changedAny || changed
		out = append(out, doc)
	}
	if err := errors.Join(errs...); err != nil {
		return Result{}, err
	}
	for _, c := range o.Containers {
		if !run.matched[c] {
			errs = append(errs, fmt.Errorf("container %q: not found in any workload", c))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Result{}, err
	}

	if len(run.accounts) > 0 {
		if o.RBAC {
			docs, err := run.rbacDocuments()
			if err != nil {
				return Result{}, err
			}
			out = append(out, docs...)
			changedAny = changedAny || len(docs) > 0
		} else {
			run.notes = append(run.notes, run.rbacHint())
		}
	}
	if o.NoSidekick && o.SidekickURL == "" {
		run.notes = append(run.notes, "--no-sidekick without --sidekick-url: the tracer posts to "+LocalSidekickURL+" and nothing listens there; events are dropped")
	}

	var buf bytes.Buffer
	for i, d := range out {
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(d)
		if !bytes.HasSuffix(d, []byte("\n")) {
			buf.WriteByte('\n')
		}
	}
	return Result{Output: buf.Bytes(), Notes: run.notes, Changed: changedAny}, nil
}

// document injects one YAML document; unchanged documents come back as raw.
func (run *k8sRun) document(raw []byte, n int) ([]byte, bool, error) {
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, false, fmt.Errorf("document %d: %w", n, err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, false, fmt.Errorf("document %d: %w", n, err)
	}
	m, ok := tree.(map[string]any)
	if !ok {
		if tree != nil {
			run.notes = append(run.notes, fmt.Sprintf("document %d: not an object, passed through", n))
		}
		return raw, false, nil
	}
	changed, err := run.object(m, fmt.Sprintf("document %d", n))
	if err != nil || !changed {
		return raw, false, err
	}
	out, err := encodeYAML(m)
	if err != nil {
		return nil, false, fmt.Errorf("document %d: %w", n, err)
	}
	return out, true, nil
}

// object injects one Kubernetes object (or each item of a List).
func (run *k8sRun) object(m map[string]any, where string) (bool, error) {
	kind := str(m, "kind")
	meta, err := obj(m, "metadata", where)
	if err != nil {
		return false, err
	}
	name, ns := str(meta, "name"), str(meta, "namespace")
	run.present[objectKey(kind, ns, name)] = true
	id := fmt.Sprintf("%s %s %q", where, kind, name)
	if ns != "" {
		id = fmt.Sprintf("%s %s %q", where, kind, ns+"/"+name)
	}
	if strings.HasSuffix(kind, "List") && m["items"] != nil {
		items, err := list(m, "items", id)
		if err != nil {
			return false, err
		}
		changed := false
		var errs []error
		for i, it := range items {
			c, err := run.object(it, fmt.Sprintf("%s items[%d]", id, i))
			if err != nil {
				errs = append(errs, err)
			}
			changed = changed || c
		}
		return changed, errors.Join(errs...)
	}
	path, ok := podSpecPath[kind]
	if !ok {
		if kind == "" {
			run.notes = append(run.notes, fmt.Sprintf("%s: no kind, passed through unchanged", where))
		} else {
			run.notes = append(run.notes, fmt.Sprintf("%s: kind %s has no pod template, passed through unchanged", id, kind))
		}
		return false, nil
	}
	parent := m
	at := id
	for _, key := range path[:len(path)-1] {
		next, err := obj(parent, key, at)
		if err != nil {
			return false, err
		}
		at += "." + key
		if next == nil {
			return false, fmt.Errorf("%s: missing", at)
		}
		parent = next
	}
	spec, err := obj(parent, "spec", at)
	if err != nil {
		return false, err
	}
	if spec == nil {
		return false, fmt.Errorf("%s.spec: missing", at)
	}
	podMeta := func() (map[string]any, error) { return ensureObj(parent, "metadata", at) }
	if kind == "Pod" {
		podMeta = func() (map[string]any, error) { return ensureObj(m, "metadata", id) }
	}
	res, err := injectPodSpec(spec, podMeta, run.o, at+".spec")
	if err != nil {
		return false, err
	}
	run.notes = append(run.notes, res.notes...)
	for _, c := range res.wrapped {
		run.matched[c] = true
	}
	if len(res.wrapped) > 0 {
		run.accounts[saKey{namespace: ns, name: res.serviceAccount}] = true
	}
	return res.changed, nil
}

// encodeYAML writes the tree as YAML with sorted keys.
func encodeYAML(v any) ([]byte, error) {
	var js bytes.Buffer
	enc := json.NewEncoder(&js)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return yaml.JSONToYAML(js.Bytes())
}

// sortedAccounts returns the collected service accounts in a stable order.
func (run *k8sRun) sortedAccounts() []saKey {
	keys := make([]saKey, 0, len(run.accounts))
	for k := range run.accounts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].namespace != keys[j].namespace {
			return keys[i].namespace < keys[j].namespace
		}
		return keys[i].name < keys[j].name
	})
	return keys
}

func objectKey(kind, namespace, name string) string { return kind + "/" + namespace + "/" + name }
