// Package receiver is the webhook side of the product: it verifies Seam's
// Svix-signed webhooks and stores each one in the SEAM_EVENTS stream before
// answering, so that a 2xx to Seam means the event is durable.
package receiver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	svix "github.com/svix/svix-webhooks/go"
	"go.uber.org/zap"

	"github.com/cardissuer/seamcards/internal/config"
	"github.com/cardissuer/seamcards/internal/events"
	"github.com/cardissuer/seamcards/internal/ops"
)

// Path is where Seam delivers webhooks.
const Path = "/webhooks/seam"

// Receiver verifies and stores webhooks. Create it with New, keep Run
// running, and serve Echo (or mount it with Mount).
type Receiver struct {
	cfg      Config
	nc       *nats.Conn
	js       jetstream.JetStream
	log      *zap.Logger
	reg      *prometheus.Registry
	verifier []*svix.Webhook
	m        *metrics
	// ensure asks Run to create or update the stream again, for example
	// after a publish found no stream to answer it.
	ensure chan struct{}
}

// New wires a receiver to an existing NATS connection. It registers its
// metrics on reg and does no I/O; call Run to create the stream.
func New(cfg Config, nc *nats.Conn, log *zap.Logger, reg *prometheus.Registry) (*Receiver, error) {
	cfg = cfg.withDefaults()
	whs, err := newVerifiers(cfg.Secrets)
	if err != nil {
		return nil, err
	}
	if cfg.DedupWindow > events.SeamEventsMaxAge {
		return nil, fmt.Errorf("dedup window %s exceeds the stream's max age %s", cfg.DedupWindow, events.SeamEventsMaxAge)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(cfg.PublishTimeout))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Receiver{
		cfg: cfg, nc: nc, js: js, log: log, reg: reg, verifier: whs, m: m,
		ensure: make(chan struct{}, 1),
	}, nil
}

// Echo returns an echo server with the webhook route and the ops routes
// (/healthz, /readyz answering with Ready, /metrics from the registry).
func (r *Receiver) Echo() *echo.Echo {
	e := ops.NewEcho(r.reg, r.Ready)
	r.Mount(e)
	return e
}

// Mount adds the webhook route to e. Every method reaches the handler, so
// that methods other than POST get 405 (echo would answer OPTIONS itself).
func (r *Receiver) Mount(e *echo.Echo) {
	e.Any(Path, echo.WrapHandler(r))
}

// CheckPayloadLimit reports, as a configuration error naming
// MAX_BODY_BYTES, when the largest accepted body and its headers would not
// fit under the connected server's max_payload. It is nil while the server
// is unknown (never connected).
func (r *Receiver) CheckPayloadLimit() error {
	mp := r.nc.MaxPayload()
	if mp <= 0 || r.cfg.MaxBodyBytes+HeaderRoom <= mp {
		return nil
	}
	return &config.Error{Setting: "MAX_BODY_BYTES", Reason: fmt.Sprintf(
		"%d bytes plus %d for headers do not fit under the NATS server's max_payload of %d bytes; lower MAX_BODY_BYTES or raise max_payload",
		r.cfg.MaxBodyBytes, HeaderRoom, mp)}
}

// Ready reports why webhooks cannot be stored now, or nil: NATS must be
// connected, the body limit must fit the server, and SEAM_EVENTS must exist.
func (r *Receiver) Ready(ctx context.Context) error {
	if !r.nc.IsConnected() {
		return errors.New("NATS not connected")
	}
	if err := r.CheckPayloadLimit(); err != nil {
		return err
	}
	if _, err := r.js.Stream(ctx, events.StreamSeamEvents); err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			r.askEnsure()
		}
		return fmt.Errorf("stream %s: %w", events.StreamSeamEvents, err)
	}
	return nil
}

// EnsureStream creates SEAM_EVENTS or updates it to the receiver's
// configuration (the receiver owns it).
func (r *Receiver) EnsureStream(ctx context.Context) error {
	_, err := events.EnsureStream(ctx, r.js, events.SeamEventsConfig(r.cfg.Replicas, r.cfg.DedupWindow))
	return err
}

func (r *Receiver) askEnsure() {
	select {
	case r.ensure <- struct{}{}:
	default:
	}
}

// Run keeps SEAM_EVENTS in place until ctx ends: it ensures the stream as
// soon as NATS is connected, again after every reconnect (the server may
// have lost or replaced it), and when a publish or probe finds it missing.
// Failures are logged and retried with backoff.
func (r *Receiver) Run(ctx context.Context) {
	connected := r.nc.StatusChanged(nats.CONNECTED)
	defer r.nc.RemoveStatusListener(connected)
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval = 250*time.Millisecond, 10*time.Second
	need := true
	var retry <-chan time.Time
	for {
		if need && r.nc.IsConnected() {
			if err := r.CheckPayloadLimit(); err != nil {
				r.log.Error("webhooks that fit MAX_BODY_BYTES may not fit NATS; not ready until fixed", zap.Error(err))
			}
			actx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := r.EnsureStream(actx)
			cancel()
			if err == nil {
				need, retry = false, nil
				bo.Reset()
				r.log.Info("stream ready", zap.String("stream", events.StreamSeamEvents),
					zap.Int("replicas", r.cfg.Replicas), zap.Duration("dedup_window", r.cfg.DedupWindow))
			} else if ctx.Err() == nil {
				wait := bo.NextBackOff()
				r.log.Warn("cannot ensure stream; retrying", zap.Error(err), zap.Duration("in", wait))
				retry = time.After(wait)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-connected:
			need = true
		case <-r.ensure:
			need = true
		case <-retry:
		}
	}
}
