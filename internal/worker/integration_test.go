package worker_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/cardissuer/seamcards/internal/saga"
	"github.com/cardissuer/seamcards/internal/seamsim"
	"github.com/cardissuer/seamcards/internal/stack"
)

const waitLong = 20 * time.Second

type env struct {
	t *testing.T
	*stack.Stack
	ctx context.Context
}

func newEnv(t *testing.T, o stack.Options) *env {
	t.Helper()
	if o.Log == nil && os.Getenv("SEAMCARDS_TEST_LOG") != "" {
		o.Log = zaptest.NewLogger(t, zaptest.Level(zap.DebugLevel))
	}
	if o.Sim.EncodeDelay == 0 {
		o.Sim.EncodeDelay = 50 * time.Millisecond
	}
	if o.Sim.WebhookRetrySchedule == nil {
		o.Sim.WebhookRetrySchedule = []time.Duration{50 * time.Millisecond, 200 * time.Millisecond, time.Second}
	}
	if o.Worker.EncodingTimeout == 0 {
		o.Worker.EncodingTimeout = time.Minute
	}
	if o.Worker.Concurrency == 0 {
		o.Worker.Concurrency = 8
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	s, err := stack.Start(ctx, o)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return &env{t: t, Stack: s, ctx: ctx}
}

func janeDoe(id string) saga.StartIssuance {
	return saga.StartIssuance{
		IssuanceID:        id,
		AcsSystemID:       seamsim.SystemID,
		User:              &saga.User{FullName: "Jane Doe", PhoneNumber: "+15555550100"},
		AcsAccessGroupIDs: []string{seamsim.AccessGroupStaff, seamsim.AccessGroupGuests},
		Mode:              saga.ModeNew,
	}
}

// run starts an issuance and follows it to want (or any terminal state).
func (e *env) run(cmd saga.StartIssuance, want ...saga.State) []saga.Issuance {
	e.t.Helper()
	ch, stop, err := e.Follow(e.ctx, cmd.IssuanceID)
	require.NoError(e.t, err)
	defer stop()
	require.NoError(e.t, e.Start(e.ctx, cmd))
	got, err := stack.WaitFor(ch, waitLong, want...)
	require.NoError(e.t, err, "states so far: %v", states(got))
	return got
}

func (e *env) follow(id string) (<-chan saga.Issuance, func()) {
	e.t.Helper()
	ch, stop, err := e.Follow(e.ctx, id)
	require.NoError(e.t, err)
	e.t.Cleanup(stop)
	return ch, stop
}

func states(is []saga.Issuance) []saga.State {
	var out []saga.State
	for _, i := range is {
		out = append(out, i.State)
	}
	return out
}

// checkVersions asserts that versions run 1, 2, 3, … with one state each.
func checkVersions(t *testing.T, got []saga.Issuance) {
	t.Helper()
	for i, is := range got {
		assert.Equal(t, i+1, is.Version, "state %s", is.State)
	}
}

func (e *env) callsTo(path string) int { return e.Sim.CallCount(path) }

func TestNewUserHappyPath(t *testing.T) {
	e := newEnv(t, stack.Options{})
	got := e.run(janeDoe("bk-new-1"), saga.Issued)
	require.Equal(t, []saga.State{saga.Accepted, saga.UserReady, saga.CredentialCreated, saga.Encoding, saga.Issued}, states(got))
	checkVersions(t, got)
	last := got[len(got)-1]
	assert.NotEmpty(t, last.CardNumber)
	assert.NotNil(t, last.IssuedAt)
	assert.Equal(t, seamsim.EncoderID, last.AcsEncoderID, "the first encoder without errors")
	assert.Equal(t, 1, last.Attempts)
	assert.Nil(t, last.Error)

	st := e.Sim.State()
	require.Len(t, st.Users, 1)
	assert.Equal(t, []string{seamsim.AccessGroupStaff, seamsim.AccessGroupGuests}, sorted(st.Users[0].AcsAccessGroupIDs, seamsim.AccessGroupStaff))
	creds := st.CredentialsOf(last.AcsUserID)
	require.Len(t, creds, 1)
	assert.True(t, creds[0].AssignNewKey)
	assert.Equal(t, creds[0].CardNumber, last.CardNumber)

	calls := 0
	for _, c := range e.Sim.Calls() {
		if c.Kind == seamsim.KindAPI {
			calls++
		}
	}
	assert.LessOrEqual(t, calls, 5, "Seam calls for a new user: %v", e.Sim.Calls())
	assert.Zero(t, e.callsTo("/action_attempts/get"), "no polling")
	assert.Zero(t, e.callsTo("/acs/users/add_to_access_group"), "groups given at creation")
}

func sorted(ids []string, first string) []string {
	out := []string{first}
	for _, id := range ids {
		if id != first {
			out = append(out, id)
		}
	}
	return out
}
