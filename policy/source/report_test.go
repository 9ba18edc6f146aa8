package source

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/bluelock/bluelock/policy"
)

// TestReportingStoreWarnsAboutUnselected: a delivered policy that does not
// select this container is not enforced, and the log says so.
func TestReportingStoreWarnsAboutUnselected(t *testing.T) {
	var buf bytes.Buffer
	store := policy.NewStore(policy.Options{Namespace: "container_namespace", ContainerName: "app"})
	rs := reportingStore{Store: store, logger: slog.New(slog.NewTextHandler(&buf, nil))}
	ps, err := policy.Parse([]byte(`apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: other-ns, namespace: default}
spec:
  selector: {matchLabels: {}}
  file: {matchPaths: [{path: /etc/shadow}]}
  action: Block
---
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: mine}
spec:
  selector: {matchLabels: {}}
  file: {matchPaths: [{path: /etc/gshadow}]}
  action: Block
`), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Apply("file", ps); err != nil {
		t.Fatal(err)
	}
	if got := store.Names(); len(got) != 1 || got[0] != "mine" {
		t.Fatalf("in force: %v, want [mine]", got)
	}
	if !strings.Contains(buf.String(), "do not select this container") || !strings.Contains(buf.String(), "other-ns") {
		t.Fatalf("no warning naming the unselected policy:\n%s", buf.String())
	}
	if strings.Contains(buf.String(), "policies=[mine") {
		t.Fatalf("the selected policy must not be reported:\n%s", buf.String())
	}
}
