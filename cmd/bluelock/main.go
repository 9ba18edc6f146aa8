// Command bluelock runs a command under ptrace+seccomp enforcement of
// KubeArmor policies: `bluelock [flags] [--] CMD ARGS...`, typically as a
// container's entrypoint (/kubearmor/bluelock CMD ARGS...).
//
// Subcommands: `policy ...`, `inject ...`, `install DIR`. A program named
// like a subcommand runs with `bluelock -- policy`.
package main

import (
	"io"
	"os"

	"github.com/bluelock/bluelock/tracer"
)

func main() {
	// Stage 2 (the re-executed child that becomes the app) never returns.
	tracer.MaybeStage2()
	os.Exit(dispatch(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// dispatch picks the subcommand: the first argument names one only when it
// is exactly a subcommand's name; anything else (flags, "--", a program)
// is run mode.
func dispatch(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "policy":
			return policyMain(args[1:], stdout, stderr)
		case "inject":
			return injectMain(args[1:], stdin, stdout, stderr)
		case "install":
			return installMain(args[1:], stderr)
		}
	}
	return runMain(args, os.Getenv, stderr)
}
