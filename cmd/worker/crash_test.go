package main_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardissuer/seamcards/internal/saga"
	"github.com/cardissuer/seamcards/internal/seam"
	"github.com/cardissuer/seamcards/internal/seamsim"
	"github.com/cardissuer/seamcards/internal/stack"
)

var workerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "worker-bin-*")
	if err != nil {
		panic(err)
	}
	workerBin = filepath.Join(dir, "worker")
	if out, err := exec.Command("go", "build", "-o", workerBin, ".").CombinedOutput(); err != nil {
		panic(fmt.Sprintf("build worker: %v\n%s", err, out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a worker process.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan error
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

const (
	ackWait = 2 * time.Second
	// concurrency is each test worker's WORKER_CONCURRENCY.
	concurrency = 8
)

func startWorker(t *testing.T, s *stack.Stack, extra ...string) *proc {
	t.Helper()
	p := &proc{done: make(chan error, 1)}
	p.cmd = exec.Command(workerBin)
	p.cmd.Env = append(os.Environ(),
		"NATS_URL="+s.NATS.URL(),
		"SEAM_API_KEY="+s.Sim.APIKey(),
		"SEAM_API_URL="+s.SimURL,
		"HTTP_ADDR=127.0.0.1:0",
		"ENCODING_TIMEOUT=30s",
		"WORKER_ACK_WAIT="+ackWait.String(),
		"WORKER_CONCURRENCY="+strconv.Itoa(concurrency),
		"LOG_LEVEL=debug",
	)
	p.cmd.Env = append(p.cmd.Env, extra...)
	p.cmd.Stderr, p.cmd.Stdout = p, p
	require.NoError(t, p.cmd.Start())
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("worker %d logs:\n%s", p.cmd.Process.Pid, tail(p.output(), 200))
		}
	})
	require.Eventually(t, func() bool { return strings.Contains(p.output(), "worker consuming") }, 20*time.Second, 20*time.Millisecond,
		"worker did not start:\n%s", p.output())
	return p
}

func (p *proc) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	<-p.done
}

// stop sends SIGTERM and expects a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-p.done:
		require.NoError(t, err, "exit after SIGTERM")
	case <-time.After(30 * time.Second):
		t.Fatal("worker did not stop after SIGTERM")
	}
	assert.Contains(t, p.output(), "stopped")
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func newStack(t *testing.T) (*stack.Stack, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	s, err := stack.Start(ctx, stack.Options{NoWorker: true, Sim: seamsim.Config{
		EncodeDelay:          20 * time.Millisecond,
		WebhookRetrySchedule: []time.Duration{50 * time.Millisecond, 200 * time.Millisecond, time.Second, 2 * time.Second},
	}})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s, ctx
}

func janeDoe(id string) saga.StartIssuance {
	return saga.StartIssuance{
		IssuanceID:        id,
		AcsSystemID:       seamsim.SystemID,
		User:              &saga.User{FullName: "Jane Doe", PhoneNumber: "+15555550100"},
		AcsAccessGroupIDs: []string{seamsim.AccessGroupStaff, seamsim.AccessGroupGuests},
	}
}

func states(is []saga.Issuance) []saga.State {
	var out []saga.State
	for _, i := range is {
		out = append(out, i.State)
	}
	return out
}

