package discord

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	pb "github.com/kubearmor/KubeArmor/protobuf"

	"github.com/bluelock/bluelock/schema"
)

// FuzzBuildPayload: for any strings in the event, the payload is valid
// UTF-8 JSON within every Discord limit.
func FuzzBuildPayload(f *testing.F) {
	f.Add("ksp", "/etc/shadow", "Alert!", "default", 1)
	f.Add(strings.Repeat("🔥", 300), strings.Repeat("a_b*", 2000), strings.Repeat("é", 5000), "ns", 40)
	f.Add("\xff\xfe", "\x00\n\t", "@everyone", strings.Repeat("x", 70000), 3)
	f.Fuzz(func(t *testing.T, policy, resource, message, ns string, repeat int) {
		repeat = max(1, min(repeat, 50))
		a := &pb.Alert{PolicyName: policy, Resource: strings.Repeat(resource, repeat), Message: message,
			NamespaceName: ns, PodName: ns, ProcessName: resource, Tags: strings.Repeat(policy+",", repeat),
			Labels: message, Type: "MatchedPolicy", Action: "Block", Severity: "9", Source: resource, Data: message}
		b, err := json.Marshal(buildPayload(Config{Username: "bluelock"}, schema.NewAlert(a)))
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.Valid(b) {
			t.Fatal("not UTF-8")
		}
		if bad := validateDiscord(b); len(bad) > 0 {
			t.Fatalf("violations: %v", bad)
		}
	})
}
