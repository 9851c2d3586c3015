package worker_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardissuer/seamcards/internal/events"
	"github.com/cardissuer/seamcards/internal/saga"
	"github.com/cardissuer/seamcards/internal/seam"
	"github.com/cardissuer/seamcards/internal/seamsim"
	"github.com/cardissuer/seamcards/internal/stack"
	"github.com/cardissuer/seamcards/internal/worker"
)

// existingUser issues a first card and returns the user's id and that
// credential's id.
func (e *env) existingUser(id string) (string, string) {
	e.t.Helper()
	got := e.run(janeDoe(id), saga.Issued)
	last := got[len(got)-1]
	return last.AcsUserID, last.AcsCredentialID
}

func forUser(id, userID, mode string) saga.StartIssuance {
	return saga.StartIssuance{IssuanceID: id, AcsSystemID: seamsim.SystemID, AcsUserID: userID, Mode: mode}
}

func TestReplaceDeletesTheLostCardFirst(t *testing.T) {
	e := newEnv(t, stack.Options{})
	userID, oldCred := e.existingUser("bk-first")
	got := e.run(forUser("bk-replace", userID, saga.ModeReplace), saga.Issued)
	require.Equal(t, []saga.State{saga.Accepted, saga.UserReady, saga.CredentialCreated, saga.Encoding, saga.Issued}, states(got))
	checkVersions(t, got)
	last := got[len(got)-1]
	assert.NotEqual(t, oldCred, last.AcsCredentialID)
	assert.Equal(t, saga.ModeReplace, last.Mode)
	creds := e.Sim.State().CredentialsOf(userID)
	require.Len(t, creds, 1, "the lost card's credential is deleted")
	assert.Equal(t, last.AcsCredentialID, creds[0].AcsCredentialID)
	assert.True(t, creds[0].AssignNewKey)
	assert.Zero(t, e.callsTo("/acs/users/create")-1, "no second user")
}

func TestUpdateRewritesTheCardAndConfirmsWithReissued(t *testing.T) {
	e := newEnv(t, stack.Options{})
	userID, first := e.existingUser("bk-first")
	got := e.run(forUser("bk-update", userID, saga.ModeUpdate), saga.Issued)
	checkVersions(t, got)
	last := got[len(got)-1]
	creds := e.Sim.State().CredentialsOf(userID)
	require.Len(t, creds, 2, "the update credential sits beside the card credential")
	assert.Equal(t, first, creds[0].AcsCredentialID)
	assert.False(t, creds[1].AssignNewKey)
	assert.Equal(t, last.AcsCredentialID, creds[1].AcsCredentialID)
	assert.NotEmpty(t, last.CardNumber)
	reissued := 0
	for _, c := range e.Sim.Calls() {
		if c.Kind == seamsim.KindWebhook && c.EventType == seam.EventCredentialReissued {
			reissued++
		}
	}
	assert.Equal(t, 1, reissued, "confirmed by acs_credential.reissued")
	assert.Zero(t, e.callsTo("/action_attempts/get"))
}

func TestExistingUserJoinsMissingGroups(t *testing.T) {
	e := newEnv(t, stack.Options{})
	u, err := e.Client.CreateUser(e.ctx, seam.CreateUserRequest{AcsSystemID: seamsim.SystemID, FullName: "John Roe",
		AcsAccessGroupIDs: []string{seamsim.AccessGroupStaff}})
	require.NoError(t, err)
	cmd := forUser("bk-groups", u.AcsUserID, saga.ModeNew)
	cmd.AcsAccessGroupIDs = []string{seamsim.AccessGroupStaff, seamsim.AccessGroupGuests}
	e.run(cmd, saga.Issued)
	assert.Equal(t, 1, e.callsTo("/acs/users/add_to_access_group"), "only the group not yet joined")
	st := e.Sim.State()
	for _, su := range st.Users {
		if su.AcsUserID == u.AcsUserID {
			assert.ElementsMatch(t, []string{seamsim.AccessGroupStaff, seamsim.AccessGroupGuests}, su.AcsAccessGroupIDs)
		}
	}
}

