package saga

import (
	"slices"
	"strings"
	"time"
)

// Core decides. It holds configuration only; it reads no clock and does no
// I/O: time comes in with each call.
type Core struct {
	// EncodingTimeout is how long an encoding waits for its confirming event
	// before the action attempt is read once.
	EncodingTimeout time.Duration
}

// Decision is what the core decided for one input.
type Decision struct {
	// Next is the record to store; Changed says whether it differs from the
	// record given. A change of Next.Version is a state change to publish.
	Next    Record
	Changed bool
	// Timer, when set, (re)arms the encoding deadline before Call is made.
	Timer *Timer
	// Call, when set, is made after Next is stored; its result is the next input.
	Call Call
	// Note says why the input changed nothing, for the logs.
	Note string
}

// Idle reports whether the decision needs nothing done.
func (d Decision) Idle() bool { return !d.Changed && d.Timer == nil && d.Call == nil }

// recoverySkew is how far before a recorded intent we look for what the
// intended call may have created, against clock skew between us and Seam.
const recoverySkew = time.Minute

// maxEarly bounds the events kept for later on one issuance.
const maxEarly = 16

// Decide applies one input to a record. A decision makes at most one state
// transition, so that every state entered is published; the executor feeds
// Resume after a decision that changed something without a call, until a
// decision is idle.
func (c Core) Decide(r Record, in Input, now time.Time) Decision {
	d := &decider{core: c, now: now, r: r.clone()}
	d.apply(in)
	d.out.Next = d.r
	return d.out
}

type decider struct {
	core Core
	now  time.Time
	r    Record
	out  Decision
	// transitioned: this decision entered a state already.
	transitioned bool
}

func (d *decider) note(s string) { d.out.Note = s }

func (d *decider) touch() { d.out.Changed = true }

// enter moves the issuance into state s.
func (d *decider) enter(s State) {
	d.r.State = s
	d.r.Version++
	d.r.UpdatedAt = d.now
	d.transitioned = true
	d.touch()
}

func (d *decider) fail(s State, e *Error) {
	d.r.Error = e
	d.r.Saga.Pending = nil
	d.r.Saga.Confirmed = nil
	d.r.Saga.RetryRequested = false
	d.enter(s)
}

func (d *decider) apply(in Input) {
	r := &d.r
	switch in := in.(type) {
	case Start:
		if r.Version == 0 {
			d.create(in.Cmd)
			d.next()
			return
		}
		if r.State.Terminal() {
			d.note("duplicate start: issuance already " + string(r.State))
			return
		}
		d.next()
		if d.out.Call == nil && !d.out.Changed {
			d.note("duplicate start: issuance is " + string(r.State))
		}
	case Reject:
		if r.Version != 0 {
			d.note("invalid start for an existing issuance ignored: " + in.Reason)
			return
		}
		d.create(StartIssuance{IssuanceID: in.IssuanceID})
		r.Mode = ""
		r.Error = &Error{Type: ErrInvalidCommand, Message: in.Reason}
		r.State = Rejected
	case Resume:
		if r.Version == 0 {
			d.note("no such issuance")
			return
		}
		d.next()
	case Cancel:
		d.cancel()
	case Retry:
		d.retry(in)
	case SeamEvent:
		d.event(in.Event)
	case Deadline:
		d.deadline(in)
	default:
		d.result(in)
	}
}

func (d *decider) create(cmd StartIssuance) {
	d.r = Record{Issuance: Issuance{
		IssuanceID:   cmd.IssuanceID,
		Version:      1,
		State:        Accepted,
		Mode:         cmd.Mode,
		AcsSystemID:  cmd.AcsSystemID,
		AcsUserID:    cmd.AcsUserID,
		AcsEncoderID: cmd.AcsEncoderID,
		CreatedAt:    d.now,
		UpdatedAt:    d.now,
	}}
	if d.r.Mode == "" && cmd.AcsSystemID != "" {
		d.r.Mode = ModeNew
	}
	d.r.Saga.Request = cmd
	d.transitioned = true
	d.touch()
}

