package receiver_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	svix "github.com/svix/svix-webhooks/go"
	"go.uber.org/zap"

	"github.com/cardissuer/seamcards/internal/events"
	"github.com/cardissuer/seamcards/internal/logging"
	"github.com/cardissuer/seamcards/internal/natsconn"
	"github.com/cardissuer/seamcards/internal/natsembed"
	"github.com/cardissuer/seamcards/internal/ops"
	"github.com/cardissuer/seamcards/internal/receiver"
	"github.com/cardissuer/seamcards/internal/syncbuf"
)

// newSecret returns a fresh Svix secret in the form Svix issues.
func newSecret(t testing.TB) string {
	key := make([]byte, 24)
	_, err := rand.Read(key)
	require.NoError(t, err)
	return "whsec_" + base64.StdEncoding.EncodeToString(key)
}

// harness is a receiver served over real HTTP on loopback, connected to a
// real embedded NATS server with JetStream.
type harness struct {
	t       *testing.T
	secret  string
	nats    *natsembed.Server
	nc      *nats.Conn
	js      jetstream.JetStream
	rcv     *receiver.Receiver
	reg     *prometheus.Registry
	url     string // http://127.0.0.1:port
	logs    *syncbuf.Buffer
	client  *http.Client
	natsURL string
	proxy   *stallProxy
}

type harnessOpts struct {
	cfg        receiver.Config // Secrets default to one fresh secret
	proxy      bool            // connect through a stallProxy
	maxPayload int32
}

func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Options{MaxPayload: o.maxPayload})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)

	h := &harness{t: t, nats: srv, logs: &syncbuf.Buffer{}, reg: ops.NewRegistry()}
	log, err := logging.New(h.logs, "info", "json")
	require.NoError(t, err)

	h.natsURL = srv.URL()
	if o.proxy {
		h.proxy = newStallProxy(t, srv.URL())
		h.natsURL = h.proxy.URL()
	}
	creds, replicas := "", 1
	h.nc, err = natsconn.Connect("receiver-test", natsconn.Settings{URL: &h.natsURL, Creds: &creds, Replicas: &replicas}, log)
	require.NoError(t, err)
	t.Cleanup(h.nc.Close)
	h.js, err = jetstream.New(h.nc)
	require.NoError(t, err)

	cfg := o.cfg
	if len(cfg.Secrets) == 0 {
		cfg.Secrets = []string{newSecret(t)}
	}
	h.secret = cfg.Secrets[0]
	h.rcv, err = receiver.New(cfg, h.nc, log, h.reg)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { defer close(runDone); h.rcv.Run(ctx) }()

	l, err := ops.Listen("127.0.0.1:0")
	require.NoError(t, err)
	h.url = "http://" + l.Addr().String()
	serveDone := make(chan error, 1)
	go func() { serveDone <- ops.Serve(ctx, h.rcv.Echo(), l, 10*time.Second, zap.NewNop()) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-serveDone)
		<-runDone
	})
	h.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 100}}
	t.Cleanup(h.client.CloseIdleConnections)
	if o.maxPayload == 0 {
		h.waitReady()
	}
	return h
}

func (h *harness) waitReady() {
	h.t.Helper()
	require.Eventually(h.t, func() bool { return h.get("/readyz") == http.StatusOK }, 15*time.Second, 20*time.Millisecond)
}

func (h *harness) get(path string) int {
	resp, err := h.client.Get(h.url + path)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// signed returns the Svix headers for body, signed by secret with the svix
// library's own signer.
func signed(t testing.TB, secret, id string, ts time.Time, body []byte) http.Header {
	wh, err := svix.NewWebhook(secret)
	require.NoError(t, err)
	sig, err := wh.Sign(id, ts, body)
	require.NoError(t, err)
	return http.Header{
		"Svix-Id":        {id},
		"Svix-Timestamp": {strconv.FormatInt(ts.Unix(), 10)},
		"Svix-Signature": {sig},
	}
}

type answer struct {
	status  int
	outcome string
	header  http.Header
}

func (h *harness) post(body []byte, hdr http.Header) answer {
	h.t.Helper()
	return h.do(http.MethodPost, body, hdr)
}

func (h *harness) do(method string, body []byte, hdr http.Header) answer {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+receiver.Path, bytes.NewReader(body))
	require.NoError(h.t, err)
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := h.client.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	a := answer{status: resp.StatusCode, header: resp.Header}
	if s, ok := strings.CutPrefix(string(b), `{"outcome":"`); ok {
		a.outcome, _, _ = strings.Cut(s, `"`)
	}
	return a
}

// sendEvent posts a signed Seam event and returns the answer.
func (h *harness) sendEvent(id string, body []byte) answer {
	h.t.Helper()
	return h.post(body, signed(h.t, h.secret, id, time.Now(), body))
}

var eventSeq atomic.Int64

// seamEvent is a plausible Seam event body with a fresh event_id.
func seamEvent(eventType string) (eventID string, body []byte) {
	n := eventSeq.Add(1)
	eventID = fmt.Sprintf("00000000-0000-4000-8000-%012d", n)
	body = fmt.Appendf(nil, `{"event_id":%q,"event_type":%q,"workspace_id":"55555555-5555-4555-8555-555555555555",`+
		`"created_at":"2025-03-01T19:46:06.113Z","occurred_at":"2025-03-01T19:46:05.000Z",`+
		`"acs_system_id":"11111111-1111-1111-1111-111111111111","acs_credential_id":"cred-%d"}`, eventID, eventType, n)
	return eventID, body
}

func (h *harness) stream() jetstream.Stream {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := h.js.Stream(ctx, events.StreamSeamEvents)
	require.NoError(h.t, err)
	return s
}

func (h *harness) storedCount() uint64 {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := h.stream().Info(ctx)
	require.NoError(h.t, err)
	return info.State.Msgs
}

func (h *harness) lastOn(subject string) *jetstream.RawStreamMsg {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := h.stream().GetLastMsgForSubject(ctx, subject)
	require.NoError(h.t, err)
	return m
}

// metric returns the value of one series from /metrics, e.g.
// `seam_receiver_requests_total{outcome="stored"}`.
func (h *harness) metric(series string) float64 {
	h.t.Helper()
	resp, err := h.client.Get(h.url + "/metrics")
	require.NoError(h.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(h.t, err)
			return f
		}
	}
	h.t.Fatalf("series %s not in /metrics", series)
	return 0
}

// stallProxy forwards TCP to a NATS server and can be frozen: while frozen
// it keeps connections open but moves no bytes, like a hung server or a
// network partition.
type stallProxy struct {
	l      net.Listener
	target string
	frozen atomic.Bool
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &stallProxy{l: l, target: strings.TrimPrefix(target, "nats://")}
	t.Cleanup(func() { l.Close() })
	go p.accept()
	return p
}

func (p *stallProxy) URL() string { return "nats://" + p.l.Addr().String() }

func (p *stallProxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		go p.pipe(c, s)
		go p.pipe(s, c)
	}
}

func (p *stallProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for p.frozen.Load() {
			time.Sleep(5 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
