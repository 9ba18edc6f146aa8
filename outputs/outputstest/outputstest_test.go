package outputstest_test

import (
	"context"
	"testing"

	pb "github.com/kubearmor/KubeArmor/protobuf"

	"github.com/bluelock/bluelock/outputs"
	"github.com/bluelock/bluelock/outputs/outputstest"
	"github.com/bluelock/bluelock/schema"
)

// poster is the smallest HTTP output: it proves the kit against PostJSON.
type poster struct{ url string }

func (p poster) Name() string { return "poster" }
func (p poster) Send(ctx context.Context, ev schema.Event) error {
	b, _ := ev.MarshalJSON()
	return outputs.PostJSON(ctx, client, p.url, b, nil)
}

var client, _ = outputs.NewHTTPClient(outputs.ClientOptions{})

func TestKit(t *testing.T) {
	ev := schema.NewLog(&pb.Log{Type: schema.TypeContainerLog})
	outputstest.RunStatusTable(t, "/hook/s3cret", ev, func(url string) (outputs.Output, error) { return poster{url}, nil })

	srv := outputstest.NewServer(t)
	if err := (poster{srv.URL + "/x?y=1"}).Send(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	r := srv.Requests()
	if len(r) != 1 || r[0].Method != "POST" || r[0].Path != "/x?y=1" || r[0].Header.Get("Content-Type") != "application/json" || string(r[0].Body) != `{"PPID":0,"UID":0,"Type":"ContainerLog"}` {
		t.Errorf("recorded %+v", r)
	}
}
