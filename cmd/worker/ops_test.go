package main_test

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardissuer/seamcards/internal/saga"
	"github.com/cardissuer/seamcards/internal/stack"
)

func get(url string) (int, string) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestOpsEndpoints runs the worker binary and reads its /healthz, /readyz
// and /metrics around an issuance and a NATS outage.
func TestOpsEndpoints(t *testing.T) {
	s, ctx := newStack(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	w := startWorker(t, s, "HTTP_ADDR="+addr)
	base := "http://" + addr

	code, _ := get(base + "/healthz")
	assert.Equal(t, http.StatusOK, code)
	require.Eventually(t, func() bool { c, _ := get(base + "/readyz"); return c == http.StatusOK }, 10*time.Second, 20*time.Millisecond)

	ch, stop, err := s.Follow(ctx, "bk-ops")
	require.NoError(t, err)
	defer stop()
	require.NoError(t, s.Start(ctx, janeDoe("bk-ops")))
	_, err = stack.WaitFor(ch, 30*time.Second, saga.Issued)
	require.NoError(t, err)

	code, body := get(base + "/metrics")
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{
		`seamcards_issuance_states_total{state="issued"} 1`,
		`seamcards_issuance_states_total{state="accepted"} 1`,
		`seamcards_seam_calls_seconds_count{endpoint="/acs/encoders/encode_credential",outcome="200"} 1`,
		`seamcards_worker_step_seconds_count{outcome="ok",step="CreateUser"} 1`,
		`seamcards_worker_messages_seconds_count{consumer="worker-commands",outcome="ack"}`,
	} {
		assert.Contains(t, body, want)
	}
	assert.NotContains(t, body, `endpoint="/action_attempts/get"`, "no action attempt read on the happy path")

	// NATS away: not ready, still alive; back: ready again.
	s.NATS.Stop()
	require.Eventually(t, func() bool { c, _ := get(base + "/readyz"); return c == http.StatusServiceUnavailable }, 10*time.Second, 20*time.Millisecond)
	code, _ = get(base + "/healthz")
	assert.Equal(t, http.StatusOK, code)
	require.NoError(t, s.NATS.Restart())
	require.Eventually(t, func() bool { c, _ := get(base + "/readyz"); return c == http.StatusOK }, 20*time.Second, 50*time.Millisecond)

	w.stop(t)
	code, _ = get(base + "/healthz")
	assert.Equal(t, 0, code, "the ops server stops with the worker")
}