// next decides the next step from the record alone.
func (d *decider) next() {
	r := &d.r
	if r.State.Terminal() {
		if len(r.Saga.Early) > 0 || r.Saga.Compensate || r.Saga.Confirmed != nil {
			r.Saga.Early, r.Saga.Compensate, r.Saga.Confirmed = nil, false, nil
			d.touch()
		}
		return
	}
	if p := r.Saga.Pending; p != nil {
		d.recoverStep(p)
		return
	}
	if r.Saga.Compensate {
		if r.AcsCredentialID != "" {
			d.out.Call = DeleteCredential{CredentialID: r.AcsCredentialID, Compensation: true}
			return
		}
		d.transition(func() { d.fail(Cancelled, nil) })
		return
	}
	req := r.Saga.Request
	switch r.State {
	case Accepted:
		switch {
		case r.AcsUserID == "":
			d.intend(StepCreateUser)
			d.out.Call = CreateUser{SystemID: r.AcsSystemID, User: *req.User, GroupIDs: req.AcsAccessGroupIDs}
		case !r.Saga.UserCreated && !r.Saga.GroupsDone && len(req.AcsAccessGroupIDs) > 0:
			d.out.Call = JoinGroups{UserID: r.AcsUserID, GroupIDs: req.AcsAccessGroupIDs}
		default:
			d.transition(func() { d.enter(UserReady) })
		}
	case UserReady:
		switch {
		case !r.Saga.UserCreated && !r.Saga.CredentialsListed:
			d.out.Call = ListCredentials{UserID: r.AcsUserID}
		case r.Mode == ModeReplace && len(r.Saga.OldCredentials) > 0:
			d.out.Call = DeleteCredential{CredentialID: r.Saga.OldCredentials[0]}
		default:
			d.intend(StepCreateCredential)
			d.out.Call = CreateCredential{
				SystemID:     r.AcsSystemID,
				UserID:       r.AcsUserID,
				AssignNewKey: r.Mode != ModeUpdate,
				StartsAt:     req.StartsAt,
				EndsAt:       req.EndsAt,
			}
		}
	case CredentialCreated:
		d.encode()
	case Encoding:
		if c := r.Saga.Confirmed; c != nil {
			if c.Filled {
				d.transition(func() { d.issue() })
				return
			}
			d.out.Call = ReadCredential{CredentialID: r.AcsCredentialID}
			return
		}
		d.popEarly()
	case EncodingFailed:
		if r.Saga.Confirmed != nil {
			d.out.Call = ReadCredential{CredentialID: r.AcsCredentialID}
			return
		}
		if r.Saga.RetryRequested {
			d.encode()
			return
		}
		d.popEarly()
	}
}

// transition runs enter-like f unless this decision already entered a state;
// then the executor's Resume will come back for it.
func (d *decider) transition(f func()) {
	if d.transitioned {
		d.touch()
		return
	}
	f()
	d.next()
}

// encode picks an encoder if needed, then records the intent and starts the
// encoding, arming the deadline before the call so it cannot be lost.
func (d *decider) encode() {
	r := &d.r
	if r.AcsEncoderID == "" {
		d.out.Call = PickEncoder{SystemID: r.AcsSystemID}
		return
	}
	d.intend(StepEncode)
	at := d.now.Add(d.core.EncodingTimeout)
	d.out.Timer = &Timer{At: at, Deadline: Deadline{Attempt: r.Attempts + 1}}
	d.out.Call = Encode{CredentialID: r.AcsCredentialID, EncoderID: r.AcsEncoderID}
}

func (d *decider) intend(k StepKind) {
	d.r.Saga.Pending = &Step{Kind: k, At: d.now}
	d.touch()
}

// recoverStep looks before acting again: the intended call may have
// happened before the worker that made it died.
func (d *decider) recoverStep(p *Step) {
	r := &d.r
	switch p.Kind {
	case StepCreateUser:
		d.out.Call = FindUser{SystemID: r.AcsSystemID, User: *r.Saga.Request.User, Since: p.At.Add(-recoverySkew)}
	case StepCreateCredential:
		d.out.Call = FindCredential{UserID: r.AcsUserID, Known: r.Saga.KnownCredentials}
	case StepEncode:
		d.out.Call = ReadCredential{CredentialID: r.AcsCredentialID}
	default:
		r.Saga.Pending = nil
		d.touch()
	}
}

