package seamsim

import (
	"context"
	"math/rand/v2"
	"time"
)

// Encodings: encode_credential answers with a pending action attempt and
// queues it on the encoder. An encoder writes Config.EncoderSlots cards at a
// time (one by default, like a desk encoder), the rest wait in order; while
// the encoder is held (no card laid down yet) none starts. An encoding takes
// the encode delay, then its outcome is decided: a forced failure, an
// encoder removed or offline, a deleted credential, an update whose card
// cannot be rewritten; otherwise the card is written and the credential gets
// its card number, is_issued and issued_at, and seamsim sends
// acs_credential.issued (or acs_credential.reissued for an update). Like
// Seam, it sends no webhook when an encoding fails: the action attempt
// carries the error.

var errorMessages = map[string]string{
	"no_credential_on_encoder":      "No card was found on the encoder.",
	"encoding_interrupted":          "The card was removed from the encoder before writing finished.",
	"incompatible_card_format":      "The card on the encoder has an incompatible format.",
	"encoder_not_online":            "The encoder is not online.",
	"encoder_communication_timeout": "Communication with the encoder timed out.",
	"bridge_disconnected":           "Seam Bridge is disconnected or cannot reach the access system.",
	"action_attempt_expired":        "The action attempt expired.",
	"credential_cannot_be_reissued": "The user's card cannot be rewritten with this credential.",
	"credential_deleted":            "The credential was deleted and can no longer be encoded.",
	"uncategorized_error":           "The encoding failed.",
}

