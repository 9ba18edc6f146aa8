package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	pb "github.com/kubearmor/KubeArmor/protobuf"
)

// Filling the protobuf struct from the scan, instead of handing the event to
// json.Unmarshal: by the time decodeOne fills, every key's JSON type has been
// checked, so what is left is unquoting strings and parsing integers.
// encoding/json would scan the event twice more (once to validate it, once
// to decode it) and match each key by reflection: a third of the
// sidekick's CPU per event. The result is the struct json.Unmarshal would
// have made, field for field (TestFillMatchesUnmarshal, FuzzFill).

// slot is where a key lives in pb.Alert and pb.Log: struct field indexes,
// -1 where the struct has no such field.
type slot struct{ alert, log int }

// withSlots records each key's field index in both structs, and panics at
// start-up if a key names no field (a typo in the table is a bug, not input).
func withSlots(specs map[string]fieldSpec) map[string]fieldSpec {
	alert, log := jsonFields(reflect.TypeFor[pb.Alert]()), jsonFields(reflect.TypeFor[pb.Log]())
	for k, s := range specs {
		a, inAlert := alert[k]
		l, inLog := log[k]
		if !inAlert || inLog == s.alertOnly {
			panic(fmt.Sprintf("schema: key %s: in pb.Alert %v, in pb.Log %v, alertOnly %v", k, inAlert, inLog, s.alertOnly))
		}
		s.name, s.slot = k, slot{alert: a, log: -1}
		if inLog {
			s.slot.log = l
		}
		specs[k] = s
	}
	return specs
}

// nestedFields are the string fields of Owner and ExecEvent, by JSON name.
var nestedFields = map[kind]map[string]int{
	kOwner:     jsonFields(reflect.TypeFor[pb.Podowner]()),
	kExecEvent: jsonFields(reflect.TypeFor[pb.ExecEvent]()),
}

// jsonFields maps each exported field's JSON name to its index.
func jsonFields(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		out[name] = i
	}
	return out
}

// target is the struct being filled: *pb.Alert or *pb.Log, as a settable
// reflect.Value, and which index of a slot applies to it.
type target struct {
	v     reflect.Value
	alert bool
}

func newTarget(alert bool) (target, Event) {
	if alert {
		a := new(pb.Alert)
		return target{v: reflect.ValueOf(a).Elem(), alert: true}, NewAlert(a)
	}
	l := new(pb.Log)
	return target{v: reflect.ValueOf(l).Elem()}, NewLog(l)
}

// set stores the value v of key k (its kind already checked) into the
// struct. Repeated keys behave as in encoding/json: the last one wins,
// except EventData, whose members merge, and a repeated Owner or ExecEvent,
// whose struct is reused.
func (t target) set(src source, k string, spec fieldSpec, v []byte) *FieldError {
	idx := spec.slot.log
	if t.alert {
		idx = spec.slot.alert
	}
	if idx < 0 {
		return nil // an alert-only key on a log is rejected before this
	}
	f := t.v.Field(idx)
	switch spec.kind {
	case kString:
		f.SetString(src.str(v))
	case kInt32, kInt64:
		n, err := strconv.ParseInt(string(v), 10, f.Type().Bits())
		if err != nil { // checkKind parsed it already
			return &FieldError{Field: k, Msg: err.Error()}
		}
		f.SetInt(n)
	case kStringList:
		list := make([]string, 0, 4)
		scanArray(v, func(_ int, it []byte) { list = append(list, src.str(it)) })
		f.Set(reflect.ValueOf(list))
	case kStringMap:
		if f.IsNil() {
			f.Set(reflect.MakeMap(f.Type()))
		}
		m := f.Interface().(map[string]string)
		scanObject(v, func(rawKey, val []byte) bool {
			m[src.key(rawKey)] = src.str(val)
			return true
		})
	case kOwner, kExecEvent:
		if f.IsNil() {
			f.Set(reflect.New(f.Type().Elem()))
		}
		sub, fields := f.Elem(), nestedFields[spec.kind]
		scanObject(v, func(rawKey, val []byte) bool {
			// Unknown keys are ignored, as encoding/json does; the ones
			// that differ only in case, which it would have taken, were
			// rejected by checkKind.
			if i, ok := fields[src.key(rawKey)]; ok {
				sub.Field(i).SetString(src.str(val))
			}
			return true
		})
	}
	return nil
}

// source is one event's JSON and one string copy of it: each plain key and
// string value of the event is a substring of that copy, so filling the
// struct costs one allocation rather than one per field. The copy lives as
// long as the event: for an event of up to shareLimit bytes that is its
// own text, little more than the strings it holds. A larger one (an
// unknown key's long value would otherwise stay in memory with it, in
// every output's queue) gets a copy of each string instead.
type source struct {
	raw  []byte
	text string
	// plain: no escape anywhere and valid UTF-8 throughout (what the
	// tracer sends), so every string is its own bytes.
	plain bool
}

// shareLimit is the largest event whose strings share one copy (the
// tracer's are under 1 KiB).
const shareLimit = 16 << 10

func newSource(raw []byte) source {
	s := source{raw: raw, plain: bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw)}
	if len(raw) <= shareLimit {
		s.text = string(raw)
	}
	return s
}

// sub returns v, a slice of raw, as a substring of the copy.
func (s source) sub(v []byte) string {
	if len(v) == 0 {
		return ""
	}
	// v = raw[off:...] leaves cap(v) = cap(raw)-off; the pointer check makes
	// sure v really is that slice of raw.
	off := cap(s.raw) - cap(v)
	if s.text == "" || off < 0 || off+len(v) > len(s.raw) || &s.raw[off] != &v[0] {
		return string(v)
	}
	return s.text[off : off+len(v)]
}

// str decodes a JSON string that the scanner found valid. A string with no
// escape and valid UTF-8 is its own bytes; anything else goes through
// encoding/json, for its exact handling of escapes, surrogates and invalid
// UTF-8 (replaced by U+FFFD).
func (s source) str(v []byte) string {
	body := v[1 : len(v)-1]
	if s.plain || bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		return s.sub(body)
	}
	var out string
	_ = json.Unmarshal(v, &out)
	return out
}

// key decodes a raw key (quotes included).
func (s source) key(rawKey []byte) string { return s.str(rawKey) }

// field looks a raw key up in fieldSpecs. A plain known key costs no
// allocation: its name is the table's own string.
func (s source) field(rawKey []byte) (string, fieldSpec, bool) {
	body := rawKey[1 : len(rawKey)-1]
	if bytes.IndexByte(body, '\\') < 0 {
		if spec, ok := fieldSpecs[string(body)]; ok {
			return spec.name, spec, true
		}
	}
	k := s.key(rawKey)
	spec, ok := fieldSpecs[k]
	return k, spec, ok
}
