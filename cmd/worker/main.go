// Command worker runs issuance sagas: it consumes StartIssuance, retry and
// cancel commands and Seam's webhook events from JetStream, calls the Seam
// API, and publishes every state an issuance enters.
package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/cardissuer/seamcards/internal/config"
	"github.com/cardissuer/seamcards/internal/logging"
	"github.com/cardissuer/seamcards/internal/natsconn"
	"github.com/cardissuer/seamcards/internal/ops"
	"github.com/cardissuer/seamcards/internal/saga"
	"github.com/cardissuer/seamcards/internal/seam"
	"github.com/cardissuer/seamcards/internal/worker"
)

const program = "worker"

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	set := config.New(program, os.LookupEnv)
	logSet := logging.Register(set)
	natsSet := natsconn.Register(set)
	addr := set.String("HTTP_ADDR", ":8081", "listen address for /healthz, /readyz, /metrics")
	apiKey := set.Secret("SEAM_API_KEY", "Seam API key, sent as Authorization: Bearer")
	set.Required()
	apiURL := set.String("SEAM_API_URL", seam.DefaultBaseURL, "base URL of the Seam API")
	timeout := set.Duration("ENCODING_TIMEOUT", 2*time.Minute, "wait for the confirming webhook before reading the action attempt once")
	concurrency := set.Int("WORKER_CONCURRENCY", 64, 1, 10000, "sagas progressed at once")
	ackWait := set.Duration("WORKER_ACK_WAIT", 30*time.Second, "after a worker dies, how soon another takes over its messages and issuances; same on every worker")
	var client *seam.Client
	reg := ops.NewRegistry()
	observe := worker.SeamObserver(reg)
	set.Check("SEAM_API_URL", func() (err error) {
		client, err = seam.New(*apiURL, *apiKey, seam.WithObserver(observe))
		return err
	})
	if code, ok := set.ParseMain(args, os.Stdout, os.Stderr); !ok {
		return code
	}
	log, err := logSet.New(os.Stderr)
	if err != nil {
		return config.Fail(os.Stderr, program, err)
	}
	defer func() { _ = log.Sync() }()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	nc, err := natsconn.Connect("seamcards-worker", natsSet, log)
	if err != nil {
		log.Error("cannot connect to NATS", zap.Error(err))
		return 1
	}
	defer nc.Close()

	var ready atomic.Pointer[worker.Worker]
	readyz := func(ctx context.Context) error {
		w := ready.Load()
		if w == nil {
			return errors.New("setting up streams and consumers")
		}
		return w.Ready(ctx)
	}
	l, err := ops.Listen(*addr)
	if err != nil {
		log.Error("cannot listen", zap.Error(err))
		return 1
	}
	httpDone := make(chan error, 1)
	go func() { httpDone <- ops.Serve(ctx, ops.NewEcho(reg, readyz), l, 5*time.Second, log) }()

	cfg := worker.Config{EncodingTimeout: *timeout, Concurrency: *concurrency, Replicas: *natsSet.Replicas, AckWait: *ackWait}
	w, err := worker.Setup(ctx, cfg, nc, saga.SeamPerformer{Client: client}, log, reg)
	if err != nil {
		if ctx.Err() != nil {
			return 0
		}
		log.Error("cannot set up the worker", zap.Error(err))
		return 1
	}
	ready.Store(w)
	runErr := w.Run(ctx)
	stop()
	if err := <-httpDone; err != nil {
		log.Error("http server failed", zap.Error(err))
		return 1
	}
	if runErr != nil {
		log.Error("worker failed", zap.Error(runErr))
		return 1
	}
	log.Info("stopped")
	return 0
}
