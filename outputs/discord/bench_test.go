package discord

import (
	"math/rand/v2"
	"testing"

	"github.com/bluelock/bluelock/schema"
)

func BenchmarkBuildPayload(b *testing.B) {
	cfg := Config{Username: "bluelock"}
	r := rand.New(rand.NewPCG(5, 6))
	huge := make([]schema.Event, 64)
	for i := range huge {
		huge[i] = randomEvent(r)
	}
	b.Run("typical", func(b *testing.B) {
		ev := schema.Event{}
		if err := ev.UnmarshalJSON([]byte(`{"Type":"MatchedPolicy","PolicyName":"p","Severity":"8","Action":"Block","Resource":"/etc/shadow","ProcessName":"/usr/bin/cat","NamespaceName":"default","PodName":"web","Result":"Permission denied"}`)); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for range b.N {
			_ = buildPayload(cfg, ev)
		}
	})
	b.Run("random-huge", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			_ = buildPayload(cfg, huge[i%len(huge)])
		}
	})
}
