package docs

import (
	"testing"
)

func TestSplit(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		in      string
		want    []string // names
		idx     []int
		wantErr bool
	}{
		{name: "single yaml", in: "kind: KubeArmorPolicy\nmetadata:\n  name: a\n", want: []string{"a"}, idx: []int{1}},
		{name: "multi with empty and comment docs", in: "---\nmetadata: {name: a}\n---\n# only a comment\n---\nmetadata:\n  name: b\n---\n", want: []string{"a", "b"}, idx: []int{2, 4}},
		{name: "json object", in: `{"metadata":{"name":"j"}}`, want: []string{"j"}, idx: []int{1}},
		{name: "json array", in: `[{"metadata":{"name":"x"}},{"metadata":{"name":"y"}}]`, want: []string{"x", "y"}, idx: []int{1, 1}},
		{name: "list", in: "kind: List\nitems:\n- metadata: {name: p}\n- metadata: {name: q}\n", want: []string{"p", "q"}, idx: []int{1, 1}},
		{name: "document separator inside a value is not a split", in: "metadata:\n  name: a\nspec:\n  message: \"---\"\n", want: []string{"a"}, idx: []int{1}},
		{name: "bad yaml", in: "metadata: [\n", wantErr: true},
		{name: "empty", in: "", want: nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Split([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d docs %+v, want %v", len(got), got, tc.want)
			}
			for i := range got {
				if got[i].Name != tc.want[i] || got[i].Index != tc.idx[i] {
					t.Errorf("doc %d = {%d %q}, want {%d %q}", i, got[i].Index, got[i].Name, tc.idx[i], tc.want[i])
				}
			}
		})
	}
}
