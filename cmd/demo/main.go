// Command demo runs the whole product in one process on embedded defaults
// (NATS with JetStream in a temporary store, seamsim, the receiver and a
// worker, on free loopback ports, wired as in production) and walks one
// Salto Space key-card issuance from Seam's walkthrough end to end, printing
// each state the moment it is published.
//
//	go run ./cmd/demo                          # a new card for Jane Doe
//	go run ./cmd/demo -scenario fail-then-retry
//	go run ./cmd/demo -json | jq .state
//	go run ./cmd/demo -keep                    # then start more issuances
//
// It exits 0 when the issuance ends issued, 1 when it ends otherwise or
// does not end in time, and 2 on a bad flag.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/cardissuer/seamcards/internal/logging"
	"github.com/cardissuer/seamcards/internal/seamsim"
	"github.com/cardissuer/seamcards/internal/stack"
	"github.com/cardissuer/seamcards/internal/worker"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scenario := fs.String("scenario", "new", "new, fail-then-retry, replace or update")
	asJSON := fs.Bool("json", false, "print each published IssuanceState as one JSON line on stdout (notes go to stderr)")
	keep := fs.Bool("keep", false, "keep everything running after the scenario, print the URLs and how to start another issuance; Ctrl-C stops")
	cardDelay := fs.Duration("card-delay", time.Second, "how long the encoder takes to write a card once an encoding starts (the clerk laying a card on it)")
	encTimeout := fs.Duration("encoding-timeout", 3*time.Second, "the worker's ENCODING_TIMEOUT: Seam sends no webhook for a failed encoding, so the worker reads the action attempt once after this long")
	timeout := fs.Duration("timeout", 30*time.Second, "give up when the scenario has not ended by then")
	verbose := fs.Bool("v", false, "also print the components' logs on stderr")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./cmd/demo [flags]")
		fmt.Fprintln(stderr, "Walks one Salto Space key-card issuance through embedded NATS, seamsim, the receiver and a worker.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "demo: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	sc, ok := scenarios[*scenario]
	if !ok {
		fmt.Fprintf(stderr, "demo: -scenario must be one of %s, got %q\n", scenarioNames(), *scenario)
		return 2
	}
	if *cardDelay < 0 || *timeout <= 0 || *encTimeout <= 0 {
		fmt.Fprintln(stderr, "demo: -card-delay must not be negative; -timeout and -encoding-timeout must be positive")
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	log := zap.NewNop()
	if *verbose {
		l, err := logging.New(stderr, "info", "console")
		if err != nil {
			fmt.Fprintln(stderr, "demo:", err)
			return 1
		}
		log = l
	}
	notes := stdout
	if *asJSON {
		notes = stderr
	}
	p := &printer{out: stdout, notes: notes, json: *asJSON}

	p.notef("Starting embedded NATS (JetStream), seamsim, the receiver and a worker...\n")
	s, err := stack.Start(ctx, stack.Options{Log: log,
		Sim: seamsim.Config{EncodeDelay: *cardDelay}, Worker: worker.Config{EncodingTimeout: *encTimeout}})
	if err != nil {
		fmt.Fprintln(stderr, "demo: start:", err)
		return 1
	}
	defer s.Close()
	p.notef("  NATS      %s\n  seamsim   %s (a simulated Seam workspace; webhooks are Svix-signed)\n  receiver  %s/webhooks/seam\n  worker    %s\n\n",
		s.NATS.URL(), s.SimURL, s.ReceiverURL, s.WorkerURLs[0])

	sctx, cancel := context.WithTimeout(ctx, *timeout)
	d := &demo{s: s, p: p, cardDelay: *cardDelay}
	final, err := sc.run(sctx, d)
	cancel()
	code := 0
	switch {
	case err != nil:
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("the scenario did not end within -timeout %s", *timeout)
		}
		fmt.Fprintln(stderr, "demo:", err)
		code = 1
	case final.State != "issued":
		code = 1
	}
	if err == nil {
		d.summary(ctx, final)
	}
	if *keep && ctx.Err() == nil {
		d.keepRunning(ctx)
	}
	return code
}