func (d *decider) popEarly() {
	r := &d.r
	if len(r.Saga.Early) == 0 {
		return
	}
	e := r.Saga.Early[0]
	r.Saga.Early = r.Saga.Early[1:]
	if len(r.Saga.Early) == 0 {
		r.Saga.Early = nil
	}
	d.touch()
	d.applyEvent(e)
}

func (d *decider) issue() {
	r := &d.r
	c := r.Saga.Confirmed
	r.CardNumber = c.CardNumber
	r.IssuedAt = c.IssuedAt
	if r.IssuedAt == nil {
		r.IssuedAt = c.OccurredAt
	}
	r.Error = nil
	r.Saga.Confirmed = nil
	r.Saga.Early = nil
	r.Saga.RetryRequested = false
	d.enter(Issued)
}

func (d *decider) cancel() {
	r := &d.r
	if r.Version == 0 {
		d.note("cancel for an unknown issuance")
		return
	}
	if r.State.Terminal() {
		d.note("cancel ignored: issuance already " + string(r.State))
		return
	}
	if !r.Saga.Compensate {
		r.Saga.Compensate = true
		r.Saga.RetryRequested = false
		d.touch()
	}
	d.next()
}

func (d *decider) retry(in Retry) {
	r := &d.r
	switch {
	case r.Version == 0:
		d.note("retry for an unknown issuance")
		return
	case r.State != EncodingFailed:
		d.note("retry ignored: issuance is " + string(r.State) + ", not encoding_failed")
		return
	case r.Saga.RetryRequested || r.Saga.Compensate:
		d.note("retry ignored: already retrying or cancelling")
		return
	}
	r.Saga.RetryRequested = true
	switch {
	case in.EncoderID != "":
		r.AcsEncoderID, r.Saga.EncoderChosen = in.EncoderID, false
	case r.Saga.EncoderChosen || r.Error != nil && (r.Error.Type == ErrEncoderRemoved || r.Error.Type == ErrNoEncoderAvailable):
		// Pick again: the encoder we chose, or the one that went away, may
		// not be the best now.
		r.AcsEncoderID = ""
	}
	d.touch()
	d.next()
}

func (d *decider) event(e Event) {
	r := &d.r
	if r.Version == 0 {
		d.note("event for an unknown issuance")
		return
	}
	if slices.Contains(r.Saga.Applied, e.ID) {
		d.note("event " + e.ID + " already applied")
		return
	}
	if r.State.Terminal() {
		d.note("event ignored: issuance already " + string(r.State))
		return
	}
	if !d.concerns(e) {
		d.note("event does not concern this issuance's current credential, attempt or encoder")
		return
	}
	waiting := (r.State == Encoding || r.State == EncodingFailed) && r.Saga.Pending == nil && r.Saga.Confirmed == nil && !r.Saga.Compensate
	if waiting && len(r.Saga.Early) == 0 {
		d.applyEvent(e)
		if d.out.Changed || d.out.Call != nil {
			d.markApplied(e.ID)
		} else {
			d.note("event changes nothing in state " + string(r.State))
		}
		return
	}
	d.markApplied(e.ID)
	if len(r.Saga.Early) < maxEarly {
		r.Saga.Early = append(r.Saga.Early, e)
	}
	d.note("event kept until the issuance is ready for it")
	if waiting {
		d.next()
	}
}

// concerns reports whether e is about this issuance's credential, current
// attempt or encoder. Before the credential is known, an event routed here by
// the index is kept: the index is written before the call that makes it possible.
func (d *decider) concerns(e Event) bool {
	r := &d.r
	switch {
	case isCredentialEvent(e.Type):
		return e.CredentialID != "" && (e.CredentialID == r.AcsCredentialID || r.AcsCredentialID == "")
	case isAttemptEvent(e.Type):
		return e.ActionAttemptID != "" && (e.ActionAttemptID == r.ActionAttemptID || r.Saga.Pending != nil && r.Saga.Pending.Kind == StepEncode)
	case e.Type == EventEncoderRemoved:
		return e.EncoderID != "" && e.EncoderID == r.AcsEncoderID
	}
	return false
}

