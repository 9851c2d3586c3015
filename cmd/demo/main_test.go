package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardissuer/seamcards/internal/events"
	"github.com/cardissuer/seamcards/internal/saga"
)

var demoBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "demo-test-*")
	if err != nil {
		panic(err)
	}
	demoBin = filepath.Join(dir, "demo")
	if out, err := exec.Command("go", "build", "-o", demoBin, ".").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("build cmd/demo: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runDemo runs the built demo and returns its exit status, stdout and stderr.
func runDemo(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, demoBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return code, stdout.String(), stderr.String()
}

// fast keeps the scenarios short without changing what they do.
var fast = []string{"-card-delay", "200ms", "-encoding-timeout", "1s"}

// issuances groups -json lines by issuance, in order of first appearance,
// and checks each issuance's versions rise by exactly one from 1.
func issuances(t *testing.T, stdout string) [][]saga.Issuance {
	t.Helper()
	var order []string
	byID := map[string][]saga.Issuance{}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var is saga.Issuance
		require.NoError(t, json.Unmarshal([]byte(line), &is), "every stdout line is an IssuanceState: %q", line)
		if _, seen := byID[is.IssuanceID]; !seen {
			order = append(order, is.IssuanceID)
		}
		byID[is.IssuanceID] = append(byID[is.IssuanceID], is)
	}
	var out [][]saga.Issuance
	for _, id := range order {
		states := byID[id]
		for i, is := range states {
			require.Equal(t, i+1, is.Version, "issuance %s: versions rise by one from 1", id)
		}
		out = append(out, states)
	}
	return out
}

func stateNames(states []saga.Issuance) []saga.State {
	var names []saga.State
	for _, is := range states {
		names = append(names, is.State)
	}
	return names
}

var happyPath = []saga.State{saga.Accepted, saga.UserReady, saga.CredentialCreated, saga.Encoding, saga.Issued}

func requireIssued(t *testing.T, is saga.Issuance) {
	t.Helper()
	require.Equal(t, saga.Issued, is.State)
	assert.NotEmpty(t, is.CardNumber, "an issued state carries card_number")
	assert.NotNil(t, is.IssuedAt, "an issued state carries issued_at")
	assert.Nil(t, is.Error)
}

func TestScenarioNew(t *testing.T) {
	code, stdout, stderr := runDemo(t, append(fast, "-json")...)
	require.Equal(t, 0, code, stderr)
	all := issuances(t, stdout)
	require.Len(t, all, 1)
	assert.Equal(t, happyPath, stateNames(all[0]))
	final := all[0][len(all[0])-1]
	requireIssued(t, final)
	assert.Equal(t, "new", final.Mode)
	assert.Equal(t, "11111111-1111-1111-1111-111111111111", final.AcsSystemID)
	assert.Equal(t, 1, final.Attempts)
	assert.Contains(t, stderr, "Issued: card "+final.CardNumber+" for Jane Doe")
}

func TestScenarioFailThenRetry(t *testing.T) {
	code, stdout, stderr := runDemo(t, append(fast, "-json", "-scenario", "fail-then-retry")...)
	require.Equal(t, 0, code, stderr)
	all := issuances(t, stdout)
	require.Len(t, all, 1)
	states := all[0]
	assert.Equal(t, []saga.State{saga.Accepted, saga.UserReady, saga.CredentialCreated, saga.Encoding,
		saga.EncodingFailed, saga.Encoding, saga.Issued}, stateNames(states))
	failed := states[4]
	require.NotNil(t, failed.Error)
	assert.Equal(t, "no_credential_on_encoder", failed.Error.Type)
	assert.True(t, failed.Error.Retryable)
	final := states[len(states)-1]
	requireIssued(t, final)
	assert.Equal(t, 2, final.Attempts)
	assert.NotEqual(t, states[3].ActionAttemptID, final.ActionAttemptID, "the retry is a new encoding")
}

func TestScenarioReplace(t *testing.T) {
	code, stdout, stderr := runDemo(t, append(fast, "-json", "-scenario", "replace")...)
	require.Equal(t, 0, code, stderr)
	all := issuances(t, stdout)
	require.Len(t, all, 2, "Jane's first card, then its replacement")
	first, repl := all[0][len(all[0])-1], all[1][len(all[1])-1]
	requireIssued(t, first)
	requireIssued(t, repl)
	assert.Equal(t, "replace", repl.Mode)
	assert.Equal(t, first.AcsUserID, repl.AcsUserID)
	assert.NotEqual(t, first.AcsCredentialID, repl.AcsCredentialID)
	assert.NotEqual(t, first.CardNumber, repl.CardNumber, "a replacement is a new card")
	assert.Contains(t, stderr, "Jane Doe now holds 1 credential(s) at Seam: "+repl.AcsCredentialID)
}

