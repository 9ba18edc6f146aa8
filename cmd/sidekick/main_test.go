package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	typo := write("typo.yaml", "webhook:\n  address: http://127.0.0.1:1/x\n  adress: x\n")
	good := write("good.yaml", "listenaddress: 127.0.0.1\nlistenport: 0\ngrpc_listenaddress: ''\nstdout:\n  enabled: true\n")
	cases := []struct {
		name     string
		args     []string
		env      map[string]string
		environ  []string
		code     int
		out, err []string
	}{
		{name: "version", args: []string{"-version"}, code: 0, out: []string{"bluelock sidekick dev"}},
		{name: "bad flag", args: []string{"-nope"}, code: 2, err: []string{"flag provided but not defined: -nope"}},
		{name: "missing file", args: []string{"-c", filepath.Join(dir, "none.yaml")}, code: 2, err: []string{"none.yaml: no such file"}},
		{name: "unknown yaml key", args: []string{"-c", typo}, env: map[string]string{"GRPC_LISTENADDRESS": ""}, code: 2,
			err: []string{"invalid configuration", "unknown key webhook.adress (WEBHOOK_ADRESS)"}},
		{name: "bad env values", env: map[string]string{"LISTENPORT": "x", "WEBHOOK_ADDRESS": "ftp://h", "SLACK_WEBHOOKURL": "https://hooks.slack.com/services/a/b/c", "SLACK_MINIMUMSEVERITY": "42"}, code: 2,
			err: []string{`LISTENPORT: want an integer, got "x"`, `WEBHOOK_ADDRESS: want an http:// or https:// URL`, `SLACK_MINIMUMSEVERITY: 42 out of range [0, 10]`}},
		{name: "starts and stops", args: []string{"-c", good}, env: map[string]string{"KUBEARMOR_ENABLED": "false"}, environ: []string{"STDOUT_ENABLD=false"}, code: 0,
			err: []string{`enabled outputs: [stdout]`, `stopped; all queued events delivered`, `"keys":["STDOUT_ENABLD"]`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if tc.name == "starts and stops" {
				// Cancelled from the start: Run binds, then shuts down at once.
				var c context.CancelFunc
				ctx, c = context.WithCancel(ctx)
				c()
			}
			var out, errb bytes.Buffer
			env := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			if code := run(ctx, tc.args, env, tc.environ, &out, &errb); code != tc.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tc.code, errb.String())
			}
			for _, w := range tc.out {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout %q lacks %q", out.String(), w)
				}
			}
			for _, w := range tc.err {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb.String())
				}
			}
		})
	}
}