// TestKilledBetweenSeamsEffectAndItsAnswer kills the worker with SIGKILL
// while each Seam call of an issuance has been applied but not answered (the
// worst moment: Seam acted, the worker cannot know), restarts it, and checks
// that the issuance ends right with one user and one credential.
func TestKilledBetweenSeamsEffectAndItsAnswer(t *testing.T) {
	cases := []struct {
		name string
		path string
		// existing: the issuance is for an existing user holding a card.
		existing bool
		mode     string
		cancel   bool
		// held: no card lies on the encoder until the restarted worker
		// has published encoding, so the lost encoding is still pending.
		held bool
		want saga.State
	}{
		{name: "create user", path: "/acs/users/create", want: saga.Issued},
		{name: "create credential", path: "/acs/credentials/create", want: saga.Issued},
		{name: "list encoders", path: "/acs/encoders/list", want: saga.Issued},
		{name: "encode", path: "/acs/encoders/encode_credential", want: saga.Issued},
		{name: "encode while no card lies on the encoder", path: "/acs/encoders/encode_credential", held: true, want: saga.Issued},
		{name: "fill read after the webhook", path: "/acs/credentials/get", want: saga.Issued},
		{name: "list the user's credentials", path: "/acs/credentials/list", existing: true, mode: saga.ModeUpdate, want: saga.Issued},
		{name: "create update credential", path: "/acs/credentials/create", existing: true, mode: saga.ModeUpdate, want: saga.Issued},
		{name: "delete the lost card", path: "/acs/credentials/delete", existing: true, mode: saga.ModeReplace, want: saga.Issued},
		{name: "create replacement credential", path: "/acs/credentials/create", existing: true, mode: saga.ModeReplace, want: saga.Issued},
		{name: "join groups", path: "/acs/users/add_to_access_group", existing: true, mode: saga.ModeUpdate, want: saga.Issued},
		{name: "cancel's compensation", path: "/acs/credentials/delete", cancel: true, want: saga.Cancelled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, ctx := newStack(t)
			cmd := janeDoe("bk-crash")
			userID, cardBefore := "", ""
			if tc.existing {
				// A user with a card, made directly at Seam; in one group only,
				// so that joining the other is a step.
				u, err := s.Client.CreateUser(ctx, seam.CreateUserRequest{AcsSystemID: seamsim.SystemID, FullName: "Jane Doe",
					AcsAccessGroupIDs: []string{seamsim.AccessGroupStaff}})
				require.NoError(t, err)
				yes := true
				c, err := s.Client.CreateCredential(ctx, seam.CreateCredentialRequest{AcsUserID: u.AcsUserID, AccessMethod: seam.AccessMethodCard,
					SaltoSpaceMetadata: &seam.SaltoSpaceMetadata{AssignNewKey: &yes}})
				require.NoError(t, err)
				_, err = s.Client.EncodeCredential(ctx, c.AcsCredentialID, seamsim.EncoderID)
				require.NoError(t, err)
				require.Eventually(t, func() bool {
					cr, err := s.Client.GetCredential(ctx, c.AcsCredentialID)
					return err == nil && cr.IsIssued
				}, 10*time.Second, 20*time.Millisecond)
				userID, cardBefore = u.AcsUserID, c.AcsCredentialID
				cmd.User, cmd.AcsUserID, cmd.Mode = nil, userID, tc.mode
			}
			if tc.cancel || tc.held {
				require.NoError(t, s.Sim.HoldEncoder(seamsim.EncoderID))
			}
			encodesBefore := s.Sim.CallCount("/acs/encoders/encode_credential")
			hold, err := s.Sim.HoldNextAnswer(tc.path)
			require.NoError(t, err)
			ch, stop, err := s.Follow(ctx, cmd.IssuanceID)
			require.NoError(t, err)
			defer stop()

			w1 := startWorker(t, s)
			require.NoError(t, s.Start(ctx, cmd))
			var before []saga.Issuance
			if tc.cancel {
				before, err = stack.WaitFor(ch, 20*time.Second, saga.Encoding)
				require.NoError(t, err, "states %v", states(before))
				require.NoError(t, s.Cancel(ctx, cmd.IssuanceID, "1"))
			}
			select {
			case <-hold.Reached():
			case <-time.After(30 * time.Second):
				t.Fatalf("the worker never called %s", tc.path)
			}
			w1.kill(t)
			hold.Release()

			w2 := startWorker(t, s)
			if tc.held {
				waiting, err := stack.WaitFor(ch, 30*time.Second, saga.Encoding)
				require.NoError(t, err, "states %v", states(waiting))
				before = waiting
				require.NoError(t, s.Sim.ReleaseEncoder(seamsim.EncoderID))
			}
			got, err := stack.WaitFor(ch, 30*time.Second, tc.want)
			require.NoError(t, err, "states %v", states(got))
			got = append(before, got...)
			for i, is := range got {
				require.Equal(t, i+1, is.Version, "each version once, in order: %v", states(got))
			}
			last := got[len(got)-1]

			st := s.Sim.State()
			require.Len(t, st.Users, 1, "one user")
			live := st.CredentialsOf(st.Users[0].AcsUserID)
			switch {
			case tc.cancel:
				assert.Empty(t, live, "the cancelled issuance's credential is deleted")
			case tc.mode == saga.ModeUpdate:
				require.Len(t, live, 2, "the card and one update credential")
				assert.Equal(t, cardBefore, live[0].AcsCredentialID)
				assert.Equal(t, last.AcsCredentialID, live[1].AcsCredentialID)
			default:
				require.Len(t, live, 1, "one credential")
				assert.Equal(t, last.AcsCredentialID, live[0].AcsCredentialID)
				assert.NotEqual(t, cardBefore, last.AcsCredentialID)
			}
			if tc.want == saga.Issued {
				assert.NotEmpty(t, last.CardNumber)
			}
			assert.Equal(t, 1, s.Sim.CallCount("/acs/encoders/encode_credential")-encodesBefore,
				"one encode_credential for the issuance, whatever the crash")
			if tc.path == "/acs/users/add_to_access_group" {
				assert.ElementsMatch(t, []string{seamsim.AccessGroupStaff, seamsim.AccessGroupGuests}, st.Users[0].AcsAccessGroupIDs)
			}
			// Nothing more happens afterwards.
			extra, _ := stack.WaitFor(ch, 500*time.Millisecond, saga.AllStates...)
			assert.Empty(t, extra)
			w2.stop(t)
		})
	}
}

