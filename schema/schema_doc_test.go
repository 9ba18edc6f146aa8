package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// loadSchemaDoc parses kubearmor-event.schema.json with numbers kept exact.
func loadSchemaDoc(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("kubearmor-event.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("schema doc is not JSON: %v", err)
	}
	if doc["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Fatalf("$schema = %v, want Draft 2020-12", doc["$schema"])
	}
	return doc
}

func strList(t *testing.T, v any) []string {
	t.Helper()
	items, ok := v.([]any)
	if !ok {
		t.Fatalf("want a JSON array, got %T", v)
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.(string)
	}
	return out
}

// TestSchemaDocTablesMatchGo checks the JSON Schema document and the Go
// tables name the same required fields, enums and property types.
func TestSchemaDocTablesMatchGo(t *testing.T) {
	t.Parallel()
	doc := loadSchemaDoc(t)
	props := doc["properties"].(map[string]any)
	prop := func(name string) map[string]any { return props[name].(map[string]any) }
	eq := func(what string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: schema doc %q, Go %q", what, got, want)
		}
	}
	eq("required", strList(t, doc["required"]), RequiredAlways())
	eq("Type enum", strList(t, prop("Type")["enum"]), Types())
	eq("Operation enum", strList(t, prop("Operation")["enum"]), Operations())
	eq("Action enum", strList(t, prop("Action")["enum"]), Actions())

	sev := regexp.MustCompile(prop("Severity")["pattern"].(string))
	for n := -1; n <= 12; n++ {
		s := strconv.Itoa(n)
		if got, want := sev.MatchString(s), slices.Contains(Severities(), s); got != want {
			t.Errorf("Severity %q: schema pattern says %v, Go table says %v", s, got, want)
		}
	}

	allOf := doc["allOf"].([]any)
	cond := func(i int, key string) (enum, required []string) {
		c := allOf[i].(map[string]any)
		enum = strList(t, c["if"].(map[string]any)["properties"].(map[string]any)[key].(map[string]any)["enum"])
		required = strList(t, c["then"].(map[string]any)["required"])
		return enum, required
	}
	e, r := cond(0, "Type")
	eq("policy alert types", e, PolicyAlertTypes())
	eq("policy alert required", r, RequiredPolicyAlert())
	e, r = cond(1, "Type")
	eq("log types", e, LogTypes())
	eq("log required", r, RequiredLog())
	var forbidden []string
	for k := range allOf[1].(map[string]any)["then"].(map[string]any)["properties"].(map[string]any) {
		forbidden = append(forbidden, k)
	}
	sort.Strings(forbidden)
	var alertOnly []string
	for k, s := range fieldSpecs {
		if s.alertOnly {
			alertOnly = append(alertOnly, k)
		}
	}
	sort.Strings(alertOnly)
	eq("keys forbidden on logs", forbidden, alertOnly)
	e, r = cond(2, "Operation")
	eq("resource operations", e, ResourceOperations())
	eq("resource required", r, RequiredResource())

	var docKeys, goKeys []string
	for k := range props {
		docKeys = append(docKeys, k)
	}
	for k := range fieldSpecs {
		goKeys = append(goKeys, k)
	}
	sort.Strings(docKeys)
	sort.Strings(goKeys)
	eq("properties", docKeys, goKeys)
	for k, spec := range fieldSpecs {
		p, ok := props[k].(map[string]any)
		if !ok {
			continue
		}
		want := map[kind]string{kString: "string", kInt32: "integer", kInt64: "integer", kStringList: "array", kStringMap: "object", kOwner: "object", kExecEvent: "object"}[spec.kind]
		if p["type"] != want {
			t.Errorf("property %s: schema type %v, Go kind %s", k, p["type"], want)
		}
		_, hasMin := p["minLength"]
		_, hasEnum := p["enum"] // an enum without "" also forbids the empty string
		if (hasMin || hasEnum) != spec.nonEmpty {
			t.Errorf("property %s: schema forbids \"\"=%v, Go nonEmpty=%v", k, hasMin || hasEnum, spec.nonEmpty)
		}
		if spec.kind == kInt32 && (p["minimum"] != json.Number("-2147483648") || p["maximum"] != json.Number("2147483647")) {
			t.Errorf("property %s: schema range [%v,%v], want int32", k, p["minimum"], p["maximum"])
		}
	}
}

