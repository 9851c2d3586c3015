package main_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/cardissuer/seamcards/internal/events"
	"github.com/cardissuer/seamcards/internal/natsembed"
	"github.com/cardissuer/seamcards/internal/syncbuf"
)

var binary string

// TestMain builds the real binary once; every test runs it as a process.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "receiver-bin-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "receiver")
	out, err := exec.Command("go", "build", "-race", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build receiver: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func newSecret(t *testing.T) string {
	key := make([]byte, 24)
	_, err := rand.Read(key)
	require.NoError(t, err)
	return "whsec_" + base64.StdEncoding.EncodeToString(key)
}

type proc struct {
	cmd    *exec.Cmd
	stderr *syncbuf.Buffer
	done   chan struct{}
	code   int
}

func start(t *testing.T, env ...string) *proc { return startArgs(t, nil, env...) }

func startArgs(t *testing.T, args []string, env ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary, args...), stderr: &syncbuf.Buffer{}, done: make(chan struct{})}
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HTTP_ADDR=127.0.0.1:0"}, env...)
	p.cmd.Stderr = p.stderr
	require.NoError(t, p.cmd.Start())
	go func() {
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

func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(30 * time.Second):
		t.Fatalf("receiver did not exit; stderr:\n%s", p.stderr.String())
		return -1
	}
}

// addr waits for the "http listening" log line and returns its address.
func (p *proc) addr(t *testing.T) string {
	t.Helper()
	var addr string
	require.Eventually(t, func() bool {
		sc := bufio.NewScanner(strings.NewReader(p.stderr.String()))
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "http listening" {
				addr = line.Addr
				return true
			}
		}
		return false
	}, 20*time.Second, 20*time.Millisecond, "no listening line")
	return addr
}

func status(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestConfigErrorsExit2WithOneLine(t *testing.T) {
	secret := newSecret(t)
	key := strings.TrimPrefix(secret, "whsec_")
	cases := []struct {
		name, setting string
		env           []string
	}{
		{"missing secret", "SEAM_WEBHOOK_SECRET", nil},
		{"malformed secret", "SEAM_WEBHOOK_SECRET", []string{"SEAM_WEBHOOK_SECRET=" + key}},
		{"one malformed of two", "SEAM_WEBHOOK_SECRET", []string{"SEAM_WEBHOOK_SECRET=" + secret + ",whsec_" + key[:10]}},
		{"max body not a number", "MAX_BODY_BYTES", []string{"SEAM_WEBHOOK_SECRET=" + secret, "MAX_BODY_BYTES=lots"}},
		{"dedup too long", "DEDUP_WINDOW", []string{"SEAM_WEBHOOK_SECRET=" + secret, "DEDUP_WINDOW=200h"}},
		{"bad NATS URL", "NATS_URL", []string{"SEAM_WEBHOOK_SECRET=" + secret, "NATS_URL=http://x"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := start(t, c.env...)
			require.Equal(t, 2, p.wait(t))
			out := p.stderr.String()
			assert.Equal(t, 1, strings.Count(out, "\n"), out)
			assert.Contains(t, out, c.setting)
			assert.NotContains(t, out, key[:16])
		})
	}
}

func TestSettingsAsFlags(t *testing.T) {
	srv, err := natsembed.Start(natsembed.Options{})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	p := startArgs(t, []string{"-seam-webhook-secret", newSecret(t), "-nats-url", srv.URL(), "-http-addr", "127.0.0.1:0"})
	addr := p.addr(t)
	require.Eventually(t, func() bool { return status("http://"+addr+"/readyz") == http.StatusOK }, 20*time.Second, 20*time.Millisecond)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, p.wait(t))
}

func TestBodyLimitOverMaxPayloadExit2(t *testing.T) {
	srv, err := natsembed.Start(natsembed.Options{})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	p := start(t, "SEAM_WEBHOOK_SECRET="+newSecret(t), "NATS_URL="+srv.URL(), "MAX_BODY_BYTES=1048576")
	require.Equal(t, 2, p.wait(t))
	out := p.stderr.String()
	assert.Contains(t, out, "MAX_BODY_BYTES")
	assert.Contains(t, out, "max_payload")
}