func TestNewForAUserWhoHoldsACardFailsWithSeamsError(t *testing.T) {
	e := newEnv(t, stack.Options{})
	userID, _ := e.existingUser("bk-first")
	got := e.run(forUser("bk-second", userID, saga.ModeNew))
	last := got[len(got)-1]
	require.Equal(t, saga.Failed, last.State)
	require.NotNil(t, last.Error)
	assert.False(t, last.Error.Retryable)
	assert.NotEmpty(t, last.Error.Type)
	assert.Len(t, e.Sim.State().CredentialsOf(userID), 1)
}

func TestNoCardOnEncoderThenRetry(t *testing.T) {
	e := newEnv(t, stack.Options{Worker: worker.Config{EncodingTimeout: 2 * time.Second}})
	require.NoError(t, e.Sim.FailNextEncoding(seamsim.EncoderID, "no_credential_on_encoder", "", ""))
	ch, _ := e.follow("bk-retry")
	require.NoError(t, e.Start(e.ctx, janeDoe("bk-retry")))
	got, err := stack.WaitFor(ch, waitLong, saga.EncodingFailed)
	require.NoError(t, err, "states: %v", states(got))
	failed := got[len(got)-1]
	require.Equal(t, &saga.Error{Type: "no_credential_on_encoder", Message: failed.Error.Message, Retryable: true}, failed.Error)
	assert.Equal(t, 1, e.callsTo("/action_attempts/get"), "one read at the deadline, no webhook for a failure")

	require.NoError(t, e.Retry(e.ctx, "bk-retry", "", "1"))
	more, err := stack.WaitFor(ch, waitLong, saga.Issued)
	require.NoError(t, err, "states: %v", states(more))
	all := append(got, more...)
	require.Equal(t, []saga.State{saga.Accepted, saga.UserReady, saga.CredentialCreated, saga.Encoding, saga.EncodingFailed, saga.Encoding, saga.Issued}, states(all))
	checkVersions(t, all)
	assert.Equal(t, 2, all[len(all)-1].Attempts)
	assert.Nil(t, all[len(all)-1].Error)
	assert.Len(t, e.Sim.State().Credentials, 1, "the same credential encoded again")
}

func TestMissingWebhookIsReconciledAtTheDeadline(t *testing.T) {
	e := newEnv(t, stack.Options{Worker: worker.Config{EncodingTimeout: 2 * time.Second}})
	require.NoError(t, e.Sim.InjectWebhookFault(seamsim.WebhookFault{Kind: seamsim.WebhookDrop, EventType: seam.EventCredentialIssued}))
	got := e.run(janeDoe("bk-lost"), saga.Issued)
	checkVersions(t, got)
	last := got[len(got)-1]
	assert.NotEmpty(t, last.CardNumber, "filled from the action attempt's result")
	assert.NotNil(t, last.IssuedAt)
	assert.Equal(t, 1, e.callsTo("/action_attempts/get"))
	enc := got[3]
	require.Equal(t, saga.Encoding, enc.State)
	assert.GreaterOrEqual(t, last.UpdatedAt.Sub(enc.UpdatedAt), 2*time.Second, "read only after ENCODING_TIMEOUT")
}

func TestPendingAtTheDeadlineWaitsOnceMoreThenTimesOut(t *testing.T) {
	e := newEnv(t, stack.Options{Worker: worker.Config{EncodingTimeout: time.Second}})
	require.NoError(t, e.Sim.HoldEncoder(seamsim.EncoderID)) // nobody lays a card
	got := e.run(janeDoe("bk-slow"), saga.EncodingFailed)
	last := got[len(got)-1]
	require.Equal(t, saga.ErrEncodingTimeout, last.Error.Type)
	assert.True(t, last.Error.Retryable)
	assert.Equal(t, 2, e.callsTo("/action_attempts/get"), "one read per deadline, two deadlines")

	// The card is laid after all: the encoding completes and its webhook
	// confirms the card even though the issuance had given up waiting.
	ch, _ := e.follow("bk-slow")
	require.NoError(t, e.Sim.ReleaseEncoder(seamsim.EncoderID))
	more, err := stack.WaitFor(ch, waitLong, saga.Issued)
	require.NoError(t, err, "states: %v", states(more))
	assert.Equal(t, last.Version+1, more[len(more)-1].Version)
}