// TestSchemaDocAgreesWithDecode runs a table of good and bad events through
// both the Go decoder and a small evaluator of the JSON Schema keywords the
// document uses, and requires the same verdict.
func TestSchemaDocAgreesWithDecode(t *testing.T) {
	t.Parallel()
	doc := loadSchemaDoc(t)
	cases := []struct {
		name string
		body string
		ok   bool
	}{
		{"alert", goodAlert, true},
		{"log", goodLog, true},
		{"system event", goodSys, true},
		{"unknown key", with(t, goodLog, `"PID":43`, `"PID":43,"Extra":[1,{}]`), true},
		{"severity absent", with(t, goodAlert, `"Severity":"5",`, ``), true},
		{"severity empty", with(t, goodAlert, `"Severity":"5"`, `"Severity":""`), true},
		{"severity 10", with(t, goodAlert, `"Severity":"5"`, `"Severity":"10"`), true},
		{"severity 0", with(t, goodAlert, `"Severity":"5"`, `"Severity":"0"`), false},
		{"severity 05", with(t, goodAlert, `"Severity":"5"`, `"Severity":"05"`), false},
		{"severity number", with(t, goodAlert, `"Severity":"5"`, `"Severity":5`), false},
		{"pid string", with(t, goodAlert, `"PID":42`, `"PID":"42"`), false},
		{"pid big", with(t, goodAlert, `"PID":42`, `"PID":2147483648`), false},
		{"pid negative ok", with(t, goodAlert, `"PID":42`, `"PID":-1`), true},
		{"pid float", with(t, goodAlert, `"PID":42`, `"PID":4.5`), false},
		{"timestamp zero", with(t, goodAlert, `"Timestamp":1700000000`, `"Timestamp":0`), false},
		{"timestamp missing", with(t, goodLog, `"Timestamp":1700000001,`, ``), false},
		{"hostname missing", with(t, goodLog, `"HostName":"ip-10-0-0-1",`, ``), false},
		{"hostname empty", with(t, goodLog, `"HostName":"ip-10-0-0-1"`, `"HostName":""`), false},
		{"updatedtime bad", with(t, goodLog, `"UpdatedTime":"2023-11-14T22:13:21.000000Z"`, `"UpdatedTime":"now"`), false},
		{"type unknown", with(t, goodLog, `"Type":"ContainerLog"`, `"Type":"Message"`), false},
		{"type missing", with(t, goodLog, `"Type":"ContainerLog",`, ``), false},
		{"operation unknown", with(t, goodLog, `"Operation":"Process"`, `"Operation":"Exec"`), false},
		{"syscall without resource", with(t, with(t, goodLog, `"Operation":"Process"`, `"Operation":"Syscall"`), `"Resource":"/bin/ls -l",`, ``), true},
		{"process without resource", with(t, goodLog, `"Resource":"/bin/ls -l",`, ``), false},
		{"log without result", with(t, goodLog, `,"Result":"Passed"`, ``), false},
		{"host log", with(t, goodLog, `"Type":"ContainerLog"`, `"Type":"HostLog"`), true},
		{"alert without policy", with(t, goodAlert, `"PolicyName":"block-shadow",`, ``), false},
		{"alert without action", with(t, goodAlert, `"Action":"Block",`, ``), false},
		{"alert without result", with(t, goodAlert, `,"Result":"Permission denied"`, ``), false},
		{"alert audit block", with(t, goodAlert, `"Action":"Block"`, `"Action":"Audit (Block)"`), true},
		{"alert action bad", with(t, goodAlert, `"Action":"Block"`, `"Action":"block"`), false},
		{"alert action empty", with(t, goodAlert, `"Action":"Block"`, `"Action":""`), false},
		{"host alert", with(t, goodAlert, `"Type":"MatchedPolicy"`, `"Type":"MatchedHostPolicy"`), true},
		{"system event no resource", goodSys, true},
		{"log with alert key", with(t, goodLog, `"PID":43`, `"PID":43,"Severity":"3"`), false},
		{"atags mixed", with(t, goodAlert, `"ATags":["NIST"]`, `"ATags":["NIST",1]`), false},
		{"eventdata number", with(t, goodAlert, `"Syscall":"SYS_OPENAT"`, `"Syscall":1`), false},
		{"owner extra key", with(t, goodAlert, `"Ref":"Deployment"`, `"Ref":"Deployment","Extra":"x"`), true},
		{"owner not object", with(t, goodAlert, `"Owner":{"Ref":"Deployment","Name":"web","Namespace":"shop"}`, `"Owner":"web"`), false},
		{"not an object", `[1]`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := DecodeBatch(strings.NewReader(tc.body), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			goOK := len(b.Rejected) == 0 && len(b.Events) == 1
			dec := json.NewDecoder(strings.NewReader(tc.body))
			dec.UseNumber()
			var v any
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
			if _, isArray := v.([]any); isArray {
				v = v.([]any)[0]
			}
			schemaErr := evalSchema(t, doc, v, "")
			if goOK != tc.ok || (schemaErr == nil) != tc.ok {
				t.Errorf("want ok=%v; Go: ok=%v %v; schema doc: %v", tc.ok, goOK, b.Rejected, schemaErr)
			}
		})
	}
}

