// Package worker runs issuance sagas: it consumes backend commands, Seam
// events and fired deadlines from JetStream and hands each to the saga
// executor, acknowledging a message only once its input is applied.
package worker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/cardissuer/seamcards/internal/events"
	"github.com/cardissuer/seamcards/internal/saga"
)

// Config tunes a worker. Zero durations take the defaults.
type Config struct {
	EncodingTimeout time.Duration // ENCODING_TIMEOUT
	Concurrency     int           // WORKER_CONCURRENCY
	Replicas        int           // NATS_REPLICAS
	// Owner names this worker in leases and logs; default host-pid.
	Owner string
	// AckWait (WORKER_ACK_WAIT) is how long JetStream waits before
	// redelivering a message whose worker died, so how soon another worker
	// takes over; handlers in progress keep extending it. Every worker on a
	// NATS should use the same value: the consumers are shared.
	AckWait time.Duration
	// LeaseTTL is how long a dead worker can block an issuance; default AckWait.
	LeaseTTL time.Duration
	// StepTimeout bounds one Seam call with its retries; default 2/3 of
	// LeaseTTL, so that a call ends before its lease does.
	StepTimeout time.Duration
	// DrainTimeout bounds how long shutdown waits for in-flight work.
	DrainTimeout time.Duration
}

