package saga

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	t0      = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	timeout = 2 * time.Minute
	core    = Core{EncodingTimeout: timeout}
)

const (
	sys  = "11111111-1111-1111-1111-111111111111"
	g1   = "44444444-4444-4444-4444-333333333333"
	g2   = "44444444-4444-4444-4444-444444444444"
	usr  = "u-1"
	cred = "c-1"
	enc  = "e-1"
	att  = "a-1"
)

func startNewUser() StartIssuance {
	return StartIssuance{
		IssuanceID:        "bk-1",
		AcsSystemID:       sys,
		User:              &User{FullName: "Jane Doe", PhoneNumber: "+15555550100"},
		AcsAccessGroupIDs: []string{g1, g2},
		Mode:              ModeNew,
		AcsEncoderID:      enc,
	}
}

// fixture returns a record as the executor would have stored it in state s.
func fixture(s State) Record {
	r := core.Decide(Record{}, Start{Cmd: startNewUser()}, t0).Next
	at := func(v int, st State) {
		r.Version, r.State, r.UpdatedAt = v, st, t0.Add(time.Duration(v)*time.Second)
	}
	r.Saga.Pending = nil
	if s == Accepted {
		return r
	}
	if s == Rejected {
		r = core.Decide(Record{}, Reject{IssuanceID: "bk-1", Reason: "bad"}, t0).Next
		return r
	}
	r.AcsUserID, r.Saga.UserCreated, r.Saga.GroupsDone = usr, true, true
	at(2, UserReady)
	if s == UserReady {
		return r
	}
	r.AcsCredentialID = cred
	at(3, CredentialCreated)
	if s == CredentialCreated {
		return r
	}
	r.ActionAttemptID, r.Attempts = att, 1
	since, due := t0.Add(4*time.Second), t0.Add(4*time.Second+timeout)
	r.Saga.EncodingSince, r.Saga.DeadlineAt = &since, &due
	at(4, Encoding)
	switch s {
	case Encoding:
	case Issued:
		at(5, Issued)
		r.CardNumber = "1234abc"
	case EncodingFailed:
		at(5, EncodingFailed)
		r.Error = &Error{Type: "no_credential_on_encoder", Message: "no card", Retryable: true}
	case Failed:
		at(5, Failed)
		r.Error = &Error{Type: "credential_cannot_be_reissued", Message: "no"}
	case Cancelled:
		at(5, Cancelled)
	}
	return r
}

func ev(typ string, mod func(*Event)) Input {
	e := Event{ID: "evt-" + typ, Type: typ, CredentialID: cred}
	switch {
	case typ == EventEncoderRemoved:
		e.CredentialID, e.EncoderID = "", enc
	case strings.HasPrefix(typ, EventActionAttemptPrefix):
		e.CredentialID, e.ActionAttemptID, e.ActionType = "", att, "ENCODE_CREDENTIAL"
	}
	if mod != nil {
		mod(&e)
	}
	return SeamEvent{Event: e}
}

