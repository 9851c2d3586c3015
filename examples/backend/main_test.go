package main_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardissuer/seamcards/internal/natsembed"
	"github.com/cardissuer/seamcards/internal/seamsim"
	"github.com/cardissuer/seamcards/internal/stack"
	"github.com/cardissuer/seamcards/internal/syncbuf"
)

// The program is built once and run as a subprocess, as a backend team would
// run it, against the whole product in this process: embedded NATS,
// seamsim, receiver and worker over real HTTP.
func TestBackend(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "backend")
	build := exec.Command("go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	t.Run("happy path for a new user", func(t *testing.T) {
		s := startStack(t, stack.Options{})
		r := runBackend(t, bin, s, nil, "-id", "bk-happy")
		require.Equal(t, 0, r.code, r.out)
		assert.Equal(t, []string{"accepted", "user_ready", "credential_created", "encoding", "issued"}, r.states())
		userID := field(t, r.out, "acs_user_id")
		card := field(t, r.out, "card_number")
		assert.Contains(t, r.out, "card issued: card number "+card)

		creds := s.Sim.State().CredentialsOf(userID)
		require.Len(t, creds, 1, "exactly one credential for the user")
		assert.Equal(t, card, creds[0].CardNumber)
		assert.True(t, creds[0].IsIssued)
		assert.True(t, creds[0].AssignNewKey, "mode new assigns a new key")
	})

	t.Run("no card on the encoder, operator presses Enter", func(t *testing.T) {
		s := failFirstEncoding(t)
		r := runBackend(t, bin, s, answerPrompt("\n"), "-id", "bk-retry")
		require.Equal(t, 0, r.code, r.out)
		assert.Equal(t, []string{"accepted", "user_ready", "credential_created", "encoding", "encoding_failed", "encoding", "issued"}, r.states())
		assert.Contains(t, r.out, "error=no_credential_on_encoder retryable=true")
		assert.Contains(t, r.out, "retry sent")
		userID := field(t, r.out, "acs_user_id")
		creds := s.Sim.State().CredentialsOf(userID)
		require.Len(t, creds, 1, "the same credential encoded again")
		assert.True(t, creds[0].IsIssued)
	})

	t.Run("two failures answered by two retries", func(t *testing.T) {
		// Each retry needs its own Nats-Msg-Id, or the stream would drop the
		// second as a duplicate of the first and the issuance would stay
		// parked.
		s := failFirstEncoding(t)
		r := runBackend(t, bin, s, func(t *testing.T, printed func() string, stdin io.WriteCloser, _ *os.Process) {
			waitForPrompt(t, printed)
			require.NoError(t, s.Sim.FailNextEncoding(seamsim.EncoderID, "encoding_interrupted", "", ""))
			_, err := io.WriteString(stdin, "\n")
			require.NoError(t, err)
			require.Eventually(t, func() bool { return strings.Count(printed(), "press Enter to retry") == 2 },
				30*time.Second, 20*time.Millisecond, "no second prompt")
			_, err = io.WriteString(stdin, "\n")
			require.NoError(t, err)
		}, "-id", "bk-twice", "-timeout", "20s")
		require.Equal(t, 0, r.code, r.out)
		assert.Equal(t, []string{"accepted", "user_ready", "credential_created", "encoding", "encoding_failed", "encoding",
			"encoding_failed", "encoding", "issued"}, r.states())
		assert.Contains(t, r.out, "error=encoding_interrupted retryable=true")
	})

	t.Run("no card on the encoder, retried automatically", func(t *testing.T) {
		s := failFirstEncoding(t)
		r := runBackend(t, bin, s, nil, "-id", "bk-auto", "-auto-retry", "1")
		require.Equal(t, 0, r.code, r.out)
		assert.Equal(t, []string{"accepted", "user_ready", "credential_created", "encoding", "encoding_failed", "encoding", "issued"}, r.states())
		assert.Contains(t, r.out, "retrying automatically (1 of 1)")
		assert.NotContains(t, r.out, "press Enter")
	})

	t.Run("no card on the encoder, operator types cancel", func(t *testing.T) {
		s := failFirstEncoding(t)
		r := runBackend(t, bin, s, answerPrompt("cancel\n"), "-id", "bk-cancel")
		require.Equal(t, 1, r.code, r.out)
		st := r.states()
		require.NotEmpty(t, st)
		assert.Equal(t, "cancelled", st[len(st)-1])
		assert.Contains(t, st, "encoding_failed")
		assert.NotContains(t, st, "issued")
		userID := field(t, r.out, "acs_user_id")
		assert.Empty(t, s.Sim.State().CredentialsOf(userID), "the unissued credential is deleted")
	})

	t.Run("stdin closed at the prompt leaves the issuance parked", func(t *testing.T) {
		s := failFirstEncoding(t)
		r := runBackend(t, bin, s, func(t *testing.T, printed func() string, stdin io.WriteCloser, _ *os.Process) {
			waitForPrompt(t, printed)
			require.NoError(t, stdin.Close())
		}, "-id", "bk-eof")
		assert.Equal(t, 1, r.code, r.out)
		assert.Contains(t, r.out, "stdin closed; issuance bk-eof stays in encoding_failed")
		st := r.states()
		require.NotEmpty(t, st)
		assert.Equal(t, "encoding_failed", st[len(st)-1])
	})

	t.Run("SIGINT stops following", func(t *testing.T) {
		s := failFirstEncoding(t)
		r := runBackend(t, bin, s, func(t *testing.T, printed func() string, _ io.WriteCloser, p *os.Process) {
			waitForPrompt(t, printed)
			require.NoError(t, p.Signal(os.Interrupt))
		}, "-id", "bk-sigint")
		assert.Equal(t, 1, r.code, r.out)
		assert.Contains(t, r.out, `interrupted; last state "encoding_failed"`)
	})

	t.Run("timeout without a worker", func(t *testing.T) {
		s := startStack(t, stack.Options{NoWorker: true})
		r := runBackend(t, bin, s, nil, "-id", "bk-timeout", "-timeout", "300ms")
		assert.Equal(t, 1, r.code, r.out)
		assert.Contains(t, r.out, "timed out after 300ms")
		assert.Empty(t, r.states())
	})

	t.Run("invalid command is rejected", func(t *testing.T) {
		s := startStack(t, stack.Options{})
		// replace needs an existing user: the flags are fine, the command
		// is not, and the worker says why.
		r := runBackend(t, bin, s, nil, "-id", "bk-invalid", "-mode", "replace")
		require.Equal(t, 1, r.code, r.out)
		assert.Equal(t, []string{"rejected"}, r.states())
		assert.Contains(t, r.out, "error=invalid_command retryable=false")
		assert.Contains(t, r.out, "needs an existing user")
		assert.Empty(t, s.Sim.State().Users)
	})

	t.Run("unknown system fails with Seam's error", func(t *testing.T) {
		s := startStack(t, stack.Options{})
		r := runBackend(t, bin, s, nil, "-id", "bk-nosys", "-system", "99999999-9999-9999-9999-999999999999")
		require.Equal(t, 1, r.code, r.out)
		st := r.states()
		require.NotEmpty(t, st)
		assert.Equal(t, "failed", st[len(st)-1])
		assert.Regexp(t, `error=acs_system_not_found retryable=false message=".+"`, r.out)
	})

	t.Run("bad flag exits 2", func(t *testing.T) {
		s := startStack(t, stack.Options{})
		r := runBackend(t, bin, s, nil, "-mode", "bogus")
		assert.Equal(t, 2, r.code, r.out)
		assert.Contains(t, r.out, "-mode must be new, replace or update")
		assert.Empty(t, r.states())
	})

	t.Run("json lines with rising versions, duplicates ignored", func(t *testing.T) {
		s := startStack(t, stack.Options{})
		// Store every state a second time, as a redelivery or a worker
		// republishing after a crash would: the program must print each
		// version once.
		var dups atomic.Int32
		sub, err := s.NC.Subscribe("issuance.events.bk-json.>", func(m *nats.Msg) {
			if m.Header.Get("Test-Dup") != "" {
				return
			}
			dup := nats.NewMsg(m.Subject)
			dup.Data = m.Data
			dup.Header.Set("Test-Dup", "1")
			if _, err := s.JS.PublishMsg(context.Background(), dup); err == nil {
				dups.Add(1)
			}
		})
		require.NoError(t, err)
		t.Cleanup(func() { _ = sub.Unsubscribe() })

		r := runBackend(t, bin, s, nil, "-id", "bk-json", "-json")
		require.Equal(t, 0, r.code, r.stderr)
		assert.Positive(t, dups.Load(), "duplicates were stored")
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		require.Len(t, lines, 5, r.stdout)
		for i, l := range lines {
			var st struct {
				IssuanceID string `json:"issuance_id"`
				Version    int    `json:"version"`
				State      string `json:"state"`
				CardNumber string `json:"card_number"`
			}
			require.NoError(t, json.Unmarshal([]byte(l), &st), "line %d: %s", i+1, l)
			assert.Equal(t, "bk-json", st.IssuanceID)
			assert.Equal(t, i+1, st.Version, "line %d", i+1)
			if i == len(lines)-1 {
				assert.Equal(t, "issued", st.State)
				assert.NotEmpty(t, st.CardNumber)
				assert.Contains(t, r.stderr, "card number "+st.CardNumber)
			}
		}
	})

	t.Run("commands wait for a worker that starts later", func(t *testing.T) {
		s := startStack(t, stack.Options{NoWorker: true})
		workerErr := make(chan error, 1)
		go func() {
			// The start command is stored before any worker runs.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for ctx.Err() == nil {
				if st, err := s.JS.Stream(ctx, "ISSUANCE_COMMANDS"); err == nil && st.CachedInfo().State.Msgs > 0 {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if ctx.Err() != nil {
				workerErr <- errors.New("no command was stored")
				return
			}
			_, err := s.AddWorker(context.Background())
			workerErr <- err
		}()
		r := runBackend(t, bin, s, nil, "-id", "bk-later")
		require.NoError(t, <-workerErr)
		require.Equal(t, 0, r.code, r.out)
		st := r.states()
		require.NotEmpty(t, st)
		assert.Equal(t, "issued", st[len(st)-1])
	})

	t.Run("streams missing", func(t *testing.T) {
		srv, err := natsembed.Start(natsembed.Options{})
		require.NoError(t, err)
		t.Cleanup(srv.Shutdown)
		r := run(t, bin, nil, "-nats-url", srv.URL())
		assert.Equal(t, 1, r.code, r.out)
		assert.Contains(t, r.out, "stream ISSUANCE_COMMANDS does not exist")
		assert.Contains(t, r.out, "the worker (or `go run ./cmd/demo -keep`) must have run once")
	})
}

