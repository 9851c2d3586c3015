package seam_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardissuer/seamcards/internal/seam"
	"github.com/cardissuer/seamcards/internal/seamsim"
	"github.com/cardissuer/seamcards/internal/seamsim/simtest"
)

const wait = 10 * time.Second

func fastSim() seamsim.Config {
	return seamsim.Config{EncodeDelay: 20 * time.Millisecond, WebhookRetrySchedule: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}}
}

func ptr[T any](v T) *T { return &v }

func newUser(t *testing.T, env *simtest.Env, name string, groups ...string) *seam.ACSUser {
	t.Helper()
	u, err := env.Client.CreateUser(context.Background(), seam.CreateUserRequest{
		AcsSystemID: seamsim.SystemID, FullName: name, PhoneNumber: "+15555550100", AcsAccessGroupIDs: groups,
	})
	require.NoError(t, err)
	return u
}

func TestEveryEndpoint(t *testing.T) {
	env := simtest.Start(t, fastSim())
	c, ctx := env.Client, context.Background()

	sys, err := c.GetSystem(ctx, seamsim.SystemID)
	require.NoError(t, err)
	assert.Equal(t, seamsim.SystemID, sys.AcsSystemID)
	assert.Equal(t, "salto_space_system", sys.ExternalType)

	groups, err := c.ListAccessGroups(ctx, seam.ListAccessGroupsRequest{AcsSystemID: seamsim.SystemID})
	require.NoError(t, err)
	require.Len(t, groups, 2)
	assert.Equal(t, seamsim.AccessGroupStaff, groups[0].AcsAccessGroupID)

	// A new user gets their groups in the create call.
	u, err := c.CreateUser(ctx, seam.CreateUserRequest{
		AcsSystemID: seamsim.SystemID, FullName: "Jane Doe", EmailAddress: "jane@example.com",
		PhoneNumber: "+15555550100", AcsAccessGroupIDs: []string{seamsim.AccessGroupStaff},
	})
	require.NoError(t, err)
	assert.Equal(t, "Jane Doe", u.FullName)
	assert.Equal(t, "jane@example.com", u.EmailAddress)
	assert.False(t, u.CreatedAt.IsZero())
	mine, err := c.ListAccessGroups(ctx, seam.ListAccessGroupsRequest{AcsUserID: u.AcsUserID})
	require.NoError(t, err)
	require.Len(t, mine, 1)
	assert.Equal(t, seamsim.AccessGroupStaff, mine[0].AcsAccessGroupID)

	// An existing user joins another group; joining twice changes nothing.
	require.NoError(t, c.AddUserToAccessGroup(ctx, u.AcsUserID, seamsim.AccessGroupGuests))
	require.NoError(t, c.AddUserToAccessGroup(ctx, u.AcsUserID, seamsim.AccessGroupGuests))
	mine, err = c.ListAccessGroups(ctx, seam.ListAccessGroupsRequest{AcsUserID: u.AcsUserID})
	require.NoError(t, err)
	assert.Len(t, mine, 2)

	got, err := c.GetUser(ctx, u.AcsUserID)
	require.NoError(t, err)
	assert.Equal(t, u.AcsUserID, got.AcsUserID)
	found, err := c.ListUsers(ctx, seam.ListUsersRequest{AcsSystemID: seamsim.SystemID, Search: "jane"})
	require.NoError(t, err)
	require.Len(t, found, 1)
	assert.Equal(t, u.AcsUserID, found[0].AcsUserID)

	encoders, err := c.ListEncoders(ctx, seam.ListEncodersRequest{AcsSystemID: seamsim.SystemID})
	require.NoError(t, err)
	require.Len(t, encoders, 1)
	enc, err := c.GetEncoder(ctx, encoders[0].AcsEncoderID)
	require.NoError(t, err)
	assert.Empty(t, enc.Errors)

	start, end := time.Now().Add(time.Hour).UTC(), time.Now().Add(48*time.Hour).UTC()
	cred, err := c.CreateCredential(ctx, seam.CreateCredentialRequest{
		AcsUserID: u.AcsUserID, AccessMethod: seam.AccessMethodCard, StartsAt: &start, EndsAt: &end,
		SaltoSpaceMetadata: &seam.SaltoSpaceMetadata{AssignNewKey: ptr(true)},
	})
	require.NoError(t, err)
	assert.False(t, cred.IsIssued)
	assert.Nil(t, cred.CardNumber)
	assert.Equal(t, "card", cred.AccessMethod)
	assert.NotEmpty(t, cred.StartsAt)

	aa, err := c.EncodeCredential(ctx, cred.AcsCredentialID, enc.AcsEncoderID)
	require.NoError(t, err)
	assert.Equal(t, seam.ActionStatusPending, aa.Status)
	assert.Equal(t, seam.ActionTypeEncode, aa.ActionType)
	d := env.Hooks.WaitEvent(wait, seam.EventCredentialIssued, cred.AcsCredentialID)
	assert.Equal(t, seamsim.WorkspaceID, d.Event.WorkspaceID)

	aa, err = c.GetActionAttempt(ctx, aa.ActionAttemptID)
	require.NoError(t, err)
	require.Equal(t, seam.ActionStatusSuccess, aa.Status)
	written, err := aa.Credential()
	require.NoError(t, err)
	require.NotNil(t, written.CardNumber)
	require.NotNil(t, written.IssuedAt)
	assert.True(t, written.IsIssued)

	cred, err = c.GetCredential(ctx, cred.AcsCredentialID)
	require.NoError(t, err)
	assert.Equal(t, *written.CardNumber, *cred.CardNumber)
	creds, err := c.ListCredentials(ctx, seam.ListCredentialsRequest{AcsUserID: u.AcsUserID})
	require.NoError(t, err)
	require.Len(t, creds, 1)

	// Changed access: an update credential rewrites the same card.
	upd, err := c.CreateCredential(ctx, seam.CreateCredentialRequest{
		AcsUserID: u.AcsUserID, AccessMethod: seam.AccessMethodCard, SaltoSpaceMetadata: &seam.SaltoSpaceMetadata{AssignNewKey: ptr(false)},
	})
	require.NoError(t, err)
	_, err = c.EncodeCredential(ctx, upd.AcsCredentialID, enc.AcsEncoderID)
	require.NoError(t, err)
	env.Hooks.WaitEvent(wait, seam.EventCredentialReissued, upd.AcsCredentialID)
	upd, err = c.GetCredential(ctx, upd.AcsCredentialID)
	require.NoError(t, err)
	assert.Equal(t, *written.CardNumber, *upd.CardNumber)

	require.NoError(t, c.SimulateNextEncodeWillFail(ctx, enc.AcsEncoderID, seam.ActionErrorEncodingInterrupted))
	require.NoError(t, c.SimulateNextEncodeWillSucceed(ctx, enc.AcsEncoderID))
	require.NoError(t, c.SimulateNextEncodeWillFailFor(ctx, enc.AcsEncoderID, upd.AcsCredentialID, seam.ActionErrorUncategorized))

	require.NoError(t, c.DeleteCredential(ctx, upd.AcsCredentialID))
	_, err = c.GetCredential(ctx, upd.AcsCredentialID)
	assert.True(t, seam.IsNotFound(err), "%v", err)
	require.NoError(t, c.DeleteUser(ctx, u.AcsUserID))
	_, err = c.GetUser(ctx, u.AcsUserID)
	assert.True(t, seam.IsNotFound(err), "%v", err)
}

