package seamsim_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardissuer/seamcards/internal/seam"
	"github.com/cardissuer/seamcards/internal/seamsim"
	"github.com/cardissuer/seamcards/internal/seamsim/simtest"
)

const wait = 10 * time.Second

func fast() seamsim.Config {
	return seamsim.Config{
		EncodeDelay:          10 * time.Millisecond,
		WebhookRetrySchedule: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond},
	}
}

func ptr[T any](v T) *T { return &v }

// call sends a raw request through the validating client and decodes the
// answer.
func call(t *testing.T, env *simtest.Env, method, path, body string) (int, map[string]any) {
	t.Helper()
	return send(t, env.HTTP, env, method, path, body, env.Sim.APIKey())
}

// callUnchecked sends a request the document would reject, and checks only
// the answer against the document.
func callUnchecked(t *testing.T, env *simtest.Env, method, path, body, key string) (int, map[string]any) {
	t.Helper()
	status, out := send(t, http.DefaultClient, env, method, path, body, key)
	b, _ := json.Marshal(out)
	r, _ := http.NewRequest(method, env.URL+path, nil)
	if env.Validator.HasOperation(method, path) {
		assert.NoError(t, env.Validator.ValidateResponse(context.Background(), r, status, http.Header{"Content-Type": {"application/json"}}, b))
	}
	return status, out
}

func send(t *testing.T, hc *http.Client, env *simtest.Env, method, path, body, key string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, env.URL+path, rd)
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

func errType(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	s, _ := e["type"].(string)
	return s
}

func newUser(t *testing.T, env *simtest.Env, name string) string {
	t.Helper()
	u, err := env.Client.CreateUser(context.Background(), seam.CreateUserRequest{AcsSystemID: seamsim.SystemID, FullName: name})
	require.NoError(t, err)
	return u.AcsUserID
}

func newCard(t *testing.T, env *simtest.Env, userID string, assignNewKey bool) string {
	t.Helper()
	c, err := env.Client.CreateCredential(context.Background(), seam.CreateCredentialRequest{
		AcsUserID: userID, AccessMethod: seam.AccessMethodCard, SaltoSpaceMetadata: &seam.SaltoSpaceMetadata{AssignNewKey: &assignNewKey},
	})
	require.NoError(t, err)
	return c.AcsCredentialID
}

func encode(t *testing.T, env *simtest.Env, credID string) string {
	t.Helper()
	aa, err := env.Client.EncodeCredential(context.Background(), credID, seamsim.EncoderID)
	require.NoError(t, err)
	return aa.ActionAttemptID
}

// settled waits until an action attempt is no longer pending.
func settled(t *testing.T, env *simtest.Env, id string) *seam.ActionAttempt {
	t.Helper()
	var aa *seam.ActionAttempt
	require.Eventually(t, func() bool {
		var err error
		aa, err = env.Client.GetActionAttempt(context.Background(), id)
		require.NoError(t, err)
		return aa.Status != seam.ActionStatusPending
	}, wait, 5*time.Millisecond)
	return aa
}

func TestEnvelopesAndTwins(t *testing.T) {
	env := simtest.Start(t, fast())
	status, out := call(t, env, http.MethodPost, "/acs/systems/get", `{"acs_system_id":"`+seamsim.SystemID+`"}`)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, true, out["ok"])
	assert.Contains(t, out, "acs_system")

	user := newUser(t, env, "Twin Tess")
	// The GET and DELETE twins read the same fields from the query.
	status, out = call(t, env, http.MethodGet, "/acs/users/get?acs_user_id="+user, "")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, user, out["acs_user"].(map[string]any)["acs_user_id"])
	status, out = call(t, env, http.MethodPut, "/acs/users/add_to_access_group",
		`{"acs_user_id":"`+user+`","acs_access_group_id":"`+seamsim.AccessGroupGuests+`"}`)
	require.Equal(t, http.StatusOK, status, "%v", out)
	cred := newCard(t, env, user, true)
	status, _ = call(t, env, http.MethodDelete, "/acs/credentials/delete?acs_credential_id="+cred, "")
	require.Equal(t, http.StatusOK, status)

	// List answers carry pagination; next_page_url leads to the next page.
	newUser(t, env, "Twin Tom")
	status, out = call(t, env, http.MethodPost, "/acs/users/list", `{"search":"twin","limit":1}`)
	require.Equal(t, http.StatusOK, status)
	pg := out["pagination"].(map[string]any)
	assert.Equal(t, true, pg["has_next_page"])
	next, err := url.Parse(pg["next_page_url"].(string))
	require.NoError(t, err)
	status, out = call(t, env, http.MethodGet, next.RequestURI(), "")
	require.Equal(t, http.StatusOK, status, "%v", out)
	users := out["acs_users"].([]any)
	require.Len(t, users, 1)
	assert.Equal(t, "Twin Tom", users[0].(map[string]any)["full_name"])
	assert.Equal(t, false, out["pagination"].(map[string]any)["has_next_page"])

	// A cursor of one query does not page another.
	status, out = callUnchecked(t, env, http.MethodPost, "/acs/users/list",
		`{"search":"someone else","page_cursor":"`+pg["next_page_cursor"].(string)+`"}`, env.Sim.APIKey())
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_input", errType(out))
}

