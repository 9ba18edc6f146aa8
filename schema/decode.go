package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ErrTooLarge is wrapped by the error Decode returns for a body over its limit.
var ErrTooLarge = errors.New("body too large")

// ErrEmpty is returned for a body with no JSON value at all.
var ErrEmpty = errors.New("empty body: want a JSON object, a JSON array of objects, or NDJSON")

// FieldError is one problem with one field of one event.
type FieldError struct {
	Field string // the JSON key, "Owner.Name" for nested keys; "" for the event as a whole
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return fmt.Sprintf("field %q: %s", e.Field, e.Msg)
}

// EventError is everything wrong with the event at Index (0-based, in input
// order) of a decoded body.
type EventError struct {
	Index  int
	Fields []*FieldError
}

func (e *EventError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "event %d: ", e.Index)
	for i, f := range e.Fields {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Error())
	}
	return b.String()
}

// Errors lists the rejected events of one body, in input order.
type Errors []*EventError

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap lets errors.As find each *EventError.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// UnknownKey is a key Decode accepted but does not know: a field KubeArmor
// added after this code, an alert-only key on a log, or a nested key.
type UnknownKey struct {
	Index int
	Key   string
}

// Batch is the outcome of decoding one body: every value in it is either in
// Events (valid, in input order) or in Rejected.
type Batch struct {
	Events   []Event
	Rejected Errors
	Unknown  []UnknownKey
}

// Total is the number of values found in the body.
func (b *Batch) Total() int { return len(b.Events) + len(b.Rejected) }

// Decode reads one JSON event, a JSON array of events, or NDJSON (one event
// per line) from r, reading at most limit bytes, and validates every event.
// It returns the valid events; if any event was rejected the error is an
// Errors listing each one with its index, and the valid events are still
// returned. A body over limit gives an error wrapping ErrTooLarge and no
// events. Unknown keys are accepted (see DecodeBatch to see them).
func Decode(r io.Reader, limit int64) ([]Event, error) {
	b, err := DecodeBatch(r, limit)
	if err != nil {
		return nil, err
	}
	if len(b.Rejected) > 0 {
		return b.Events, b.Rejected
	}
	return b.Events, nil
}

// DecodeBatch is Decode with the full outcome: valid events, rejected events
// and unknown keys. Its error is only for the body as a whole: read failure,
// too large, or empty.
func DecodeBatch(r io.Reader, limit int64) (*Batch, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("decode: limit must be positive, got %d", limit)
	}
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, limit)
	}
	return decodeBytes(body)
}

func decodeBytes(body []byte) (*Batch, error) {
	start := skipSpace(body, 0)
	if start == len(body) {
		return nil, ErrEmpty
	}
	b := &Batch{}
	if body[start] == '[' {
		decodeArray(b, body, start)
	} else {
		decodeStream(b, body, start)
	}
	return b, nil
}

// decodeArray reads a JSON array of events. A syntax error inside the array
// makes the rest unreadable: it is reported once, at the index it happened.
func decodeArray(b *Batch, body []byte, start int) {
	dec := json.NewDecoder(bytes.NewReader(body[start:]))
	if _, err := dec.Token(); err != nil { // the '['
		b.reject(0, "", "invalid JSON: "+err.Error())
		return
	}
	i := 0
	for dec.More() {
		valueStart := skipSpace(body, start+int(dec.InputOffset()))
		if valueStart < len(body) && body[valueStart] == ',' {
			valueStart = skipSpace(body, valueStart+1)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			b.reject(i, "", fmt.Sprintf("invalid JSON in the value at byte %d: %v (the rest of the array is unreadable)", valueStart, syntaxMsg(err)))
			return
		}
		b.add(i, raw)
		i++
	}
	if _, err := dec.Token(); err != nil { // the ']'
		b.reject(i, "", fmt.Sprintf("invalid JSON at byte %d: %v", skipSpace(body, start+int(dec.InputOffset())), syntaxMsg(err)))
		return
	}
	if end := start + int(dec.InputOffset()); skipSpace(body, end) != len(body) {
		b.reject(i, "", fmt.Sprintf("unexpected data after the JSON array at byte %d", skipSpace(body, end)))
	}
}

// decodeStream reads one or more concatenated JSON values (one object, or
// NDJSON). After a syntax error it resumes at the next line, so one broken
// line costs one event, not the rest of the body.
//
// Each value is found and checked by validValue, one byte loop, where
// json.Decoder ran encoding/json's scanner twice (to read the value, then
// to copy it out): under callgrind about a third of the instructions. A
// value validValue does not accept is read again by a json.Decoder, which
// says where and why (or reads it: validValue is stricter only about depth,
// TestDeepValueStillDecodes).
func decodeStream(b *Batch, body []byte, pos int) {
	for i := 0; ; i++ {
		pos = skipSpace(body, pos)
		if pos >= len(body) {
			return
		}
		if end, ok := validValue(body, pos); ok {
			b.add(i, body[pos:end])
			pos = end
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(body[pos:]))
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			b.reject(i, "", fmt.Sprintf("invalid JSON in the value at byte %d: %v", pos, syntaxMsg(err)))
			nl := bytes.IndexByte(body[pos:], '\n')
			if nl < 0 {
				return
			}
			pos += nl + 1
			continue
		}
		b.add(i, raw)
		pos += int(dec.InputOffset())
	}
}

func syntaxMsg(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "unexpected end of input"
	}
	return err.Error()
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

func (b *Batch) reject(i int, field, msg string) {
	b.Rejected = append(b.Rejected, &EventError{Index: i, Fields: []*FieldError{{Field: field, Msg: msg}}})
}

