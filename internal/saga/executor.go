package saga

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/cardissuer/seamcards/internal/events"
)

// ErrBusy means another worker is progressing the issuance right now; try
// the input again shortly.
var ErrBusy = errors.New("issuance is being progressed by another worker")

// Performer makes the Seam calls the core asks for. A non-retryable Seam
// refusal comes back as a CallFailed input; an error means "not now" (429,
// 5xx, network, timeout): the call may or may not have happened.
type Performer interface {
	Perform(ctx context.Context, c Call) (Input, error)
}

// Executor applies inputs to issuances: it loads a record, asks the core,
// stores the decision with compare-and-set, publishes state changes, arms
// deadlines and performs calls, feeding their results back, until the
// issuance waits for something from outside.
type Executor struct {
	Core   Core
	Store  *Store
	Index  *Index
	Timers *Timers
	JS     jetstream.JetStream
	// Events is the ISSUANCE_EVENTS stream, where published states are read back.
	Events  jetstream.Stream
	Seam    Performer
	Log     *zap.Logger
	Metrics *Metrics
	// Owner names this worker in leases.
	Owner string
	// LeaseTTL bounds how long a dead worker blocks an issuance; StepTimeout
	// bounds one Seam call (with its retries) and must be well below it.
	LeaseTTL    time.Duration
	StepTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	drives atomic.Uint64
}

func (x *Executor) now() time.Time {
	if x.Now != nil {
		return x.Now().UTC()
	}
	return time.Now().UTC()
}

// IssuanceError is an error applying an input to one issuance; ID names the
// issuance for the logs of whoever handles the error.
type IssuanceError struct {
	ID  string
	Err error
}

func (e *IssuanceError) Error() string { return "issuance " + e.ID + ": " + e.Err.Error() }
func (e *IssuanceError) Unwrap() error { return e.Err }

// ForIssuance wraps a non-nil err as an *IssuanceError for issuance id.
func ForIssuance(id string, err error) error {
	if err == nil {
		return nil
	}
	return &IssuanceError{ID: id, Err: err}
}

// Handle applies in to issuance id. A nil error means the input is fully
// applied (or was a no-op) and its message can be acknowledged; any other is
// an *IssuanceError.
func (x *Executor) Handle(ctx context.Context, id string, in Input) error {
	owner := x.Owner + "/" + strconv.FormatUint(x.drives.Add(1), 10)
	log := x.Log.With(zap.String("issuance_id", id))
	queue := []Input{in}
	if _, ok := in.(Start); !ok {
		// Finish whatever a crashed worker left (an intent without its
		// result, a state with more steps to go) before the new input.
		queue = []Input{Resume{}, in}
	}
	return ForIssuance(id, x.drive(ctx, log, owner, id, queue))
}

func (x *Executor) drive(ctx context.Context, log *zap.Logger, owner, id string, inputs []Input) error {
	holding := false
	defer func() {
		if holding {
			x.release(log, id, owner)
		}
	}()
	for attempt := 0; attempt < 50; attempt++ {
		restart, err := x.driveOnce(ctx, log, owner, id, inputs, &holding)
		if !restart {
			return err
		}
	}
	return errors.New("the record kept changing under this worker")
}

// driveOnce runs the decision loop on a fresh load. It asks for a restart
// when the record changed while a read it made without storing its decision
// first was in flight: that read's result belongs to the old record.
func (x *Executor) driveOnce(ctx context.Context, log *zap.Logger, owner, id string, inputs []Input, holding *bool) (restart bool, _ error) {
	rec, rev, err := x.Store.Load(ctx, id)
	if err != nil {
		return false, err
	}
	published, err := x.published(ctx, log, rec)
	if err != nil {
		return false, err
	}
	in, queue := inputs[0], inputs[1:]
	unstored := false // a decision is held in memory only, across a read
	for steps := 0; ; steps++ {
		if steps > 100 {
			return false, errors.New("decision loop did not settle")
		}
		now := x.now()
		if l := rec.Saga.Lease; l != nil && l.Owner != owner && now.Before(l.Until) {
			return false, ErrBusy
		}
		d := x.Core.Decide(rec, in, now)
		if d.Idle() {
			switch {
			case d.Note == "":
			case isCommand(in):
				// A backend asked for something that cannot happen now.
				log.Info("command changed nothing", zap.String("input", inputName(in)), zap.String("why", d.Note))
			default:
				log.Debug("input changed nothing", zap.String("input", inputName(in)), zap.String("why", d.Note))
			}
			if len(queue) > 0 {
				in, queue = queue[0], queue[1:]
				continue
			}
			if unstored {
				// Store what was decided before the read.
				if _, err := x.Store.Save(ctx, rec, rev); errors.Is(err, ErrConflict) {
					return true, nil
				} else if err != nil {
					return false, err
				}
				*holding = false
			}
			return false, nil
		}
		next := d.Next
		next.Saga.PublishedVersion = published
		next.Saga.Lease = nil
		// A read needs no intent and no lease: store its decision together
		// with the decision on its result, in one write.
		if d.Call != nil && isRead(d.Call) && next.Version == rec.Version && d.Timer == nil {
			rec, unstored = next, true
		} else {
			if d.Call != nil {
				next.Saga.Lease = &Lease{Owner: owner, Until: now.Add(x.LeaseTTL)}
			}
			newRev, err := x.Store.Save(ctx, next, rev)
			if errors.Is(err, ErrConflict) {
				if unstored {
					return true, nil
				}
				if rec, rev, err = x.Store.Load(ctx, id); err != nil {
					return false, err
				}
				published = max(published, rec.Saga.PublishedVersion)
				continue // decide the same input again on the fresh record
			}
			if err != nil {
				return false, err
			}
			*holding, unstored = next.Saga.Lease != nil, false
			if next.Version != rec.Version {
				if err := x.publish(ctx, next.Issuance); err != nil {
					return false, err
				}
				published = next.Version
				x.Metrics.entered(next.State)
				log.Info("issuance state", zap.String("state", string(next.State)), zap.Int("version", next.Version),
					zap.String("input", inputName(in)))
			}
			rec, rev = next, newRev
		}
		if d.Timer != nil {
			if err := x.Timers.Arm(ctx, id, *d.Timer); err != nil {
				return false, err
			}
		}
		if d.Call == nil {
			in = Resume{}
			continue
		}
		x.Metrics.reconcile(d.Call, rec.Saga.Pending)
		res, err := x.perform(ctx, log, id, d.Call)
		if err != nil {
			return false, fmt.Errorf("%s: %w", callName(d.Call), err)
		}
		in = res
	}
}

