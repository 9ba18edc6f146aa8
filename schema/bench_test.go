package schema

import (
	"strings"
	"testing"
)

// BenchmarkDecode decodes and validates an NDJSON body of 100 alerts.
func BenchmarkDecode(b *testing.B) {
	body := strings.Repeat(goodAlert+"\n", 100)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		evs, err := Decode(strings.NewReader(body), 1<<20)
		if err != nil || len(evs) != 100 {
			b.Fatal(len(evs), err)
		}
	}
}
