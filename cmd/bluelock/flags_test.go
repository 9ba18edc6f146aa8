package main

import (
	"flag"
	"io"
	"strings"
	"testing"
)

func TestRunFlagsEnvDefaults(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want runFlags
		cmd  []string
	}{
		{name: "defaults", args: []string{"app", "-x"},
			want: runFlags{visibility: "process,file,network", emit: "stdout", logLevel: "info"}, cmd: []string{"app", "-x"}},
		{name: "sidekick-when-url-set", env: map[string]string{"SIDEKICK_URL": "http://127.0.0.1:2801"}, args: []string{"app"},
			want: runFlags{visibility: "process,file,network", emit: "sidekick", logLevel: "info"}, cmd: []string{"app"}},
		{name: "env", env: map[string]string{"BLUELOCK_VISIBILITY": "none", "BLUELOCK_EMIT": "file:/x", "BLUELOCK_POSTURE_FILE": "block",
			"BLUELOCK_POSTURE_NETWORK": "audit", "BLUELOCK_POSTURE_CAPABILITIES": "block", "BLUELOCK_METRICS_ADDR": ":9100", "BLUELOCK_LOG_LEVEL": "debug"},
			args: []string{"app"},
			want: runFlags{visibility: "none", emit: "file:/x", postureFile: "block", postureNet: "audit", postureCaps: "block", metricsAddr: ":9100", logLevel: "debug"},
			cmd:  []string{"app"}},
		{name: "flags-beat-env", env: map[string]string{"BLUELOCK_VISIBILITY": "none"}, args: []string{"--visibility", "file", "--", "policy", "x"},
			want: runFlags{visibility: "file", emit: "stdout", logLevel: "info"}, cmd: []string{"policy", "x"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var f runFlags
			f.register(fs, func(k string) string { return c.env[k] })
			if err := fs.Parse(c.args); err != nil {
				t.Fatal(err)
			}
			// The delivery flags (f.sources) are the policy/source package's.
			got := [...]string{f.visibility, f.emit, f.postureFile, f.postureNet, f.postureCaps, f.metricsAddr, f.logLevel}
			want := [...]string{c.want.visibility, c.want.emit, c.want.postureFile, c.want.postureNet, c.want.postureCaps, c.want.metricsAddr, c.want.logLevel}
			if got != want {
				t.Errorf("got %+v\nwant %+v", f, c.want)
			}
			if got := fs.Args(); len(got) != len(c.cmd) || got[0] != c.cmd[0] {
				t.Errorf("command %q, want %q", got, c.cmd)
			}
			if !f.pinOpens {
				t.Error("pinned opens are off by default")
			}
		})
	}
}

// TestPinOpensFlag: --pin-opens and BLUELOCK_PIN_OPENS, and a value of the
// variable that is not a boolean is an error, not silently "on".
func TestPinOpensFlag(t *testing.T) {
	for _, c := range []struct {
		name, env string
		args      []string
		want      bool
		wantErr   bool
	}{
		{name: "default", args: []string{"app"}, want: true},
		{name: "env-false", env: "false", args: []string{"app"}, want: false},
		{name: "env-0", env: "0", args: []string{"app"}, want: false},
		{name: "flag-false", args: []string{"--pin-opens=false", "app"}, want: false},
		{name: "flag-beats-env", env: "false", args: []string{"--pin-opens", "app"}, want: true},
		{name: "env-bad", env: "off", args: []string{"app"}, want: true, wantErr: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var f runFlags
			f.register(fs, func(k string) string {
				if k == "BLUELOCK_PIN_OPENS" {
					return c.env
				}
				return ""
			})
			if err := fs.Parse(c.args); err != nil {
				t.Fatal(err)
			}
			if f.pinOpens != c.want || (f.envErr != nil) != c.wantErr {
				t.Fatalf("pinOpens %v, envErr %v; want %v, error %v", f.pinOpens, f.envErr, c.want, c.wantErr)
			}
		})
	}
	var stderr strings.Builder
	getenv := func(k string) string {
		if k == "BLUELOCK_PIN_OPENS" {
			return "off"
		}
		return ""
	}
	if code := runMain([]string{"true"}, getenv, &stderr); code != 2 || !strings.Contains(stderr.String(), `BLUELOCK_PIN_OPENS="off"`) {
		t.Fatalf("runMain with BLUELOCK_PIN_OPENS=off: exit %d, stderr %q; want 2 and the variable named", code, stderr.String())
	}
}