func TestErrors(t *testing.T) {
	env := simtest.Start(t, fastSim())
	c, ctx := env.Client, context.Background()

	var se *seam.Error
	_, err := c.GetUser(ctx, "00000000-0000-4000-8000-000000000000")
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusNotFound, se.Status)
	assert.Equal(t, "acs_user_not_found", se.Type)
	assert.NotEmpty(t, se.Message)
	assert.NotEmpty(t, se.RequestID)
	assert.False(t, seam.IsRetryable(err))

	u := newUser(t, env, "Sam Smith")
	_, err = c.CreateCredential(ctx, seam.CreateCredentialRequest{
		AcsUserID: u.AcsUserID, AccessMethod: seam.AccessMethodCard, EndsAt: ptr(time.Now().Add(-time.Hour)),
	})
	require.ErrorAs(t, err, &se)
	assert.Equal(t, seam.ErrorTypeInvalidInput, se.Type)
	assert.Equal(t, http.StatusBadRequest, se.Status)

	// Salto Space: one card per user.
	_, err = c.CreateCredential(ctx, seam.CreateCredentialRequest{AcsUserID: u.AcsUserID, AccessMethod: seam.AccessMethodCard,
		SaltoSpaceMetadata: &seam.SaltoSpaceMetadata{AssignNewKey: ptr(true)}})
	require.NoError(t, err)
	before := env.Sim.CallCount("/acs/credentials/create")
	_, err = c.CreateCredential(ctx, seam.CreateCredentialRequest{AcsUserID: u.AcsUserID, AccessMethod: seam.AccessMethodCard,
		SaltoSpaceMetadata: &seam.SaltoSpaceMetadata{AssignNewKey: ptr(true)}})
	require.ErrorAs(t, err, &se)
	assert.Equal(t, seamsim.ErrTypeUserHasCard, se.Type)
	assert.Equal(t, 1, env.Sim.CallCount("/acs/credentials/create")-before, "a 400 is not retried")

	// A failed encoding: the action attempt carries Seam's error type.
	require.NoError(t, env.Sim.FailNextEncoding(seamsim.EncoderID, seam.ActionErrorBridgeDisconnected, "", ""))
	creds, err := c.ListCredentials(ctx, seam.ListCredentialsRequest{AcsUserID: u.AcsUserID})
	require.NoError(t, err)
	aa, err := c.EncodeCredential(ctx, creds[0].AcsCredentialID, seamsim.EncoderID)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		aa, err = c.GetActionAttempt(ctx, aa.ActionAttemptID)
		return err == nil && aa.Status != seam.ActionStatusPending
	}, wait, 10*time.Millisecond)
	require.Equal(t, seam.ActionStatusError, aa.Status)
	require.NotNil(t, aa.Error)
	assert.Equal(t, seam.ActionErrorBridgeDisconnected, aa.Error.Type)
	assert.True(t, aa.Error.Retryable())
	var aerr *seam.ActionAttemptError
	assert.ErrorAs(t, fmt.Errorf("encode: %w", aa.Error), &aerr)
	_, err = aa.Credential()
	assert.Error(t, err)

	// A wrong key: 401.
	bad, err := seam.New(env.URL, "not_the_key", seam.WithHTTPClient(env.HTTP))
	require.NoError(t, err)
	_, err = bad.GetSystem(ctx, seamsim.SystemID)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusUnauthorized, se.Status)
	assert.Equal(t, seam.ErrorTypeUnauthorized, se.Type)
	assert.False(t, seam.IsRetryable(err))
}

