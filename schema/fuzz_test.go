package schema

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecode: decoding and validating any body must never panic, every value
// is either accepted or rejected with an indexed error, and accepted events
// re-encode to JSON that decodes to a valid event again.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{goodAlert, goodLog, goodSys, "[" + goodAlert + "," + goodLog + "]", goodAlert + "\n" + goodLog + "\n", `{"PID":"x"}`, `[{}`, `{"Owner":{"Name":1}}`, "\xff", `{"Type":"ContainerLog","Severity":"1"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := DecodeBatch(bytes.NewReader(body), 1<<16)
		if err != nil {
			if !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected whole-body error: %v", err)
			}
			return
		}
		seen := map[int]bool{}
		for _, r := range b.Rejected {
			if r.Error() == "" || len(r.Fields) == 0 {
				t.Fatalf("rejection without a reason: %#v", r)
			}
			seen[r.Index] = true
		}
		if b.Total() == 0 && len(bytes.TrimSpace(body)) > 0 && body[len(body)-len(bytes.TrimLeft(body, " \t\r\n"))] != '[' {
			t.Fatalf("non-empty body %q produced nothing", body)
		}
		for _, ev := range b.Events {
			if err := ev.Validate(); err != nil {
				t.Fatalf("accepted event fails Validate: %v", err)
			}
			out, err := ev.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			again, err := Decode(bytes.NewReader(out), 1<<20)
			if err != nil || len(again) != 1 {
				t.Fatalf("re-decoding %s: %v", out, err)
			}
		}
	})
}
