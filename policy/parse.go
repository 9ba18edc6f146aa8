package policy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// Parse reads KubeArmorPolicy documents (YAML or JSON, multi-document with
// "---", or a Kubernetes List of them); origin names the file or object in
// errors. Every document is checked against the CRD: unknown fields, wrong
// types and every Validate rule. All problems of all documents are returned
// joined; on any problem no policy is returned, so a half-valid file is never
// applied.
func Parse(data []byte, origin string) ([]KubeArmorPolicy, error) {
	var out []KubeArmorPolicy
	var errs []error
	for _, d := range splitDocuments(data) {
		where := fmt.Sprintf("%s: document %d (line %d)", origin, d.index, d.line)
		ps, err := parseDocument(d.body, where, true)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, ps...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// ParseObject reads exactly one policy (YAML or JSON), as a delivery channel
// hands it over: the "object" of KubeArmor's PolicyService event, an HTTP
// body, a CRD object. apiVersion and kind may be absent there (KubeArmor's
// PolicyService does not require them) but must be right when present.
func ParseObject(data []byte, origin string) (KubeArmorPolicy, error) {
	ps, err := parseDocument(data, origin, false)
	if err != nil {
		return KubeArmorPolicy{}, err
	}
	if len(ps) != 1 {
		return KubeArmorPolicy{}, &FieldError{Origin: origin, Reason: fmt.Sprintf("expected one policy, got %d", len(ps))}
	}
	return ps[0], nil
}

// document is one "---"-separated part of a file.
type document struct {
	index int // 1-based among non-empty documents
	line  int // 1-based line where the document starts
	body  []byte
}

// splitDocuments cuts a YAML stream at "---" lines. sigs.k8s.io/yaml reads a
// single document, so the split is done here, keeping line numbers for errors.
// Documents holding only blanks and comments are skipped.
func splitDocuments(data []byte) []document {
	var docs []document
	var cur bytes.Buffer
	start, lineNo := 1, 0
	flush := func() {
		if hasContent(cur.Bytes()) {
			docs = append(docs, document{index: len(docs) + 1, line: start, body: bytes.Clone(cur.Bytes())})
		}
		cur.Reset()
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), len(data)+1)
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if isSeparator(line) {
			flush()
			start = lineNo + 1
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	flush()
	return docs
}

func isSeparator(line string) bool {
	if !strings.HasPrefix(line, "---") {
		return false
	}
	rest := strings.TrimSpace(line[3:])
	return rest == "" || strings.HasPrefix(rest, "#")
}

func hasContent(b []byte) bool {
	for _, line := range bytes.Split(b, []byte("\n")) {
		t := bytes.TrimSpace(line)
		if len(t) > 0 && t[0] != '#' {
			return true
		}
	}
	return false
}

// parseDocument decodes one document, which holds a policy, a List of
// policies, or a JSON array of policies.
func parseDocument(body []byte, origin string, requireType bool) ([]KubeArmorPolicy, error) {
	js, err := yaml.YAMLToJSONStrict(body)
	if err != nil {
		return nil, &FieldError{Origin: origin, Reason: fmt.Sprintf("not valid YAML or JSON: %v", err)}
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &FieldError{Origin: origin, Reason: fmt.Sprintf("not valid YAML or JSON: %v", err)}
	}
	switch t := v.(type) {
	case map[string]any:
		if items, ok := t["items"]; ok && isListKind(t["kind"]) {
			list, ok := items.([]any)
			if !ok {
				return nil, &FieldError{Origin: origin, Field: "items", Reason: "expected a list"}
			}
			return parseItems(list, origin, "items", requireType)
		}
		p, err := decodePolicy(t, origin, requireType)
		if err != nil {
			return nil, err
		}
		return []KubeArmorPolicy{p}, nil
	case []any:
		return parseItems(t, origin, "", requireType)
	case nil:
		return nil, nil
	default:
		return nil, &FieldError{Origin: origin, Reason: fmt.Sprintf("expected a KubeArmorPolicy object, got %s", jsonKind(v))}
	}
}

func isListKind(k any) bool {
	s, _ := k.(string)
	return s == "List" || s == Kind+"List"
}

func parseItems(items []any, origin, field string, requireType bool) ([]KubeArmorPolicy, error) {
	var out []KubeArmorPolicy
	var errs []error
	for i, it := range items {
		where := fmt.Sprintf("%s %s[%d]", origin, field, i)
		if field == "" {
			where = fmt.Sprintf("%s [%d]", origin, i)
		}
		m, ok := it.(map[string]any)
		if !ok {
			errs = append(errs, &FieldError{Origin: where, Reason: fmt.Sprintf("expected a KubeArmorPolicy object, got %s", jsonKind(it))})
			continue
		}
		p, err := decodePolicy(m, where, requireType)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

// decodePolicy checks the generic object against the CRD shape, decodes it
// and validates it.
func decodePolicy(obj map[string]any, origin string, requireType bool) (KubeArmorPolicy, error) {
	name := ""
	if md, ok := obj["metadata"].(map[string]any); ok {
		name, _ = md["name"].(string)
	}
	var ps problems
	checkShape(obj, policyType, "", &ps)
	// checkShape dropped whatever did not fit, so this decode succeeds;
	// re-encoding is the simplest way to reuse encoding/json's field mapping.
	raw, err := json.Marshal(obj)
	if err != nil {
		return KubeArmorPolicy{}, &FieldError{Origin: origin, Policy: name, Reason: fmt.Sprintf("re-encode: %v", err)}
	}
	var p KubeArmorPolicy
	if err := json.Unmarshal(raw, &p); err != nil {
		return KubeArmorPolicy{}, &FieldError{Origin: origin, Policy: name, Reason: fmt.Sprintf("decode: %v", err)}
	}
	p.Origin = origin
	if requireType || p.APIVersion != "" || p.Kind != "" {
		checkType(&p, &ps)
	}
	validateSpec(&p, &ps)
	if len(ps) > 0 {
		return KubeArmorPolicy{}, ps.join(origin, name)
	}
	return p, nil
}

var (
	policyType = reflect.TypeFor[KubeArmorPolicy]()
	metaType   = reflect.TypeFor[ObjectMeta]()
)

// checkShape walks a decoded JSON value alongside the Go type it must fill,
// reporting unknown fields and wrong types with their full path. encoding/json
// can do neither with indices, and the CRD's structural schema rejects both.
// It returns false when v cannot fill t; the caller then drops v, so the
// document still decodes and the semantic checks report the rest of its
// problems in the same pass.
func checkShape(v any, t reflect.Type, path string, ps *problems) bool {
	if v == nil {
		return true // null is the zero value, as Kubernetes treats it
	}
	switch t.Kind() {
	case reflect.Pointer:
		return checkShape(v, t.Elem(), path, ps)
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			ps.add(path, "expected an object, got "+jsonKind(v))
			return false
		}
		fields := jsonFields(t)
		for _, k := range sortedKeys(m) {
			ft, ok := fields[k]
			if !ok {
				if t == metaType {
					continue // Kubernetes bookkeeping (uid, managedFields, ...)
				}
				ps.add(join(path, k), "unknown field")
				delete(m, k)
				continue
			}
			if !checkShape(m[k], ft, join(path, k), ps) {
				delete(m, k)
			}
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			ps.add(path, "expected an object, got "+jsonKind(v))
			return false
		}
		if t.Elem().Kind() == reflect.Interface {
			return true
		}
		for _, k := range sortedKeys(m) {
			if !checkShape(m[k], t.Elem(), join(path, k), ps) {
				delete(m, k)
			}
		}
	case reflect.Slice:
		l, ok := v.([]any)
		if !ok {
			ps.add(path, "expected a list, got "+jsonKind(v))
			return false
		}
		for i, e := range l {
			if !checkShape(e, t.Elem(), path+"["+strconv.Itoa(i)+"]", ps) {
				l[i] = nil
			}
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			ps.add(path, "expected a string, got "+jsonKind(v))
			return false
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			ps.add(path, "expected true or false, got "+jsonKind(v))
			return false
		}
	case reflect.Int:
		n, ok := v.(json.Number)
		if !ok {
			ps.add(path, "expected an integer, got "+jsonKind(v))
			return false
		}
		if _, err := strconv.ParseInt(string(n), 10, 32); err != nil {
			ps.add(path, "expected an integer, got "+string(n))
			return false
		}
	}
	return true
}

// jsonFields maps JSON names to field types, flattening embedded structs as
// encoding/json does.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// Sorted so that errors come out in a stable order.
	slices.Sort(keys)
	return keys
}

func jsonKind(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("string %q", t)
	case bool:
		return "boolean"
	case json.Number:
		return "number " + string(t)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
