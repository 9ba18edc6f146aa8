package tracer

import (
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/bluelock/bluelock/policy"
	"github.com/bluelock/bluelock/tracer/procfs"
)

// loaderFacets are the process facets of a loader exec's program argument
// (argv[0] is the loader), one per file the loader could run.
func loaderFacets(r argReader, argv []string, source string, uid int, data string) []Facet {
	prog, libPath, ok := loaderProgram(argv)
	if !ok {
		return nil
	}
	var out []Facet
	cands := loaderCandidates(prog, libPath)
	for i, cand := range cands {
		abs, err := r.Resolve(procfs.AtFdCwd, cand, 0)
		if err != nil && abs == "" {
			continue
		}
		if i > 0 {
			// A search candidate that is not there cannot be run.
			if owner := r.Owner(); owner == nil {
				continue
			} else if _, exists := owner(abs); !exists {
				continue
			}
		}
		out = append(out, Facet{
			Req:       policy.Request{Op: policy.OpProcess, Path: abs, Source: source, UID: uid, Owner: r.Owner()},
			Operation: opName(policy.OpProcess), Resource: abs, Data: data + " loader=" + argv[0],
		})
	}
	return out
}

// loaderPostCheck judges the program a loader image will run, from
// /proc/<pid>/cmdline: at PTRACE_EVENT_EXEC that is the argv the kernel
// copied into the new image, which has not run yet, so no thread of the app
// can change it any more. ok is false when there is no program to judge.
func (t *tracer) loaderPostCheck(th *thread, caller string) (policy.Request, policy.Decision, bool) {
	p := th.proc
	b, err := os.ReadFile(t.cfg.Proc + "/" + strconv.Itoa(p.pid) + "/cmdline")
	if err != nil {
		return policy.Request{}, policy.Decision{}, false
	}
	var argv []string
	for a := range bytes.SplitSeq(bytes.TrimSuffix(b, []byte{0}), []byte{0}) {
		argv = append(argv, string(a))
	}
	prog, libPath, ok := loaderProgram(argv)
	if !ok {
		return policy.Request{}, policy.Decision{}, false
	}
	task := t.task(th)
	var best policy.Decision
	var bestReq policy.Request
	found := false
	root := t.rootOf(th.tid)
	for i, cand := range loaderCandidates(prog, libPath) {
		abs, err := t.proc.Resolve(task, procfs.AtFdCwd, cand, 0)
		if err != nil && abs == "" {
			continue
		}
		var st unix.Stat_t
		if i > 0 && unix.Stat(root+abs, &st) != nil {
			continue // a search candidate that is not there cannot be run
		}
		req := policy.Request{Op: policy.OpProcess, Path: abs, Source: caller, UID: p.uid,
			Owner: (&memReader{t: t, th: th}).Owner()}
		d := t.cfg.Policy.Decide(req)
		if !found || stricter(d, best) {
			best, bestReq, found = d, req, true
		}
	}
	return bestReq, best, found
}
