// Command healthcheck asks an HTTP endpoint whether a program is healthy, for
// container health checks in images without a shell, curl or wget:
//
//	healthcheck [-timeout 2s] http://127.0.0.1:8080/readyz
//
// It exits 0 when the answer is 2xx and 1 otherwise (another status, a
// redirect, no answer within the timeout, a refused connection); a usage
// error exits 2. One line on stdout or stderr says what it saw.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 2*time.Second, "time allowed for the whole request")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: healthcheck [-timeout 2s] URL\nexits 0 when URL answers 2xx, 1 otherwise")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 || *timeout <= 0 {
		fs.Usage()
		return 2
	}
	target := fs.Arg(0)
	if u, err := url.Parse(target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "healthcheck: %q is not an http(s) URL\n", target)
		return 2
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return 2
	}
	client := &http.Client{
		// No proxy: the target is normally the container's own loopback.
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		// A health endpoint that redirects is not healthy.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintf(stderr, "healthcheck: %s: %s %q\n", target, resp.Status, body)
		return 1
	}
	fmt.Fprintf(stdout, "healthcheck: %s: %s\n", target, resp.Status)
	return 0
}