func TestRequestsAreValidated(t *testing.T) {
	env := simtest.Start(t, fast())
	user := newUser(t, env, "Val Idate")
	key := env.Sim.APIKey()
	for name, tc := range map[string]struct {
		path, body string
		status     int
		typ        string
	}{
		"unknown field": {"/acs/credentials/create",
			`{"acs_user_id":"` + user + `","access_method":"card","salto_space_metadata":{"assign_new_card":true}}`, 400, "invalid_input"},
		"wrong type":          {"/acs/users/create", `{"full_name":7,"acs_system_id":"` + seamsim.SystemID + `"}`, 400, "invalid_input"},
		"missing required":    {"/acs/users/create", `{"full_name":"x"}`, 400, "invalid_input"},
		"not JSON":            {"/acs/users/get", `{"acs_user_id":`, 400, "invalid_input"},
		"bad enum":            {"/acs/encoders/simulate/next_credential_encode_will_fail", `{"acs_encoder_id":"` + seamsim.EncoderID + `","error_code":"card_on_fire"}`, 400, "invalid_input"},
		"unknown endpoint":    {"/acs/users/teleport", `{}`, 404, "not_found"},
		"not found":           {"/acs/users/get", `{"acs_user_id":"00000000-0000-4000-8000-000000000000"}`, 404, "acs_user_not_found"},
		"unknown system":      {"/acs/users/create", `{"full_name":"x","acs_system_id":"00000000-0000-4000-8000-000000000000"}`, 404, "acs_system_not_found"},
		"unknown group":       {"/acs/users/create", `{"full_name":"x","acs_system_id":"` + seamsim.SystemID + `","acs_access_group_ids":["00000000-0000-4000-8000-000000000000"]}`, 404, "acs_access_group_not_found"},
		"unknown encoder":     {"/acs/encoders/encode_credential", `{"acs_encoder_id":"00000000-0000-4000-8000-000000000000","acs_credential_id":"00000000-0000-4000-8000-000000000000"}`, 404, "acs_encoder_not_found"},
		"not a card":          {"/acs/credentials/create", `{"acs_user_id":"` + user + `","access_method":"code","code":"1234"}`, 400, "invalid_input"},
		"encoders unfiltered": {"/acs/encoders/list", `{}`, 400, "invalid_input"},
	} {
		t.Run(name, func(t *testing.T) {
			status, out := callUnchecked(t, env, http.MethodPost, tc.path, tc.body, key)
			assert.Equal(t, tc.status, status, "%v", out)
			assert.Equal(t, tc.typ, errType(out), "%v", out)
			assert.Equal(t, false, out["ok"])
		})
	}
	t.Run("authentication", func(t *testing.T) {
		for _, k := range []string{"", "wrong"} {
			status, out := callUnchecked(t, env, http.MethodPost, "/acs/systems/get", `{"acs_system_id":"`+seamsim.SystemID+`"}`, k)
			assert.Equal(t, http.StatusUnauthorized, status)
			assert.Equal(t, "unauthorized", errType(out))
		}
	})
	t.Run("method", func(t *testing.T) {
		status, out := callUnchecked(t, env, http.MethodPatch, "/acs/systems/get", `{}`, key)
		assert.Equal(t, http.StatusMethodNotAllowed, status)
		assert.Equal(t, "method_not_allowed", errType(out))
	})
}