func TestDuplicatedReorderedAndDelayedWebhooks(t *testing.T) {
	for _, f := range []seamsim.WebhookFault{
		{Kind: seamsim.WebhookDuplicate, EventType: seam.EventCredentialIssued},
		{Kind: seamsim.WebhookDuplicateNewID, EventType: seam.EventCredentialIssued},
		{Kind: seamsim.WebhookDelay, EventType: seam.EventCredentialIssued, Delay: 500 * time.Millisecond},
		{Kind: seamsim.WebhookReorder, EventType: seam.EventCredentialIssued},
	} {
		t.Run(string(f.Kind), func(t *testing.T) {
			e := newEnv(t, stack.Options{})
			require.NoError(t, e.Sim.InjectWebhookFault(f))
			ch, _ := e.follow("bk-a")
			require.NoError(t, e.Start(e.ctx, janeDoe("bk-a")))
			if f.Kind == seamsim.WebhookReorder {
				// A second issuance's events overtake the first one's.
				cmd := janeDoe("bk-b")
				cmd.User.FullName = "Richard Roe"
				require.NoError(t, e.Start(e.ctx, cmd))
			}
			got, err := stack.WaitFor(ch, waitLong, saga.Issued)
			require.NoError(t, err, "states: %v", states(got))
			checkVersions(t, got)
			// Nothing more is published for the issuance.
			extra, _ := stack.WaitFor(ch, 700*time.Millisecond, saga.AllStates...)
			assert.Empty(t, extra)
			assert.Zero(t, e.callsTo("/action_attempts/get"))
		})
	}
}

func TestSeamThrottlingAndOutagesDuringSteps(t *testing.T) {
	e := newEnv(t, stack.Options{})
	require.NoError(t, e.Sim.FailNextCalls("/acs/users/create", 2, 503, 0))
	require.NoError(t, e.Sim.FailNextCalls("/acs/credentials/create", 2, 429, time.Second))
	require.NoError(t, e.Sim.FailNextCalls("/acs/encoders/list", 1, 500, 0))
	got := e.run(janeDoe("bk-throttled"), saga.Issued)
	checkVersions(t, got)
	st := e.Sim.State()
	assert.Len(t, st.Users, 1)
	assert.Len(t, st.Credentials, 1)
}

func TestCancelDuringEncodingDeletesTheCredential(t *testing.T) {
	e := newEnv(t, stack.Options{})
	require.NoError(t, e.Sim.HoldEncoder(seamsim.EncoderID))
	got := e.run(janeDoe("bk-cancel"), saga.Encoding)
	credID := got[len(got)-1].AcsCredentialID
	ch, _ := e.follow("bk-cancel")
	require.NoError(t, e.Cancel(e.ctx, "bk-cancel", "1"))
	all, err := stack.WaitFor(ch, waitLong, saga.Cancelled)
	require.NoError(t, err, "states: %v", states(all))
	checkVersions(t, all)
	for _, c := range e.Sim.State().Credentials {
		if c.AcsCredentialID == credID {
			assert.True(t, c.Deleted, "compensation deleted the credential")
		}
	}
	// A late confirming event changes nothing.
	late := fmt.Sprintf(`{"event_id":"late-1","event_type":"acs_credential.issued","acs_credential_id":%q,"workspace_id":"w","created_at":"2026-01-01T00:00:00Z","occurred_at":"2026-01-01T00:00:00Z"}`, credID)
	require.NoError(t, e.Publish(e.ctx, events.SeamEventsPrefix+"acs_credential.issued", []byte(late), "msg-late-1"))
	require.NoError(t, e.Cancel(e.ctx, "bk-cancel", "2"))
	extra, _ := stack.WaitFor(ch, time.Second, saga.AllStates...)
	assert.Empty(t, extra)
}

