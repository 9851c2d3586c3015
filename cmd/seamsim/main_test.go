package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/cardissuer/seamcards/internal/seam"
	"github.com/cardissuer/seamcards/internal/seamsim"
)

var binary string

// TestMain builds the real binary once; the tests run it as a process.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "seamsim-bin-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "seamsim")
	if out, err := exec.Command("go", "build", "-race", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build seamsim: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type proc struct {
	cmd  *exec.Cmd
	addr chan string
	mu   sync.Mutex
	log  strings.Builder
	done chan struct{}
	code int
}

func start(t *testing.T, env ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary), addr: make(chan string, 1), done: make(chan struct{})}
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HTTP_ADDR=127.0.0.1:0"}, env...)
	stderr, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			p.mu.Unlock()
			var entry struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "http listening" {
				p.addr <- entry.Addr
			}
		}
		err := p.cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

func (p *proc) baseURL(t *testing.T) string {
	t.Helper()
	select {
	case a := <-p.addr:
		return "http://" + a
	case <-p.done:
		t.Fatalf("seamsim exited (%d):\n%s", p.code, p.stderr())
	case <-time.After(30 * time.Second):
		t.Fatalf("seamsim did not listen:\n%s", p.stderr())
	}
	return ""
}

func (p *proc) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(30 * time.Second):
		t.Fatalf("seamsim did not exit:\n%s", p.stderr())
		return -1
	}
}

func TestServesAndStopsOnSIGTERM(t *testing.T) {
	p := start(t)
	base := p.baseURL(t)
	resp, err := http.Get(base + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	c, err := seam.New(base, seamsim.DefaultAPIKey)
	require.NoError(t, err)
	sys, err := c.GetSystem(context.Background(), seamsim.SystemID)
	require.NoError(t, err)
	assert.Equal(t, seamsim.SystemID, sys.AcsSystemID)

	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 0, p.exitCode(t), p.stderr())
}

func TestDeliversSignedWebhooks(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	wh, err := svix.NewWebhook(secret)
	require.NoError(t, err)
	got := make(chan seam.Event, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := wh.Verify(body, r.Header); err != nil {
			t.Errorf("signature: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		ev, err := seam.ParseEvent(body)
		if err != nil {
			t.Errorf("event: %v", err)
			return
		}
		got <- *ev
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()

	p := start(t, "SEAM_API_KEY=k_test", "SEAM_WEBHOOK_SECRET="+secret, "WEBHOOK_URL="+hook.URL,
		"SEAMSIM_ENCODE_DELAY=0s", "LOG_FORMAT=json")
	c, err := seam.New(p.baseURL(t), "k_test")
	require.NoError(t, err)
	ctx := context.Background()
	u, err := c.CreateUser(ctx, seam.CreateUserRequest{AcsSystemID: seamsim.SystemID, FullName: "Proc Pat"})
	require.NoError(t, err)
	cred, err := c.CreateCredential(ctx, seam.CreateCredentialRequest{AcsUserID: u.AcsUserID, AccessMethod: "card"})
	require.NoError(t, err)
	_, err = c.EncodeCredential(ctx, cred.AcsCredentialID, seamsim.EncoderID)
	require.NoError(t, err)
	select {
	case ev := <-got:
		assert.Equal(t, seam.EventCredentialIssued, ev.EventType)
		assert.Equal(t, cred.AcsCredentialID, ev.AcsCredentialID)
	case <-time.After(10 * time.Second):
		t.Fatalf("no webhook:\n%s", p.stderr())
	}
	assert.NotContains(t, p.stderr(), secret, "secrets are never logged")
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 0, p.exitCode(t))
}

func TestBadSettingsStopAtStart(t *testing.T) {
	const secret = "SEAM_WEBHOOK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	for _, tc := range []struct {
		setting string
		env     []string
	}{
		{"SEAM_WEBHOOK_SECRET", []string{"SEAM_WEBHOOK_SECRET=not-a-secret"}},
		{"WEBHOOK_URL", []string{"WEBHOOK_URL=ftp://example.com", secret}},
		{"WEBHOOK_URL", []string{"WEBHOOK_URL=http://127.0.0.1:1/hook"}}, // and no secret to sign with
		{"SEAMSIM_ENCODE_DELAY", []string{"SEAMSIM_ENCODE_DELAY=-1s"}},
		{"SEAMSIM_API_LATENCY", []string{"SEAMSIM_API_LATENCY=soon"}},
		{"SEAMSIM_ENCODER_SLOTS", []string{"SEAMSIM_ENCODER_SLOTS=0"}},
		{"SEAMSIM_WEBHOOK_RETRY_SCHEDULE", []string{"SEAMSIM_WEBHOOK_RETRY_SCHEDULE=5s,later"}},
		{"LOG_LEVEL", []string{"LOG_LEVEL=loud"}},
	} {
		t.Run(strings.Join(tc.env, " "), func(t *testing.T) {
			p := start(t, tc.env...)
			assert.Equal(t, 2, p.exitCode(t))
			lines := strings.Split(strings.TrimSpace(p.stderr()), "\n")
			require.Len(t, lines, 1, p.stderr())
			assert.Contains(t, lines[0], tc.setting)
			assert.NotContains(t, lines[0], "MfKQ9r8GKYqr", "secrets are never quoted")
			assert.NotContains(t, lines[0], "not-a-secret", "secrets are never quoted")
		})
	}
}