func TestSaltoSpaceCardRules(t *testing.T) {
	env := simtest.Start(t, fast())
	ctx, c := context.Background(), env.Client
	user := newUser(t, env, "Card Carla")

	// No card yet: an update has nothing to update.
	_, err := c.CreateCredential(ctx, seam.CreateCredentialRequest{AcsUserID: user, AccessMethod: "card",
		SaltoSpaceMetadata: &seam.SaltoSpaceMetadata{AssignNewKey: ptr(false)}})
	var se *seam.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, seamsim.ErrTypeUserNoCard, se.Type)

	card := newCard(t, env, user, true)
	_, err = c.CreateCredential(ctx, seam.CreateCredentialRequest{AcsUserID: user, AccessMethod: "card"})
	require.ErrorAs(t, err, &se, "no flag means a new card, and the user has one")
	assert.Equal(t, seamsim.ErrTypeUserHasCard, se.Type)
	assert.Equal(t, http.StatusBadRequest, se.Status)

	// An update beside the card, encoded before the card was written: the
	// card cannot be rewritten.
	upd := newCard(t, env, user, false)
	aa := settled(t, env, encode(t, env, upd))
	require.Equal(t, seam.ActionStatusError, aa.Status)
	assert.Equal(t, seam.ActionErrorCredentialCannotBeReissued, aa.Error.Type)

	// Write the card, then the update rewrites it: reissued, same number.
	env.Hooks.WaitEvent(wait, seam.EventCredentialIssued, func() string { encode(t, env, card); return card }())
	encode(t, env, upd)
	env.Hooks.WaitEvent(wait, seam.EventCredentialReissued, upd)
	st := env.Sim.State()
	creds := st.CredentialsOf(user)
	require.Len(t, creds, 2)
	assert.Equal(t, creds[0].CardNumber, creds[1].CardNumber)
	assert.True(t, creds[1].IsIssued)

	// Replace: delete the card, then a new one is allowed.
	require.NoError(t, c.DeleteCredential(ctx, card))
	env.Hooks.WaitEvent(wait, seam.EventCredentialDeleted, card)
	newCard(t, env, user, true)
	assert.Len(t, env.Sim.State().CredentialsOf(user), 2)
}

func TestEncodingOutcomes(t *testing.T) {
	env := simtest.Start(t, fast())
	user := newUser(t, env, "Enco Ding")
	card := newCard(t, env, user, true)

	// Every ENCODE_CREDENTIAL error type, forced through the knob, ends in an
	// action attempt that carries it (and that the document accepts).
	for _, typ := range seam.ActionErrorTypes() {
		require.NoError(t, env.Sim.FailNextEncoding(seamsim.EncoderID, typ, "", ""))
		aa := settled(t, env, encode(t, env, card))
		require.Equal(t, seam.ActionStatusError, aa.Status, typ)
		assert.Equal(t, typ, aa.Error.Type)
		assert.NotEmpty(t, aa.Error.Message)
	}
	assert.Error(t, env.Sim.FailNextEncoding(seamsim.EncoderID, "card_on_fire", "", ""))

	// Seam's own simulate endpoints.
	ctx := context.Background()
	require.NoError(t, env.Client.SimulateNextEncodeWillFail(ctx, seamsim.EncoderID, ""))
	aa := settled(t, env, encode(t, env, card))
	assert.Equal(t, seam.ActionErrorNoCredentialOnEncoder, aa.Error.Type, "the default error")
	require.NoError(t, env.Client.SimulateNextEncodeWillFail(ctx, seamsim.EncoderID, seam.ActionErrorEncodingInterrupted))
	require.NoError(t, env.Client.SimulateNextEncodeWillSucceed(ctx, seamsim.EncoderID))
	require.Equal(t, seam.ActionStatusSuccess, settled(t, env, encode(t, env, card)).Status)

	// A failure aimed at another credential leaves this one alone.
	other := newCard(t, env, newUser(t, env, "Other Otto"), true)
	require.NoError(t, env.Client.SimulateNextEncodeWillFailFor(ctx, seamsim.EncoderID, other, seam.ActionErrorActionAttemptExpired))
	assert.Equal(t, seam.ActionStatusSuccess, settled(t, env, encode(t, env, card)).Status)
	assert.Equal(t, seam.ActionErrorActionAttemptExpired, settled(t, env, encode(t, env, other)).Error.Type)

	// No webhook for a failed encoding: only the successes were confirmed.
	simtest.Idle(t, env.Sim, wait)
	var issued int
	for _, d := range env.Hooks.Accepted() {
		assert.Contains(t, []string{seam.EventCredentialIssued}, d.Event.EventType)
		issued++
	}
	assert.Equal(t, 2, issued)
}