// TestCancelRacingTheConfirmationKeepsTheCard cancels after the card was
// written and its webhook arrived, while the read that fills card_number is
// still in flight: the written card's credential is not deleted.
func TestCancelRacingTheConfirmationKeepsTheCard(t *testing.T) {
	e := newEnv(t, stack.Options{})
	hold, err := e.Sim.HoldNextAnswer("/acs/credentials/get")
	require.NoError(t, err)
	ch, _ := e.follow("bk-late-cancel")
	require.NoError(t, e.Start(e.ctx, janeDoe("bk-late-cancel")))
	select {
	case <-hold.Reached(): // the fill read after acs_credential.issued
	case <-time.After(waitLong):
		t.Fatal("the fill read never came")
	}
	require.NoError(t, e.Cancel(e.ctx, "bk-late-cancel", "1"))
	all, err := stack.WaitFor(ch, waitLong, saga.Cancelled, saga.Issued)
	hold.Release()
	require.NoError(t, err, "states: %v", states(all))
	checkVersions(t, all)
	last := all[len(all)-1]
	require.Equal(t, saga.Cancelled, last.State)
	require.NotNil(t, last.Error)
	assert.Equal(t, saga.ErrCredentialKept, last.Error.Type)
	assert.NotEmpty(t, last.CardNumber)
	live := e.Sim.State().CredentialsOf(last.AcsUserID)
	require.Len(t, live, 1, "the written card's credential is kept")
	assert.True(t, live[0].IsIssued)
	extra, _ := stack.WaitFor(ch, time.Second, saga.AllStates...)
	assert.Empty(t, extra, "the held read's drive changes nothing afterwards")
}

func TestCancelWhileParked(t *testing.T) {
	e := newEnv(t, stack.Options{Worker: worker.Config{EncodingTimeout: time.Second}})
	require.NoError(t, e.Sim.FailNextEncoding(seamsim.EncoderID, "encoder_not_online", "", ""))
	got := e.run(janeDoe("bk-parked"), saga.EncodingFailed)
	ch, _ := e.follow("bk-parked")
	require.NoError(t, e.Cancel(e.ctx, "bk-parked", "1"))
	more, err := stack.WaitFor(ch, waitLong, saga.Cancelled)
	require.NoError(t, err)
	assert.Equal(t, got[len(got)-1].Version+1, more[len(more)-1].Version)
	assert.Empty(t, e.Sim.State().CredentialsOf(more[len(more)-1].AcsUserID))
	// Retry after the end changes nothing.
	require.NoError(t, e.Retry(e.ctx, "bk-parked", "", "1"))
	extra, _ := stack.WaitFor(ch, time.Second, saga.AllStates...)
	assert.Empty(t, extra)
}

func TestEncoderRemovedThenRetryOnAnother(t *testing.T) {
	e := newEnv(t, stack.Options{})
	require.NoError(t, e.Sim.HoldEncoder(seamsim.EncoderID))
	got := e.run(janeDoe("bk-removed"), saga.Encoding)
	ch, _ := e.follow("bk-removed")
	second, err := e.Sim.AddEncoder("Back office encoder")
	require.NoError(t, err)
	require.NoError(t, e.Sim.RemoveEncoder(seamsim.EncoderID))
	more, err := stack.WaitFor(ch, waitLong, saga.EncodingFailed)
	require.NoError(t, err, "states: %v", states(more))
	failed := more[len(more)-1]
	assert.Equal(t, &saga.Error{Type: saga.ErrEncoderRemoved, Message: failed.Error.Message, Retryable: true}, failed.Error)
	require.NoError(t, e.Retry(e.ctx, "bk-removed", "", "1"))
	more, err = stack.WaitFor(ch, waitLong, saga.Issued)
	require.NoError(t, err, "states: %v", states(more))
	last := more[len(more)-1]
	assert.Equal(t, second, last.AcsEncoderID, "picked the encoder that is left")
	assert.Equal(t, got[len(got)-1].AcsCredentialID, last.AcsCredentialID)
}

