package schema

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	pb "github.com/kubearmor/KubeArmor/protobuf"
)

// fillCases are events whose strings, keys and repeated fields take every
// branch of the fill; each must come out as json.Unmarshal makes it.
func fillCases(t testing.TB) []string {
	w := func(s, old, new string) string {
		if !strings.Contains(s, old) {
			t.Fatalf("fixture does not contain %q", old)
		}
		return strings.Replace(s, old, new, 1)
	}
	return []string{
		goodAlert, goodLog, goodSys,
		w(goodAlert, `"Resource":"/etc/shadow"`, `"Resource":"/etc/\u00e9t\u00E9\n\"x\"\\y\/z"`),
		w(goodAlert, `"Resource":"/etc/shadow"`, "\"Resource\":\"/tmp/\xff\xfe-caf\xc3\xa9\""),
		w(goodAlert, `"Resource":"/etc/shadow"`, `"Resource":"\ud83d\ude00 \ud800 \udc00x"`),
		w(goodAlert, `"PID":42`, `"P\u0049D":42`),
		w(goodAlert, `"PID":42`, `"PID":41,"PID":42`),
		w(goodAlert, `"EventData":{"Syscall":"SYS_OPENAT"}`, `"EventData":{"a":"1","b\n":"\u0041"},"EventData":{"b\n":"2","c":""}`),
		w(goodAlert, `"EventData":{"Syscall":"SYS_OPENAT"}`, `"EventData":{}`),
		w(goodAlert, `"ATags":["NIST"]`, `"ATags":[]`),
		w(goodAlert, `"ATags":["NIST"]`, `"ATags":["a","b"],"ATags":["c\t"]`),
		w(goodAlert, `"Owner":{"Ref":"Deployment","Name":"web","Namespace":"shop"}`, `"Owner":{"Ref":"Deployment","Extra":"x"},"Owner":{"Name":"w\u00e9b"}`),
		w(goodAlert, `"Owner":{"Ref":"Deployment","Name":"web","Namespace":"shop"}`, `"Owner":{}`),
		w(goodLog, `"PID":43`, `"PID":-2147483648,"HostPID":2147483647,"Unknown":{"PID":"x"}`),
		w(goodSys, `"Timestamp":1700000002`, `"Timestamp":9223372036854775807`),
		" \t" + goodLog + "\r\n",
	}
}

// checkFill compares decodeOne's struct with json.Unmarshal's.
func checkFill(t *testing.T, body []byte) {
	t.Helper()
	ev, problems, _ := decodeOne(bytes.TrimSpace(body))
	if len(problems) > 0 {
		return
	}
	var want, got any
	if ev.IsAlert() {
		a := new(pb.Alert)
		if err := json.Unmarshal(body, a); err != nil {
			t.Fatalf("accepted %q, which json.Unmarshal refuses: %v", body, err)
		}
		want, got = a, ev.Alert
	} else {
		l := new(pb.Log)
		if err := json.Unmarshal(body, l); err != nil {
			t.Fatalf("accepted %q, which json.Unmarshal refuses: %v", body, err)
		}
		want, got = l, ev.Log
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Fatalf("fill of %q:\n got %s\nwant %s", body, g, w)
	}
	// And it is written back as encoding/json writes it.
	out, err := ev.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	if w, _ := json.Marshal(want); !bytes.Equal(out, w) {
		t.Fatalf("AppendJSON of %q:\n got %s\nwant %s", body, out, w)
	}
}

func TestFillMatchesUnmarshal(t *testing.T) {
	t.Parallel()
	for _, c := range fillCases(t) {
		if _, problems, _ := decodeOne(bytes.TrimSpace([]byte(c))); len(problems) > 0 {
			t.Errorf("fixture rejected: %v (%s)", problems[0], c)
			continue
		}
		checkFill(t, []byte(c))
	}
}

// TestSlotsCoverTheStructs: every JSON field of pb.Alert and pb.Log is a
// key of fieldSpecs (one missing would be dropped by the fill, where
// json.Unmarshal took it), with the Go type its kind says.
func TestSlotsCoverTheStructs(t *testing.T) {
	t.Parallel()
	goType := map[kind]reflect.Type{
		kString: reflect.TypeFor[string](), kInt32: reflect.TypeFor[int32](), kInt64: reflect.TypeFor[int64](),
		kStringList: reflect.TypeFor[[]string](), kStringMap: reflect.TypeFor[map[string]string](),
		kOwner: reflect.TypeFor[*pb.Podowner](), kExecEvent: reflect.TypeFor[*pb.ExecEvent](),
	}
	for _, st := range []reflect.Type{reflect.TypeFor[pb.Alert](), reflect.TypeFor[pb.Log]()} {
		for name, i := range jsonFields(st) {
			spec, ok := fieldSpecs[name]
			if !ok {
				t.Errorf("%s.%s has no entry in fieldSpecs", st.Name(), name)
				continue
			}
			if ft := st.Field(i).Type; ft != goType[spec.kind] {
				t.Errorf("%s.%s is %s, fieldSpecs says %s", st.Name(), name, ft, spec.kind)
			}
		}
	}
	for kind, keys := range map[kind][]string{kOwner: ownerKeys[:], kExecEvent: execEventKeys[:]} {
		var got []string
		for k := range nestedFields[kind] {
			got = append(got, k)
		}
		if len(got) != len(keys) {
			t.Errorf("%s: struct fields %v, known keys %v", kind, got, keys)
		}
		for _, k := range keys {
			if _, ok := nestedFields[kind][k]; !ok {
				t.Errorf("known key %s is not a field of its struct", k)
			}
		}
	}
}