func TestEncoderQueueHoldAndRelease(t *testing.T) {
	env := simtest.Start(t, fast())
	require.NoError(t, env.Sim.HoldEncoder(seamsim.EncoderID))
	c1 := newCard(t, env, newUser(t, env, "First Fay"), true)
	c2 := newCard(t, env, newUser(t, env, "Second Sid"), true)
	a1, a2 := encode(t, env, c1), encode(t, env, c2)

	time.Sleep(50 * time.Millisecond) // several encode delays: nothing may finish while held
	st := env.Sim.State()
	assert.Equal(t, 2, st.Encoders[0].Queued)
	for _, a := range st.ActionAttempts {
		assert.Equal(t, "pending", a.Status)
	}
	assert.Empty(t, env.Hooks.All())

	require.NoError(t, env.Sim.ReleaseEncoder(seamsim.EncoderID))
	all := env.Hooks.Wait(wait, func(d []simtest.Delivery) bool { return len(d) == 2 })
	// One encoder writes one card at a time, in the order asked.
	assert.Equal(t, c1, all[0].Event.AcsCredentialID)
	assert.Equal(t, c2, all[1].Event.AcsCredentialID)
	assert.Equal(t, seam.ActionStatusSuccess, settled(t, env, a1).Status)
	assert.Equal(t, seam.ActionStatusSuccess, settled(t, env, a2).Status)
}

func TestOutOfBandChanges(t *testing.T) {
	env := simtest.Start(t, fast())
	ctx := context.Background()
	user := newUser(t, env, "Out Band")
	card := newCard(t, env, user, true)

	// Deleted while its encoding waits for a card.
	require.NoError(t, env.Sim.HoldEncoder(seamsim.EncoderID))
	a := encode(t, env, card)
	require.NoError(t, env.Sim.DeleteCredentialOutOfBand(card))
	env.Hooks.WaitEvent(wait, seam.EventCredentialDeleted, card)
	require.NoError(t, env.Sim.ReleaseEncoder(seamsim.EncoderID))
	assert.Equal(t, seam.ActionErrorCredentialDeleted, settled(t, env, a).Error.Type)
	// Encoding it again is accepted and fails the same way.
	assert.Equal(t, seam.ActionErrorCredentialDeleted, settled(t, env, encode(t, env, card)).Error.Type)

	card = newCard(t, env, user, true)
	require.NoError(t, env.Sim.InvalidateCredential(card))
	env.Hooks.WaitEvent(wait, seam.EventCredentialInvalidated, card)

	// A removed encoder: its waiting encoding fails, it reports the error.
	require.NoError(t, env.Sim.HoldEncoder(seamsim.EncoderID))
	a = encode(t, env, card)
	require.NoError(t, env.Sim.RemoveEncoder(seamsim.EncoderID))
	env.Hooks.WaitEvent(wait, seam.EventEncoderRemoved, seamsim.EncoderID)
	assert.Equal(t, seam.ActionErrorEncoderNotOnline, settled(t, env, a).Error.Type)
	enc, err := env.Client.GetEncoder(ctx, seamsim.EncoderID)
	require.NoError(t, err)
	require.Len(t, enc.Errors, 1)
	assert.Equal(t, "acs_encoder_removed", enc.Errors[0].ErrorCode)

	id, err := env.Sim.AddEncoder("Back office encoder")
	require.NoError(t, err)
	env.Hooks.WaitEvent(wait, seam.EventEncoderAdded, id)
	require.NoError(t, env.Sim.SetEncoderOnline(id, false))
	aa, err := env.Client.EncodeCredential(ctx, card, id)
	require.NoError(t, err)
	assert.Equal(t, seam.ActionErrorEncoderNotOnline, settled(t, env, aa.ActionAttemptID).Error.Type)
	require.NoError(t, env.Sim.SetEncoderOnline(id, true))
	aa, err = env.Client.EncodeCredential(ctx, card, id)
	require.NoError(t, err)
	assert.Equal(t, seam.ActionStatusSuccess, settled(t, env, aa.ActionAttemptID).Status)
}