func TestCredentialCannotBeReissuedFails(t *testing.T) {
	e := newEnv(t, stack.Options{Worker: worker.Config{EncodingTimeout: time.Second}})
	userID, _ := e.existingUser("bk-first")
	require.NoError(t, e.Sim.FailNextEncoding(seamsim.EncoderID, "credential_cannot_be_reissued", "", ""))
	got := e.run(forUser("bk-update", userID, saga.ModeUpdate))
	last := got[len(got)-1]
	require.Equal(t, saga.Failed, last.State)
	assert.Equal(t, "credential_cannot_be_reissued", last.Error.Type)
	assert.False(t, last.Error.Retryable)
	// A retry of a failed issuance changes nothing.
	ch, _ := e.follow("bk-update")
	_, _ = stack.WaitFor(ch, waitLong, saga.Failed)
	require.NoError(t, e.Retry(e.ctx, "bk-update", "", "1"))
	extra, _ := stack.WaitFor(ch, time.Second, saga.AllStates...)
	assert.Empty(t, extra)
}

func TestCredentialDeletedOrInvalidatedDuringEncoding(t *testing.T) {
	for _, tc := range []struct {
		name string
		act  func(*seamsim.Sim, string) error
		want string
	}{
		{"deleted", (*seamsim.Sim).DeleteCredentialOutOfBand, saga.ErrCredentialDeleted},
		{"invalidated", (*seamsim.Sim).InvalidateCredential, saga.ErrCredentialInvalidated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, stack.Options{})
			require.NoError(t, e.Sim.HoldEncoder(seamsim.EncoderID))
			got := e.run(janeDoe("bk-x"), saga.Encoding)
			ch, _ := e.follow("bk-x")
			require.NoError(t, tc.act(e.Sim, got[len(got)-1].AcsCredentialID))
			more, err := stack.WaitFor(ch, waitLong, saga.Failed)
			require.NoError(t, err, "states: %v", states(more))
			assert.Equal(t, tc.want, more[len(more)-1].Error.Type)
		})
	}
}

func TestNoUsableEncoderParksUntilRetry(t *testing.T) {
	e := newEnv(t, stack.Options{})
	require.NoError(t, e.Sim.RemoveEncoder(seamsim.EncoderID))
	got := e.run(janeDoe("bk-noenc"), saga.EncodingFailed)
	assert.Equal(t, saga.ErrNoEncoderAvailable, got[len(got)-1].Error.Type)
	enc, err := e.Sim.AddEncoder("New encoder")
	require.NoError(t, err)
	ch, _ := e.follow("bk-noenc")
	require.NoError(t, e.Retry(e.ctx, "bk-noenc", "", "1"))
	more, err := stack.WaitFor(ch, waitLong, saga.Issued)
	require.NoError(t, err, "states: %v", states(more))
	assert.Equal(t, enc, more[len(more)-1].AcsEncoderID)
}

func TestInvalidCommandsThenValid(t *testing.T) {
	e := newEnv(t, stack.Options{})
	ch, _ := e.follow("bk-bad")
	// No usable id: logged and dropped.
	require.NoError(t, e.Publish(e.ctx, events.CommandStart, []byte(`{"issuance_id": 42`), "garbage-1"))
	require.NoError(t, e.Publish(e.ctx, events.CommandCancel, []byte(`nope`), "garbage-2"))
	require.NoError(t, e.Publish(e.ctx, "issuance.commands.explode", []byte(`{}`), "garbage-3"))
	// A valid id with an invalid body: rejected.
	require.NoError(t, e.Publish(e.ctx, events.CommandStart, []byte(`{"issuance_id":"bk-bad","acs_system_id":"`+seamsim.SystemID+`","mode":"new"}`), "bk-bad"))
	got, err := stack.WaitFor(ch, waitLong, saga.Rejected)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, 1, got[0].Version)
	assert.Equal(t, &saga.Error{Type: saga.ErrInvalidCommand, Message: "give exactly one of acs_user_id and user"}, got[0].Error)
	// The worker keeps going.
	e.run(janeDoe("bk-good"), saga.Issued)
	assert.Equal(t, 1, e.callsTo("/acs/users/create"))
}

