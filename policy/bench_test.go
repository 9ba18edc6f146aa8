package policy

import (
	"fmt"
	"testing"
)

// benchPolicies builds n rules spread over n/10 application trees: 40% exact
// paths, 25% directories (half recursive), 10% patterns and 25% fromSource
// rules, with every action, in policies of 10 rules.
func benchPolicies(n int) []KubeArmorPolicy {
	actions := []string{"Block", "Audit", "Allow"}
	var out []KubeArmorPolicy
	for p := 0; p*10 < n; p++ {
		f := &FileSection{}
		for i := 0; i < 10 && p*10+i < n; i++ {
			k := p*10 + i
			act := actions[k%3]
			base := fmt.Sprintf("/srv/app%d", k%(n/10+1))
			switch i {
			case 0, 1, 2, 3:
				f.MatchPaths = append(f.MatchPaths, FilePath{Path: fmt.Sprintf("%s/conf/file%d.yaml", base, k), Meta: Meta{Action: act}})
			case 4, 5:
				f.MatchDirectories = append(f.MatchDirectories, FileDirectory{Dir: fmt.Sprintf("%s/data%d/", base, k), Recursive: i == 4, Meta: Meta{Action: act}})
			case 6:
				f.MatchPatterns = append(f.MatchPatterns, FilePattern{Pattern: fmt.Sprintf("%s/logs/*.%d", base, k), Meta: Meta{Action: act}})
			case 7, 8:
				f.MatchPaths = append(f.MatchPaths, FilePath{Path: fmt.Sprintf("%s/secret%d", base, k),
					FromSource: []FromSource{{Path: fmt.Sprintf("/usr/bin/tool%d", k%7)}}, Meta: Meta{Action: act}})
			case 9:
				f.MatchDirectories = append(f.MatchDirectories, FileDirectory{Dir: fmt.Sprintf("%s/keys/", base), Recursive: true,
					FromSource: []FromSource{{Path: fmt.Sprintf("/usr/bin/tool%d", k%7)}}, Meta: Meta{Action: act}})
			}
		}
		out = append(out, KubeArmorPolicy{APIVersion: APIVersion, Kind: Kind,
			Metadata: ObjectMeta{Name: fmt.Sprintf("bench-%d", p)}, Spec: Spec{Severity: 5, File: f}})
	}
	return out
}

func benchRequests(n int) []Request {
	var reqs []Request
	for k := 0; k < 64; k++ {
		base := fmt.Sprintf("/srv/app%d", k%(n/10+1))
		src := fmt.Sprintf("/usr/bin/tool%d", k%7)
		reqs = append(reqs,
			Request{Op: OpFile, Path: fmt.Sprintf("%s/conf/file%d.yaml", base, k), Source: src},      // exact (or miss)
			Request{Op: OpFile, Path: fmt.Sprintf("%s/data%d/a/b/c.bin", base, k), Source: src},      // dir
			Request{Op: OpFile, Path: fmt.Sprintf("%s/logs/x.%d", base, k), Source: src},             // pattern
			Request{Op: OpFile, Path: fmt.Sprintf("%s/keys/id_rsa", base), Source: src},              // fromSource dir
			Request{Op: OpFile, Path: "/usr/lib/x86_64-linux-gnu/libc.so.6", Source: "/usr/bin/app"}, // miss
		)
	}
	return reqs
}

// BenchmarkDecide measures one decision against sets of 10, 100 and 1000
// rules (target: under 1 µs at 1000 rules, no allocation).
func BenchmarkDecide(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			s := NewStore(Options{FilePosture: PostureBlock})
			if err := s.Apply("bench", benchPolicies(n)); err != nil {
				b.Fatal(err)
			}
			reqs := benchRequests(n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				s.Decide(reqs[i%len(reqs)])
			}
		})
	}
}

// Not parallel: AllocsPerRun refuses to run in parallel tests.
func TestBenchPoliciesAreValidAndDecideDoesNotAllocate(t *testing.T) {
	s := NewStore(Options{FilePosture: PostureBlock})
	ps := benchPolicies(1000)
	if err := s.Apply("bench", ps); err != nil {
		t.Fatal(err)
	}
	reqs := benchRequests(1000)
	allocs := testing.AllocsPerRun(100, func() {
		for _, r := range reqs {
			s.Decide(r)
		}
	})
	if allocs != 0 {
		t.Errorf("Decide allocates: %v per %d decisions", allocs, len(reqs))
	}
}