// evalSchema is a minimal JSON Schema evaluator for exactly the keywords the
// document uses; an unknown keyword fails the test, so the document cannot
// grow rules this check does not see.
func evalSchema(t testing.TB, s any, v any, path string) error {
	t.Helper()
	switch s := s.(type) {
	case bool:
		if !s {
			return fmt.Errorf("%s: not allowed", path)
		}
		return nil
	case map[string]any:
		for kw := range s {
			switch kw {
			case "$schema", "$id", "title", "description", "type", "required", "properties", "additionalProperties",
				"items", "enum", "minLength", "minimum", "maximum", "pattern", "format", "allOf", "if", "then":
			default:
				t.Fatalf("schema keyword %q at %s is not understood by this test's evaluator", kw, path)
			}
		}
		if typ, ok := s["type"].(string); ok {
			if err := checkType(typ, v); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
		if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, v) {
			return fmt.Errorf("%s: %v not in enum", path, v)
		}
		if str, ok := v.(string); ok {
			if ml, ok := s["minLength"].(json.Number); ok {
				n, _ := ml.Int64()
				if int64(utf8.RuneCountInString(str)) < n {
					return fmt.Errorf("%s: shorter than %d", path, n)
				}
			}
			if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(str) {
				return fmt.Errorf("%s: does not match %s", path, p)
			}
			if s["format"] == "date-time" {
				if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
					return fmt.Errorf("%s: not a date-time", path)
				}
			}
		}
		if num, ok := v.(json.Number); ok {
			n, err := strconv.ParseInt(string(num), 10, 64)
			if err == nil {
				if m, ok := s["minimum"].(json.Number); ok {
					if mn, _ := m.Int64(); n < mn {
						return fmt.Errorf("%s: below minimum", path)
					}
				}
				if m, ok := s["maximum"].(json.Number); ok {
					if mx, _ := m.Int64(); n > mx {
						return fmt.Errorf("%s: above maximum", path)
					}
				}
			}
		}
		if obj, ok := v.(map[string]any); ok {
			if req, ok := s["required"].([]any); ok {
				for _, r := range req {
					if _, has := obj[r.(string)]; !has {
						return fmt.Errorf("%s: missing %s", path, r)
					}
				}
			}
			props, _ := s["properties"].(map[string]any)
			for k, val := range obj {
				if ps, ok := props[k]; ok {
					if err := evalSchema(t, ps, val, path+"/"+k); err != nil {
						return err
					}
				} else if ap, ok := s["additionalProperties"]; ok {
					if err := evalSchema(t, ap, val, path+"/"+k); err != nil {
						return err
					}
				}
			}
		}
		if arr, ok := v.([]any); ok {
			if items, ok := s["items"]; ok {
				for i, it := range arr {
					if err := evalSchema(t, items, it, fmt.Sprintf("%s/%d", path, i)); err != nil {
						return err
					}
				}
			}
		}
		if all, ok := s["allOf"].([]any); ok {
			for _, sub := range all {
				if err := evalSchema(t, sub, v, path); err != nil {
					return err
				}
			}
		}
		if cond, ok := s["if"]; ok {
			if evalSchema(t, cond, v, path) == nil {
				if then, ok := s["then"]; ok {
					return evalSchema(t, then, v, path)
				}
			}
		}
		return nil
	}
	t.Fatalf("schema at %s is %T, want object or boolean", path, s)
	return nil
}