// inputs is every kind of input, named for the table.
func inputs() []struct {
	name string
	in   Input
} {
	card := "1234abc"
	issued := t0.Add(time.Minute)
	return []struct {
		name string
		in   Input
	}{
		{"start", Start{Cmd: startNewUser()}},
		{"reject", Reject{IssuanceID: "bk-1", Reason: "bad"}},
		{"retry", Retry{}},
		{"retry-e2", Retry{EncoderID: "e-2"}},
		{"cancel", Cancel{}},
		{"resume", Resume{}},
		{"ev-issued", ev(EventCredentialIssued, nil)},
		{"ev-reissued", ev(EventCredentialReissued, nil)},
		{"ev-issued-other", ev(EventCredentialIssued, func(e *Event) { e.CredentialID = "c-other" })},
		{"ev-deleted", ev(EventCredentialDeleted, nil)},
		{"ev-invalidated", ev(EventCredentialInvalidated, nil)},
		{"ev-enc-removed", ev(EventEncoderRemoved, nil)},
		{"ev-enc-removed-other", ev(EventEncoderRemoved, func(e *Event) { e.EncoderID = "e-other" })},
		{"ev-att-success", ev("action_attempt.encode_credential.succeeded", func(e *Event) { e.Status = "success" })},
		{"ev-att-failed", ev("action_attempt.encode_credential.failed", func(e *Event) { e.Status = "error" })},
		{"ev-att-other", ev("action_attempt.encode_credential.succeeded", func(e *Event) {
			e.Status, e.ActionAttemptID = "success", "a-other"
		})},
		{"deadline-due", Deadline{Attempt: 1}},
		{"deadline-stale", Deadline{Attempt: 0}},
		{"res-user", UserReadyResult{UserID: usr}},
		{"res-groups", GroupsJoined{}},
		{"res-listed", CredentialsListed{Cards: []string{"c-old"}}},
		{"res-cred", CredentialReady{CredentialID: cred}},
		{"res-encoder", EncoderPicked{EncoderID: enc}},
		{"res-no-encoder", EncoderPicked{}},
		{"res-encode", EncodeStarted{ActionAttemptID: att}},
		{"res-cred-read", CredentialRead{IsIssued: true, CardNumber: card, IssuedAt: &issued}},
		{"res-att-pending", AttemptRead{Status: "pending"}},
		{"res-att-success", AttemptRead{Status: "success", CardNumber: card, IssuedAt: &issued}},
		{"res-att-error", AttemptRead{Status: "error", ErrorType: "no_credential_on_encoder", ErrorMessage: "no card"}},
		{"res-compensated", Compensated{}},
		{"res-failed", CallFailed{Type: "invalid_input", Message: "nope"}},
	}
}

// outcome renders a decision as "state[+Call][,timer]" or "noop".
func outcome(before Record, d Decision) string {
	if d.Idle() {
		return "noop"
	}
	s := string(d.Next.State)
	if d.Next.Version == before.Version && d.Next.State == before.State {
		s = "="
	}
	if d.Call != nil {
		s += "+" + reflect.TypeOf(d.Call).Name()
	}
	if d.Timer != nil {
		s += ",timer"
	}
	return s
}

// TestDecideTable pins the decision for every state × input. "=" means the
// state and version stay (bookkeeping only).
func TestDecideTable(t *testing.T) {
	want := map[State]map[string]string{
		Accepted: {
			"start": "=+CreateUser", "resume": "=+CreateUser", "cancel": "cancelled",
			"res-user": "user_ready+CreateCredential", "res-failed": "failed",
			// Kept for later: the index routed them here, and the encoder may
			// be gone before the encoding starts.
			"ev-issued": "=", "ev-reissued": "=", "ev-issued-other": "=", "ev-deleted": "=", "ev-invalidated": "=",
			"ev-enc-removed": "=",
		},
		UserReady: {
			"start": "=+CreateCredential", "resume": "=+CreateCredential", "cancel": "cancelled",
			"res-failed": "failed",
			"ev-issued":  "=", "ev-reissued": "=", "ev-issued-other": "=", "ev-deleted": "=", "ev-invalidated": "=",
			"ev-enc-removed": "=",
		},
		CredentialCreated: {
			"start": "=+Encode,timer", "resume": "=+Encode,timer", "cancel": "=+DeleteCredential",
			"res-failed": "failed",
			"ev-issued":  "=", "ev-reissued": "=", "ev-deleted": "=", "ev-invalidated": "=", "ev-enc-removed": "=",
		},
		Encoding: {
			"cancel":    "=+DeleteCredential",
			"ev-issued": "=+ReadCredential", "ev-reissued": "=+ReadCredential",
			"ev-deleted": "failed", "ev-invalidated": "failed", "ev-enc-removed": "encoding_failed",
			"ev-att-success": "=+ReadCredential", "ev-att-failed": "=+ReadAttempt",
			"deadline-due":    "=,timer", // armed before encode returned: fires early, re-arms
			"res-att-pending": "=,timer", "res-att-success": "issued", "res-att-error": "encoding_failed",
			"res-failed": "failed",
		},
		EncodingFailed: {
			"retry": "=+Encode,timer", "retry-e2": "=+Encode,timer", "cancel": "=+DeleteCredential",
			"ev-issued": "=+ReadCredential", "ev-reissued": "=+ReadCredential",
			"ev-deleted": "failed", "ev-invalidated": "failed",
			"res-failed": "failed",
		},
		Issued: {}, Failed: {}, Cancelled: {}, Rejected: {},
	}
	for _, st := range AllStates {
		for _, tc := range inputs() {
			t.Run(string(st)+"/"+tc.name, func(t *testing.T) {
				r := fixture(st)
				d := core.Decide(r, tc.in, t0.Add(10*time.Second))
				exp, ok := want[st][tc.name]
				if !ok {
					exp = "noop"
				}
				assert.Equal(t, exp, outcome(r, d), "note: %s", d.Note)
				if d.Next.Version != r.Version {
					assert.Equal(t, r.Version+1, d.Next.Version, "a decision enters at most one state")
				}
			})
		}
	}
	// Every state has an expectation row, so a new state cannot go untested.
	var rows []string
	for s := range want {
		rows = append(rows, string(s))
	}
	sort.Strings(rows)
	assert.Len(t, rows, len(AllStates))
}

