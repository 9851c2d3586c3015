//go:build pprof

package main

import (
	"fmt"
	"net/http"
	_ "net/http/pprof" // profiling endpoints, only in builds tagged pprof
	"os"
)

// A receiver built with -tags pprof (bench/receiver.sh PROFILE=1) serves
// /debug/pprof on PPROF_ADDR. Release builds have no profiling endpoint.
func init() {
	addr := os.Getenv("PPROF_ADDR")
	if addr == "" {
		return
	}
	go func() {
		if err := http.ListenAndServe(addr, nil); err != nil {
			fmt.Fprintln(os.Stderr, "pprof:", err)
		}
	}()
}
