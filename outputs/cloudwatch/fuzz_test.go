package cloudwatch

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzFitMessage: any message fits MaxEventBytes after fitMessage, stays
// valid UTF-8 when it was, keeps its start, and says when it was cut.
func FuzzFitMessage(f *testing.F) {
	f.Add("short", 1)
	f.Add("漢", 100_000)
	f.Add("a🔥", 70_000)
	f.Add("ab", 131_059)
	f.Fuzz(func(t *testing.T, unit string, repeat int) {
		if unit == "" {
			return
		}
		repeat = max(1, min(repeat, 300_000/len(unit)+2))
		msg := strings.Repeat(unit, repeat)
		got, cut := fitMessage(msg)
		if len(got)+EventOverhead > MaxEventBytes {
			t.Fatalf("%d bytes", len(got))
		}
		if cut != (len(msg)+EventOverhead > MaxEventBytes) {
			t.Fatalf("cut=%v for %d bytes", cut, len(msg))
		}
		if !cut && got != msg {
			t.Fatal("changed a message that fit")
		}
		if cut {
			if !strings.Contains(got, "[truncated by bluelock:") {
				t.Fatal("no marker")
			}
			i := strings.LastIndex(got, "…[truncated by bluelock:")
			if !strings.HasPrefix(msg, got[:i]) {
				t.Fatal("kept part is not a prefix")
			}
		}
		if utf8.ValidString(msg) && !utf8.ValidString(got) {
			t.Fatal("made valid UTF-8 invalid")
		}
	})
}