func TestSameStartTwiceMakesOneUserAndOneCredential(t *testing.T) {
	e := newEnv(t, stack.Options{Workers: 2})
	cmd := janeDoe("bk-twice")
	data, err := json.Marshal(cmd)
	require.NoError(t, err)
	ch, _ := e.follow("bk-twice")
	// Different message ids get past JetStream's duplicate window, as a
	// resend days later would.
	for i := 0; i < 3; i++ {
		require.NoError(t, e.Publish(e.ctx, events.CommandStart, data, fmt.Sprintf("resend-%d", i)))
	}
	got, err := stack.WaitFor(ch, waitLong, saga.Issued)
	require.NoError(t, err)
	checkVersions(t, got)
	require.NoError(t, e.Publish(e.ctx, events.CommandStart, data, "resend-late"))
	extra, _ := stack.WaitFor(ch, time.Second, saga.AllStates...)
	assert.Empty(t, extra)
	st := e.Sim.State()
	assert.Len(t, st.Users, 1)
	assert.Len(t, st.Credentials, 1)
}

func TestWorkersShareTheWork(t *testing.T) {
	e := newEnv(t, stack.Options{Workers: 3, Sim: seamsim.Config{EncoderSlots: 50}})
	const n = 30
	chans := map[string]<-chan saga.Issuance{}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("bk-many-%02d", i)
		ch, _ := e.follow(id)
		chans[id] = ch
		cmd := janeDoe(id)
		cmd.User.FullName = fmt.Sprintf("Guest %02d", i)
		require.NoError(t, e.Start(e.ctx, cmd))
	}
	for id, ch := range chans {
		got, err := stack.WaitFor(ch, waitLong, saga.Issued)
		require.NoError(t, err, "%s: %v", id, states(got))
		checkVersions(t, got)
	}
	st := e.Sim.State()
	assert.Len(t, st.Users, n)
	assert.Len(t, st.Credentials, n)
}

// TestEventBeforeTheCallIsRecorded delivers the confirming webhook (and has
// the receiver store it) while the worker still waits for encode_credential's
// answer, so the event arrives before the worker recorded the call.
func TestEventBeforeTheCallIsRecorded(t *testing.T) {
	e := newEnv(t, stack.Options{Sim: seamsim.Config{EncodeDelay: time.Millisecond}})
	hold, err := e.Sim.HoldNextAnswer("/acs/encoders/encode_credential")
	require.NoError(t, err)
	ch, _ := e.follow("bk-early")
	require.NoError(t, e.Start(e.ctx, janeDoe("bk-early")))
	<-hold.Reached()
	require.Eventually(t, func() bool {
		for _, c := range e.Sim.Calls() {
			if c.Kind == seamsim.KindWebhook && c.EventType == seam.EventCredentialIssued && c.Outcome == seamsim.OutcomeDelivered {
				return true
			}
		}
		return false
	}, waitLong, 10*time.Millisecond, "the webhook is stored before the answer")
	time.Sleep(300 * time.Millisecond) // the worker sees the event while the call is in flight
	hold.Release()
	got, err := stack.WaitFor(ch, waitLong, saga.Issued)
	require.NoError(t, err, "states: %v", states(got))
	checkVersions(t, got)
	assert.Equal(t, []saga.State{saga.Accepted, saga.UserReady, saga.CredentialCreated, saga.Encoding, saga.Issued}, states(got))
	assert.Zero(t, e.callsTo("/action_attempts/get"))
}