// checkType applies a JSON Schema type; integers follow the document's rule:
// no fraction or exponent.
func checkType(typ string, v any) error {
	ok := false
	switch typ {
	case "object":
		_, ok = v.(map[string]any)
	case "array":
		_, ok = v.([]any)
	case "string":
		_, ok = v.(string)
	case "integer":
		if n, isNum := v.(json.Number); isNum {
			_, err := strconv.ParseInt(string(n), 10, 64)
			ok = err == nil
		}
	default:
		return fmt.Errorf("type %q not understood", typ)
	}
	if !ok {
		return fmt.Errorf("want %s, got %T", typ, v)
	}
	return nil
}

// FuzzSchemaAgreement: for any single JSON object, the Go checks and the
// JSON Schema document give the same verdict, except for two documented
// differences: (1) a key equal to a known key up to case ("pid") is rejected
// by Go (encoding/json would fold it onto PID) and allowed by the document;
// (2) with a repeated key Go checks every occurrence, while a JSON Schema
// validator sees one (JSON Schema leaves duplicates undefined).
func FuzzSchemaAgreement(f *testing.F) {
	for _, s := range []string{goodAlert, goodLog, goodSys, `{}`, `{"PID":"x"}`, `{"Type":"ContainerLog","Severity":"1"}`} {
		f.Add([]byte(s))
	}
	doc := loadSchemaDocF(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) != nil {
			return
		}
		// Only one value: More says nothing of a stray '}' or ']' after it
		// (it answers for the enclosing array or object), which the Go
		// checks rightly reject as invalid JSON.
		if _, err := dec.Token(); err != io.EOF {
			return
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		for k := range obj {
			for known := range fieldSpecs {
				if k != known && strings.EqualFold(k, known) {
					return // documented difference 1
				}
			}
		}
		n := 0
		scanObject(body, func([]byte, []byte) bool { n++; return true })
		if n != len(obj) {
			return // documented difference 2: repeated keys
		}
		b, err := DecodeBatch(bytes.NewReader(body), 1<<20)
		if err != nil {
			return
		}
		goOK := len(b.Rejected) == 0 && len(b.Events) == 1
		schemaErr := evalSchema(t, doc, v, "")
		if goOK != (schemaErr == nil) {
			t.Fatalf("disagreement on %s\nGo ok=%v %v\nschema: %v", body, goOK, b.Rejected, schemaErr)
		}
	})
}

func loadSchemaDocF(f *testing.F) map[string]any {
	raw, err := os.ReadFile("kubearmor-event.schema.json")
	if err != nil {
		f.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		f.Fatal(err)
	}
	return doc
}