func TestDecideDetails(t *testing.T) {
	now := t0.Add(time.Minute)
	t.Run("start creates accepted v1 and asks for the user with groups", func(t *testing.T) {
		d := core.Decide(Record{}, Start{Cmd: startNewUser()}, now)
		require.Equal(t, 1, d.Next.Version)
		require.Equal(t, Accepted, d.Next.State)
		require.Equal(t, CreateUser{SystemID: sys, User: *startNewUser().User, GroupIDs: []string{g1, g2}}, d.Call)
		require.Equal(t, &Step{Kind: StepCreateUser, At: now}, d.Next.Saga.Pending, "intent recorded with the call")
		require.Nil(t, d.Next.Error)
	})
	t.Run("rejected carries invalid_command", func(t *testing.T) {
		d := core.Decide(Record{}, Reject{IssuanceID: "bk-9", Reason: "mode must be new, replace or update"}, now)
		require.Equal(t, Rejected, d.Next.State)
		require.Equal(t, 1, d.Next.Version)
		require.Equal(t, &Error{Type: ErrInvalidCommand, Message: "mode must be new, replace or update"}, d.Next.Error)
	})
	t.Run("new credential asks assign_new_key true, update false", func(t *testing.T) {
		r := fixture(UserReady)
		d := core.Decide(r, Resume{}, now)
		require.Equal(t, true, d.Call.(CreateCredential).AssignNewKey)
		r.Mode = ModeUpdate
		r.Saga.UserCreated = false
		r.Saga.CredentialsListed = true
		d = core.Decide(r, Resume{}, now)
		require.Equal(t, false, d.Call.(CreateCredential).AssignNewKey)
	})
	t.Run("replace lists then deletes each old card before creating", func(t *testing.T) {
		r := fixture(UserReady)
		r.Mode, r.Saga.UserCreated = ModeReplace, false
		d := core.Decide(r, Resume{}, now)
		require.Equal(t, ListCredentials{UserID: usr}, d.Call)
		d = core.Decide(d.Next, CredentialsListed{Cards: []string{"c-old1", "c-old2"}}, now)
		require.Equal(t, DeleteCredential{CredentialID: "c-old1"}, d.Call)
		d = core.Decide(d.Next, OldDeleted{CredentialID: "c-old1"}, now)
		require.Equal(t, DeleteCredential{CredentialID: "c-old2"}, d.Call)
		d = core.Decide(d.Next, OldDeleted{CredentialID: "c-old2"}, now)
		require.IsType(t, CreateCredential{}, d.Call)
		require.Equal(t, []string{"c-old1", "c-old2"}, d.Next.Saga.KnownCredentials)
	})
	t.Run("existing user joins groups before user_ready", func(t *testing.T) {
		cmd := startNewUser()
		cmd.User, cmd.AcsUserID = nil, usr
		d := core.Decide(Record{}, Start{Cmd: cmd}, now)
		require.Equal(t, JoinGroups{UserID: usr, GroupIDs: []string{g1, g2}}, d.Call)
		d = core.Decide(d.Next, GroupsJoined{}, now)
		require.Equal(t, UserReady, d.Next.State)
		require.Equal(t, 2, d.Next.Version)
		require.Equal(t, ListCredentials{UserID: usr}, d.Call)
	})
	t.Run("no encoder named: pick, then encode with the deadline armed first", func(t *testing.T) {
		r := fixture(CredentialCreated)
		r.AcsEncoderID = ""
		d := core.Decide(r, Resume{}, now)
		require.Equal(t, PickEncoder{SystemID: sys}, d.Call)
		d = core.Decide(d.Next, EncoderPicked{EncoderID: "e-9"}, now)
		require.Equal(t, Encode{CredentialID: cred, EncoderID: "e-9"}, d.Call)
		require.Equal(t, &Timer{At: now.Add(timeout), Deadline: Deadline{Attempt: 1}}, d.Timer)
		d = core.Decide(d.Next, EncodeStarted{ActionAttemptID: att}, now)
		require.Equal(t, Encoding, d.Next.State)
		require.Equal(t, 1, d.Next.Attempts)
		require.Equal(t, att, d.Next.ActionAttemptID)
		require.Nil(t, d.Call, "no read before the webhook")
	})
	t.Run("confirming event then read fills card and issued_at", func(t *testing.T) {
		r := fixture(Encoding)
		d := core.Decide(r, ev(EventCredentialIssued, nil), now)
		issued := now.Add(-time.Second)
		d = core.Decide(d.Next, CredentialRead{IsIssued: true, CardNumber: "777", IssuedAt: &issued}, now)
		require.Equal(t, Issued, d.Next.State)
		require.Equal(t, "777", d.Next.CardNumber)
		require.Equal(t, &issued, d.Next.IssuedAt)
		require.Nil(t, d.Next.Saga.Confirmed)
	})
	t.Run("same event twice is applied once", func(t *testing.T) {
		d := core.Decide(fixture(Encoding), ev(EventCredentialIssued, nil), now)
		d2 := core.Decide(d.Next, ev(EventCredentialIssued, nil), now)
		require.True(t, d2.Idle())
	})
	t.Run("event before the encode result is kept and applied on entering encoding", func(t *testing.T) {
		r := fixture(CredentialCreated)
		d := core.Decide(r, Resume{}, now) // intent to encode
		d = core.Decide(d.Next, ev(EventCredentialIssued, nil), now)
		require.Len(t, d.Next.Saga.Early, 1)
		require.Nil(t, d.Call)
		d = core.Decide(d.Next, EncodeStarted{ActionAttemptID: att}, now)
		require.Equal(t, Encoding, d.Next.State)
		d = core.Decide(d.Next, Resume{}, now)
		require.Equal(t, ReadCredential{CredentialID: cred}, d.Call)
		require.Empty(t, d.Next.Saga.Early)
	})
	t.Run("deadline read pending waits once more, then encoding_timeout", func(t *testing.T) {
		r := fixture(Encoding)
		late := r.Saga.DeadlineAt.Add(time.Second)
		d := core.Decide(r, Deadline{Attempt: 1}, late)
		require.Equal(t, ReadAttempt{ActionAttemptID: att}, d.Call)
		d = core.Decide(d.Next, AttemptRead{Status: "pending"}, late)
		require.Equal(t, &Timer{At: late.Add(timeout), Deadline: Deadline{Attempt: 1, Reads: 1}}, d.Timer)
		later := late.Add(timeout)
		require.True(t, core.Decide(d.Next, Deadline{Attempt: 1}, later).Idle(), "the first deadline again is stale")
		d = core.Decide(d.Next, Deadline{Attempt: 1, Reads: 1}, later)
		require.Equal(t, ReadAttempt{ActionAttemptID: att}, d.Call)
		d = core.Decide(d.Next, AttemptRead{Status: "pending"}, later)
		require.Equal(t, EncodingFailed, d.Next.State)
		require.Equal(t, &Error{Type: ErrEncodingTimeout, Message: d.Next.Error.Message, Retryable: true}, d.Next.Error)
	})
	t.Run("retry on another encoder then a second attempt", func(t *testing.T) {
		r := fixture(EncodingFailed)
		d := core.Decide(r, Retry{EncoderID: "e-2"}, now)
		require.Equal(t, Encode{CredentialID: cred, EncoderID: "e-2"}, d.Call)
		require.Equal(t, 2, d.Timer.Deadline.Attempt)
		d = core.Decide(d.Next, EncodeStarted{ActionAttemptID: "a-2"}, now)
		require.Equal(t, Encoding, d.Next.State)
		require.Equal(t, 2, d.Next.Attempts)
		require.Nil(t, d.Next.Error)
		require.True(t, core.Decide(d.Next, Deadline{Attempt: 1}, now.Add(time.Hour)).Idle(), "old attempt's deadline is stale")
	})
	t.Run("retry after encoder_removed picks again", func(t *testing.T) {
		r := fixture(Encoding)
		d := core.Decide(r, ev(EventEncoderRemoved, nil), now)
		require.Equal(t, ErrEncoderRemoved, d.Next.Error.Type)
		d = core.Decide(d.Next, Retry{}, now)
		require.Equal(t, PickEncoder{SystemID: sys}, d.Call)
	})
	t.Run("cancel compensates then ends cancelled; late confirm changes nothing", func(t *testing.T) {
		d := core.Decide(fixture(Encoding), Cancel{}, now)
		require.Equal(t, DeleteCredential{CredentialID: cred, Compensation: true}, d.Call)
		d = core.Decide(d.Next, Compensated{}, now)
		require.Equal(t, Cancelled, d.Next.State)
		require.True(t, core.Decide(d.Next, ev(EventCredentialIssued, nil), now).Idle())
	})
	t.Run("cancel that finds the card written keeps its credential", func(t *testing.T) {
		d := core.Decide(fixture(Encoding), Cancel{}, now)
		require.Equal(t, DeleteCredential{CredentialID: cred, Compensation: true}, d.Call)
		d = core.Decide(d.Next, Compensated{Kept: true, CardNumber: "5"}, now)
		require.Equal(t, Cancelled, d.Next.State)
		require.Equal(t, "5", d.Next.CardNumber)
		require.Equal(t, ErrCredentialKept, d.Next.Error.Type)
		require.False(t, d.Next.Error.Retryable)
		require.Contains(t, d.Next.Error.Message, cred)
	})
	t.Run("crash after create user intent looks before creating again", func(t *testing.T) {
		d := core.Decide(Record{}, Start{Cmd: startNewUser()}, now)
		d2 := core.Decide(d.Next, Resume{}, now.Add(time.Hour))
		require.Equal(t, FindUser{SystemID: sys, User: *startNewUser().User, Since: now.Add(-recoverySkew)}, d2.Call)
		d3 := core.Decide(d2.Next, UserMissing{}, now.Add(time.Hour))
		require.IsType(t, CreateUser{}, d3.Call)
	})
	t.Run("crash after encode intent reads the credential; issued card goes through encoding", func(t *testing.T) {
		d := core.Decide(fixture(CredentialCreated), Resume{}, now)
		d = core.Decide(d.Next, Resume{}, now)
		require.Equal(t, ReadCredential{CredentialID: cred}, d.Call)
		d = core.Decide(d.Next, CredentialRead{IsIssued: true, CardNumber: "9"}, now)
		require.Equal(t, Encoding, d.Next.State)
		d = core.Decide(d.Next, Resume{}, now)
		require.Equal(t, Issued, d.Next.State)
		require.Equal(t, "9", d.Next.CardNumber)
	})
	t.Run("crash after encode intent, card not written: waits in encoding, never encodes twice", func(t *testing.T) {
		d := core.Decide(fixture(CredentialCreated), Resume{}, now)
		require.IsType(t, Encode{}, d.Call)
		later := now.Add(time.Minute)
		d = core.Decide(d.Next, Resume{}, later) // the encode answer was lost
		require.Equal(t, ReadCredential{CredentialID: cred}, d.Call)
		d = core.Decide(d.Next, CredentialRead{IsIssued: false}, later)
		require.Equal(t, Encoding, d.Next.State)
		require.Empty(t, d.Next.ActionAttemptID, "the attempt id is unknown")
		require.Equal(t, 1, d.Next.Attempts)
		require.Nil(t, d.Call, "no second encode_credential")
		require.Equal(t, &Timer{At: later.Add(core.EncodingTimeout), Deadline: Deadline{Attempt: 1}}, d.Timer,
			"the deadline is armed again: the crash may have come before it was")
		waiting := d.Next

		// The confirming webhook still finds it.
		d = core.Decide(waiting, ev(EventCredentialIssued, nil), later)
		require.Equal(t, ReadCredential{CredentialID: cred}, d.Call)
		d = core.Decide(d.Next, CredentialRead{IsIssued: true, CardNumber: "7"}, later)
		require.Equal(t, Issued, d.Next.State)
		require.Equal(t, "7", d.Next.CardNumber)

		// Without it, the deadline reads the credential (there is no
		// attempt to read), waits once more, then parks retryably.
		due := later.Add(core.EncodingTimeout)
		d = core.Decide(waiting, Deadline{Attempt: 1}, due)
		require.Equal(t, ReadCredential{CredentialID: cred}, d.Call)
		d = core.Decide(d.Next, CredentialRead{IsIssued: false}, due)
		require.Equal(t, Encoding, d.Next.State)
		require.NotNil(t, d.Timer)
		d = core.Decide(d.Next, d.Timer.Deadline, d.Timer.At)
		require.Equal(t, ReadCredential{CredentialID: cred}, d.Call)
		d = core.Decide(d.Next, CredentialRead{IsIssued: false}, due.Add(core.EncodingTimeout))
		require.Equal(t, EncodingFailed, d.Next.State)
		require.Equal(t, ErrEncodingTimeout, d.Next.Error.Type)
		require.True(t, d.Next.Error.Retryable)

		// A card written by then is issued at the deadline read.
		d = core.Decide(waiting, Deadline{Attempt: 1}, due)
		d = core.Decide(d.Next, CredentialRead{IsIssued: true, CardNumber: "8"}, due)
		require.Equal(t, Issued, d.Next.State)
		require.Equal(t, "8", d.Next.CardNumber)
	})
	t.Run("start for an existing user in new mode lists credentials for the snapshot", func(t *testing.T) {
		cmd := startNewUser()
		cmd.User, cmd.AcsUserID, cmd.AcsAccessGroupIDs = nil, usr, nil
		d := core.Decide(Record{}, Start{Cmd: cmd}, now)
		require.Nil(t, d.Call, "accepted is published before user_ready")
		d = core.Decide(d.Next, Resume{}, now)
		require.Equal(t, UserReady, d.Next.State)
		require.Equal(t, ListCredentials{UserID: usr}, d.Call)
	})
}