// post sends a signed Seam event to the receiver.
func post(t *testing.T, addr, secret, id string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/webhooks/seam", bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range signedHeaders(t, secret, id, body) {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func signedHeaders(t *testing.T, secret, id string, body []byte) map[string]string {
	wh, err := svix.NewWebhook(secret)
	require.NoError(t, err)
	now := time.Now()
	sig, err := wh.Sign(id, now, body)
	require.NoError(t, err)
	return map[string]string{"svix-id": id, "svix-timestamp": strconv.FormatInt(now.Unix(), 10), "svix-signature": sig}
}

func TestStartsBeforeNATSAndShutsDownGracefully(t *testing.T) {
	// Reserve a port for NATS, start the receiver against it while
	// nothing listens there, then start NATS.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	natsURL := fmt.Sprintf("nats://127.0.0.1:%d", port)

	secret := newSecret(t)
	p := start(t, "SEAM_WEBHOOK_SECRET="+secret, "NATS_URL="+natsURL, "LOG_LEVEL=debug", "DEDUP_WINDOW=36h")
	addr := p.addr(t)
	require.Equal(t, http.StatusOK, status("http://"+addr+"/healthz"))
	require.Equal(t, http.StatusServiceUnavailable, status("http://"+addr+"/readyz"))
	body := []byte(`{"event_id":"e-early","event_type":"acs_credential.issued"}`)
	code, _ := post(t, addr, secret, "msg_early", body)
	require.Equal(t, http.StatusServiceUnavailable, code)

	srv, err := natsembed.Start(natsembed.Options{Port: port})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	require.Eventually(t, func() bool { return status("http://"+addr+"/readyz") == http.StatusOK }, 20*time.Second, 20*time.Millisecond)
	code, answer := post(t, addr, secret, "msg_early", body)
	require.Equal(t, http.StatusOK, code, answer)

	nc, err := nats.Connect(natsURL)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, events.StreamSeamEvents)
	require.NoError(t, err)
	assert.Equal(t, 36*time.Hour, s.CachedInfo().Config.Duplicates)
	assert.Equal(t, jetstream.FileStorage, s.CachedInfo().Config.Storage)

	// SIGTERM while a request is half sent: it still completes and is
	// stored, new connections are refused, and the process exits 0.
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(20*time.Second)))
	body = []byte(`{"event_id":"e-inflight","event_type":"acs_credential.issued"}`)
	var head strings.Builder
	head.WriteString("POST /webhooks/seam HTTP/1.1\r\nHost: x\r\n")
	for k, v := range signedHeaders(t, secret, "msg_inflight", body) {
		fmt.Fprintf(&head, "%s: %s\r\n", k, v)
	}
	fmt.Fprintf(&head, "Content-Length: %d\r\n\r\n", len(body))
	_, err = io.WriteString(c, head.String()+string(body[:10]))
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond) // let the server start reading the request

	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.Eventually(t, func() bool {
		nc, err := net.Dial("tcp", addr)
		if err == nil {
			nc.Close()
		}
		return err != nil
	}, 10*time.Second, 10*time.Millisecond, "still accepting after SIGTERM")
	_, err = c.Write(body[10:])
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(b), "stored")
	require.Equal(t, 0, p.wait(t))

	m, err := s.GetLastMsgForSubject(ctx, "seam.events.acs_credential.issued")
	require.NoError(t, err)
	assert.Equal(t, "msg_inflight", m.Header.Get(events.HeaderMsgID))
	assert.Equal(t, body, m.Data)

	logs := p.stderr.String()
	assert.NotContains(t, logs, strings.TrimPrefix(secret, "whsec_"))
	assert.NotContains(t, logs, "e-inflight", "bodies are never logged")
	assert.Contains(t, logs, `"msg":"stopped"`)
}