// TestKilledAtEachState kills the worker the moment each state of the happy
// path is published, restarts it, and checks the outcome.
func TestKilledAtEachState(t *testing.T) {
	for _, at := range []saga.State{saga.Accepted, saga.UserReady, saga.CredentialCreated, saga.Encoding} {
		t.Run(string(at), func(t *testing.T) {
			s, ctx := newStack(t)
			ch, stop, err := s.Follow(ctx, "bk-state")
			require.NoError(t, err)
			defer stop()
			w1 := startWorker(t, s)
			require.NoError(t, s.Start(ctx, janeDoe("bk-state")))
			got, err := stack.WaitFor(ch, 20*time.Second, at)
			require.NoError(t, err)
			w1.kill(t)
			w2 := startWorker(t, s)
			more, err := stack.WaitFor(ch, 30*time.Second, saga.Issued)
			require.NoError(t, err, "states %v then %v", states(got), states(more))
			all := append(got, more...)
			for i, is := range all {
				require.Equal(t, i+1, is.Version, "%v", states(all))
			}
			st := s.Sim.State()
			require.Len(t, st.Users, 1)
			require.Len(t, st.CredentialsOf(st.Users[0].AcsUserID), 1)
			w2.stop(t)
		})
	}
}

// TestTwoWorkersOneKilled runs two worker processes on one NATS, starts many
// issuances, kills one worker mid-way and checks every issuance ends issued
// with exactly one user and one credential.
//
// The kill may land between recording an encode_credential intent and
// learning its answer. Seam cannot tell whether that call arrived, and a
// second encoding could write the credential onto a second card, so such an
// issuance waits out two deadlines and parks in encoding_failed
// (encoding_timeout) unless a webhook confirms the first encoding; the test
// then does what an operator would: retry.
func TestTwoWorkersOneKilled(t *testing.T) {
	s, ctx := newStack(t)
	require.NoError(t, s.Sim.SetEncodeDelay(50*time.Millisecond, 300*time.Millisecond))
	const timeout = 10 * time.Second // two deadlines fit the wait below
	env := "ENCODING_TIMEOUT=" + timeout.String()
	a := startWorker(t, s, env)
	b := startWorker(t, s, env)
	const n = 40
	chans := make([]<-chan saga.Issuance, n)
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("bk-pair-%02d", i)
		ch, stop, err := s.Follow(ctx, id)
		require.NoError(t, err)
		defer stop()
		chans[i] = ch
		cmd := janeDoe(id)
		cmd.User.FullName = fmt.Sprintf("Guest %02d", i)
		require.NoError(t, s.Start(ctx, cmd))
		if i == n/2 {
			a.kill(t)
		}
	}
	retried := 0
	for i, ch := range chans {
		id := fmt.Sprintf("bk-pair-%02d", i)
		got, err := stack.WaitFor(ch, 2*timeout+30*time.Second, saga.Issued, saga.EncodingFailed)
		require.NoError(t, err, "issuance %d: %v", i, states(got))
		if last := got[len(got)-1]; last.State == saga.EncodingFailed {
			require.NotNil(t, last.Error)
			require.Equal(t, saga.ErrEncodingTimeout, last.Error.Type, "issuance %d", i)
			require.GreaterOrEqual(t, len(got), 2)
			enc := got[len(got)-2]
			require.Equal(t, saga.Encoding, enc.State)
			assert.Empty(t, enc.ActionAttemptID, "issuance %d: only an encoding whose answer the kill lost may time out", i)
			retried++
			require.NoError(t, s.Retry(ctx, id, "", "1"))
			more, err := stack.WaitFor(ch, 30*time.Second, saga.Issued)
			require.NoError(t, err, "issuance %d after retry: %v", i, states(more))
			got = append(got, more...)
		}
		for j, is := range got {
			require.Equal(t, j+1, is.Version, "issuance %d: %v", i, states(got))
		}
	}
	// Only the issuances in the killed worker's hands at that moment can
	// have lost an answer.
	assert.LessOrEqual(t, retried, concurrency, "at most WORKER_CONCURRENCY issuances were in flight on the killed worker")
	st := s.Sim.State()
	require.Len(t, st.Users, n)
	for _, u := range st.Users {
		require.Len(t, st.CredentialsOf(u.AcsUserID), 1, "user %s", u.FullName)
	}
	encodes := s.Sim.CallCount("/acs/encoders/encode_credential")
	assert.GreaterOrEqual(t, encodes, n)
	assert.LessOrEqual(t, encodes, n+retried, "no encoding started twice except by an operator's retry")
	t.Logf("%d of %d issuances lost an encode answer to the kill and were retried", retried, n)
	b.stop(t)
}

// TestConfigErrors: a missing or malformed setting exits 2 with one line
// naming it, and never prints the API key.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{nil, "SEAM_API_KEY"},
		{[]string{"SEAM_API_KEY=sk_secret_value", "ENCODING_TIMEOUT=soon"}, "ENCODING_TIMEOUT"},
		{[]string{"SEAM_API_KEY=sk_secret_value", "WORKER_CONCURRENCY=0"}, "WORKER_CONCURRENCY"},
		{[]string{"SEAM_API_KEY=sk_secret_value", "SEAM_API_URL=ftp://x"}, "SEAM_API_URL"},
		{[]string{"SEAM_API_KEY=sk_secret_value", "NATS_URL=http://x"}, "NATS_URL"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			cmd := exec.Command(workerBin)
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, tc.env...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee)
			assert.Equal(t, 2, ee.ExitCode())
			assert.Equal(t, 1, strings.Count(out.String(), "\n"), out.String())
			assert.Contains(t, out.String(), tc.want)
			assert.NotContains(t, out.String(), "sk_secret_value")
		})
	}
}