// TestEveryEmittedEventType triggers each event type seamsim sends; the
// receiver verifies each signature and validates each body against the
// document's event schema.
func TestEveryEmittedEventType(t *testing.T) {
	env := simtest.Start(t, fast())
	user := newUser(t, env, "Event Eve")
	card := newCard(t, env, user, true)
	encode(t, env, card)
	env.Hooks.WaitEvent(wait, seam.EventCredentialIssued, card)
	upd := newCard(t, env, user, false)
	encode(t, env, upd)
	env.Hooks.WaitEvent(wait, seam.EventCredentialReissued, upd)
	require.NoError(t, env.Sim.InvalidateCredential(upd))
	require.NoError(t, env.Sim.DeleteCredentialOutOfBand(card))
	id, err := env.Sim.AddEncoder("Spare")
	require.NoError(t, err)
	require.NoError(t, env.Sim.RemoveEncoder(id))
	simtest.Idle(t, env.Sim, wait)
	seen := map[string]bool{}
	for _, d := range env.Hooks.Accepted() {
		seen[d.Event.EventType] = true
		assert.True(t, strings.HasPrefix(d.SvixID, "msg_"), d.SvixID)
	}
	for _, typ := range []string{seam.EventCredentialIssued, seam.EventCredentialReissued, seam.EventCredentialInvalidated,
		seam.EventCredentialDeleted, seam.EventEncoderAdded, seam.EventEncoderRemoved} {
		assert.True(t, seen[typ], typ)
	}
}

func TestWebhookRetriesUntilAccepted(t *testing.T) {
	env := simtest.Start(t, fast())
	env.Hooks.FailNext(2)
	card := newCard(t, env, newUser(t, env, "Retry Ray"), true)
	encode(t, env, card)
	env.Hooks.WaitEvent(wait, seam.EventCredentialIssued, card)
	simtest.Idle(t, env.Sim, wait)

	all := env.Hooks.All()
	require.Len(t, all, 3)
	for _, d := range all {
		assert.Equal(t, all[0].SvixID, d.SvixID, "a retry keeps its svix-id")
		assert.Equal(t, all[0].Body, d.Body)
	}
	assert.Len(t, env.Hooks.Accepted(), 1, "delivered once")
	var outcomes []string
	for _, c := range env.Sim.Calls() {
		if c.Kind == seamsim.KindWebhook {
			outcomes = append(outcomes, c.Outcome)
			assert.Equal(t, all[0].SvixID, c.SvixID)
		}
	}
	assert.Equal(t, []string{seamsim.OutcomeFailed, seamsim.OutcomeFailed, seamsim.OutcomeDelivered}, outcomes)
}

func TestWebhookGivesUpAfterSchedule(t *testing.T) {
	env := simtest.Start(t, fast())
	env.Hooks.SetStatus(http.StatusServiceUnavailable)
	encode(t, env, newCard(t, env, newUser(t, env, "Gone Gus"), true))
	env.Hooks.Wait(wait, func(d []simtest.Delivery) bool { return len(d) == 4 })
	simtest.Idle(t, env.Sim, wait)
	assert.Len(t, env.Hooks.All(), 4, "the first attempt and one per scheduled retry")
	calls := env.Sim.Calls()
	assert.Equal(t, seamsim.OutcomeGaveUp, calls[len(calls)-1].Outcome)
}