// FuzzFill: whatever decodeOne accepts, it fills exactly as json.Unmarshal,
// and AppendJSON writes it back exactly as json.Marshal.
func FuzzFill(f *testing.F) {
	for _, c := range fillCases(f) {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) || jsonKind(body) != "object" {
			return
		}
		checkFill(t, body)
	})
}

func TestValidValue(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	cases := []struct {
		in  string
		end int // -1: not accepted
	}{
		{`{}`, 2}, {` [ ] `, 4}, {`{"a":[1,{"b":null}],"c":"\u00e9\n"}x`, 35}, {`123{`, 3}, {`-0.5e+7 `, 7},
		{`true`, 4}, {`falsey`, 5}, {`null`, 4}, {`""`, 2}, {"\"\xff\"", 3}, {deep, len(deep)},
		{`[` + deep + `]`, -1}, // deeper than maxDepth: json.Decoder decides
		{``, -1}, {` `, -1}, {`{`, -1}, {`[1,]`, -1}, {`{"a":1,}`, -1}, {`{"a" 1}`, -1}, {`{a:1}`, -1},
		{`[1 2]`, -1}, {`"abc`, -1}, {"\"a\tb\"", -1}, {`"\x"`, -1}, {`"\u12G4"`, -1}, {`"\u12"`, -1},
		{`-`, -1}, {`01`, 1}, {`1.`, -1}, {`1e`, -1}, {`.5`, -1}, {`nul`, -1}, {`tru`, -1}, {`]`, -1}, {`{"a":}`, -1},
	}
	for _, c := range cases {
		end, ok := validValue([]byte(c.in), 0)
		if !ok {
			end = -1
		}
		if end != c.end {
			t.Errorf("validValue(%q) = %d, %v; want end %d", c.in, end, ok, c.end)
		}
	}
}

// FuzzValidValue: validValue accepts a value only where json.Decoder reads
// the same value, ending at the same byte; and it refuses one json.Decoder
// reads only when it is nested deeper than maxDepth.
func FuzzValidValue(f *testing.F) {
	for _, s := range []string{goodAlert, goodLog, `[1,{"a":"\u00e9"}]`, `123{`, `"\ud800"`, "\"\xff\"", `{"a":1,}`, `01`, strings.Repeat("[", maxDepth+1)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		end, ok := validValue(b, 0)
		dec := json.NewDecoder(bytes.NewReader(b))
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if ok {
			if err != nil {
				t.Fatalf("validValue accepts %q up to %d; json.Decoder: %v", b, end, err)
			}
			if int(dec.InputOffset()) != end || !bytes.Equal(raw, bytes.TrimLeft(b[:end], " \t\r\n")) {
				t.Fatalf("validValue ends %q at %d; json.Decoder read %q, ending at %d", b, end, raw, dec.InputOffset())
			}
			return
		}
		if err == nil && depth(raw) <= maxDepth {
			t.Fatalf("validValue refuses %q, which json.Decoder reads as %q", b, raw)
		}
	})
}

// depth is the deepest nesting of a valid value.
func depth(raw []byte) int {
	dec := json.NewDecoder(bytes.NewReader(raw))
	d, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return deepest
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			d++
			deepest = max(deepest, d)
		case json.Delim('}'), json.Delim(']'):
			d--
		}
	}
}

// TestLargeEventKeepsNoUnknownText: an event over shareLimit does not hold
// its whole text through its strings, so a long unknown value is not kept
// in memory with it; a small one shares one copy.
func TestLargeEventKeepsNoUnknownText(t *testing.T) {
	t.Parallel()
	big := strings.Replace(goodLog, `"Result":"Passed"`, `"Result":"Passed","Padding":"`+strings.Repeat("x", 2*shareLimit)+`"`, 1)
	for _, c := range []struct {
		body   string
		shared bool
	}{{goodLog, true}, {big, false}} {
		ev, problems, _ := decodeOne([]byte(c.body))
		if len(problems) > 0 {
			t.Fatalf("rejected: %v", problems[0])
		}
		// In one shared copy, Source and Resource lie as far apart as in
		// the text; separate copies would not.
		want := strings.Index(c.body, `"Resource":"`) + len(`"Resource":"`) - (strings.Index(c.body, `"Source":"`) + len(`"Source":"`))
		if got := distance(ev.Log.Source, ev.Log.Resource) == want; got != c.shared {
			t.Errorf("event of %d bytes: strings share one copy = %v, want %v", len(c.body), got, c.shared)
		}
		checkFill(t, []byte(c.body))
	}
}

// TestDeepValueStillDecodes: an event nested deeper than validValue walks
// is not lost: json.Decoder reads it, and it is checked as any other.
func TestDeepValueStillDecodes(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", maxDepth+5) + strings.Repeat("]", maxDepth+5)
	body := with(t, goodLog, `"Result":"Passed"`, `"Result":"Passed","Nested":`+deep) + "\n" + goodAlert + "\n"
	if _, ok := validValue([]byte(body), 0); ok {
		t.Fatal("validValue walked the deep value: the test no longer reaches json.Decoder")
	}
	b, err := DecodeBatch(strings.NewReader(body), 1<<20)
	if err != nil || len(b.Events) != 2 || len(b.Rejected) != 0 {
		t.Fatalf("events %d, rejected %v, err %v", len(b.Events), b.Rejected, err)
	}
	if len(b.Unknown) != 1 || b.Unknown[0].Key != "Nested" {
		t.Errorf("unknown keys %v, want Nested", b.Unknown)
	}
}
