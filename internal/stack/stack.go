// Package stack runs the whole product in one process, wired as in
// production: an embedded NATS with JetStream, seamsim over HTTP delivering
// signed webhooks to the receiver over HTTP, and workers consuming from
// JetStream. cmd/demo and the integration tests use it.
package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/cardissuer/seamcards/internal/events"
	"github.com/cardissuer/seamcards/internal/natsembed"
	"github.com/cardissuer/seamcards/internal/ops"
	"github.com/cardissuer/seamcards/internal/receiver"
	"github.com/cardissuer/seamcards/internal/saga"
	"github.com/cardissuer/seamcards/internal/seam"
	"github.com/cardissuer/seamcards/internal/seamsim"
	"github.com/cardissuer/seamcards/internal/worker"
)

// Options tune the stack; the zero value is a quick local setup.
type Options struct {
	// Sim configures seamsim; its WebhookURL is set to the receiver.
	Sim seamsim.Config
	// Worker configures each worker started.
	Worker worker.Config
	// Workers to start at once (default 1; 0 with NoWorker).
	Workers  int
	NoWorker bool
	// Log receives every component's logs; default none.
	Log *zap.Logger
	// NATS options of the embedded server.
	NATS natsembed.Options
}

// Stack is a running product.
type Stack struct {
	NATS *natsembed.Server
	NC   *nats.Conn
	JS   jetstream.JetStream
	Sim  *seamsim.Sim
	// SimURL is seamsim's base URL, ReceiverURL the receiver's; WorkerURLs
	// are the workers' ops endpoints.
	SimURL      string
	ReceiverURL string
	WorkerURLs  []string
	// Client talks to seamsim as the workers do.
	Client *seam.Client

	opts    Options
	log     *zap.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	workers []*runningWorker
	closers []func()
}

