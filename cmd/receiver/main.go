// Command receiver verifies Seam's Svix-signed webhooks and stores each one
// in the JetStream stream SEAM_EVENTS before answering 2xx.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/cardissuer/seamcards/internal/config"
	"github.com/cardissuer/seamcards/internal/events"
	"github.com/cardissuer/seamcards/internal/logging"
	"github.com/cardissuer/seamcards/internal/natsconn"
	"github.com/cardissuer/seamcards/internal/ops"
	"github.com/cardissuer/seamcards/internal/receiver"
)

const program = "receiver"

func main() { os.Exit(run(os.Args[1:])) }

// gcPercent is the receiver's GOGC unless the environment sets one. Its live
// heap is small (the webhooks in flight), so letting the heap grow to five
// times it before collecting costs a few MiB of RSS and saves about a tenth
// of its CPU per webhook (docs/BENCHMARKS.md).
const gcPercent = 400

func run(args []string) int {
	set := config.New(program, os.LookupEnv)
	logSet := logging.Register(set)
	natsSet := natsconn.Register(set)
	addr := set.String("HTTP_ADDR", ":8080", "listen address")
	secret := set.Secret("SEAM_WEBHOOK_SECRET", "Svix secret whsec_…; several separated by commas during rotation")
	set.Required()
	maxBody := set.Int("MAX_BODY_BYTES", receiver.DefaultMaxBodyBytes, 1, 64<<20, "larger bodies get 413")
	dedup := set.Duration("DEDUP_WINDOW", events.DefaultDedupWindow, "JetStream duplicate window of SEAM_EVENTS")
	var secrets []string
	set.Check("SEAM_WEBHOOK_SECRET", func() (err error) {
		secrets, err = receiver.SplitSecrets(*secret)
		return err
	})
	set.Check("DEDUP_WINDOW", func() error {
		if *dedup > events.SeamEventsMaxAge {
			return fmt.Errorf("must not exceed the stream's max age %s", events.SeamEventsMaxAge)
		}
		return nil
	})
	if code, ok := set.ParseMain(args, os.Stdout, os.Stderr); !ok {
		return code
	}
	log, err := logSet.New(os.Stderr)
	if err != nil {
		return config.Fail(os.Stderr, program, err)
	}
	defer func() { _ = log.Sync() }()

	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	nc, err := natsconn.Connect("seamcards-receiver", natsSet, log)
	if err != nil {
		log.Error("cannot connect to NATS", zap.Error(err))
		return 1
	}
	// Every publish has been acknowledged by the time this runs.
	defer nc.Close()

	cfg := receiver.Config{
		Secrets:      secrets,
		MaxBodyBytes: int64(*maxBody),
		DedupWindow:  *dedup,
		Replicas:     *natsSet.Replicas,
	}
	rcv, err := receiver.New(cfg, nc, log, ops.NewRegistry())
	if err != nil {
		log.Error("cannot start receiver", zap.Error(err))
		return 1
	}
	// When NATS is reachable now, a body limit it cannot carry is a
	// configuration error; when it is not, Run checks on every connect and
	// the receiver stays unready until it fits.
	if err := rcv.CheckPayloadLimit(); err != nil {
		return config.Fail(os.Stderr, program, err)
	}

	l, err := ops.Listen(*addr)
	if err != nil {
		log.Error("cannot listen", zap.Error(err))
		return 1
	}
	runDone := make(chan struct{})
	go func() { defer close(runDone); rcv.Run(ctx) }()
	// Grace covers a publish that has just started waiting for its ack.
	err = ops.Serve(ctx, rcv.Echo(), l, receiver.DefaultPublishTimeout+5*time.Second, log)
	stop()
	<-runDone
	if err != nil {
		log.Error("http server failed", zap.Error(err))
		return 1
	}
	log.Info("stopped")
	return 0
}