// add checks one raw value and appends it to Events or Rejected.
func (b *Batch) add(i int, raw json.RawMessage) {
	ev, problems, unknown := decodeOne(raw)
	for _, k := range unknown {
		b.Unknown = append(b.Unknown, UnknownKey{Index: i, Key: k})
	}
	if len(problems) > 0 {
		b.Rejected = append(b.Rejected, &EventError{Index: i, Fields: problems})
		return
	}
	b.Events = append(b.Events, ev)
}

// decodeOne checks the JSON types of one event against fieldSpecs, fills the
// protobuf struct and runs Validate. Keys are checked in document order, and
// every occurrence of a repeated key is checked.
func decodeOne(raw json.RawMessage) (Event, []*FieldError, []string) {
	if k := jsonKind(raw); k != "object" {
		return Event{}, []*FieldError{{Msg: "want a JSON object, got " + k}}, nil
	}
	// One scan collects the members; Type, wherever it is, decides how
	// the others are checked.
	src := newSource(raw)
	var typ string
	var buf [48]member
	members := buf[:0]
	scanObject(raw, func(rawKey, v []byte) bool {
		k, spec, ok := src.field(rawKey)
		if k == "Type" && jsonKind(v) == "string" {
			typ = src.str(v)
		}
		members = append(members, member{key: k, spec: spec, known: ok, val: v})
		return true
	})
	alert := IsAlertType(typ)
	isLog := contains(logTypes[:], typ)
	dst, ev := newTarget(alert)
	var problems []*FieldError
	var unknown []string
	for _, m := range members {
		k, spec := m.key, m.spec
		if !m.known {
			if name, bad := caseFoldMatch(k, topLevelKeys); bad {
				problems = append(problems, &FieldError{Field: k, Msg: fmt.Sprintf("unknown key differs only in case from %q (keys are case-sensitive)", name)})
				continue
			}
			unknown = append(unknown, k)
			continue
		}
		if spec.alertOnly && isLog {
			// pb.Log has no such field: it would be dropped without a trace.
			problems = append(problems, &FieldError{Field: k, Msg: fmt.Sprintf("only alerts have this key, and Type %s is a log", typ)})
			continue
		}
		if p := checkKind(src, k, spec, m.val, &unknown); len(p) > 0 {
			problems = append(problems, p...)
			continue
		}
		if p := dst.set(src, k, spec, m.val); p != nil {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		return Event{}, problems, unknown
	}
	if fe := ev.validate(); len(fe) > 0 {
		return Event{}, fe, unknown
	}
	return ev, nil, unknown
}

// member is one key of an event and its raw value.
type member struct {
	key   string
	spec  fieldSpec
	known bool // key is in fieldSpecs
	val   []byte
}

func checkKind(src source, k string, spec fieldSpec, v []byte, unknown *[]string) []*FieldError {
	got := jsonKind(v)
	switch spec.kind {
	case kString:
		if got != "string" {
			return wrongKind(k, spec.kind, got)
		}
		if spec.nonEmpty && string(v) == `""` {
			return []*FieldError{{Field: k, Msg: "must not be empty (omit the key instead)"}}
		}
	case kInt32, kInt64:
		if got != "number" {
			return wrongKind(k, spec.kind, got)
		}
		bits := 32
		if spec.kind == kInt64 {
			bits = 64
		}
		n, err := strconv.ParseInt(string(v), 10, bits)
		if err != nil {
			var ne *strconv.NumError
			if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
				return []*FieldError{{Field: k, Msg: fmt.Sprintf("integer %s out of range for int%d", v, bits)}}
			}
			return []*FieldError{{Field: k, Msg: fmt.Sprintf("want integer, got number %s", v)}}
		}
		if k == "Timestamp" && n <= 0 {
			return []*FieldError{{Field: k, Msg: fmt.Sprintf("want a positive unix time in seconds, got %d", n)}}
		}
	case kStringList:
		if got != "array" {
			return wrongKind(k, spec.kind, got)
		}
		var out []*FieldError
		scanArray(v, func(i int, it []byte) {
			if g := jsonKind(it); g != "string" && out == nil {
				out = []*FieldError{{Field: fmt.Sprintf("%s[%d]", k, i), Msg: "want string, got " + g}}
			}
		})
		return out
	case kStringMap, kOwner, kExecEvent:
		if got != "object" {
			return wrongKind(k, spec.kind, got)
		}
		var known []string
		switch spec.kind {
		case kOwner:
			known = ownerKeys[:]
		case kExecEvent:
			known = execEventKeys[:]
		}
		var out []*FieldError
		scanObject(v, func(rawKey, val []byte) bool {
			sub := src.key(rawKey)
			name := func() string { return k + "." + sub }
			if known != nil && !contains(known, sub) {
				if match, bad := caseFoldMatch(sub, func(yield func(string) bool) {
					for _, s := range known {
						if !yield(s) {
							return
						}
					}
				}); bad {
					out = append(out, &FieldError{Field: name(), Msg: fmt.Sprintf("unknown key differs only in case from %q (keys are case-sensitive)", match)})
					return true
				}
				*unknown = append(*unknown, name())
				return true
			}
			if g := jsonKind(val); g != "string" {
				out = append(out, &FieldError{Field: name(), Msg: "want string, got " + g})
			}
			return true
		})
		return out
	}
	return nil
}

func wrongKind(k string, want kind, got string) []*FieldError {
	return []*FieldError{{Field: k, Msg: fmt.Sprintf("want %s, got %s", want, got)}}
}

// jsonKind names the JSON type of a syntactically valid value.
func jsonKind(v []byte) string {
	i := skipSpace(v, 0)
	if i >= len(v) {
		return "nothing"
	}
	switch v[i] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}