func TestRetriesHonourRetryAfter(t *testing.T) {
	env := simtest.Start(t, fastSim())
	ctx := context.Background()
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			before := env.Sim.CallCount("/acs/systems/get")
			require.NoError(t, env.Sim.FailNextCalls("/acs/systems/get", 1, status, time.Second))
			start := time.Now()
			_, err := env.Client.GetSystem(ctx, seamsim.SystemID)
			require.NoError(t, err)
			// The client's own backoff is 5ms here: only Retry-After explains the wait.
			assert.GreaterOrEqual(t, time.Since(start), time.Second)
			assert.Equal(t, 2, env.Sim.CallCount("/acs/systems/get")-before)
		})
	}
	t.Run("without Retry-After", func(t *testing.T) {
		require.NoError(t, env.Sim.FailNextCalls("/acs/users/list", 3, http.StatusBadGateway, 0))
		_, err := env.Client.ListUsers(ctx, seam.ListUsersRequest{})
		require.NoError(t, err)
		assert.Equal(t, 4, env.Sim.CallCount("/acs/users/list"))
	})
	t.Run("429 and 503 on a create are retried", func(t *testing.T) {
		require.NoError(t, env.Sim.FailNextCalls("/acs/users/create", 2, http.StatusServiceUnavailable, 0))
		newUser(t, env, "Retry Rita")
		assert.Equal(t, 3, env.Sim.CallCount("/acs/users/create"))
	})
	t.Run("a 500 on a create is not repeated", func(t *testing.T) {
		before := env.Sim.CallCount("/acs/users/create")
		require.NoError(t, env.Sim.FailNextCalls("/acs/users/create", 1, http.StatusInternalServerError, 0))
		_, err := env.Client.CreateUser(ctx, seam.CreateUserRequest{AcsSystemID: seamsim.SystemID, FullName: "Once Only"})
		require.ErrorIs(t, err, seam.ErrOutcomeUnknown)
		var se *seam.Error
		require.ErrorAs(t, err, &se)
		assert.Equal(t, http.StatusInternalServerError, se.Status)
		assert.True(t, seam.IsRetryable(err))
		assert.Equal(t, 1, env.Sim.CallCount("/acs/users/create")-before)
	})
	t.Run("budget spent", func(t *testing.T) {
		c, err := seam.New(env.URL, env.Sim.APIKey(), seam.WithHTTPClient(env.HTTP),
			seam.WithRetryBackoff(5*time.Millisecond, 10*time.Millisecond), seam.WithRetryMaxElapsed(time.Second))
		require.NoError(t, err)
		// The last subtest: the fault outlives it.
		require.NoError(t, env.Sim.FailNextCalls("/acs/encoders/get", 100_000, http.StatusServiceUnavailable, 0))
		_, err = c.GetEncoder(ctx, seamsim.EncoderID)
		var se *seam.Error
		require.ErrorAs(t, err, &se)
		assert.Equal(t, http.StatusServiceUnavailable, se.Status)
		assert.True(t, seam.IsRetryable(err))
		assert.Greater(t, env.Sim.CallCount("/acs/encoders/get"), 1)
	})
}

