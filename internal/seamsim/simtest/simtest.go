// Package simtest runs seamsim for tests: the simulator on a real HTTP
// server, a seam.Client whose every request and answer is validated against
// Seam's OpenAPI document, and a webhook receiver that verifies each
// delivery's Svix signature with the svix library and validates the event.
// Every violation fails the test.
package simtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"

	"github.com/cardissuer/seamcards/internal/seam"
	"github.com/cardissuer/seamcards/internal/seam/seamspec"
	"github.com/cardissuer/seamcards/internal/seamsim"
)

// Env is a running simulator with a validating client and a receiver.
type Env struct {
	Sim       *seamsim.Sim
	URL       string // the simulator's base URL
	Client    *seam.Client
	HTTP      *http.Client // validates like Client, for raw requests
	Hooks     *Hooks
	Validator *seamspec.Validator
}

// Start runs a Sim built from cfg (its WebhookURL is set to the receiver)
// until the test ends. Client retries quickly; opts are added after that.
func Start(t testing.TB, cfg seamsim.Config, opts ...seam.Option) *Env {
	t.Helper()
	v, err := seamspec.Shared()
	if err != nil {
		t.Fatal(err)
	}
	hooks := newHooks(t, v)
	cfg.WebhookURL = hooks.URL
	sim, err := seamsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hooks.setSecret(sim.WebhookSecret())
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() {
		srv.Close()
		_ = sim.Close()
	})
	hc := &http.Client{Transport: &seamspec.Transport{Validator: v, Report: func(err error) {
		t.Errorf("seam contract: %v", err)
	}}}
	client, err := seam.New(srv.URL, sim.APIKey(), append([]seam.Option{
		seam.WithHTTPClient(hc), seam.WithRetryBackoff(5*time.Millisecond, 50*time.Millisecond),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return &Env{Sim: sim, URL: srv.URL, Client: client, HTTP: hc, Hooks: hooks, Validator: v}
}

// Delivery is one webhook request the receiver got.
type Delivery struct {
	SvixID    string
	Timestamp string
	Event     *seam.Event
	Body      []byte
	Status    int // what the receiver answered
}

// Hooks is a webhook receiver. It answers 204 unless told otherwise.
type Hooks struct {
	URL string
	t   testing.TB
	v   *seamspec.Validator

	mu       sync.Mutex
	verifier *svix.Webhook
	all      []Delivery
	failNext int
	status   int
	changed  chan struct{}
}

func newHooks(t testing.TB, v *seamspec.Validator) *Hooks {
	h := &Hooks{t: t, v: v, changed: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(srv.Close)
	h.URL = srv.URL + "/webhooks/seam"
	return h
}

func (h *Hooks) setSecret(secret string) {
	wh, err := svix.NewWebhook(secret)
	if err != nil {
		h.t.Fatal(err)
	}
	h.mu.Lock()
	h.verifier = wh
	h.mu.Unlock()
}

func (h *Hooks) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	verifier := h.verifier
	status := http.StatusNoContent
	switch {
	case h.failNext > 0:
		h.failNext--
		status = http.StatusInternalServerError
	case h.status != 0:
		status = h.status
	}
	h.mu.Unlock()
	if err := verifier.Verify(body, r.Header); err != nil {
		h.t.Errorf("webhook %s: signature does not verify: %v", r.Header.Get("svix-id"), err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if err := h.v.ValidateEvent(body); err != nil {
		h.t.Errorf("webhook %s: %v", r.Header.Get("svix-id"), err)
	}
	ev, err := seam.ParseEvent(body)
	if err != nil {
		h.t.Errorf("webhook %s: %v", r.Header.Get("svix-id"), err)
	}
	h.mu.Lock()
	h.all = append(h.all, Delivery{SvixID: r.Header.Get("svix-id"), Timestamp: r.Header.Get("svix-timestamp"), Event: ev, Body: body, Status: status})
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
	w.WriteHeader(status)
}

// FailNext makes the receiver answer 500 to the next n deliveries.
func (h *Hooks) FailNext(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failNext = n
}

// SetStatus makes the receiver answer status from now on (0: 204).
func (h *Hooks) SetStatus(status int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.status = status
}

// All returns every delivery received, in arrival order.
func (h *Hooks) All() []Delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.all)
}

// Accepted returns the deliveries answered 2xx.
func (h *Hooks) Accepted() []Delivery {
	return slices.DeleteFunc(h.All(), func(d Delivery) bool { return d.Status >= 300 })
}

// Wait waits until pred holds for the deliveries received, or fails the
// test after timeout.
func (h *Hooks) Wait(timeout time.Duration, pred func([]Delivery) bool) []Delivery {
	h.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		h.mu.Lock()
		all, changed := slices.Clone(h.all), h.changed
		h.mu.Unlock()
		if pred(all) {
			return all
		}
		select {
		case <-changed:
		case <-deadline.C:
			h.t.Fatalf("webhooks: condition not met within %s; got %s", timeout, describe(all))
			return nil
		}
	}
}

// WaitEvent waits for an accepted delivery of eventType about id (a
// credential, encoder or user id) and returns it.
func (h *Hooks) WaitEvent(timeout time.Duration, eventType, id string) Delivery {
	h.t.Helper()
	var found Delivery
	h.Wait(timeout, func(all []Delivery) bool {
		for _, d := range all {
			if d.Status < 300 && d.Event != nil && d.Event.EventType == eventType && About(d.Event, id) {
				found = d
				return true
			}
		}
		return false
	})
	return found
}

// About reports whether an event names id.
func About(ev *seam.Event, id string) bool {
	return id == "" || ev.AcsCredentialID == id || ev.AcsEncoderID == id || ev.AcsUserID == id || ev.ActionAttemptID == id
}

// Idle waits until the simulator has no webhook left to deliver.
func Idle(t testing.TB, sim *seamsim.Sim, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for sim.PendingWebhooks() > 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("seamsim still has %d webhooks pending after %s", sim.PendingWebhooks(), timeout)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func describe(all []Delivery) string {
	s := fmt.Sprintf("%d deliveries", len(all))
	for _, d := range all {
		if d.Event != nil {
			s += fmt.Sprintf("; %s %s (%d)", d.SvixID, d.Event.EventType, d.Status)
		}
	}
	return s
}
