package main

// STUB: replaced by the policy engine work. `bluelock policy validate FILE...`.

import (
	"fmt"
	"io"
)

func policyMain(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "bluelock policy: not built yet")
	return 2
}
