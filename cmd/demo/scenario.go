package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cardissuer/seamcards/internal/saga"
	"github.com/cardissuer/seamcards/internal/seam"
	"github.com/cardissuer/seamcards/internal/seamsim"
	"github.com/cardissuer/seamcards/internal/stack"
)

// Jane Doe of Seam's Salto Space walkthrough.
var jane = saga.User{FullName: "Jane Doe", PhoneNumber: "+15555550100"}

var walkthroughGroups = []string{seamsim.AccessGroupStaff, seamsim.AccessGroupGuests}

type scenario struct {
	about string
	run   func(context.Context, *demo) (saga.Issuance, error)
}

var scenarios = map[string]scenario{
	"new": {
		about: "a first card for a new guest",
		run: func(ctx context.Context, d *demo) (saga.Issuance, error) {
			return d.issue(ctx, "A new key card for Jane Doe", d.newUser(), nil)
		},
	},
	"fail-then-retry": {
		about: "no card on the encoder, then a retry once one lies on it",
		run: func(ctx context.Context, d *demo) (saga.Issuance, error) {
			// Seam's own sandbox endpoint: the next encoding finds no card.
			if err := d.s.Client.SimulateNextEncodeWillFail(ctx, seamsim.EncoderID, seam.ActionErrorNoCredentialOnEncoder); err != nil {
				return saga.Issuance{}, fmt.Errorf("arrange a failing encoding: %w", err)
			}
			return d.issue(ctx, "A new key card for Jane Doe, but nobody laid a card on the encoder", d.newUser(), d.retryOnce)
		},
	},
	"replace": {
		about: "a lost card: the old credential is deleted and a new card written",
		run: func(ctx context.Context, d *demo) (saga.Issuance, error) {
			first, err := d.firstCard(ctx)
			if err != nil {
				return first, err
			}
			return d.issue(ctx, "Jane lost her card: replace it", d.existingUser(first, saga.ModeReplace), nil)
		},
	},
	"update": {
		about: "changed access written onto the card the guest holds",
		run: func(ctx context.Context, d *demo) (saga.Issuance, error) {
			first, err := d.firstCard(ctx)
			if err != nil {
				return first, err
			}
			return d.issue(ctx, "Jane's access changed: rewrite the card she holds", d.existingUser(first, saga.ModeUpdate), nil)
		},
	},
}