func TestWebhookFaults(t *testing.T) {
	env := simtest.Start(t, fast())
	user := newUser(t, env, "Fault Faye")
	issue := func() (credID, attemptID string) {
		t.Helper()
		credID = newCard(t, env, user, true)
		return credID, encode(t, env, credID)
	}
	replace := func(id string) {
		t.Helper()
		require.NoError(t, env.Client.DeleteCredential(context.Background(), id))
	}
	count := func(id string) (deliveries int, ids map[string]bool) {
		ids = map[string]bool{}
		for _, d := range env.Hooks.Accepted() {
			if d.Event.AcsCredentialID == id && d.Event.EventType == seam.EventCredentialIssued {
				deliveries++
				ids[d.SvixID] = true
			}
		}
		return
	}

	t.Run("drop", func(t *testing.T) {
		require.NoError(t, env.Sim.InjectWebhookFault(seamsim.WebhookFault{Kind: seamsim.WebhookDrop, EventType: seam.EventCredentialIssued}))
		id, a := issue()
		assert.Equal(t, seam.ActionStatusSuccess, settled(t, env, a).Status)
		simtest.Idle(t, env.Sim, wait)
		n, _ := count(id)
		assert.Zero(t, n)
		replace(id)
	})
	t.Run("duplicate with the same svix-id", func(t *testing.T) {
		require.NoError(t, env.Sim.InjectWebhookFault(seamsim.WebhookFault{Kind: seamsim.WebhookDuplicate, EventType: seam.EventCredentialIssued}))
		id, _ := issue()
		env.Hooks.Wait(wait, func([]simtest.Delivery) bool { n, _ := count(id); return n == 2 })
		simtest.Idle(t, env.Sim, wait)
		n, ids := count(id)
		assert.Equal(t, 2, n)
		assert.Len(t, ids, 1)
		replace(id)
	})
	t.Run("duplicate under a new svix-id", func(t *testing.T) {
		require.NoError(t, env.Sim.InjectWebhookFault(seamsim.WebhookFault{Kind: seamsim.WebhookDuplicateNewID, EventType: seam.EventCredentialIssued}))
		id, _ := issue()
		env.Hooks.Wait(wait, func([]simtest.Delivery) bool { n, _ := count(id); return n == 2 })
		simtest.Idle(t, env.Sim, wait)
		n, ids := count(id)
		assert.Equal(t, 2, n)
		assert.Len(t, ids, 2)
		replace(id)
	})
	t.Run("delay", func(t *testing.T) {
		require.NoError(t, env.Sim.InjectWebhookFault(seamsim.WebhookFault{Kind: seamsim.WebhookDelay, Delay: 300 * time.Millisecond}))
		start := time.Now()
		id, _ := issue()
		env.Hooks.WaitEvent(wait, seam.EventCredentialIssued, id)
		assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
		replace(id)
	})
	t.Run("reorder", func(t *testing.T) {
		simtest.Idle(t, env.Sim, wait)
		before := len(env.Hooks.All())
		require.NoError(t, env.Sim.InjectWebhookFault(seamsim.WebhookFault{Kind: seamsim.WebhookReorder, EventType: seam.EventCredentialIssued}))
		id, a := issue()
		settled(t, env, a)
		replace(id) // acs_credential.deleted goes out first; issued follows it
		all := env.Hooks.Wait(wait, func(d []simtest.Delivery) bool { return len(d) >= before+2 })[before:]
		assert.Equal(t, seam.EventCredentialDeleted, all[0].Event.EventType)
		assert.Equal(t, seam.EventCredentialIssued, all[1].Event.EventType)
	})
	t.Run("release held", func(t *testing.T) {
		require.NoError(t, env.Sim.InjectWebhookFault(seamsim.WebhookFault{Kind: seamsim.WebhookReorder}))
		id, a := issue()
		settled(t, env, a)
		assert.Equal(t, 1, env.Sim.PendingWebhooks())
		env.Sim.ReleaseReorderedWebhooks()
		env.Hooks.WaitEvent(wait, seam.EventCredentialIssued, id)
		replace(id)
	})
	assert.Error(t, env.Sim.InjectWebhookFault(seamsim.WebhookFault{Kind: "explode"}))
	assert.Error(t, env.Sim.InjectWebhookFault(seamsim.WebhookFault{Kind: seamsim.WebhookDelay}))
	assert.Error(t, env.Sim.InjectWebhookFault(seamsim.WebhookFault{Kind: seamsim.WebhookDrop, EventType: "card.melted"}))
}

// TestDeliveriesAreConcurrent holds every delivery at the receiver until
// all of them have arrived: deliveries one at a time would never get there.
func TestDeliveriesAreConcurrent(t *testing.T) {
	const n = 8
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	recv := func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrived++
		if arrived == n {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
			w.WriteHeader(http.StatusNoContent)
		case <-time.After(wait):
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}
	srv := newServer(t, http.HandlerFunc(recv))
	sim, err := seamsim.New(seamsim.Config{WebhookURL: srv, WebhookRetrySchedule: []time.Duration{}})
	require.NoError(t, err)
	defer sim.Close()
	for i := range n {
		_, err := sim.AddEncoder("Encoder " + strconv.Itoa(i))
		require.NoError(t, err)
	}
	select {
	case <-all:
	case <-time.After(wait):
		t.Fatal("deliveries did not overlap")
	}
}

func TestCallLogOrdersCallsAndDeliveries(t *testing.T) {
	env := simtest.Start(t, fast())
	card := newCard(t, env, newUser(t, env, "Log Lou"), true)
	env.Sim.ResetCalls()
	encode(t, env, card)
	env.Hooks.WaitEvent(wait, seam.EventCredentialIssued, card)
	_, err := env.Client.GetCredential(context.Background(), card)
	require.NoError(t, err)
	calls := env.Sim.Calls()
	require.Len(t, calls, 3)
	assert.Equal(t, "/acs/encoders/encode_credential", calls[0].Path)
	assert.Equal(t, seamsim.KindWebhook, calls[1].Kind)
	assert.Equal(t, seam.EventCredentialIssued, calls[1].EventType)
	assert.Equal(t, "/acs/credentials/get", calls[2].Path)
	assert.Less(t, calls[0].Seq, calls[1].Seq)
	assert.Less(t, calls[1].Seq, calls[2].Seq)
	assert.Equal(t, 1, env.Sim.CallCount("/acs/credentials/get"))
}

