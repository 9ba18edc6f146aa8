package main

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/bluelock/bluelock/tracer"
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
			f, err := parseWithEnv("BLUELOCK_PIN_OPENS", c.env, c.args)
			if err != nil {
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

// TestSpinFlag: --spin and BLUELOCK_SPIN take a duration up to
// tracer.MaxSpin; 0 turns polling off (tracer.Config.Spin < 0); anything
// else is an error that names the flag or the variable.
func TestSpinFlag(t *testing.T) {
	for _, c := range []struct {
		name, env string
		args      []string
		want      time.Duration // tracer.Config.Spin, when no error
		wantErr   string        // in the envErr or Parse error; "" for none
	}{
		{name: "default", args: []string{"app"}, want: tracer.DefaultSpin},
		{name: "env", env: "20us", args: []string{"app"}, want: 20 * time.Microsecond},
		{name: "env-off", env: "0", args: []string{"app"}, want: -1},
		{name: "flag-off", args: []string{"--spin=0", "app"}, want: -1},
		{name: "flag-beats-env", env: "0", args: []string{"--spin", "100us", "app"}, want: 100 * time.Microsecond},
		{name: "env-not-duration", env: "fast", args: []string{"app"}, wantErr: `BLUELOCK_SPIN="fast"`},
		{name: "env-too-long", env: "2ms", args: []string{"app"}, wantErr: "from 0 to 1ms"},
		{name: "flag-negative", args: []string{"--spin=-5us", "app"}, wantErr: "-spin"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := parseWithEnv("BLUELOCK_SPIN", c.env, c.args)
			if err == nil {
				err = f.envErr
			}
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v; want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if got := f.spin.config(); got != c.want {
				t.Fatalf("Config.Spin %v, want %v", got, c.want)
			}
		})
	}
}

// parseWithEnv registers the run flags with only the environment variable
// name set (to value, when not empty) and parses args.
func parseWithEnv(name, value string, args []string) (runFlags, error) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var f runFlags
	f.register(fs, func(k string) string {
		if k == name {
			return value
		}
		return ""
	})
	err := fs.Parse(args) // before f is copied out: the flags write into it
	return f, err
}

// TestUsageExits: -h prints the usage and exits 0; every bad variable
// behind a flag is named, not only the last one read, with exit 2.
func TestUsageExits(t *testing.T) {
	for _, c := range []struct {
		name     string
		args     []string
		env      map[string]string
		want     int
		contains []string
	}{
		{name: "help", args: []string{"-h"}, want: 0, contains: []string{"usage: bluelock", "-visibility"}},
		{name: "help-long", args: []string{"--help"}, want: 0, contains: []string{"usage: bluelock"}},
		{name: "unknown-flag", args: []string{"--no-such-flag", "true"}, want: 2, contains: []string{"no-such-flag"}},
		{name: "two-bad-variables", args: []string{"true"}, want: 2,
			env:      map[string]string{"BLUELOCK_PIN_OPENS": "off", "BLUELOCK_SPIN": "fast"},
			contains: []string{`BLUELOCK_PIN_OPENS="off"`, `BLUELOCK_SPIN="fast"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stderr strings.Builder
			code := runMain(c.args, func(k string) string { return c.env[k] }, &stderr)
			if code != c.want {
				t.Fatalf("exit %d, want %d; stderr %q", code, c.want, stderr.String())
			}
			for _, s := range c.contains {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr %q lacks %q", stderr.String(), s)
				}
			}
		})
	}
}
