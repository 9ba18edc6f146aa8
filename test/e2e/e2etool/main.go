// Command e2etool is the e2e suite's helper, built static (CGO_ENABLED=0) into a FROM-scratch
// image by hack/e2e.sh. It has two jobs:
//
//	e2etool pause
//	    hold a network namespace, as the pause container of a Kubernetes pod or of a Fargate
//	    task does, until SIGTERM or SIGINT; exit 0.
//	e2etool http [-wait 30s] [-H 'Name: value'] METHOD URL
//	    one HTTP request (body from stdin for POST/PUT), run with `--network container:<pause>`
//	    so that 127.0.0.1 is the task's loopback (the tracer's policy API binds only there).
//	    With -wait, connection errors and 5xx answers are retried until the deadline. Prints
//	    the status line and the body; exits 0 on 2xx, 1 otherwise.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: e2etool pause | http [-wait D] [-H 'K: V'] METHOD URL")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "pause":
		pause()
	case "http":
		os.Exit(httpMain(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	default:
		fmt.Fprintf(os.Stderr, "e2etool: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
}

func pause() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	<-ctx.Done()
}

type headers []string

func (h *headers) String() string     { return strings.Join(*h, ", ") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

func httpMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("http", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wait := fs.Duration("wait", 0, "retry connection errors and 5xx until this deadline")
	var hdrs headers
	fs.Var(&hdrs, "H", "request header 'Name: value' (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 2 {
		fmt.Fprintln(stderr, "usage: e2etool http [-wait D] [-H 'K: V'] METHOD URL")
		return 2
	}
	method, url := strings.ToUpper(fs.Arg(0)), fs.Arg(1)
	var body []byte
	if method == http.MethodPost || method == http.MethodPut {
		var err error
		if body, err = io.ReadAll(stdin); err != nil {
			fmt.Fprintf(stderr, "read body: %v\n", err)
			return 1
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *wait+10*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(*wait)
	for attempt := 1; ; attempt++ {
		status, respBody, err := do(ctx, client, method, url, body, hdrs)
		retry := err != nil || status >= 500
		if !retry || time.Now().After(deadline) {
			if err != nil {
				fmt.Fprintf(stderr, "%s %s: %v (attempt %d)\n", method, url, err, attempt)
				return 1
			}
			fmt.Fprintf(stdout, "HTTP %d\n%s", status, respBody)
			if status < 200 || status > 299 {
				return 1
			}
			return 0
		}
		// Polling a port that is not open yet: a short fixed pause between attempts, bounded
		// by the -wait deadline (there is nothing to wait on across a namespace boundary).
		select {
		case <-ctx.Done():
			fmt.Fprintf(stderr, "%s %s: %v\n", method, url, ctx.Err())
			return 1
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func do(ctx context.Context, client *http.Client, method, url string, body []byte, hdrs headers) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for _, h := range hdrs {
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			return 0, nil, errors.New("header without ':': " + h)
		}
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}
