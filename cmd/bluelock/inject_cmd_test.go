package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseArgv(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "/app/server", want: []string{"/app/server"}},
		{in: "  nginx -g 'daemon off;' ", want: []string{"nginx", "-g", "daemon off;"}},
		{in: `sh -c "echo 'hi' && sleep 1"`, want: []string{"sh", "-c", "echo 'hi' && sleep 1"}},
		{in: `["/docker-entrypoint.sh","nginx","-g","daemon off;"]`, want: []string{"/docker-entrypoint.sh", "nginx", "-g", "daemon off;"}},
		{in: `a ''`, want: []string{"a", ""}},
		{in: `["x",1]`, wantErr: "not a JSON array of strings"},
		{in: `[]`, wantErr: "empty array"},
		{in: `nginx 'daemon off;`, wantErr: "unterminated ' quote"},
		{in: `   `, wantErr: "empty command"},
	}
	for _, tc := range cases {
		got, err := parseArgv(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseArgv(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseArgv(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestInjectMain(t *testing.T) {
	t.Parallel()
	const pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: n}\nspec:\n  containers:\n  - {name: app, image: app, command: [/app]}\n"
	const bare = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: n}\nspec:\n  containers:\n  - {name: app, image: app}\n"
	file := filepath.Join(t.TempDir(), "pod.yaml")
	if err := os.WriteFile(file, []byte(pod), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		args       []string
		stdin      string
		wantCode   int
		wantOut    []string
		wantStderr []string
	}{
		{name: "stdin", stdin: pod, wantCode: 0, wantOut: []string{"- /kubearmor/bluelock", "name: bluelock-init"}, wantStderr: []string{"note: RBAC"}},
		{name: "file", args: []string{file}, wantCode: 0, wantOut: []string{"- /kubearmor/bluelock"}},
		{name: "dash is stdin", args: []string{"-"}, stdin: pod, wantCode: 0, wantOut: []string{"- /kubearmor/bluelock"}},
		{name: "images", args: []string{"--image", "reg/bl:1", "--sidekick-image", "reg/sk:1", "-"}, stdin: pod, wantOut: []string{"image: reg/bl:1", "image: reg/sk:1"}},
		{name: "entrypoint", args: []string{"--entrypoint", "nginx -g 'daemon off;'"}, stdin: bare, wantOut: []string{"- nginx\n", "- daemon off;"}},
		{name: "no entrypoint", stdin: bare, wantCode: 1, wantStderr: []string{"bluelock inject: -: ", "no command in the manifest"}},
		{name: "bad env", args: []string{"--env", "NOPE"}, stdin: pod, wantCode: 2, wantStderr: []string{"want NAME=value"}},
		{name: "two files", args: []string{file, file}, wantCode: 2, wantStderr: []string{"at most one input file"}},
		{name: "missing file", args: []string{filepath.Join(t.TempDir(), "nope.yaml")}, wantCode: 1, wantStderr: []string{"nope.yaml", "no such file"}},
		{name: "help", args: []string{"-h"}, wantCode: 0, wantStderr: []string{"usage: bluelock inject", "-sidekick-url"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			code := injectMain(tc.args, strings.NewReader(tc.stdin), &out, &errb)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tc.wantCode, errb.String())
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tc.wantStderr {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb.String())
				}
			}
		})
	}
}
