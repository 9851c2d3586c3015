package seamsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// knobPrefix is where the test knobs live; the real API has no such path.
const knobPrefix = "/_sim"

// FailNextCalls makes the next n calls of an API path answer status (429 or
// 5xx) with Seam's error body, and Retry-After when retryAfter > 0 (whole
// seconds, rounded up). It replaces an earlier fault on the same path.
func (s *Sim) FailNextCalls(path string, n, status int, retryAfter time.Duration) error {
	if !strings.HasPrefix(path, "/") || s.handlers[path] == nil {
		return invalidInput("seamsim does not serve %q", path)
	}
	if n < 1 {
		return invalidInput("count must be at least 1")
	}
	if status != http.StatusTooManyRequests && (status < 500 || status > 599) {
		return invalidInput("status must be 429 or 5xx")
	}
	if retryAfter < 0 {
		return invalidInput("retry_after must not be negative")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[path] = &callFault{n: n, status: status, retryAfter: retryAfter}
	return nil
}

// AnswerHold withholds the answer of one call that seamsim has applied: what
// a caller sees when it dies, or its connection drops, after Seam acted but
// before the answer arrived.
type AnswerHold struct {
	reached chan struct{}
	release chan struct{}
	once    sync.Once
}

// Reached is closed once the held call has been applied.
func (h *AnswerHold) Reached() <-chan struct{} { return h.reached }

// Release lets the held answer go (to a caller that may be gone).
func (h *AnswerHold) Release() { h.once.Do(func() { close(h.release) }) }

// HoldNextAnswer applies the next successful call of an API path as usual
// but holds its answer until Release. Go-only: crash tests use it to kill a
// caller between Seam's effect and its answer.
func (s *Sim) HoldNextAnswer(path string) (*AnswerHold, error) {
	if !strings.HasPrefix(path, "/") || s.handlers[path] == nil {
		return nil, invalidInput("seamsim does not serve %q", path)
	}
	h := &AnswerHold{reached: make(chan struct{}), release: make(chan struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holds[path] = h
	return h, nil
}

func (s *Sim) takeHold(path string) *AnswerHold {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.holds[path]
	delete(s.holds, path)
	return h
}

// State is what seamsim holds, for assertions.
type State struct {
	Users          []UserState       `json:"users"`
	Credentials    []CredentialState `json:"credentials"` // deleted ones included, flagged
	Encoders       []EncoderState    `json:"encoders"`
	ActionAttempts []AttemptState    `json:"action_attempts"`
}

// UserState is an access system user.
type UserState struct {
	AcsUserID         string    `json:"acs_user_id"`
	FullName          string    `json:"full_name"`
	EmailAddress      string    `json:"email_address,omitempty"`
	PhoneNumber       string    `json:"phone_number,omitempty"`
	AcsAccessGroupIDs []string  `json:"acs_access_group_ids"`
	CreatedAt         time.Time `json:"created_at"`
}

// CredentialState is a credential.
type CredentialState struct {
	AcsCredentialID string    `json:"acs_credential_id"`
	AcsUserID       string    `json:"acs_user_id"`
	AssignNewKey    bool      `json:"assign_new_key"`
	CardNumber      string    `json:"card_number,omitempty"`
	IsIssued        bool      `json:"is_issued"`
	Deleted         bool      `json:"deleted"`
	Invalidated     bool      `json:"invalidated"`
	CreatedAt       time.Time `json:"created_at"`
}

// EncoderState is an encoder.
type EncoderState struct {
	AcsEncoderID string `json:"acs_encoder_id"`
	DisplayName  string `json:"display_name"`
	Removed      bool   `json:"removed"`
	Offline      bool   `json:"offline"`
	Held         bool   `json:"held"`
	Running      int    `json:"running"`
	Queued       int    `json:"queued"`
}

// AttemptState is an encoding's action attempt.
type AttemptState struct {
	ActionAttemptID string `json:"action_attempt_id"`
	AcsCredentialID string `json:"acs_credential_id"`
	AcsEncoderID    string `json:"acs_encoder_id"`
	Status          string `json:"status"`
	ErrorType       string `json:"error_type,omitempty"`
}

// CredentialsOf returns the user's credentials that are not deleted.
func (st State) CredentialsOf(acsUserID string) []CredentialState {
	var out []CredentialState
	for _, c := range st.Credentials {
		if c.AcsUserID == acsUserID && !c.Deleted {
			out = append(out, c)
		}
	}
	return out
}

// State returns a copy of what seamsim holds, each list in creation order.
func (s *Sim) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st State
	users := mapValues(s.w.users)
	slices.SortFunc(users, func(a, b *user) int { return int(a.seq - b.seq) })
	for _, u := range users {
		groups := make([]string, 0, len(u.groups))
		for g := range u.groups {
			groups = append(groups, g)
		}
		slices.Sort(groups)
		st.Users = append(st.Users, UserState{u.id, u.fullName, u.email, u.phone, groups, u.createdAt})
	}
	creds := mapValues(s.w.creds)
	slices.SortFunc(creds, func(a, b *credential) int { return int(a.seq - b.seq) })
	for _, c := range creds {
		st.Credentials = append(st.Credentials, CredentialState{c.id, c.userID, c.assignNewKey, c.cardNumber,
			!c.issuedAt.IsZero(), c.deleted, c.invalidated, c.createdAt})
	}
	encs := mapValues(s.w.encoders)
	slices.SortFunc(encs, func(a, b *encoder) int { return int(a.seq - b.seq) })
	for _, e := range encs {
		st.Encoders = append(st.Encoders, EncoderState{e.id, e.name, !e.removedAt.IsZero(), e.offline, e.held, e.running, len(e.queue)})
	}
	atts := mapValues(s.w.attempts)
	slices.SortFunc(atts, func(a, b *attempt) int { return int(a.seq - b.seq) })
	for _, a := range atts {
		st.ActionAttempts = append(st.ActionAttempts, AttemptState{a.id, a.credentialID, a.encoderID, a.status, a.errType})
	}
	return st
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// knobRoutes serves the Go knobs over HTTP, for cmd/seamsim. Each takes a
// JSON body (unknown fields rejected) and answers Seam-style.
func (s *Sim) knobRoutes(g *echo.Group) {
	type encoderReq struct {
		AcsEncoderID string `json:"acs_encoder_id"`
	}
	type credentialReq struct {
		AcsCredentialID string `json:"acs_credential_id"`
	}
	knob(s, g, "/encoders/fail_next", func(r struct {
		AcsEncoderID    string `json:"acs_encoder_id"`
		ErrorType       string `json:"error_type"`
		AcsCredentialID string `json:"acs_credential_id"`
		Message         string `json:"message"`
	}) (any, error) {
		return nil, s.FailNextEncoding(r.AcsEncoderID, r.ErrorType, r.AcsCredentialID, r.Message)
	})
	knob(s, g, "/encoders/hold", func(r encoderReq) (any, error) { return nil, s.HoldEncoder(r.AcsEncoderID) })
	knob(s, g, "/encoders/release", func(r encoderReq) (any, error) { return nil, s.ReleaseEncoder(r.AcsEncoderID) })
	knob(s, g, "/encoders/set_online", func(r struct {
		AcsEncoderID string `json:"acs_encoder_id"`
		Online       *bool  `json:"online"`
	}) (any, error) {
		if r.Online == nil {
			return nil, invalidInput("online is required")
		}
		return nil, s.SetEncoderOnline(r.AcsEncoderID, *r.Online)
	})
	knob(s, g, "/encoders/add", func(r struct {
		DisplayName string `json:"display_name"`
	}) (any, error) {
		id, err := s.AddEncoder(r.DisplayName)
		return map[string]string{"acs_encoder_id": id}, err
	})
	knob(s, g, "/encoders/remove", func(r encoderReq) (any, error) { return nil, s.RemoveEncoder(r.AcsEncoderID) })
	knob(s, g, "/encoders/set_delay", func(r struct {
		MinMS int64 `json:"min_ms"`
		MaxMS int64 `json:"max_ms"`
	}) (any, error) {
		return nil, s.SetEncodeDelay(time.Duration(r.MinMS)*time.Millisecond, time.Duration(r.MaxMS)*time.Millisecond)
	})
	knob(s, g, "/credentials/delete", func(r credentialReq) (any, error) {
		return nil, s.DeleteCredentialOutOfBand(r.AcsCredentialID)
	})
	knob(s, g, "/credentials/invalidate", func(r credentialReq) (any, error) {
		return nil, s.InvalidateCredential(r.AcsCredentialID)
	})
	knob(s, g, "/webhooks/fault", func(r struct {
		Kind      string `json:"kind"`
		EventType string `json:"event_type"`
		DelayMS   int64  `json:"delay_ms"`
	}) (any, error) {
		return nil, s.InjectWebhookFault(WebhookFault{Kind: WebhookFaultKind(r.Kind), EventType: r.EventType, Delay: time.Duration(r.DelayMS) * time.Millisecond})
	})
	knob(s, g, "/webhooks/release_reordered", func(struct{}) (any, error) { s.ReleaseReorderedWebhooks(); return nil, nil })
	knob(s, g, "/webhooks/url", func(r struct {
		URL string `json:"url"`
	}) (any, error) {
		return nil, s.SetWebhookURL(r.URL)
	})
	knob(s, g, "/faults", func(r struct {
		Path              string  `json:"path"`
		Count             int     `json:"count"`
		Status            int     `json:"status"`
		RetryAfterSeconds float64 `json:"retry_after_seconds"`
	}) (any, error) {
		return nil, s.FailNextCalls(r.Path, r.Count, r.Status, time.Duration(r.RetryAfterSeconds*float64(time.Second)))
	})
	knob(s, g, "/calls/reset", func(struct{}) (any, error) { s.ResetCalls(); return nil, nil })
	g.GET("/calls", func(c echo.Context) error {
		if !s.knobAuth(c) {
			return nil
		}
		calls := s.Calls()
		if p := c.QueryParam("path"); p != "" {
			calls = slices.DeleteFunc(calls, func(k Call) bool { return k.Path != p })
		}
		writeJSON(c.Response(), http.StatusOK, map[string]any{"ok": true, "calls": calls, "pending_webhooks": s.PendingWebhooks()})
		return nil
	})
	g.GET("/state", func(c echo.Context) error {
		if !s.knobAuth(c) {
			return nil
		}
		writeJSON(c.Response(), http.StatusOK, map[string]any{"ok": true, "state": s.State()})
		return nil
	})
}

func (s *Sim) knobAuth(c echo.Context) bool {
	if c.Request().Header.Get("Authorization") != "Bearer "+s.cfg.APIKey {
		_ = writeError(c.Response(), "", &apiError{status: http.StatusUnauthorized, typ: "unauthorized", msg: "Unauthorized"})
		return false
	}
	return true
}

// knob serves POST prefix+path: it decodes the body into Req strictly and
// runs f.
func knob[Req any](s *Sim, g *echo.Group, path string, f func(Req) (any, error)) {
	g.POST(path, func(c echo.Context) error {
		if !s.knobAuth(c) {
			return nil
		}
		var req Req
		body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxBodyBytes))
		if err == nil && len(bytes.TrimSpace(body)) > 0 {
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			err = dec.Decode(&req)
		}
		if err != nil {
			return writeError(c.Response(), "", invalidInput("%s: %v", path, err))
		}
		out, err := f(req)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				ae = &apiError{status: http.StatusInternalServerError, typ: "internal_server_error", msg: err.Error()}
			}
			return writeError(c.Response(), "", ae)
		}
		resp := map[string]any{"ok": true}
		if out != nil {
			resp["result"] = out
		}
		writeJSON(c.Response(), http.StatusOK, resp)
		return nil
	})
}