func TestKnobsOverHTTP(t *testing.T) {
	env := simtest.Start(t, fast())
	key := env.Sim.APIKey()
	post := func(path, body string) (int, map[string]any) {
		t.Helper()
		return send(t, http.DefaultClient, env, http.MethodPost, "/_sim"+path, body, key)
	}
	card := newCard(t, env, newUser(t, env, "Knob Kim"), true)

	status, out := post("/faults", `{"path":"/acs/systems/get","count":1,"status":429,"retry_after_seconds":0}`)
	require.Equal(t, http.StatusOK, status, "%v", out)
	status, _ = callUnchecked(t, env, http.MethodPost, "/acs/systems/get", `{"acs_system_id":"`+seamsim.SystemID+`"}`, key)
	assert.Equal(t, http.StatusTooManyRequests, status)

	status, out = post("/encoders/fail_next", `{"acs_encoder_id":"`+seamsim.EncoderID+`","error_type":"bridge_disconnected"}`)
	require.Equal(t, http.StatusOK, status, "%v", out)
	assert.Equal(t, seam.ActionErrorBridgeDisconnected, settled(t, env, encode(t, env, card)).Error.Type)

	status, _ = post("/encoders/hold", `{"acs_encoder_id":"`+seamsim.EncoderID+`"}`)
	require.Equal(t, http.StatusOK, status)
	a := encode(t, env, card)
	status, _ = post("/encoders/release", `{"acs_encoder_id":"`+seamsim.EncoderID+`"}`)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, seam.ActionStatusSuccess, settled(t, env, a).Status)

	status, out = post("/encoders/add", `{"display_name":"Lobby"}`)
	require.Equal(t, http.StatusOK, status)
	added := out["result"].(map[string]any)["acs_encoder_id"].(string)
	for _, p := range []string{"/encoders/set_online", "/encoders/remove"} {
		body := `{"acs_encoder_id":"` + added + `"}`
		if p == "/encoders/set_online" {
			body = `{"acs_encoder_id":"` + added + `","online":false}`
		}
		status, out = post(p, body)
		assert.Equal(t, http.StatusOK, status, "%s %v", p, out)
	}
	status, _ = post("/encoders/set_delay", `{"min_ms":1,"max_ms":5}`)
	assert.Equal(t, http.StatusOK, status)
	status, _ = post("/webhooks/fault", `{"kind":"delay","delay_ms":10}`)
	assert.Equal(t, http.StatusOK, status)
	status, _ = post("/webhooks/release_reordered", ``)
	assert.Equal(t, http.StatusOK, status)
	status, _ = post("/credentials/invalidate", `{"acs_credential_id":"`+card+`"}`)
	assert.Equal(t, http.StatusOK, status)
	status, _ = post("/credentials/delete", `{"acs_credential_id":"`+card+`"}`)
	assert.Equal(t, http.StatusOK, status)
	status, _ = post("/webhooks/url", `{"url":"`+env.Hooks.URL+`"}`)
	assert.Equal(t, http.StatusOK, status)

	// Bad knob input: a clear 400, or 404 for what does not exist.
	for body, want := range map[string]int{
		`{"path":"/acs/systems/get","count":1,"status":404}`:       400,
		`{"path":"/nowhere","count":1,"status":503}`:               400,
		`{"path":"/acs/systems/get","count":1,"status":503,"x":1}`: 400,
		`{"path":"/acs/systems/get","count":0,"status":503}`:       400,
		`not json`: 400,
	} {
		status, out = post("/faults", body)
		assert.Equal(t, want, status, "%s → %v", body, out)
		assert.Equal(t, "invalid_input", errType(out))
	}
	status, out = post("/encoders/hold", `{"acs_encoder_id":"00000000-0000-4000-8000-000000000000"}`)
	assert.Equal(t, http.StatusNotFound, status)
	assert.Equal(t, "acs_encoder_not_found", errType(out))
	status, _ = send(t, http.DefaultClient, env, http.MethodPost, "/_sim/encoders/hold", `{}`, "wrong")
	assert.Equal(t, http.StatusUnauthorized, status)

	status, out = send(t, http.DefaultClient, env, http.MethodGet, "/_sim/calls?path=/acs/systems/get", "", key)
	require.Equal(t, http.StatusOK, status)
	assert.NotEmpty(t, out["calls"])
	status, out = send(t, http.DefaultClient, env, http.MethodGet, "/_sim/state", "", key)
	require.Equal(t, http.StatusOK, status)
	st := out["state"].(map[string]any)
	assert.Len(t, st["users"], 1)
	assert.Len(t, st["encoders"], 2)
}