func (c *Config) defaults() {
	if c.EncodingTimeout <= 0 {
		c.EncodingTimeout = 2 * time.Minute
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 64
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.Owner == "" {
		host, _ := os.Hostname()
		c.Owner = fmt.Sprintf("%s-%d-%04x", host, os.Getpid(), rand.IntN(1<<16))
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = c.AckWait
	}
	if c.StepTimeout <= 0 {
		c.StepTimeout = c.LeaseTTL * 2 / 3
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 25 * time.Second
	}
}

// Durable consumer names.
const (
	ConsumerCommands  = "worker-commands"
	ConsumerSeam      = "worker-seam-events"
	ConsumerDeadlines = "worker-deadlines"
)

// seamSubjects are the Seam events that can move an issuance.
var seamSubjects = []string{
	events.SeamEventsPrefix + "acs_credential.>",
	events.SeamEventsPrefix + "acs_encoder.removed",
	events.SeamEventsPrefix + "action_attempt.>",
}

// Worker consumes and dispatches.
type Worker struct {
	cfg     Config
	nc      *nats.Conn
	js      jetstream.JetStream
	exec    *saga.Executor
	index   *saga.Index
	log     *zap.Logger
	metrics *metrics
	cons    map[string]jetstream.Consumer
}

// New creates what the worker needs on NATS (streams, buckets, consumers;
// idempotently) and returns a worker ready to Run.
func New(ctx context.Context, cfg Config, nc *nats.Conn, seam saga.Performer, log *zap.Logger, reg prometheus.Registerer) (*Worker, error) {
	cfg.defaults()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	var issuanceEvents jetstream.Stream
	for _, sc := range []jetstream.StreamConfig{
		events.IssuanceCommandsConfig(cfg.Replicas),
		events.IssuanceEventsConfig(cfg.Replicas),
		saga.TimersConfig(cfg.Replicas),
	} {
		st, err := events.EnsureStream(ctx, js, sc)
		if err != nil {
			return nil, err
		}
		if sc.Name == events.StreamIssuanceEvents {
			issuanceEvents = st
		}
	}
	// The receiver owns SEAM_EVENTS; create it only if it is not there yet.
	if _, err := events.EnsureStreamExists(ctx, js, events.SeamEventsConfig(cfg.Replicas, events.DefaultDedupWindow)); err != nil {
		return nil, err
	}
	store, err := saga.OpenStore(ctx, js, cfg.Replicas)
	if err != nil {
		return nil, err
	}
	index, err := saga.OpenIndex(ctx, js, cfg.Replicas)
	if err != nil {
		return nil, err
	}
	cons := map[string]jetstream.Consumer{}
	pending := 4 * cfg.Concurrency
	for _, cc := range []struct {
		stream string
		cfg    jetstream.ConsumerConfig
	}{
		{events.StreamIssuanceCommands, jetstream.ConsumerConfig{Durable: ConsumerCommands, FilterSubject: events.CommandsAll}},
		{events.StreamSeamEvents, jetstream.ConsumerConfig{Durable: ConsumerSeam, FilterSubjects: seamSubjects}},
		{saga.StreamTimers, jetstream.ConsumerConfig{Durable: ConsumerDeadlines, FilterSubject: saga.DeadlinesAll}},
	} {
		c := cc.cfg
		c.AckPolicy = jetstream.AckExplicitPolicy
		c.AckWait = cfg.AckWait
		c.MaxDeliver = -1
		c.MaxAckPending = pending
		c.DeliverPolicy = jetstream.DeliverAllPolicy
		cs, err := js.CreateOrUpdateConsumer(ctx, cc.stream, c)
		if err != nil {
			return nil, fmt.Errorf("create consumer %s on %s: %w", c.Durable, cc.stream, err)
		}
		cons[c.Durable] = cs
	}
	// Metrics last: Setup calls New again after a failure above.
	w := &Worker{cfg: cfg, nc: nc, js: js, index: index, log: log, metrics: newMetrics(reg), cons: cons}
	w.exec = &saga.Executor{
		Core:        saga.Core{EncodingTimeout: cfg.EncodingTimeout},
		Store:       store,
		Index:       index,
		Timers:      saga.NewTimers(js),
		JS:          js,
		Events:      issuanceEvents,
		Seam:        seam,
		Log:         log,
		Metrics:     saga.NewMetrics(reg),
		Owner:       cfg.Owner,
		LeaseTTL:    cfg.LeaseTTL,
		StepTimeout: cfg.StepTimeout,
	}
	return w, nil
}

// Ready reports whether NATS is connected and the streams and buckets are
// there.
func (w *Worker) Ready(ctx context.Context) error {
	if !w.nc.IsConnected() {
		return errors.New("NATS not connected")
	}
	for _, name := range []string{events.StreamIssuanceCommands, events.StreamIssuanceEvents, events.StreamSeamEvents, saga.StreamTimers} {
		if _, err := w.js.Stream(ctx, name); err != nil {
			return fmt.Errorf("stream %s: %w", name, err)
		}
	}
	for _, name := range []string{events.BucketIssuances, saga.BucketIndex} {
		if _, err := w.js.KeyValue(ctx, name); err != nil {
			return fmt.Errorf("bucket %s: %w", name, err)
		}
	}
	return nil
}

// Run consumes until ctx ends, then stops taking messages and waits for
// in-flight ones (up to DrainTimeout) before returning.
func (w *Worker) Run(ctx context.Context) error {
	// Handlers run on their own context so that shutdown lets them finish.
	hctx, hcancel := context.WithCancel(context.Background())
	defer hcancel()
	// One budget for all sagas; new issuances may take only part of it, so
	// that events and deadlines, which finish issuances, never wait behind
	// a burst of starts.
	slots := make(chan struct{}, w.cfg.Concurrency)
	startSlots := make(chan struct{}, max(1, w.cfg.Concurrency*3/4))
	// closed turns away messages the consumers hand over after Stop, so
	// that no handler starts once shutdown waits for the running ones.
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		closed bool
	)
	handlers := map[string]func(context.Context, jetstream.Msg) error{
		ConsumerCommands:  w.handleCommand,
		ConsumerSeam:      w.handleSeamEvent,
		ConsumerDeadlines: w.handleDeadline,
	}
	var ccs []jetstream.ConsumeContext
	for name, cons := range w.cons {
		handle := handlers[name]
		cc, err := cons.Consume(func(m jetstream.Msg) {
			mu.Lock()
			if closed {
				mu.Unlock()
				_ = m.Nak() // another worker can take it now
				return
			}
			wg.Add(1)
			mu.Unlock()
			if name == ConsumerCommands {
				startSlots <- struct{}{}
			}
			slots <- struct{}{}
			go func() {
				defer func() {
					<-slots
					if name == ConsumerCommands {
						<-startSlots
					}
					wg.Done()
				}()
				w.process(hctx, name, m, handle)
			}()
		}, jetstream.PullMaxMessages(w.cfg.Concurrency), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			w.log.Debug("consume", zap.String("consumer", name), zap.Error(err))
		}))
		if err != nil {
			for _, c := range ccs {
				c.Stop()
			}
			return fmt.Errorf("consume %s: %w", name, err)
		}
		ccs = append(ccs, cc)
	}
	w.log.Info("worker consuming", zap.String("owner", w.cfg.Owner), zap.Int("concurrency", w.cfg.Concurrency),
		zap.Duration("encoding_timeout", w.cfg.EncodingTimeout))
	<-ctx.Done()
	for _, c := range ccs {
		c.Stop()
	}
	mu.Lock()
	closed = true
	mu.Unlock()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		w.log.Info("worker drained")
	case <-time.After(w.cfg.DrainTimeout):
		hcancel()
		<-done
		w.log.Warn("worker stopped with work in flight; it will be redelivered")
	}
	return nil
}

