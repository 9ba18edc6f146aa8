package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicyValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	const policy = "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata:\n  name: %s\nspec:\n  file:\n    matchPaths:\n      - path: %s\n"
	if err := os.WriteFile(good, []byte(strings.Join([]string{
		sprintf(policy, "a", "/a"), sprintf(policy, "b", "/b")}, "---\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(sprintf(policy, "c", "c/")), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name           string
		args           []string
		stdin          string
		code           int
		stdout, stderr string
	}{
		{"ok", []string{"validate", good}, "", 0, good + ": ok (2 policies: a, b)\n", ""},
		{"error", []string{"validate", good, bad}, "", 1, good + ": ok (2 policies: a, b)\n",
			bad + `: document 1 (line 1): policy "c": spec.file.matchPaths[0].path: invalid path "c/": must be absolute and not end in "/"` + "\n"},
		{"stdin", []string{"validate", "-"}, sprintf(policy, "s", "/s"), 0, "<stdin>: ok (1 policies: s)\n", ""},
		{"missing file", []string{"validate", filepath.Join(dir, "nope.yaml")}, "", 1, "",
			filepath.Join(dir, "nope.yaml") + ": open " + filepath.Join(dir, "nope.yaml") + ": no such file or directory\n"},
		{"no args", []string{"validate"}, "", 2, "", "usage: bluelock policy validate FILE...|-\n"},
		{"decide block", []string{"decide", "--policy", good, "file", "/a", "/bin/cat"}, "", 0,
			`{"Verdict":"Block","Action":"Block","PolicyName":"a","Alert":true,"Silent":false,"Policies":["a","b"]}` + "\n", ""},
		{"decide pass", []string{"decide", "--policy", good, "file", "/c"}, "", 0,
			`{"Verdict":"Allow","Action":"Allow","Alert":false,"Silent":false,"Policies":["a","b"]}` + "\n", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			code := runPolicy(tc.args, strings.NewReader(tc.stdin), &out, &errb)
			if code != tc.code || out.String() != tc.stdout || errb.String() != tc.stderr {
				t.Errorf("code %d stdout %q stderr %q\nwant %d %q %q", code, out.String(), errb.String(), tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }
