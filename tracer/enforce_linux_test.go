package tracer

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/bluelock/bluelock/policy"
)

// TestFailClosed: a path the tracer cannot read is denied where a rule could
// block the domain, and left to the kernel (EFAULT) where none could.
func TestFailClosed(t *testing.T) {
	for _, c := range []struct {
		name     string
		mayBlock bool
		wantCode int
		wantFC   uint64
	}{
		{"may-block-denies", true, 13, 1},
		{"cannot-block-passes-to-kernel", false, 2, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			requirePtrace(t)
			args, env := helper(t, "open-badptr")
			stats := NewStats()
			res := traceRunStats(t, fakePolicy{mayBlock: c.mayBlock}, stats, env, args...)
			if res.code != c.wantCode {
				t.Errorf("exit %d, want %d", res.code, c.wantCode)
			}
			if got := stats.FailedClosed.Load(); got != c.wantFC {
				t.Errorf("failed-closed count %d, want %d", got, c.wantFC)
			}
			if stats.Unreadable.Load() == 0 {
				t.Error("unreadable argument not counted")
			}
		})
	}
}

// TestOpenat2 checks RESOLVE_IN_ROOT resolution against a real openat2 and
// that unknown resolve bits are refused.
func TestOpenat2(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	os.WriteFile(f, nil, 0o644)
	cases := []struct {
		name, path, resolve string
		rules               []fakeRule
		want                int
	}{
		{"plain-blocked", f, "0", []fakeRule{{op: policy.OpFile, match: f, d: block("p")}}, 13},
		// Relative to the app's cwd (dir): BENEATH resolves under it; IN_ROOT
		// makes "/f" mean dir/f — a tracer checking "/f" would be bypassed.
		{"beneath-blocked", "f", "8", []fakeRule{{op: policy.OpFile, match: f, d: block("p")}}, 13},
		{"in-root-absolute-blocked", "/f", "10", []fakeRule{{op: policy.OpFile, match: f, d: block("p")}}, 13},
		{"in-root-absolute-allowed", "/f", "10", []fakeRule{{op: policy.OpFile, match: "/f", d: block("p")}}, 0},
		// An absolute path under BENEATH is refused by the kernel itself.
		{"beneath-absolute-exdev", f, "8", nil, 2},
		{"unknown-bits-refused", f, "400", nil, 13},
		{"allowed", f, "0", nil, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args, env := helper(t, "openat2", c.path, c.resolve)
			res := traceRunIn(t, dir, fakePolicy{rules: c.rules}, 0, env, args...)
			if res.code != c.want {
				t.Errorf("exit %d, want %d", res.code, c.want)
			}
		})
	}
}

// TestPostExecCheck: the pre-check decides on the path execve names (a
// script), but the kernel loads its interpreter. The post-exec check sees
// the image really loaded, kills the process and alerts.
func TestPostExecCheck(t *testing.T) {
	cat, _ := filepath.EvalSymlinks("/bin/cat")
	dir := t.TempDir()
	script := filepath.Join(dir, "script")
	os.WriteFile(script, []byte("#!"+cat+"\nsecret script body\n"), 0o755)
	args, env := helper(t, "exec", script)
	stats := NewStats()
	res := traceRunStats(t, fakePolicy{rules: []fakeRule{{op: policy.OpProcess, match: cat, d: block("no-cat")}}}, stats, env, args...)
	if res.code != 128+int(syscall.SIGKILL) || res.stdout != "" {
		t.Errorf("exit %d stdout %q; want killed before running", res.code, res.stdout)
	}
	if stats.PostExecKills.Load() != 1 {
		t.Errorf("post-exec kills %d, want 1", stats.PostExecKills.Load())
	}
	got := find(res.events, "Process", cat)
	if len(got) != 1 || got[0].Alert == nil || got[0].Alert.Action != "Block" || got[0].Alert.Result != "Permission denied" || got[0].Alert.PolicyName != "no-cat" {
		t.Errorf("want one block alert for %s:\n%s", cat, dump(res.events))
	}
}

// ownerPolicy blocks a file unless its owner is the caller (ownerOnly).
type ownerPolicy struct{ path string }

func (o ownerPolicy) Decide(r policy.Request) policy.Decision {
	if r.Op == policy.OpFile && r.Path == o.path && r.Owner != nil {
		if uid, ok := r.Owner(r.Path); ok && uid != r.UID {
			return block("owner-only")
		}
	}
	return policy.Decision{Verdict: policy.Allow, Action: "Allow"}
}
func (ownerPolicy) MayBlock(policy.Operation) bool { return true }

func TestOwnerLookup(t *testing.T) {
	dir := t.TempDir()
	mine := filepath.Join(dir, "mine")
	theirs := filepath.Join(dir, "theirs")
	os.WriteFile(mine, nil, 0o644)
	os.WriteFile(theirs, nil, 0o644)
	if err := os.Chown(theirs, 4242, 4242); err != nil {
		t.Skipf("chown: %v", err)
	}
	for _, c := range []struct {
		path string
		want int
	}{{mine, 0}, {theirs, 13}} {
		args, env := helper(t, "open", c.path)
		res := traceRun(t, ownerPolicy{path: c.path}, 0, env, args...)
		if res.code != c.want {
			t.Errorf("open %s: exit %d, want %d", c.path, res.code, c.want)
		}
	}
}

// TestStringAtPageEnd: a path whose NUL is the last byte before an unmapped
// page is read (so decided), not failed closed as unreadable.
func TestStringAtPageEnd(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	os.WriteFile(f, nil, 0o644)
	for _, c := range []struct {
		name  string
		rules []fakeRule
		want  int
	}{
		{"read-and-allowed", nil, 0},
		{"read-and-blocked", []fakeRule{{op: policy.OpFile, match: f, d: block("p")}}, 13},
	} {
		t.Run(c.name, func(t *testing.T) {
			args, env := helper(t, "open-page-end", f)
			stats := NewStats()
			res := traceRunStats(t, fakePolicy{rules: c.rules, mayBlock: true}, stats, env, args...)
			if res.code != c.want || stats.Unreadable.Load() != 0 {
				t.Errorf("exit %d (want %d), unreadable %d (want 0)", res.code, c.want, stats.Unreadable.Load())
			}
		})
	}
}

// TestChrootResolvesInNewRoot: while no tracee has chrooted, paths are
// looked up in the tracer's own root (rootsShared); after a chroot they must
// be looked up in the tracee's new root. Inside the jail "/innocent" is a
// symlink to "/secret", which a rule blocks: looked up in the tracer's root
// "/innocent" does not exist and would be allowed. "/plain" must still
// open: lookups in the new root must work, not fail closed.
func TestChrootResolvesInNewRoot(t *testing.T) {
	requirePtrace(t)
	jail := t.TempDir()
	if err := os.WriteFile(filepath.Join(jail, "secret"), []byte("s"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/secret", filepath.Join(jail, "innocent")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(jail, "plain"), []byte("p"), 0o644); err != nil {
		t.Fatal(err)
	}
	pol := fakePolicy{mayBlock: true, rules: []fakeRule{{op: policy.OpFile, match: "/secret", d: block("jail")}}}
	for _, c := range []struct {
		name, path string
		want       int
	}{
		{"symlink-to-blocked", "/innocent", 13},
		{"unrelated-file-opens", "/plain", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			args, env := helper(t, "chroot-open", jail, c.path)
			if res := traceRun(t, pol, 0, env, args...); res.code != c.want {
				t.Fatalf("exit %d, want %d (events %s)", res.code, c.want, dump(res.events))
			}
		})
	}
}