func isCredentialEvent(t string) bool {
	switch t {
	case EventCredentialIssued, EventCredentialReissued, EventCredentialDeleted, EventCredentialInvalidated:
		return true
	}
	return false
}

func isAttemptEvent(t string) bool { return strings.HasPrefix(t, EventActionAttemptPrefix) }

func (d *decider) markApplied(id string) {
	r := &d.r
	r.Saga.Applied = append(r.Saga.Applied, id)
	if n := len(r.Saga.Applied); n > maxApplied {
		r.Saga.Applied = slices.Clone(r.Saga.Applied[n-maxApplied:])
	}
	d.touch()
}

// applyEvent applies an event to an issuance that is waiting for one.
func (d *decider) applyEvent(e Event) {
	r := &d.r
	if !d.concerns(e) {
		return
	}
	switch {
	case e.Type == EventCredentialIssued || e.Type == EventCredentialReissued:
		d.confirm(e.Type, e.OccurredAt)
	case e.Type == EventCredentialDeleted:
		d.fail(Failed, &Error{Type: ErrCredentialDeleted, Message: "the credential was deleted at Seam before the card was confirmed"})
	case e.Type == EventCredentialInvalidated:
		d.fail(Failed, &Error{Type: ErrCredentialInvalidated, Message: "Seam invalidated the credential"})
	case e.Type == EventEncoderRemoved:
		if r.State == Encoding {
			d.fail(EncodingFailed, &Error{Type: ErrEncoderRemoved, Message: "encoder " + e.EncoderID + " was removed during the encoding", Retryable: true})
		}
	case isAttemptEvent(e.Type):
		if e.ActionAttemptID != r.ActionAttemptID || r.State != Encoding {
			return
		}
		switch e.Status {
		case "success":
			d.confirm(e.Type, e.OccurredAt)
		case "error":
			// Seam's action attempt events carry no error: read it.
			d.out.Call = ReadAttempt{ActionAttemptID: r.ActionAttemptID}
		}
	}
}

func (d *decider) confirm(eventType string, at *time.Time) {
	d.r.Saga.Confirmed = &Confirmation{EventType: eventType, OccurredAt: at}
	d.touch()
	d.out.Call = ReadCredential{CredentialID: d.r.AcsCredentialID}
}

func (d *decider) encodingError(typ, msg string) {
	if msg == "" {
		msg = "encoding failed: " + typ
	}
	if RetryableEncodingError(typ) {
		d.fail(EncodingFailed, &Error{Type: typ, Message: msg, Retryable: true})
		return
	}
	d.fail(Failed, &Error{Type: typ, Message: msg})
}

func (d *decider) deadline(t Deadline) {
	r := &d.r
	if r.State != Encoding || t.Attempt != r.Attempts || t.Reads != r.Saga.DeadlineReads || r.Saga.Confirmed != nil || r.Saga.Pending != nil || r.Saga.Compensate {
		d.note("stale deadline ignored")
		return
	}
	if r.Saga.DeadlineAt != nil && d.now.Before(*r.Saga.DeadlineAt) {
		// Armed before the encode call returned, so it may fire a little
		// early; wait for the rest.
		d.out.Timer = &Timer{At: *r.Saga.DeadlineAt, Deadline: t}
		return
	}
	if r.ActionAttemptID == "" {
		// The attempt id was lost in a crash: the credential tells whether
		// the card was written.
		d.out.Call = ReadCredential{CredentialID: r.AcsCredentialID}
		return
	}
	d.out.Call = ReadAttempt{ActionAttemptID: r.ActionAttemptID}
}

