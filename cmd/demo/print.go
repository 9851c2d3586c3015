package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cardissuer/seamcards/internal/saga"
)

// printer writes states for people (a line per state, with elapsed time) or
// for machines (-json: each IssuanceState as published, one per line, and
// everything else on the notes writer, stderr).
type printer struct {
	out, notes io.Writer
	json       bool
}

func (p *printer) notef(format string, a ...any) { fmt.Fprintf(p.notes, format, a...) }

func (p *printer) title(title string, cmd saga.StartIssuance) {
	p.notef("%s\n  issuance %s: publish issuance.commands.start, follow issuance.events.%s.>\n", title, cmd.IssuanceID, cmd.IssuanceID)
}

func (p *printer) state(elapsed time.Duration, is saga.Issuance, cardDelay time.Duration) {
	if p.json {
		data, err := json.Marshal(is)
		if err != nil {
			p.notef("demo: encode state: %v\n", err)
			return
		}
		fmt.Fprintf(p.out, "%s\n", data)
		return
	}
	fmt.Fprintf(p.out, "  %7.3fs  v%-2d %-19s %s\n", elapsed.Seconds(), is.Version, is.State, describe(is, cardDelay))
}

// describe says in a few words what a state means and what it carries.
func describe(is saga.Issuance, cardDelay time.Duration) string {
	switch is.State {
	case saga.Accepted:
		return "mode " + is.Mode + ", system " + is.AcsSystemID
	case saga.UserReady:
		return "access system user " + is.AcsUserID + ", in the requested access groups"
	case saga.CredentialCreated:
		return "card credential " + is.AcsCredentialID
	case saga.Encoding:
		return fmt.Sprintf("encoder %s, action attempt %s (attempt %d); the card is written in about %s, then Seam's webhook confirms it",
			is.AcsEncoderID, is.ActionAttemptID, is.Attempts, cardDelay)
	case saga.Issued:
		s := "card number " + is.CardNumber
		if is.IssuedAt != nil {
			s += ", issued at " + is.IssuedAt.Format(time.RFC3339)
		}
		return s
	}
	if is.Error == nil {
		return ""
	}
	s := is.Error.Type + ": " + strings.TrimSuffix(is.Error.Message, ".")
	if is.Error.Retryable {
		s += " (retryable: waits for issuance.commands.retry or cancel)"
	}
	return s
}