func (s *Sim) encodeCredential(_ context.Context, p params) (map[string]any, error) {
	var req struct {
		AcsCredentialID string `json:"acs_credential_id"`
		AccessMethodID  string `json:"access_method_id"`
	}
	if err := p.decode(&req); err != nil {
		return nil, err
	}
	if req.AcsCredentialID == "" {
		return nil, invalidInput("acs_credential_id is required (seamsim has no access methods)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.findEncoder(p)
	if err != nil {
		return nil, err
	}
	// A deleted credential is still found here: the encoding fails with
	// credential_deleted, as Seam's action attempt error says.
	c := s.w.creds[req.AcsCredentialID]
	if c == nil {
		return nil, notFound("acs_credential", req.AcsCredentialID)
	}
	if c.systemID != e.systemID {
		return nil, invalidInput("credential %s and encoder %s are in different access systems", c.id, e.id)
	}
	a := &attempt{id: newUUID(), credentialID: c.id, encoderID: e.id, seq: s.w.next(), status: statusPending}
	s.w.attempts[a.id] = a
	e.queue = append(e.queue, a)
	s.startEncodings(e)
	return map[string]any{"action_attempt": wireAttemptOf(a)}, nil
}

// startEncodings starts queued encodings while the encoder has free slots.
// Called with s.mu held.
func (s *Sim) startEncodings(e *encoder) {
	for !s.closed && !e.held && e.running < s.cfg.EncoderSlots && len(e.queue) > 0 {
		a := e.queue[0]
		e.queue = e.queue[1:]
		if a.status != statusPending {
			continue
		}
		e.running++
		a.timer = time.AfterFunc(s.encodeDelay(), func() { s.finishEncoding(a) })
	}
}

func (s *Sim) encodeDelay() time.Duration {
	if s.delayMax <= s.delayMin {
		return s.delayMin
	}
	return s.delayMin + rand.N(s.delayMax-s.delayMin+1)
}

// finishEncoding decides how an encoding that has run its delay ends.
func (s *Sim) finishEncoding(a *attempt) {
	s.mu.Lock()
	if s.closed || a.status != statusPending {
		s.mu.Unlock()
		return
	}
	e := s.w.encoders[a.encoderID]
	e.running--
	c := s.w.creds[a.credentialID]
	var ev *wireEvent
	switch {
	case !e.removedAt.IsZero() || e.offline:
		s.failLocked(a, "encoder_not_online", "")
	case e.nextFail != nil && (e.nextFail.credentialID == "" || e.nextFail.credentialID == c.id):
		f := e.nextFail
		e.nextFail = nil
		s.failLocked(a, f.errType, f.message)
	case c.deleted:
		s.failLocked(a, "credential_deleted", "")
	case !c.assignNewKey && !s.canReissue(c):
		s.failLocked(a, "credential_cannot_be_reissued", "")
	default:
		ev = s.writeCard(a, c)
	}
	s.startEncodings(e)
	s.mu.Unlock()
	if ev != nil {
		s.emit(*ev)
	}
}

// canReissue reports whether an update credential has a card to rewrite:
// the user's card credential exists and has been written.
func (s *Sim) canReissue(c *credential) bool {
	u := s.w.users[c.userID]
	if u == nil {
		return false
	}
	card := s.w.liveCard(u)
	return card != nil && !card.issuedAt.IsZero()
}

func (s *Sim) writeCard(a *attempt, c *credential) *wireEvent {
	c.issuedAt = time.Now()
	c.invalidated = false
	typ := "acs_credential.issued"
	if c.assignNewKey {
		c.cardNumber = randomHex(8)
	} else {
		c.cardNumber = s.w.liveCard(s.w.users[c.userID]).cardNumber
		typ = "acs_credential.reissued"
	}
	a.status, a.result = statusSuccess, wireCredentialOf(c)
	ev := s.event(typ, func(e *wireEvent) { e.AcsCredentialID = c.id })
	return &ev
}

func (s *Sim) failLocked(a *attempt, errType, msg string) {
	if msg == "" {
		msg = errorMessages[errType]
	}
	a.status, a.errType, a.errMsg = statusError, errType, msg
	if a.timer != nil {
		a.timer.Stop()
	}
}

// simulateFail serves next_credential_encode_will_fail: the next encoding
// on the encoder (of the credential, when named) fails with error_code,
// no_credential_on_encoder by default.
func (s *Sim) simulateFail(_ context.Context, p params) (map[string]any, error) {
	var req struct {
		AcsEncoderID    string `json:"acs_encoder_id"`
		AcsCredentialID string `json:"acs_credential_id"`
		ErrorCode       string `json:"error_code"`
	}
	if err := p.decode(&req); err != nil {
		return nil, err
	}
	if req.ErrorCode == "" {
		req.ErrorCode = "no_credential_on_encoder"
	}
	return nil, s.FailNextEncoding(req.AcsEncoderID, req.ErrorCode, req.AcsCredentialID, "")
}

func (s *Sim) simulateSucceed(_ context.Context, p params) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.findEncoder(p)
	if err != nil {
		return nil, err
	}
	e.nextFail = nil
	return nil, nil
}

// FailNextEncoding makes the next encoding on an encoder fail with errType,
// any ENCODE_CREDENTIAL error type of Seam's document. With credentialID,
// only the next encoding of that credential fails. An empty message takes
// a stock one.
func (s *Sim) FailNextEncoding(encoderID, errType, credentialID, message string) error {
	if _, ok := errorMessages[errType]; !ok {
		return invalidInput("error type %q is not an ENCODE_CREDENTIAL error type", errType)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.w.encoders[encoderID]
	if e == nil {
		return notFound("acs_encoder", encoderID)
	}
	e.nextFail = &failure{errType: errType, message: message, credentialID: credentialID}
	return nil
}

// HoldEncoder stops encodings from starting on an encoder until
// ReleaseEncoder: no card has been laid on it yet. Encodings already under
// way finish.
func (s *Sim) HoldEncoder(encoderID string) error {
	return s.withEncoder(encoderID, func(e *encoder) { e.held = true })
}

// ReleaseEncoder lets held encodings start (a card is laid down); each then
// takes the encode delay.
func (s *Sim) ReleaseEncoder(encoderID string) error {
	return s.withEncoder(encoderID, func(e *encoder) {
		e.held = false
		s.startEncodings(e)
	})
}

// SetEncoderOnline takes an encoder offline (encodings that finish meanwhile
// fail with encoder_not_online) or back online. Seam's document has no
// encoder error for this, so the encoder shows none.
func (s *Sim) SetEncoderOnline(encoderID string, online bool) error {
	return s.withEncoder(encoderID, func(e *encoder) { e.offline = !online })
}

func (s *Sim) withEncoder(id string, f func(*encoder)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.w.encoders[id]
	if e == nil {
		return notFound("acs_encoder", id)
	}
	f(e)
	return nil
}

// AddEncoder adds an online encoder to the system and sends
// acs_encoder.added. It returns the encoder's id.
func (s *Sim) AddEncoder(displayName string) (string, error) {
	if displayName == "" {
		return "", invalidInput("display_name must not be empty")
	}
	s.mu.Lock()
	e := &encoder{id: newUUID(), systemID: SystemID, name: displayName, seq: s.w.next(), createdAt: time.Now()}
	s.w.encoders[e.id] = e
	ev := s.event("acs_encoder.added", func(w *wireEvent) { w.AcsEncoderID = e.id })
	s.mu.Unlock()
	s.emit(ev)
	return e.id, nil
}

// RemoveEncoder removes an encoder from the access system: it stays listed
// with the acs_encoder_removed error (the error Seam's document gives
// encoders), its unfinished encodings fail with encoder_not_online, and
// seamsim sends acs_encoder.removed.
func (s *Sim) RemoveEncoder(encoderID string) error {
	s.mu.Lock()
	e := s.w.encoders[encoderID]
	if e == nil {
		s.mu.Unlock()
		return notFound("acs_encoder", encoderID)
	}
	if !e.removedAt.IsZero() {
		s.mu.Unlock()
		return invalidInput("encoder %s is already removed", encoderID)
	}
	e.removedAt = time.Now()
	for _, a := range s.w.attempts {
		if a.encoderID == e.id && a.status == statusPending {
			s.failLocked(a, "encoder_not_online", "The encoder was removed from the access system.")
		}
	}
	e.queue, e.running = nil, 0
	ev := s.event("acs_encoder.removed", func(w *wireEvent) { w.AcsEncoderID = e.id })
	s.mu.Unlock()
	s.emit(ev)
	return nil
}

// DeleteCredentialOutOfBand deletes a credential as if someone did it in
// Salto Space: acs_credential.deleted follows, and an unfinished encoding of
// it fails with credential_deleted.
func (s *Sim) DeleteCredentialOutOfBand(credentialID string) error {
	s.mu.Lock()
	c := s.w.creds[credentialID]
	if c == nil || c.deleted {
		s.mu.Unlock()
		return notFound("acs_credential", credentialID)
	}
	ev := s.deleteCredentialLocked(c)
	s.mu.Unlock()
	s.emit(ev)
	return nil
}

// InvalidateCredential marks a credential invalidated (its card no longer
// opens doors) and sends acs_credential.invalidated.
func (s *Sim) InvalidateCredential(credentialID string) error {
	s.mu.Lock()
	c := s.w.creds[credentialID]
	if c == nil || c.deleted {
		s.mu.Unlock()
		return notFound("acs_credential", credentialID)
	}
	c.invalidated = true
	ev := s.event("acs_credential.invalidated", func(w *wireEvent) { w.AcsCredentialID = c.id })
	s.mu.Unlock()
	s.emit(ev)
	return nil
}

// SetEncodeDelay changes how long encodings take from now on: fixed, or a
// random time in [min, max] when max > min.
func (s *Sim) SetEncodeDelay(min, max time.Duration) error {
	if min < 0 || max < 0 {
		return invalidInput("encode delays must not be negative")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delayMin, s.delayMax = min, max
	return nil
}

// event builds a webhook event of type typ; set fills its ids.
func (s *Sim) event(typ string, set func(*wireEvent)) wireEvent {
	now := stamp(time.Now())
	e := wireEvent{
		EventID: newUUID(), EventType: typ, WorkspaceID: WorkspaceID, ConnectedAccountID: ConnectedAccountID,
		CreatedAt: now, OccurredAt: now, AcsSystemID: SystemID,
	}
	set(&e)
	return e
}