func (d *decider) result(in Input) {
	r := &d.r
	if r.Version == 0 || r.State.Terminal() {
		d.note("result for a finished or unknown issuance ignored")
		return
	}
	pending := StepKind("")
	if r.Saga.Pending != nil {
		pending = r.Saga.Pending.Kind
	}
	stale := func() { d.note("stale call result ignored") }
	switch in := in.(type) {
	case UserReadyResult:
		if r.State != Accepted || r.AcsUserID != "" {
			stale()
			return
		}
		r.AcsUserID = in.UserID
		r.Saga.Pending = nil
		r.Saga.UserCreated = true
		r.Saga.GroupsDone = true
		d.touch()
		if r.Saga.Compensate {
			d.next()
			return
		}
		d.enter(UserReady)
		d.next()
	case UserMissing:
		if pending != StepCreateUser {
			stale()
			return
		}
		r.Saga.Pending = nil
		d.touch()
		d.next()
	case GroupsJoined:
		if r.State != Accepted || r.AcsUserID == "" || r.Saga.UserCreated || r.Saga.GroupsDone {
			stale()
			return
		}
		r.Saga.GroupsDone = true
		d.touch()
		d.next()
	case CredentialsListed:
		if r.State != UserReady || r.Saga.UserCreated || r.Saga.CredentialsListed {
			stale()
			return
		}
		r.Saga.CredentialsListed = true
		r.Saga.KnownCredentials = slices.Clone(in.Cards)
		if r.Mode == ModeReplace {
			r.Saga.OldCredentials = slices.Clone(in.Cards)
		}
		d.touch()
		d.next()
	case OldDeleted:
		i := slices.Index(r.Saga.OldCredentials, in.CredentialID)
		if r.State != UserReady || i < 0 {
			stale()
			return
		}
		r.Saga.OldCredentials = slices.Delete(slices.Clone(r.Saga.OldCredentials), i, i+1)
		if len(r.Saga.OldCredentials) == 0 {
			r.Saga.OldCredentials = nil
		}
		d.touch()
		d.next()
	case CredentialReady:
		if pending != StepCreateCredential {
			stale()
			return
		}
		r.AcsCredentialID = in.CredentialID
		r.Saga.Pending = nil
		d.touch()
		if r.Saga.Compensate {
			d.next()
			return
		}
		d.enter(CredentialCreated)
		d.next()
	case CredentialMissing:
		if pending != StepCreateCredential {
			stale()
			return
		}
		r.Saga.Pending = nil
		d.touch()
		d.next()
	case EncoderPicked:
		if (r.State != CredentialCreated && r.State != EncodingFailed) || r.AcsEncoderID != "" || pending != "" {
			stale()
			return
		}
		if in.EncoderID == "" {
			msg := "no encoder of the access system is usable"
			if in.Reason != "" {
				msg += ": " + in.Reason
			}
			d.fail(EncodingFailed, &Error{Type: ErrNoEncoderAvailable, Message: msg, Retryable: true})
			return
		}
		r.AcsEncoderID = in.EncoderID
		r.Saga.EncoderChosen = true
		d.touch()
		d.next()
	case EncodeStarted:
		if pending != StepEncode {
			stale()
			return
		}
		d.startedEncoding(in.ActionAttemptID)
	case CredentialRead:
		switch {
		case pending == StepEncode:
			// Looking after a crash: the encode call whose answer was lost
			// may have reached Seam, and its encoding may still wait for a
			// card. Starting another could write this credential twice,
			// onto the next card laid down: wait as for any encoding,
			// without its attempt id. Credential events and the deadline
			// (armed again, in case the crash came before it was) settle it.
			d.startedEncoding("")
			if in.IsIssued {
				r.Saga.Confirmed = &Confirmation{EventType: "recovered", Filled: true, CardNumber: in.CardNumber, IssuedAt: in.IssuedAt}
				return
			}
			d.out.Timer = &Timer{At: *r.Saga.DeadlineAt, Deadline: Deadline{Attempt: r.Attempts}}
		case r.State == Encoding && r.ActionAttemptID == "" && pending == "":
			// The deadline read of an encoding whose attempt id was lost.
			if in.IsIssued {
				r.Saga.Confirmed = &Confirmation{EventType: "credential_read", Filled: true, CardNumber: in.CardNumber, IssuedAt: in.IssuedAt}
				d.issue()
				return
			}
			d.stillPending()
		case r.Saga.Confirmed != nil:
			c := r.Saga.Confirmed
			c.Filled = true
			c.CardNumber = in.CardNumber
			if in.IssuedAt != nil {
				c.IssuedAt = in.IssuedAt
			}
			d.issue()
		default:
			stale()
		}
	case AttemptRead:
		if r.State != Encoding || r.Saga.Confirmed != nil || pending != "" {
			stale()
			return
		}
		switch in.Status {
		case "success":
			r.Saga.Confirmed = &Confirmation{EventType: "action_attempt_read", Filled: in.CardNumber != "", CardNumber: in.CardNumber, IssuedAt: in.IssuedAt}
			d.touch()
			if in.CardNumber != "" {
				d.issue()
				return
			}
			d.out.Call = ReadCredential{CredentialID: r.AcsCredentialID}
		case "error":
			d.encodingError(in.ErrorType, in.ErrorMessage)
		default:
			d.stillPending()
		}
	case Compensated:
		if !r.Saga.Compensate {
			stale()
			return
		}
		if in.Kept {
			r.CardNumber, r.IssuedAt = in.CardNumber, in.IssuedAt
			d.fail(Cancelled, &Error{Type: ErrCredentialKept, Message: "cancelled after the card was written: credential " +
				r.AcsCredentialID + " was kept; delete it at Seam to revoke the card"})
			return
		}
		d.fail(Cancelled, nil)
	case CallFailed:
		if r.Saga.Compensate {
			d.fail(Cancelled, &Error{Type: in.Type, Message: "cancelled, but the credential could not be deleted: " + in.Message})
			return
		}
		d.fail(Failed, &Error{Type: in.Type, Message: in.Message})
	}
}