func TestConfig(t *testing.T) {
	for _, cfg := range []seamsim.Config{
		{WebhookSecrets: []string{"not-a-secret!"}},
		{WebhookSecrets: []string{"whsec_"}},
		{WebhookURL: "ftp://x"},
		{WebhookRetrySchedule: []time.Duration{-time.Second}},
	} {
		_, err := seamsim.New(cfg)
		assert.Error(t, err, "%+v", cfg)
	}
	sim, err := seamsim.New(seamsim.Config{})
	require.NoError(t, err)
	defer sim.Close()
	assert.Equal(t, seamsim.DefaultAPIKey, sim.APIKey())
	assert.True(t, strings.HasPrefix(sim.WebhookSecret(), "whsec_"))
	assert.Error(t, sim.SetWebhookURL("not a url"))
	assert.Error(t, sim.SetEncodeDelay(-1, 0))
	assert.Equal(t, []time.Duration{5 * time.Second / 60, 5 * time.Minute / 60}, seamsim.ScaledSchedule(seamsim.SvixRetrySchedule, 60)[:2])
}

func newServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/hook"
}

// TestConcurrentIssuances runs issuances side by side (under -race in CI):
// each user ends with one written card and one confirmation.
func TestConcurrentIssuances(t *testing.T) {
	cfg := fast()
	cfg.EncoderSlots = 4
	env := simtest.Start(t, cfg)
	const n = 20
	creds := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			u, err := env.Client.CreateUser(context.Background(), seam.CreateUserRequest{
				AcsSystemID: seamsim.SystemID, FullName: "Crowd " + strconv.Itoa(i), AcsAccessGroupIDs: []string{seamsim.AccessGroupStaff},
			})
			if !assert.NoError(t, err) {
				return
			}
			c, err := env.Client.CreateCredential(context.Background(), seam.CreateCredentialRequest{AcsUserID: u.AcsUserID, AccessMethod: "card"})
			if !assert.NoError(t, err) {
				return
			}
			creds[i] = c.AcsCredentialID
			_, err = env.Client.EncodeCredential(context.Background(), c.AcsCredentialID, seamsim.EncoderID)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	env.Hooks.Wait(wait, func(d []simtest.Delivery) bool { return len(d) == n })
	simtest.Idle(t, env.Sim, wait)
	got := map[string]int{}
	for _, d := range env.Hooks.Accepted() {
		got[d.Event.AcsCredentialID]++
	}
	st := env.Sim.State()
	for i, id := range creds {
		assert.Equal(t, 1, got[id], "credential %d confirmed once", i)
	}
	for _, u := range st.Users {
		cs := st.CredentialsOf(u.AcsUserID)
		require.Len(t, cs, 1)
		assert.True(t, cs[0].IsIssued)
	}
}

func TestHoldNextAnswerAppliesTheCallFirst(t *testing.T) {
	env := simtest.Start(t, fast())
	hold, err := env.Sim.HoldNextAnswer("/acs/users/create")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := env.Client.CreateUser(ctx, seam.CreateUserRequest{AcsSystemID: seamsim.SystemID, FullName: "Held Hank"})
		done <- err
	}()
	select {
	case <-hold.Reached():
	case <-time.After(wait):
		t.Fatal("the held call never arrived")
	}
	require.Len(t, env.Sim.State().Users, 1, "applied before the answer")
	select {
	case err := <-done:
		t.Fatalf("answered while held: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel() // the caller dies; its answer is lost
	require.Error(t, <-done)
	hold.Release()
	// Only the next call was held.
	newUser(t, env, "Free Fran")
	assert.Len(t, env.Sim.State().Users, 2)
	_, err = env.Sim.HoldNextAnswer("/nope")
	require.Error(t, err)
}