func isCommand(in Input) bool {
	switch in.(type) {
	case Start, Retry, Cancel:
		return true
	}
	return false
}

// isRead reports whether a call changes nothing at Seam.
func isRead(c Call) bool {
	switch c.(type) {
	case ReadCredential, ReadAttempt, PickEncoder, ListCredentials:
		return true
	}
	return false
}

// release drops a lease after a failed drive so that the next attempt need
// not wait for it to expire. Best effort: an expired lease does the same.
func (x *Executor) release(log *zap.Logger, id, owner string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rec, rev, err := x.Store.Load(ctx, id)
	if err != nil || rec.Saga.Lease == nil || rec.Saga.Lease.Owner != owner {
		return
	}
	rec.Saga.Lease = nil
	if _, err := x.Store.Save(ctx, rec, rev); err != nil {
		log.Debug("lease not released; it will expire", zap.Error(err))
	}
}

// published returns the highest version known to be published. A drive
// records what it published in its next write, so the state its last write
// stored may be unconfirmed: look at the last message on that state's
// subject, and publish it if a crash lost it. The message id makes a repeat
// harmless.
func (x *Executor) published(ctx context.Context, log *zap.Logger, rec Record) (int, error) {
	if rec.Version == 0 || rec.Version <= rec.Saga.PublishedVersion {
		return rec.Saga.PublishedVersion, nil
	}
	if l := rec.Saga.Lease; l != nil && x.now().Before(l.Until) {
		return rec.Saga.PublishedVersion, nil // its owner is alive and will publish
	}
	msgID := rec.IssuanceID + ":" + strconv.Itoa(rec.Version)
	m, err := x.Events.GetLastMsgForSubject(ctx, events.IssuanceEventSubject(rec.IssuanceID, string(rec.State)))
	switch {
	case err == nil && m.Header.Get(jetstream.MsgIDHeader) == msgID:
		return rec.Version, nil
	case err != nil && !errors.Is(err, jetstream.ErrMsgNotFound):
		return 0, fmt.Errorf("look up the last state of %s: %w", rec.IssuanceID, err)
	}
	if err := x.publish(ctx, rec.Issuance); err != nil {
		return 0, err
	}
	log.Info("published a state a crashed worker stored but did not publish", zap.String("state", string(rec.State)), zap.Int("version", rec.Version))
	return rec.Version, nil
}

func (x *Executor) publish(ctx context.Context, is Issuance) error {
	data, err := json.Marshal(is)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	msg := &nats.Msg{
		Subject: events.IssuanceEventSubject(is.IssuanceID, string(is.State)),
		Data:    data,
		Header:  nats.Header{},
	}
	msg.Header.Set(jetstream.MsgIDHeader, is.IssuanceID+":"+strconv.Itoa(is.Version))
	if _, err := x.JS.PublishMsg(ctx, msg, jetstream.WithExpectStream(events.StreamIssuanceEvents)); err != nil {
		return fmt.Errorf("publish %s v%d: %w", is.State, is.Version, err)
	}
	return nil
}

// perform makes one call, indexing around encode_credential so that its
// events can find the issuance whenever they arrive.
func (x *Executor) perform(ctx context.Context, log *zap.Logger, id string, c Call) (Input, error) {
	if e, ok := c.(Encode); ok {
		if err := x.Index.Credential(ctx, e.CredentialID, id); err != nil {
			return nil, err
		}
		if err := x.Index.Encoder(ctx, e.EncoderID, id); err != nil {
			return nil, err
		}
	}
	sctx, cancel := context.WithTimeout(ctx, x.StepTimeout)
	defer cancel()
	start := time.Now()
	res, err := x.Seam.Perform(sctx, c)
	x.Metrics.step(callName(c), time.Since(start), err)
	if err != nil {
		return nil, err
	}
	if f, ok := res.(CallFailed); ok {
		log.Warn("seam refused a call", zap.String("call", callName(c)), zap.String("type", f.Type), zap.String("message", f.Message))
	}
	if s, ok := res.(EncodeStarted); ok && s.ActionAttemptID != "" {
		if err := x.Index.Attempt(ctx, s.ActionAttemptID, id); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func callName(c Call) string    { return reflect.TypeOf(c).Name() }
func inputName(in Input) string { return reflect.TypeOf(in).Name() }