// errUnknownIssuance: a command or event names an issuance that does not
// exist (yet): its start may still be on the way.
var errUnknownIssuance = errors.New("unknown issuance")

// errDrop: the message can never be applied; it is logged and terminated.
type errDrop struct{ reason string }

func (e errDrop) Error() string { return e.reason }

func (w *Worker) process(ctx context.Context, consumer string, m jetstream.Msg, handle func(context.Context, jetstream.Msg) error) {
	start := time.Now()
	stop := w.keepAlive(m)
	err := handle(ctx, m)
	stop()
	outcome := "ack"
	var drop errDrop
	log := w.log.With(zap.String("consumer", consumer), zap.String("subject", m.Subject()))
	if ie := (*saga.IssuanceError)(nil); errors.As(err, &ie) {
		log = log.With(zap.String("issuance_id", ie.ID))
	}
	switch {
	case err == nil:
		_ = m.Ack()
	case errors.As(err, &drop):
		outcome = "dropped"
		log.Warn("message dropped", zap.String("reason", drop.reason))
		_ = m.Term()
	case errors.Is(err, saga.ErrBusy):
		outcome = "busy"
		_ = m.NakWithDelay(time.Duration(50+rand.IntN(200)) * time.Millisecond)
	case errors.Is(err, errUnknownIssuance):
		n := delivered(m)
		if n >= 10 {
			outcome = "dropped"
			log.Warn("message for an unknown issuance dropped after retries")
			_ = m.Term()
		} else {
			outcome = "later"
			_ = m.NakWithDelay(time.Duration(n) * 500 * time.Millisecond)
		}
	default:
		outcome = "retry"
		n := delivered(m)
		delay := min(30*time.Second, time.Second<<min(n-1, 5))
		log.Warn("input not applied; will retry", zap.Uint64("delivery", n), zap.Duration("delay", delay), zap.Error(err))
		_ = m.NakWithDelay(delay)
	}
	w.metrics.handled(consumer, outcome, time.Since(start))
}

// keepAlive tells JetStream the message is still being worked on, so a slow
// Seam call does not cause a redelivery to another worker.
func (w *Worker) keepAlive(m jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(w.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = m.InProgress()
			}
		}
	}()
	return func() { close(done) }
}

func delivered(m jetstream.Msg) uint64 {
	md, err := m.Metadata()
	if err != nil {
		return 1
	}
	return md.NumDelivered
}

