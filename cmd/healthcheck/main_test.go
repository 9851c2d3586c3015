package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestExitCodes(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte("ok\n"))
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		case "/unready":
			http.Error(w, "NATS not connected", http.StatusServiceUnavailable)
		case "/redirect":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/slow":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	defer close(release) // runs before srv.Close, so a stuck handler cannot block it

	// An address nothing listens on: a listener opened and closed again.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/readyz"
	l.Close()

	cases := []struct {
		name string
		args []string
		want int
		out  string // a piece of what it prints
	}{
		{"200", []string{srv.URL + "/ok"}, 0, "200 OK"},
		{"204", []string{srv.URL + "/nocontent"}, 0, "204"},
		{"503", []string{srv.URL + "/unready"}, 1, "NATS not connected"},
		{"404", []string{srv.URL + "/nope"}, 1, "404"},
		{"redirect is not followed", []string{srv.URL + "/redirect"}, 1, "302"},
		{"unreachable", []string{closed}, 1, "refused"},
		{"timeout", []string{"-timeout", "200ms", srv.URL + "/slow"}, 1, "deadline exceeded"},
		{"no URL", nil, 2, "usage"},
		{"two URLs", []string{srv.URL, srv.URL}, 2, "usage"},
		{"not a URL", []string{"127.0.0.1:8080/readyz"}, 2, "not an http(s) URL"},
		{"bad flag", []string{"-nope", srv.URL}, 2, "not defined"},
		{"zero timeout", []string{"-timeout", "0s", srv.URL}, 2, "usage"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			start := time.Now()
			got := run(tc.args, &stdout, &stderr)
			out := stdout.String() + stderr.String()
			if got != tc.want {
				t.Fatalf("exit %d, want %d; output:\n%s", got, tc.want, out)
			}
			if !strings.Contains(out, tc.out) {
				t.Errorf("output %q does not mention %q", out, tc.out)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s; the timeout should bound it", d)
			}
		})
	}
}