func scenarioNames() string {
	var names []string
	for n := range scenarios {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

type demo struct {
	s         *stack.Stack
	p         *printer
	cardDelay time.Duration
	seq       int
}

// newID returns a fresh issuance id, so that a demo kept running can be
// walked again without colliding with its own history.
func (d *demo) newID() string {
	d.seq++
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return "demo-" + hex.EncodeToString(b) + "-" + strconv.Itoa(d.seq)
}

func (d *demo) newUser() saga.StartIssuance {
	u := jane
	return saga.StartIssuance{IssuanceID: d.newID(), AcsSystemID: seamsim.SystemID, User: &u,
		AcsAccessGroupIDs: walkthroughGroups, Mode: saga.ModeNew}
}

func (d *demo) existingUser(first saga.Issuance, mode string) saga.StartIssuance {
	return saga.StartIssuance{IssuanceID: d.newID(), AcsSystemID: first.AcsSystemID, AcsUserID: first.AcsUserID,
		AcsAccessGroupIDs: walkthroughGroups, Mode: mode}
}

// firstCard gives Jane the card the replace and update scenarios start from.
func (d *demo) firstCard(ctx context.Context) (saga.Issuance, error) {
	first, err := d.issue(ctx, "First, Jane Doe gets her card", d.newUser(), nil)
	if err == nil && first.State != saga.Issued {
		err = fmt.Errorf("the first card ended %s", first.State)
	}
	return first, err
}

// retryOnce answers the first encoding_failed with a retry, as an operator
// would once a blank card lies on the encoder.
func (d *demo) retryOnce(ctx context.Context, is saga.Issuance) (bool, error) {
	if is.Attempts > 1 || is.Error == nil || !is.Error.Retryable {
		return false, nil
	}
	d.p.notef("           (Seam sends no webhook for a failed encoding: the worker read the action attempt once at ENCODING_TIMEOUT)\n")
	d.p.notef("           the clerk lays a blank card on the encoder; the backend sends issuance.commands.retry\n")
	return true, d.s.Retry(ctx, is.IssuanceID, "", strconv.Itoa(is.Attempts))
}

// issue starts one issuance as a backend does (JetStream publish on
// issuance.commands.start) and follows issuance.events.<id>.> until a
// terminal state, handing encoding_failed to onFailed (nil: give up there).
func (d *demo) issue(ctx context.Context, title string, cmd saga.StartIssuance,
	onFailed func(context.Context, saga.Issuance) (bool, error)) (saga.Issuance, error) {
	states, stop, err := d.s.Follow(ctx, cmd.IssuanceID)
	if err != nil {
		return saga.Issuance{}, err
	}
	defer stop()
	d.p.title(title, cmd)
	start := time.Now()
	if err := d.s.Start(ctx, cmd); err != nil {
		return saga.Issuance{}, fmt.Errorf("publish the start command: %w", err)
	}
	var last saga.Issuance
	for {
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case is := <-states:
			if is.Version <= last.Version {
				continue // a redelivery
			}
			last = is
			d.p.state(time.Since(start), is, d.cardDelay)
			if is.State.Terminal() {
				d.p.notef("\n")
				return is, nil
			}
			if is.State == saga.EncodingFailed {
				retried := false
				if onFailed != nil {
					if retried, err = onFailed(ctx, is); err != nil {
						return last, err
					}
				}
				if !retried {
					d.p.notef("\n")
					return is, nil
				}
			}
		}
	}
}

// summary shows the outcome as Seam itself reports it.
func (d *demo) summary(ctx context.Context, is saga.Issuance) {
	calls := d.s.Sim.Calls()
	if is.State != saga.Issued {
		d.p.notef("The issuance ended %s", is.State)
		if is.Error != nil {
			d.p.notef(": %s: %s", is.Error.Type, is.Error.Message)
		}
		d.p.notef("\n")
		return
	}
	d.p.notef("Issued: card %s for %s (issuance %s)\n", is.CardNumber, jane.FullName, is.IssuanceID)
	cred, err := d.s.Client.GetCredential(ctx, is.AcsCredentialID)
	if err != nil {
		d.p.notef("  (could not read the credential back from seamsim: %v)\n", err)
		return
	}
	d.p.notef("  Seam's /acs/credentials/get: %s, access_method %s, card_number %s, is_issued %t, issued_at %s\n",
		cred.AcsCredentialID, cred.AccessMethod, deref(cred.CardNumber), cred.IsIssued, cred.IssuedAt.Format(time.RFC3339))
	if creds, err := d.s.Client.ListCredentials(ctx, seam.ListCredentialsRequest{AcsUserID: is.AcsUserID}); err == nil {
		d.p.notef("  %s now holds %d credential(s) at Seam:", jane.FullName, len(creds))
		for _, c := range creds {
			d.p.notef(" %s", c.AcsCredentialID)
		}
		d.p.notef("\n")
	}
	api, reads := 0, 0
	var hooks []string
	for _, c := range calls {
		switch {
		case c.Kind == seamsim.KindAPI:
			api++
			if c.Path == "/action_attempts/get" {
				reads++
			}
		// The last delivery may still be reading the receiver's answer.
		case c.Kind == seamsim.KindWebhook && (c.Outcome == seamsim.OutcomeDelivered || c.Outcome == seamsim.OutcomeSending):
			hooks = append(hooks, c.EventType)
		}
	}
	d.p.notef("  Seam API calls: %d, of which /action_attempts/get: %d (no polling: only reads at an encoding deadline)\n", api, reads)
	d.p.notef("  Signed webhooks delivered to the receiver: %s\n", strings.Join(hooks, ", "))
}

func deref(s *string) string {
	if s == nil {
		return "(none)"
	}
	return *s
}

// keepRunning prints how to reach the running stack and waits for Ctrl-C.
func (d *demo) keepRunning(ctx context.Context) {
	s := d.s
	d.p.notef("\nEverything keeps running; Ctrl-C stops it.\n")
	d.p.notef("  NATS      %s  (streams ISSUANCE_COMMANDS, ISSUANCE_EVENTS, SEAM_EVENTS; bucket ISSUANCES)\n", s.NATS.URL())
	d.p.notef("  receiver  %s/webhooks/seam  (and /healthz, /readyz, /metrics)\n", s.ReceiverURL)
	d.p.notef("  worker    %s/metrics\n", s.WorkerURLs[0])
	d.p.notef("  seamsim   %s  (Authorization: Bearer %s)\n", s.SimURL, s.Sim.APIKey())
	d.p.notef("Start another issuance from a second terminal:\n")
	d.p.notef("  go run ./examples/backend -nats-url %s -name \"John Smith\" -phone +15555550101\n", s.NATS.URL())
	<-ctx.Done()
	d.p.notef("Stopping.\n")
}