func TestPagination(t *testing.T) {
	env := simtest.Start(t, fastSim())
	ctx := context.Background()
	var ids []string
	for i := range 7 {
		ids = append(ids, newUser(t, env, fmt.Sprintf("Page Person %d", i)).AcsUserID)
	}
	newUser(t, env, "Someone Else")
	users, err := env.Client.ListUsers(ctx, seam.ListUsersRequest{AcsSystemID: seamsim.SystemID, Search: "page person", Limit: 3})
	require.NoError(t, err)
	var got []string
	for _, u := range users {
		got = append(got, u.AcsUserID)
	}
	assert.Equal(t, ids, got, "every page, in order")
	assert.Equal(t, 3, env.Sim.CallCount("/acs/users/list"))

	cutoff := time.Now()
	time.Sleep(2 * time.Millisecond)
	newUser(t, env, "Page Person late")
	users, err = env.Client.ListUsers(ctx, seam.ListUsersRequest{Search: "page person", CreatedBefore: &cutoff, Limit: 100})
	require.NoError(t, err)
	assert.Len(t, users, 7)

	// Encoders keep Seam's order across pages: the seeded one first.
	var added []string
	for i := range 3 {
		id, err := env.Sim.AddEncoder(fmt.Sprintf("Encoder %d", i))
		require.NoError(t, err)
		added = append(added, id)
	}
	encs, err := env.Client.ListEncoders(ctx, seam.ListEncodersRequest{AcsSystemIDs: []string{seamsim.SystemID}, Limit: 2})
	require.NoError(t, err)
	require.Len(t, encs, 4)
	assert.Equal(t, seamsim.EncoderID, encs[0].AcsEncoderID)
	assert.Equal(t, added, []string{encs[1].AcsEncoderID, encs[2].AcsEncoderID, encs[3].AcsEncoderID})

	creds, err := env.Client.ListCredentials(ctx, seam.ListCredentialsRequest{AcsSystemID: seamsim.SystemID, Limit: 1})
	require.NoError(t, err)
	assert.Empty(t, creds)
	for _, id := range ids[:3] {
		_, err := env.Client.CreateCredential(ctx, seam.CreateCredentialRequest{AcsUserID: id, AccessMethod: seam.AccessMethodCard})
		require.NoError(t, err)
	}
	creds, err = env.Client.ListCredentials(ctx, seam.ListCredentialsRequest{AcsSystemID: seamsim.SystemID, Limit: 1})
	require.NoError(t, err)
	assert.Len(t, creds, 3)
}

func TestContextEndsTheRetries(t *testing.T) {
	env := simtest.Start(t, fastSim())
	require.NoError(t, env.Sim.FailNextCalls("/acs/systems/get", 1000, http.StatusServiceUnavailable, 0))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := env.Client.GetSystem(ctx, seamsim.SystemID)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var se *seam.Error
	require.ErrorAs(t, err, &se, "what Seam said last is kept")
	assert.Equal(t, http.StatusServiceUnavailable, se.Status)
	assert.True(t, seam.IsRetryable(err))

	// A call under way when the context ends.
	slow := simtest.Start(t, seamsim.Config{APILatency: 5 * time.Second})
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = slow.Client.GetSystem(ctx, seamsim.SystemID)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.True(t, seam.IsRetryable(err))

	// Cancelled before the call: no request at all.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	before := env.Sim.CallCount("/acs/users/get")
	_, err = env.Client.GetUser(ctx, "00000000-0000-4000-8000-000000000000")
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, before, env.Sim.CallCount("/acs/users/get"))
}

func TestNetworkErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens there now
	c, err := seam.New("http://"+addr, "k", seam.WithRetryBackoff(5*time.Millisecond, 10*time.Millisecond),
		seam.WithRetryMaxElapsed(50*time.Millisecond))
	require.NoError(t, err)
	_, err = c.GetSystem(context.Background(), seamsim.SystemID)
	require.ErrorIs(t, err, seam.ErrNetwork)
	assert.True(t, seam.IsRetryable(err))
	// Refused before anything was sent: even a create may be repeated.
	_, err = c.CreateUser(context.Background(), seam.CreateUserRequest{AcsSystemID: seamsim.SystemID, FullName: "x"})
	require.ErrorIs(t, err, seam.ErrNetwork)
	assert.NotErrorIs(t, err, seam.ErrOutcomeUnknown)

	// The connection drops after the request was sent: a create is not repeated.
	var calls sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := calls.LoadOrStore(r.URL.Path, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer srv.Close()
	c, err = seam.New(srv.URL, "k", seam.WithRetryBackoff(5*time.Millisecond, 10*time.Millisecond),
		seam.WithRetryMaxElapsed(100*time.Millisecond))
	require.NoError(t, err)
	_, err = c.CreateCredential(context.Background(), seam.CreateCredentialRequest{AcsUserID: "u", AccessMethod: "card"})
	require.ErrorIs(t, err, seam.ErrOutcomeUnknown)
	require.ErrorIs(t, err, seam.ErrNetwork)
	n, _ := calls.Load("/acs/credentials/create")
	assert.Equal(t, int64(1), n.(*atomic.Int64).Load())
	_, err = c.GetCredential(context.Background(), "x")
	require.ErrorIs(t, err, seam.ErrNetwork)
	n, _ = calls.Load("/acs/credentials/get")
	assert.Greater(t, n.(*atomic.Int64).Load(), int64(1), "a read is retried")
}

type headerSpy struct {
	mu      sync.Mutex
	headers []http.Header
	base    http.RoundTripper
}

func (h *headerSpy) RoundTrip(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	h.headers = append(h.headers, r.Header.Clone())
	h.mu.Unlock()
	return h.base.RoundTrip(r)
}

func TestHeadersAndObserver(t *testing.T) {
	env := simtest.Start(t, fastSim())
	spy := &headerSpy{base: env.HTTP.Transport}
	type obs struct {
		endpoint string
		status   int
		err      error
	}
	var mu sync.Mutex
	var seen []obs
	c, err := seam.New(env.URL+"/", env.Sim.APIKey(), seam.WithHTTPClient(&http.Client{Transport: spy}),
		seam.WithRetryBackoff(time.Millisecond, time.Millisecond),
		seam.WithObserver(func(endpoint string, status int, err error, d time.Duration) {
			mu.Lock()
			seen = append(seen, obs{endpoint, status, err})
			mu.Unlock()
		}))
	require.NoError(t, err)
	require.NoError(t, env.Sim.FailNextCalls("/acs/systems/get", 1, http.StatusServiceUnavailable, 0))
	_, err = c.GetSystem(context.Background(), seamsim.SystemID)
	require.NoError(t, err)

	require.Len(t, spy.headers, 2)
	h := spy.headers[0]
	assert.Equal(t, "Bearer "+env.Sim.APIKey(), h.Get("Authorization"))
	assert.True(t, strings.HasPrefix(h.Get("User-Agent"), "seamcards/"), h.Get("User-Agent"))
	assert.Equal(t, "application/json", h.Get("Content-Type"))
	require.Len(t, seen, 2)
	assert.Equal(t, "/acs/systems/get", seen[0].endpoint)
	assert.Equal(t, http.StatusServiceUnavailable, seen[0].status)
	assert.Error(t, seen[0].err)
	assert.Equal(t, http.StatusOK, seen[1].status)
	assert.NoError(t, seen[1].err)

	c, err = seam.New(env.URL, env.Sim.APIKey(), seam.WithHTTPClient(&http.Client{Transport: spy}), seam.WithUserAgent("front-desk/2"))
	require.NoError(t, err)
	_, err = c.GetSystem(context.Background(), seamsim.SystemID)
	require.NoError(t, err)
	assert.Equal(t, "front-desk/2", spy.headers[2].Get("User-Agent"))
}

func TestNewRejectsBadSettings(t *testing.T) {
	for _, base := range []string{"", "connect.getseam.com", "ftp://x", "http://"} {
		_, err := seam.New(base, "k")
		assert.Error(t, err, base)
	}
	_, err := seam.New(seam.DefaultBaseURL, " ")
	assert.Error(t, err)
}

func TestIsRetryable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&seam.Error{Status: 429}, true},
		{&seam.Error{Status: 500}, true},
		{&seam.Error{Status: 503}, true},
		{&seam.Error{Status: 400, Type: "invalid_input"}, false},
		{&seam.Error{Status: 404}, false},
		{&seam.Error{Status: 401}, false},
		{fmt.Errorf("wrapped: %w", &seam.Error{Status: 502}), true},
		{context.DeadlineExceeded, true},
		{context.Canceled, true},
		{fmt.Errorf("x: %w", seam.ErrNetwork), true},
		{errors.New("decode answer"), false},
	} {
		assert.Equal(t, tc.want, seam.IsRetryable(tc.err), "%v", tc.err)
	}
}