func startStack(t *testing.T, o stack.Options) *stack.Stack {
	t.Helper()
	o.Sim.EncodeDelay = 50 * time.Millisecond
	o.Sim.WebhookRetrySchedule = []time.Duration{50 * time.Millisecond, 200 * time.Millisecond}
	// Seam sends no webhook for a failed encoding: the worker learns of it
	// when it reads the action attempt at the encoding deadline.
	o.Worker.EncodingTimeout = time.Second
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := stack.Start(ctx, o)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

func failFirstEncoding(t *testing.T) *stack.Stack {
	t.Helper()
	s := startStack(t, stack.Options{})
	require.NoError(t, s.Sim.FailNextEncoding(seamsim.EncoderID, "no_credential_on_encoder", "", ""))
	return s
}

type result struct {
	code           int
	out            string // stdout and stderr interleaved
	stdout, stderr string
}

var stateLine = regexp.MustCompile(`(?m)^v\d+\s+(\w+)`)

// states lists the states printed, in order (human output).
func (r result) states() []string {
	var out []string
	for _, m := range stateLine.FindAllStringSubmatch(r.out, -1) {
		out = append(out, m[1])
	}
	return out
}

// field returns the last value printed for name=value.
func field(t *testing.T, out, name string) string {
	t.Helper()
	m := regexp.MustCompile(name+`=(\S+)`).FindAllStringSubmatch(out, -1)
	require.NotEmpty(t, m, "no %s in output:\n%s", name, out)
	return m[len(m)-1][1]
}

// operator acts on the running program (types on its stdin, signals it),
// given what it has printed so far.
type operator func(t *testing.T, printed func() string, stdin io.WriteCloser, p *os.Process)

func waitForPrompt(t *testing.T, printed func() string) {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Contains(printed(), "press Enter to retry, or type cancel") },
		30*time.Second, 20*time.Millisecond, "no prompt")
}

// answerPrompt waits for the retry prompt and types answer.
func answerPrompt(answer string) operator {
	return func(t *testing.T, printed func() string, stdin io.WriteCloser, _ *os.Process) {
		waitForPrompt(t, printed)
		_, err := io.WriteString(stdin, answer)
		require.NoError(t, err)
	}
}

func runBackend(t *testing.T, bin string, s *stack.Stack, op operator, args ...string) result {
	return run(t, bin, op, append([]string{"-nats-url", s.NATS.URL(), "-timeout", "45s"}, args...)...)
}

func run(t *testing.T, bin string, op operator, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "NATS_CREDS=", "NATS_URL=")
	var all, stdout, stderr syncbuf.Buffer
	cmd.Stdout = io.MultiWriter(&all, &stdout)
	cmd.Stderr = io.MultiWriter(&all, &stderr)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	if op != nil {
		op(t, all.String, stdin, cmd.Process)
	}
	err = cmd.Wait()
	_ = stdin.Close()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		require.NoError(t, err)
	}
	r := result{code: cmd.ProcessState.ExitCode(), out: all.String(), stdout: stdout.String(), stderr: stderr.String()}
	t.Logf("backend %s → exit %d\n%s", strings.Join(args, " "), r.code, r.out)
	return r
}
