package seamsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// WebhookFaultKind is what a webhook fault does to the next matching event.
type WebhookFaultKind string

// Webhook faults.
const (
	WebhookDelay          WebhookFaultKind = "delay"            // first attempt after Delay
	WebhookDrop           WebhookFaultKind = "drop"             // never delivered
	WebhookDuplicate      WebhookFaultKind = "duplicate"        // delivered again, same svix-id, once delivered
	WebhookDuplicateNewID WebhookFaultKind = "duplicate_new_id" // the same body again under a new svix-id
	WebhookReorder        WebhookFaultKind = "reorder"          // held back until the next webhook has been tried
)

// WebhookFault changes the delivery of the next event of EventType (any
// type when empty). Faults apply in the order they were injected, each to
// one event.
type WebhookFault struct {
	Kind      WebhookFaultKind
	EventType string
	Delay     time.Duration
}

// message is one Svix message: an event body and its svix-id.
type message struct {
	id, eventID, eventType string
	body                   []byte
}

// deliverer sends events to the webhook URL, concurrently, retrying each
// message on its schedule with the same svix-id and a fresh signature.
type deliverer struct {
	s      *Sim
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	sem    chan struct{}
	active atomic.Int64 // messages not yet delivered, given up or dropped

	mu        sync.Mutex
	closed    bool
	url       string
	faults    []WebhookFault
	reordered []*message
}

func newDeliverer(s *Sim) *deliverer {
	ctx, cancel := context.WithCancel(context.Background())
	return &deliverer{
		s: s, ctx: ctx, cancel: cancel, url: s.cfg.WebhookURL,
		sem: make(chan struct{}, s.cfg.WebhookConcurrency),
	}
}

func (d *deliverer) close() {
	d.mu.Lock()
	d.closed = true
	d.reordered = nil
	d.mu.Unlock()
	d.cancel()
	d.wg.Wait()
}

// SetWebhookURL sets where events go from now on (retries included); empty
// stops deliveries.
func (s *Sim) SetWebhookURL(u string) error {
	if u != "" {
		if err := CheckWebhookURL(u); err != nil {
			return invalidInput("%v", err)
		}
	}
	s.deliverer.mu.Lock()
	defer s.deliverer.mu.Unlock()
	s.deliverer.url = u
	return nil
}

// InjectWebhookFault queues a fault for the next matching event.
func (s *Sim) InjectWebhookFault(f WebhookFault) error {
	switch f.Kind {
	case WebhookDelay:
		if f.Delay <= 0 {
			return invalidInput("a delay fault needs a positive delay")
		}
	case WebhookDrop, WebhookDuplicate, WebhookDuplicateNewID, WebhookReorder:
	default:
		return invalidInput("unknown webhook fault %q", f.Kind)
	}
	if f.EventType != "" && !s.knownEventType(f.EventType) {
		return invalidInput("unknown event type %q", f.EventType)
	}
	d := s.deliverer
	d.mu.Lock()
	defer d.mu.Unlock()
	d.faults = append(d.faults, f)
	return nil
}

func (s *Sim) knownEventType(t string) bool {
	for _, et := range s.spec.EventTypes() {
		if et == t {
			return true
		}
	}
	return false
}

// ReleaseReorderedWebhooks sends the webhooks a reorder fault holds back
// without waiting for another one.
func (s *Sim) ReleaseReorderedWebhooks() {
	d := s.deliverer
	d.mu.Lock()
	held := d.reordered
	d.reordered = nil
	d.mu.Unlock()
	for _, m := range held {
		d.start(m, 0, nil, nil)
	}
}

// PendingWebhooks counts messages not yet delivered, given up or dropped
// (held ones included): 0 means every event so far has had its outcome.
func (s *Sim) PendingWebhooks() int { return int(s.deliverer.active.Load()) }

// emit delivers events, each as a new message. Called without s.mu.
func (s *Sim) emit(evs ...wireEvent) {
	for _, ev := range evs {
		body, err := json.Marshal(ev)
		if err != nil {
			s.log.Error("encode event", zap.Error(err))
			continue
		}
		s.deliverer.dispatch(&message{id: newMsgID(), eventID: ev.EventID, eventType: ev.EventType, body: body})
	}
}

