package main

// STUB: replaced by the deploy work. `bluelock inject [flags] [FILE]`.

import (
	"fmt"
	"io"
)

func injectMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "bluelock inject: not built yet")
	return 2
}
