package emit

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	pb "github.com/kubearmor/KubeArmor/protobuf"

	"github.com/bluelock/bluelock/schema"
)

// TestEncoderMatchesEncodingJSON: the encoder's lines are byte for byte
// encoding/json's, for alerts and logs with every exported field set or
// left zero at random (reflection, so a field added to the protobuf types
// is set too, and the hand-written path must write it or hand the event
// over). Strings are plain ASCII, or now and then hold a character that
// needs escaping; nested fields and maps appear now and then.
func TestEncoderMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fast := 0
	for i := 0; i < 3000; i++ {
		var ev schema.Event
		var v any
		if i%2 == 0 {
			a := &pb.Alert{}
			fill(rng, reflect.ValueOf(a).Elem())
			ev, v = schema.NewAlert(a), a
			if _, ok := appendAlert(nil, a); ok {
				fast++
			}
		} else {
			l := &pb.Log{}
			fill(rng, reflect.ValueOf(l).Elem())
			ev, v = schema.NewLog(l), l
			if _, ok := appendLog(nil, l); ok {
				fast++
			}
		}
		var got, want bytes.Buffer
		if err := newEncoder(&got).encode(ev); err != nil {
			t.Fatal(err)
		}
		if err := json.NewEncoder(&want).Encode(v); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("event %d:\n got %s\nwant %s", i, got.Bytes(), want.Bytes())
		}
	}
	if fast < 300 {
		t.Errorf("only %d of 3000 events took the hand-written path: not exercised", fast)
	}
	// The tracer's own events take it.
	for _, ev := range []schema.Event{testAlert(1), testLog(2)} {
		var ok bool
		if ev.Alert != nil {
			_, ok = appendAlert(nil, ev.Alert)
		} else {
			_, ok = appendLog(nil, ev.Log)
		}
		if !ok {
			t.Errorf("%s did not take the hand-written path", tag(ev))
		}
	}
}

const plainChars = "abcXYZ019 /_-.,:=|()[]{}!#$%*+;?@^`~'"

// fill sets each exported field of the struct v to a random value or
// leaves it zero.
func fill(rng *rand.Rand, v reflect.Value) {
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if !f.CanSet() || rng.IntN(3) == 0 {
			continue
		}
		switch f.Kind() {
		case reflect.String:
			f.SetString(randString(rng))
		case reflect.Int32, reflect.Int64:
			n := []int64{1, -1, 42, math.MaxInt32, math.MinInt32, 1 << 40, math.MinInt64}[rng.IntN(7)]
			if f.OverflowInt(n) {
				n = 7
			}
			f.SetInt(n)
		case reflect.Slice:
			if f.Type().Elem().Kind() == reflect.String {
				s := make([]string, rng.IntN(3))
				for j := range s {
					s[j] = randString(rng)
				}
				f.Set(reflect.ValueOf(s))
			}
		case reflect.Map:
			if rng.IntN(8) == 0 {
				f.Set(reflect.ValueOf(map[string]string{randString(rng): randString(rng), "Syscall": "SYS_OPENAT"}))
			}
		case reflect.Pointer:
			if f.Type().Elem().Kind() == reflect.Struct && rng.IntN(8) == 0 {
				p := reflect.New(f.Type().Elem())
				fill(rng, p.Elem())
				f.Set(p)
			}
		}
	}
}

func randString(rng *rand.Rand) string {
	b := make([]byte, rng.IntN(12))
	for i := range b {
		b[i] = plainChars[rng.IntN(len(plainChars))]
	}
	if rng.IntN(40) == 0 {
		b = append(b, []string{"\"", "\\", "<", ">", "&", "\n", "\x01", "é", "\u2028", "\xff"}[rng.IntN(10)]...)
	}
	return string(b)
}