// stillPending follows a deadline read that found the encoding not done:
// wait one more timeout, then give up retryably.
func (d *decider) stillPending() {
	r := &d.r
	if r.Saga.DeadlineReads == 0 {
		r.Saga.DeadlineReads = 1
		at := d.now.Add(d.core.EncodingTimeout)
		r.Saga.DeadlineAt = &at
		d.touch()
		d.out.Timer = &Timer{At: at, Deadline: Deadline{Attempt: r.Attempts, Reads: 1}}
		return
	}
	d.fail(EncodingFailed, &Error{Type: ErrEncodingTimeout, Message: "no card was encoded within two encoding timeouts; place a card on the encoder and retry", Retryable: true})
}

// startedEncoding enters encoding for a new action attempt ("": one whose
// id was lost in a crash).
func (d *decider) startedEncoding(attemptID string) {
	r := &d.r
	r.ActionAttemptID = attemptID
	r.Attempts++
	r.Error = nil
	r.Saga.Pending = nil
	r.Saga.RetryRequested = false
	r.Saga.DeadlineReads = 0
	since := d.now
	r.Saga.EncodingSince = &since
	at := d.now.Add(d.core.EncodingTimeout)
	r.Saga.DeadlineAt = &at
	d.enter(Encoding)
}

// clone copies the record so a decision never aliases its input.
func (r Record) clone() Record {
	c := r
	s := &c.Saga
	s.Request.AcsAccessGroupIDs = slices.Clone(r.Saga.Request.AcsAccessGroupIDs)
	if r.Saga.Request.User != nil {
		u := *r.Saga.Request.User
		s.Request.User = &u
	}
	if r.Saga.Pending != nil {
		p := *r.Saga.Pending
		s.Pending = &p
	}
	if r.Saga.Confirmed != nil {
		cf := *r.Saga.Confirmed
		s.Confirmed = &cf
	}
	if r.Saga.Lease != nil {
		l := *r.Saga.Lease
		s.Lease = &l
	}
	if r.Error != nil {
		e := *r.Error
		c.Error = &e
	}
	s.KnownCredentials = slices.Clone(r.Saga.KnownCredentials)
	s.OldCredentials = slices.Clone(r.Saga.OldCredentials)
	s.Early = slices.Clone(r.Saga.Early)
	s.Applied = slices.Clone(r.Saga.Applied)
	return c
}