func TestScenarioUpdate(t *testing.T) {
	code, stdout, stderr := runDemo(t, append(fast, "-json", "-scenario", "update")...)
	require.Equal(t, 0, code, stderr)
	all := issuances(t, stdout)
	require.Len(t, all, 2)
	first, upd := all[0][len(all[0])-1], all[1][len(all[1])-1]
	requireIssued(t, first)
	requireIssued(t, upd)
	assert.Equal(t, "update", upd.Mode)
	assert.Equal(t, first.AcsUserID, upd.AcsUserID)
	assert.NotEqual(t, first.AcsCredentialID, upd.AcsCredentialID)
	assert.Equal(t, first.CardNumber, upd.CardNumber, "an update rewrites the card Jane holds")
	assert.Contains(t, stderr, "Jane Doe now holds 2 credential(s) at Seam")
}

func TestHumanOutput(t *testing.T) {
	code, stdout, stderr := runDemo(t, fast...)
	require.Equal(t, 0, code, stderr)
	for _, want := range []string{"v1  accepted", "v2  user_ready", "v3  credential_created", "v4  encoding", "v5  issued"} {
		assert.Contains(t, stdout, want)
	}
	assert.Regexp(t, `(?m)^\s+\d+\.\d{3}s  v5  issued\s+card number \S+`, stdout, "each state line starts with its elapsed time")
	assert.Regexp(t, `Issued: card \S+ for Jane Doe`, stdout)
	assert.Contains(t, stdout, "/action_attempts/get: 0 ", "the happy path never reads the action attempt")
	assert.Contains(t, stdout, "Signed webhooks delivered to the receiver: acs_credential.issued")
}

func TestTimeoutExitsNonZero(t *testing.T) {
	code, _, stderr := runDemo(t, "-card-delay", "5s", "-timeout", "300ms")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "did not end within -timeout 300ms")
}

func TestBadFlags(t *testing.T) {
	code, _, stderr := runDemo(t, "-scenario", "bogus")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "-scenario must be one of fail-then-retry, new, replace, update")

	code, _, stderr = runDemo(t, "-timeout", "0s")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "-timeout")

	code, _, _ = runDemo(t, "extra")
	assert.Equal(t, 2, code)
}

// TestKeep runs the demo with -keep, reaches its NATS as a backend would,
// finds the issuance in the ISSUANCES bucket, and stops it with SIGTERM.
func TestKeep(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, demoBin, append(fast, "-keep")...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	errFile := filepath.Join(t.TempDir(), "stderr")
	ef, err := os.Create(errFile)
	require.NoError(t, err)
	defer ef.Close()
	cmd.Stderr = ef
	require.NoError(t, cmd.Start())
	stderr := func() string { b, _ := os.ReadFile(errFile); return string(b) }

	pasteLine := regexp.MustCompile(`go run ./examples/backend -nats-url (nats://\S+)`)
	issuedLine := regexp.MustCompile(`Issued: card \S+ for Jane Doe \(issuance (\S+)\)`)
	var natsURL, id string
	sc := bufio.NewScanner(stdout)
	for natsURL == "" && sc.Scan() {
		if m := issuedLine.FindStringSubmatch(sc.Text()); m != nil {
			id = m[1]
		}
		if m := pasteLine.FindStringSubmatch(sc.Text()); m != nil {
			natsURL = m[1]
		}
	}
	require.NotEmpty(t, natsURL, "demo -keep prints a command with its NATS URL; stderr: %s", stderr())
	require.NotEmpty(t, id)

	nc, err := nats.Connect(natsURL)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	kv, err := js.KeyValue(ctx, events.BucketIssuances)
	require.NoError(t, err)
	e, err := kv.Get(ctx, id)
	require.NoError(t, err)
	var is saga.Issuance
	require.NoError(t, json.Unmarshal(e.Value(), &is))
	assert.Equal(t, saga.Issued, is.State)

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	go func() { _, _ = bufio.NewReader(stdout).WriteTo(&bytes.Buffer{}) }()
	require.NoError(t, cmd.Wait(), "SIGTERM after an issued scenario exits 0; stderr: %s", stderr())
}
