package schema

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	pb "github.com/kubearmor/KubeArmor/protobuf"
)

// TestAppendJSONMatchesEncodingJSON: AppendJSON is byte for byte
// json.Marshal of the protobuf struct, for alerts and logs with every
// exported field set or left zero at random (reflection, so a field added
// to the protobuf types is set too, and the hand-written path must write it
// or hand the event over). Strings are plain ASCII, or now and then hold a
// character that needs escaping; nested messages and maps appear now and
// then, empty ones included.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	fast := 0
	for i := 0; i < 5000; i++ {
		var ev Event
		var v any
		var ok bool
		if i%2 == 0 {
			a := &pb.Alert{}
			randomize(rng, reflect.ValueOf(a).Elem())
			ev, v = NewAlert(a), a
			_, ok = appendAlert(nil, a)
		} else {
			l := &pb.Log{}
			randomize(rng, reflect.ValueOf(l).Elem())
			ev, v = NewLog(l), l
			_, ok = appendLog(nil, l)
		}
		if ok {
			fast++
		}
		prefix := []byte("prefix:")
		got, err := ev.AppendJSON(prefix)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, append([]byte("prefix:"), want...)) {
			t.Fatalf("event %d (hand-written path %v):\n got %s\nwant prefix:%s", i, ok, got, want)
		}
	}
	if fast < 500 {
		t.Errorf("only %d of 5000 events took the hand-written path: not exercised", fast)
	}
	if _, err := (Event{}).AppendJSON(nil); err == nil {
		t.Error("empty event encoded")
	}
}

// TestAppendJSONPlainEventsTakeTheFastPath: the tracer's kind of event, and
// one with every nested field, are written by hand.
func TestAppendJSONPlainEventsTakeTheFastPath(t *testing.T) {
	t.Parallel()
	for _, c := range []string{goodAlert, goodLog, goodSys} {
		evs, err := Decode(strings.NewReader(c), 1<<20)
		if err != nil || len(evs) != 1 {
			t.Fatalf("decode: %v", err)
		}
		var ok bool
		if evs[0].Alert != nil {
			_, ok = appendAlert(nil, evs[0].Alert)
		} else {
			_, ok = appendLog(nil, evs[0].Log)
		}
		if !ok {
			t.Errorf("%s did not take the hand-written path", c)
		}
	}
}

const plainChars = "abcXYZ019 /_-.,:=|()[]{}!#$%*+;?@^`~'"

// randomize sets each exported field of the struct v to a random value or
// leaves it zero.
func randomize(rng *rand.Rand, v reflect.Value) {
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
			switch rng.IntN(8) {
			case 0:
				f.Set(reflect.ValueOf(map[string]string{randString(rng): randString(rng), "Syscall": "SYS_OPENAT", randString(rng): ""}))
			case 1:
				f.Set(reflect.ValueOf(map[string]string{}))
			}
		case reflect.Pointer:
			if f.Type().Elem().Kind() == reflect.Struct && rng.IntN(4) == 0 {
				p := reflect.New(f.Type().Elem())
				randomize(rng, p.Elem()) // sometimes all empty: {}
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