func (d *deliverer) dispatch(m *message) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	var fault *WebhookFault
	for i, f := range d.faults {
		if f.EventType == "" || f.EventType == m.eventType {
			fault = &f
			d.faults = append(d.faults[:i:i], d.faults[i+1:]...)
			break
		}
	}
	d.active.Add(1)
	if fault != nil && fault.Kind == WebhookReorder {
		d.reordered = append(d.reordered, m)
		d.mu.Unlock()
		return
	}
	held := d.reordered
	d.reordered = nil
	d.mu.Unlock()

	release := func() {
		for _, h := range held {
			d.start(h, 0, nil, nil)
		}
	}
	if fault != nil && fault.Kind == WebhookDrop {
		d.s.calls.add(Call{Time: time.Now(), Kind: KindWebhook, EventType: m.eventType, EventID: m.eventID, SvixID: m.id, Outcome: OutcomeDropped})
		d.active.Add(-1)
		release()
		return
	}
	var delay time.Duration
	var again *message
	if fault != nil {
		switch fault.Kind {
		case WebhookDelay:
			delay = fault.Delay
		case WebhookDuplicate:
			again = m
		case WebhookDuplicateNewID:
			again = &message{id: newMsgID(), eventID: m.eventID, eventType: m.eventType, body: m.body}
		}
	}
	d.start(m, delay, again, release)
}

// start runs one message's attempts in a goroutine. afterFirst runs once
// the first attempt is over; again is delivered once m has been.
func (d *deliverer) start(m *message, delay time.Duration, again *message, afterFirst func()) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.wg.Add(1)
	d.mu.Unlock()
	go func() {
		defer d.wg.Done()
		defer d.active.Add(-1)
		delivered := d.run(m, delay, afterFirst)
		if delivered && again != nil {
			d.active.Add(1)
			d.start(again, 0, nil, nil)
		}
	}()
}

func (d *deliverer) run(m *message, delay time.Duration, afterFirst func()) bool {
	if !d.sleep(delay) {
		return false
	}
	schedule := d.s.cfg.WebhookRetrySchedule
	for attempt := 1; ; attempt++ {
		c := d.attempt(m, attempt)
		last := attempt > len(schedule)
		switch {
		case c.Outcome == OutcomeDelivered, c.Outcome == OutcomeNoURL:
		case last:
			c.Outcome = OutcomeGaveUp
		default:
			c.Outcome = OutcomeFailed
		}
		if c.Seq > 0 {
			d.s.calls.update(c.Seq, c)
		} else if d.ctx.Err() == nil {
			d.s.calls.add(c)
		}
		if afterFirst != nil {
			afterFirst()
			afterFirst = nil
		}
		if c.Outcome != OutcomeFailed {
			return c.Outcome == OutcomeDelivered
		}
		if !d.sleep(schedule[attempt-1]) {
			return false
		}
	}
}

func (d *deliverer) sleep(wait time.Duration) bool {
	if wait <= 0 {
		return d.ctx.Err() == nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-d.ctx.Done():
		return false
	}
}

// attempt makes one signed POST and says how it went.
func (d *deliverer) attempt(m *message, n int) Call {
	d.mu.Lock()
	target := d.url
	d.mu.Unlock()
	c := Call{Time: time.Now(), Kind: KindWebhook, Method: http.MethodPost, EventType: m.eventType, EventID: m.eventID, SvixID: m.id, Attempt: n}
	if target == "" {
		c.Outcome = OutcomeNoURL
		return c
	}
	if u, err := url.Parse(target); err == nil {
		c.Path = u.Path
	}
	select {
	case d.sem <- struct{}{}:
		defer func() { <-d.sem }()
	case <-d.ctx.Done():
		c.Error = "seamsim closed"
		return c
	}
	c.Outcome = OutcomeSending
	c.Seq = d.s.calls.add(c)
	status, err := d.post(target, m)
	c.Outcome = ""
	c.Status, c.Duration = status, time.Since(c.Time)
	if err != nil {
		c.Error = err.Error()
	} else if status >= 200 && status < 300 {
		c.Outcome = OutcomeDelivered
	}
	d.s.log.Debug("webhook attempt", zap.String("svix_id", m.id), zap.String("event_type", m.eventType),
		zap.Int("attempt", n), zap.Int("status", status), zap.Error(err))
	return c
}

func (d *deliverer) post(target string, m *message) (int, error) {
	ctx, cancel := context.WithTimeout(d.ctx, d.s.cfg.WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(m.body))
	if err != nil {
		return 0, err
	}
	// Each attempt is signed afresh, so that a retry hours later still
	// passes the receiver's timestamp check; the svix-id stays.
	now := time.Now()
	sig, err := d.s.signer.Sign(m.id, now, m.body)
	if err != nil {
		return 0, fmt.Errorf("sign: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Svix-Webhooks/1.44 (sender-seamsim)")
	req.Header.Set("svix-id", m.id)
	req.Header.Set("svix-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("svix-signature", sig)
	resp, err := d.s.cfg.HTTPClient.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, fmt.Errorf("no answer within %s", d.s.cfg.WebhookTimeout)
		}
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}