type runningWorker struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Start brings the stack up and returns once every part is ready.
func Start(ctx context.Context, o Options) (_ *Stack, err error) {
	s := &Stack{opts: o, log: o.Log}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.NATS, err = natsembed.Start(o.NATS); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.NATS.Shutdown)
	if s.NC, err = nats.Connect(s.NATS.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond), nats.ReconnectBufSize(-1)); err != nil {
		return nil, fmt.Errorf("connect to embedded NATS: %w", err)
	}
	s.closers = append(s.closers, s.NC.Close)
	if s.JS, err = jetstream.New(s.NC); err != nil {
		return nil, err
	}

	// The receiver, with the secret seamsim signs with.
	simCfg := o.Sim
	if simCfg.Logger == nil {
		simCfg.Logger = s.log.Named("seamsim")
	}
	if s.Sim, err = seamsim.New(simCfg); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() { _ = s.Sim.Close() })
	rcv, err := receiver.New(receiver.Config{Secrets: []string{s.Sim.WebhookSecret()}}, s.NC, s.log.Named("receiver"), ops.NewRegistry())
	if err != nil {
		return nil, err
	}
	if err := rcv.EnsureStream(ctx); err != nil {
		return nil, err
	}
	s.goRun(rcv.Run)
	if s.ReceiverURL, err = s.serve(rcv.Echo()); err != nil {
		return nil, err
	}
	if s.SimURL, err = s.serve(s.Sim.Handler()); err != nil {
		return nil, err
	}
	if err := s.Sim.SetWebhookURL(s.ReceiverURL + receiver.Path); err != nil {
		return nil, err
	}
	if s.Client, err = seam.New(s.SimURL, s.Sim.APIKey(), seam.WithRetryBackoff(20*time.Millisecond, time.Second)); err != nil {
		return nil, err
	}
	// A backend may publish and follow before any worker runs.
	for _, sc := range []jetstream.StreamConfig{events.IssuanceCommandsConfig(1), events.IssuanceEventsConfig(1)} {
		if _, err := events.EnsureStreamExists(ctx, s.JS, sc); err != nil {
			return nil, err
		}
	}
	n := o.Workers
	if n == 0 && !o.NoWorker {
		n = 1
	}
	for i := 0; i < n; i++ {
		if _, err := s.AddWorker(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Stack) goRun(f func(context.Context)) {
	s.wg.Add(1)
	go func() { defer s.wg.Done(); f(s.ctx) }()
}

func (s *Stack) serve(h http.Handler) (string, error) {
	l, err := ops.Listen("127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	s.closers = append(s.closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return "http://" + l.Addr().String(), nil
}

// AddWorker starts one more worker; stop ends it gracefully.
func (s *Stack) AddWorker(ctx context.Context) (stop func(), err error) {
	s.mu.Lock()
	idx := len(s.workers)
	s.mu.Unlock()
	cfg := s.opts.Worker
	if cfg.Owner == "" {
		cfg.Owner = fmt.Sprintf("worker-%d", idx+1)
	}
	client, err := seam.New(s.SimURL, s.Sim.APIKey(), seam.WithRetryBackoff(20*time.Millisecond, time.Second))
	if err != nil {
		return nil, err
	}
	reg := ops.NewRegistry()
	log := s.log.Named(cfg.Owner)
	w, err := worker.New(ctx, cfg, s.NC, saga.SeamPerformer{Client: client}, log, reg)
	if err != nil {
		return nil, err
	}
	url, err := s.serve(ops.NewEcho(reg, w.Ready))
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(s.ctx)
	rw := &runningWorker{cancel: cancel, done: make(chan struct{})}
	go func() { defer close(rw.done); _ = w.Run(wctx) }()
	s.mu.Lock()
	s.workers = append(s.workers, rw)
	s.WorkerURLs = append(s.WorkerURLs, url)
	s.mu.Unlock()
	return func() { cancel(); <-rw.done }, nil
}

// Close stops everything.
func (s *Stack) Close() {
	s.mu.Lock()
	ws := s.workers
	s.mu.Unlock()
	for _, w := range ws {
		w.cancel()
		<-w.done
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

// Start publishes a StartIssuance as a backend does.
func (s *Stack) Start(ctx context.Context, cmd saga.StartIssuance) error {
	return s.Command(ctx, events.CommandStart, cmd, cmd.IssuanceID)
}

// Retry publishes a retry command.
func (s *Stack) Retry(ctx context.Context, id, encoderID, nonce string) error {
	return s.Command(ctx, events.CommandRetry, saga.RetryIssuance{IssuanceID: id, AcsEncoderID: encoderID}, id+":retry:"+nonce)
}

// Cancel publishes a cancel command.
func (s *Stack) Cancel(ctx context.Context, id, nonce string) error {
	return s.Command(ctx, events.CommandCancel, saga.CancelIssuance{IssuanceID: id}, id+":cancel:"+nonce)
}

// Command publishes any JSON value on a command subject with a message id.
func (s *Stack) Command(ctx context.Context, subject string, v any, msgID string) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.Publish(ctx, subject, data, msgID)
}

// Publish publishes raw bytes on a subject with a message id.
func (s *Stack) Publish(ctx context.Context, subject string, data []byte, msgID string) error {
	opts := []jetstream.PublishOpt{}
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	_, err := s.JS.Publish(ctx, subject, data, opts...)
	return err
}

// Follow streams every state issuance id has entered and will enter, from
// the first. Call stop when done.
func (s *Stack) Follow(ctx context.Context, id string) (<-chan saga.Issuance, func(), error) {
	return Follow(ctx, s.JS, id)
}

// Follow streams an issuance's states from ISSUANCE_EVENTS with an ordered
// consumer, as a backend would.
func Follow(ctx context.Context, js jetstream.JetStream, id string) (<-chan saga.Issuance, func(), error) {
	cons, err := js.OrderedConsumer(ctx, events.StreamIssuanceEvents, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.IssuanceEventSubject(id, ">")},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("follow %s: %w", id, err)
	}
	out := make(chan saga.Issuance, 64)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var is saga.Issuance
		if json.Unmarshal(m.Data(), &is) == nil {
			out <- is
		}
	})
	if err != nil {
		return nil, nil, fmt.Errorf("follow %s: %w", id, err)
	}
	return out, cc.Stop, nil
}

// ErrTimeout is returned by WaitFor when the state did not come in time.
var ErrTimeout = errors.New("timed out waiting for the issuance")

// WaitFor collects states from ch until one is in want (or a terminal state
// when want is empty), and returns all collected.
func WaitFor(ch <-chan saga.Issuance, timeout time.Duration, want ...saga.State) ([]saga.Issuance, error) {
	var got []saga.Issuance
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case is := <-ch:
			got = append(got, is)
			for _, w := range want {
				if is.State == w {
					return got, nil
				}
			}
			if len(want) == 0 && is.State.Terminal() {
				return got, nil
			}
		case <-t.C:
			return got, ErrTimeout
		}
	}
}
