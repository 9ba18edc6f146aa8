// Command bluelock runs a command under ptrace+seccomp enforcement of
// KubeArmor policies. STUB: replaced by the tracer work.
package main

import (
	"os"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "policy":
			os.Exit(policyMain(os.Args[2:], os.Stdout, os.Stderr))
		case "inject":
			os.Exit(injectMain(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
		}
	}
	os.Exit(2)
}