func TestRetryableTable(t *testing.T) {
	for typ, want := range map[string]bool{
		"no_credential_on_encoder": true, "encoding_interrupted": true, "incompatible_card_format": true,
		"encoder_not_online": true, "encoder_communication_timeout": true, "bridge_disconnected": true,
		"action_attempt_expired": true, "credential_cannot_be_reissued": false, "credential_deleted": false,
		"uncategorized_error": false, "something_new": false,
	} {
		assert.Equal(t, want, RetryableEncodingError(typ), typ)
	}
}

func TestParseStart(t *testing.T) {
	good := `{"issuance_id":"bk-2026-000123","acs_system_id":"11111111-1111-1111-1111-111111111111","user":{"full_name":"Jane Doe","phone_number":"+15555550100"},"acs_access_group_ids":["44444444-4444-4444-4444-333333333333"]}`
	cmd, id, err := ParseStart([]byte(good))
	require.NoError(t, err)
	require.Equal(t, "bk-2026-000123", id)
	require.Equal(t, ModeNew, cmd.Mode, "mode defaults to new")

	bad := []struct{ body, id, msg string }{
		{``, "", "not a StartIssuance"},
		{`[]`, "", "not a StartIssuance"},
		{`{"issuance_id":"has space"}`, "", "issuance_id"},
		{`{"issuance_id":"` + strings.Repeat("x", 65) + `"}`, "", "issuance_id"},
		{`{"issuance_id":"ok-1"}`, "ok-1", "acs_system_id"},
		{`{"issuance_id":"ok-1","acs_system_id":"s"}`, "ok-1", "exactly one of acs_user_id and user"},
		{`{"issuance_id":"ok-1","acs_system_id":"s","acs_user_id":"u","user":{"full_name":"J"}}`, "ok-1", "not both"},
		{`{"issuance_id":"ok-1","acs_system_id":"s","user":{"full_name":" "}}`, "ok-1", "user.full_name"},
		{`{"issuance_id":"ok-1","acs_system_id":"s","acs_user_id":"u","mode":"renew"}`, "ok-1", "mode must be"},
		{`{"issuance_id":"ok-1","acs_system_id":"s","user":{"full_name":"J"},"mode":"replace"}`, "ok-1", "needs an existing user"},
		{`{"issuance_id":"ok-1","acs_system_id":"s","acs_user_id":"u","starts_at":"tomorrow"}`, "ok-1", "starts_at"},
		{`{"issuance_id":"ok-1","acs_system_id":"s","acs_user_id":"u","starts_at":"2026-01-02T00:00:00Z","ends_at":"2026-01-01T00:00:00Z"}`, "ok-1", "ends_at must be after"},
		{`{"issuance_id":"ok-1","acs_system_id":"s","acs_user_id":"u","acs_access_group_ids":["g","g"]}`, "ok-1", "twice"},
		{`{"issuance_id":"ok-1","acs_system_id":"s","acs_user_id":"u","colour":"red"}`, "ok-1", "unknown field"},
		{`{"issuance_id":"ok-1","acs_system_id":"s","acs_user_id":"u"} {}`, "ok-1", "trailing"},
		{`{"issuance_id":7}`, "", "not a StartIssuance"},
	}
	for _, b := range bad {
		t.Run(b.body, func(t *testing.T) {
			_, id, err := ParseStart([]byte(b.body))
			require.Error(t, err)
			assert.Contains(t, err.Error(), b.msg)
			assert.Equal(t, b.id, id)
		})
	}
}

func TestParseRetryCancel(t *testing.T) {
	r, err := ParseRetry([]byte(`{"issuance_id":"bk-1","acs_encoder_id":"e-2"}`))
	require.NoError(t, err)
	require.Equal(t, RetryIssuance{IssuanceID: "bk-1", AcsEncoderID: "e-2"}, r)
	for _, b := range []string{``, `{}`, `{"issuance_id":"a b"}`, `{"issuance_id":"x","acs_encoder_id":"a/b"}`, `{"issuance_id":"x","extra":1}`} {
		_, err := ParseRetry([]byte(b))
		require.Error(t, err, b)
	}
	c, err := ParseCancel([]byte(`{"issuance_id":"bk-1"}`))
	require.NoError(t, err)
	require.Equal(t, "bk-1", c.IssuanceID)
	_, err = ParseCancel([]byte(`{"issuance_id":""}`))
	require.Error(t, err)
}

func ExampleCore_Decide() {
	d := core.Decide(Record{}, Start{Cmd: startNewUser()}, t0)
	fmt.Println(d.Next.State, d.Next.Version, reflect.TypeOf(d.Call).Name())
	// Output: accepted 1 CreateUser
}