func (w *Worker) handleCommand(ctx context.Context, m jetstream.Msg) error {
	switch m.Subject() {
	case events.CommandStart:
		cmd, id, err := saga.ParseStart(m.Data())
		if err != nil {
			if id == "" {
				return errDrop{"invalid start without a usable issuance_id: " + err.Error()}
			}
			w.log.Warn("start rejected", zap.String("issuance_id", id), zap.Error(err))
			return w.exec.Handle(ctx, id, saga.Reject{IssuanceID: id, Reason: err.Error()})
		}
		return w.exec.Handle(ctx, id, saga.Start{Cmd: cmd})
	case events.CommandRetry:
		cmd, err := saga.ParseRetry(m.Data())
		if err != nil {
			return errDrop{"invalid retry: " + err.Error()}
		}
		return w.known(ctx, cmd.IssuanceID, saga.Retry{EncoderID: cmd.AcsEncoderID})
	case events.CommandCancel:
		cmd, err := saga.ParseCancel(m.Data())
		if err != nil {
			return errDrop{"invalid cancel: " + err.Error()}
		}
		return w.known(ctx, cmd.IssuanceID, saga.Cancel{})
	}
	return errDrop{"unknown command subject " + m.Subject()}
}

// known applies a command to an issuance that must exist.
func (w *Worker) known(ctx context.Context, id string, in saga.Input) error {
	rec, _, err := w.exec.Store.Load(ctx, id)
	if err != nil {
		return saga.ForIssuance(id, err)
	}
	if rec.Version == 0 {
		return saga.ForIssuance(id, errUnknownIssuance)
	}
	return w.exec.Handle(ctx, id, in)
}

func (w *Worker) handleDeadline(ctx context.Context, m jetstream.Msg) error {
	d, err := saga.ParseDeadline(m.Data())
	if err != nil {
		return errDrop{err.Error()}
	}
	return w.exec.Handle(ctx, d.IssuanceID, d.Deadline)
}

func (w *Worker) handleSeamEvent(ctx context.Context, m jetstream.Msg) error {
	e, err := decodeEvent(m.Data())
	if err != nil {
		return errDrop{err.Error()}
	}
	ids, err := w.route(ctx, e)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := w.exec.Handle(ctx, id, saga.SeamEvent{Event: e}); err != nil {
			return err
		}
	}
	return nil
}

// route finds the issuances an event concerns through the index.
func (w *Worker) route(ctx context.Context, e saga.Event) ([]string, error) {
	one := func(id string, err error) ([]string, error) {
		if err != nil || id == "" {
			return nil, err
		}
		return []string{id}, nil
	}
	switch {
	case strings.HasPrefix(e.Type, "acs_credential."):
		if e.CredentialID == "" {
			return nil, nil
		}
		return one(w.index.ByCredential(ctx, e.CredentialID))
	case e.Type == saga.EventEncoderRemoved:
		if e.EncoderID == "" {
			return nil, nil
		}
		return w.index.ByEncoder(ctx, e.EncoderID)
	case strings.HasPrefix(e.Type, saga.EventActionAttemptPrefix):
		if e.ActionAttemptID == "" || (e.ActionType != "" && e.ActionType != "ENCODE_CREDENTIAL") {
			return nil, nil
		}
		ids, err := one(w.index.ByAttempt(ctx, e.ActionAttemptID))
		if err == nil && len(ids) == 0 && e.ActionType == "ENCODE_CREDENTIAL" {
			// The attempt is indexed right after encode_credential returns;
			// its event can win that race.
			return nil, errUnknownIssuance
		}
		return ids, err
	}
	return nil, nil
}

// Setup is New, retried while NATS is not reachable yet, so a worker can
// start before NATS does; other errors (a stream with a conflicting
// configuration, missing permissions) are returned.
func Setup(ctx context.Context, cfg Config, nc *nats.Conn, seam saga.Performer, log *zap.Logger, reg prometheus.Registerer) (*Worker, error) {
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		w, err := New(actx, cfg, nc, seam, log, reg)
		cancel()
		if err == nil {
			return w, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if nc.IsConnected() && !errors.Is(err, nats.ErrNoResponders) && !errors.Is(err, context.DeadlineExceeded) &&
			!errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrJetStreamNotEnabled) {
			return nil, err
		}
		log.Warn("NATS not ready; setting up again shortly", zap.Error(err), zap.Duration("wait", wait))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}
