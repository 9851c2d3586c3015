package receiver_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/cardissuer/seamcards/internal/events"
	"github.com/cardissuer/seamcards/internal/receiver"
)

func TestStoresVerifiedEventByteForByte(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	// Odd spacing, key order and an escaped character: stored as sent.
	body := []byte("{ \"event_type\" : \"acs_credential.issued\",\n\"event_id\":\"e-1\", \"workspace_id\":\"ws-1\", \"note\":\"caf\\u00e9\" }")
	a := h.sendEvent("msg_stores1", body)
	require.Equal(t, http.StatusOK, a.status)
	require.Equal(t, "stored", a.outcome)

	m := h.lastOn("seam.events.acs_credential.issued")
	assert.Equal(t, body, m.Data)
	assert.Equal(t, "msg_stores1", m.Header.Get(events.HeaderMsgID))
	assert.Equal(t, "e-1", m.Header.Get(events.HeaderSeamEventID))
	assert.Equal(t, "acs_credential.issued", m.Header.Get(events.HeaderSeamEventType))
	assert.Equal(t, "ws-1", m.Header.Get(events.HeaderSeamWorkspaceID))
	ts, err := strconv.ParseInt(m.Header.Get(events.HeaderSvixTimestamp), 10, 64)
	require.NoError(t, err)
	assert.InDelta(t, time.Now().Unix(), ts, 5)
	assert.Empty(t, m.Header.Get(events.HeaderQuarantineReason))
	assert.Equal(t, uint64(1), h.storedCount())
}

func TestWorkspaceHeaderOnlyWhenPresent(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	body := []byte(`{"event_id":"e-2","event_type":"acs_encoder.removed"}`)
	require.Equal(t, "stored", h.sendEvent("msg_nows", body).outcome)
	m := h.lastOn("seam.events.acs_encoder.removed")
	assert.Equal(t, body, m.Data)
	_, present := m.Header[events.HeaderSeamWorkspaceID]
	assert.False(t, present)
}

func TestDuplicateSvixIDStoredOnce(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	_, body := seamEvent("acs_credential.issued")
	require.Equal(t, "stored", h.sendEvent("msg_dup", body).outcome)
	// A Svix retry: same id and body, new timestamp and signature.
	time.Sleep(1100 * time.Millisecond)
	a := h.sendEvent("msg_dup", body)
	require.Equal(t, http.StatusOK, a.status)
	require.Equal(t, "duplicate", a.outcome)
	require.Equal(t, uint64(1), h.storedCount())
	assert.Equal(t, 1.0, h.metric(`seam_receiver_requests_total{outcome="duplicate"}`))
	assert.Equal(t, 1.0, h.metric(`seam_receiver_requests_total{outcome="stored"}`))
}

func TestWebhookHeaderTwins(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	_, body := seamEvent("acs_credential.issued")
	hdr := signed(t, h.secret, "msg_twin", time.Now(), body)
	twins := http.Header{
		"Webhook-Id":        hdr["Svix-Id"],
		"Webhook-Timestamp": hdr["Svix-Timestamp"],
		"Webhook-Signature": hdr["Svix-Signature"],
	}
	require.Equal(t, "stored", h.post(body, twins).outcome)
	assert.Equal(t, "msg_twin", h.lastOn("seam.events.acs_credential.issued").Header.Get(events.HeaderMsgID))

	// An incomplete svix-* set falls back to the complete webhook-* set, and
	// the stored id is the one that was verified.
	_, body = seamEvent("acs_credential.issued")
	hdr = signed(t, h.secret, "msg_twin2", time.Now(), body)
	mixed := http.Header{
		"Svix-Id":           {"msg_unsigned"},
		"Webhook-Id":        hdr["Svix-Id"],
		"Webhook-Timestamp": hdr["Svix-Timestamp"],
		"Webhook-Signature": hdr["Svix-Signature"],
	}
	require.Equal(t, "stored", h.post(body, mixed).outcome)
	assert.Equal(t, "msg_twin2", h.lastOn("seam.events.acs_credential.issued").Header.Get(events.HeaderMsgID))
}

func TestSecretRotationAnyMatches(t *testing.T) {
	old, cur := newSecret(t), newSecret(t)
	h := newHarness(t, harnessOpts{cfg: receiver.Config{Secrets: []string{old, cur}}})
	for i, s := range []string{old, cur} {
		_, body := seamEvent("acs_credential.issued")
		a := h.post(body, signed(t, s, fmt.Sprintf("msg_rot%d", i), time.Now(), body))
		require.Equal(t, "stored", a.outcome, "signed with secret %d", i)
	}
	_, body := seamEvent("acs_credential.issued")
	a := h.post(body, signed(t, newSecret(t), "msg_rot_other", time.Now(), body))
	require.Equal(t, http.StatusBadRequest, a.status)
	require.Equal(t, "bad_signature", a.outcome)
	require.Equal(t, uint64(2), h.storedCount())
}

func TestRejectsBadRequests(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	_, body := seamEvent("acs_credential.issued")
	good := func() http.Header { return signed(t, h.secret, "msg_bad", time.Now(), body) }
	without := func(k string) http.Header { hd := good(); hd.Del(k); return hd }
	with := func(k, v string) http.Header { hd := good(); hd.Set(k, v); return hd }

	cases := []struct {
		name    string
		body    []byte
		hdr     http.Header
		outcome string
	}{
		{"no headers", body, http.Header{}, "missing_header"},
		{"no svix-id", body, without("Svix-Id"), "missing_header"},
		{"no svix-timestamp", body, without("Svix-Timestamp"), "missing_header"},
		{"no svix-signature", body, without("Svix-Signature"), "missing_header"},
		{"timestamp not a number", body, with("Svix-Timestamp", "yesterday"), "malformed_header"},
		{"timestamp fractional", body, with("Svix-Timestamp", "1700000000.5"), "malformed_header"},
		{"id with a space", body, with("Svix-Id", "msg bad"), "malformed_header"},
		{"id too long", body, with("Svix-Id", strings.Repeat("m", 256)), "malformed_header"},
		{"signature garbage", body, with("Svix-Signature", "v1,Zm9v"), "bad_signature"},
		{"signature no version", body, with("Svix-Signature", "nonsense"), "bad_signature"},
		{"body changed", append([]byte(" "), body...), good(), "bad_signature"},
		{"id changed", body, with("Svix-Id", "msg_other"), "bad_signature"},
		{"stale timestamp", body, signed(t, h.secret, "msg_old", time.Now().Add(-6*time.Minute), body), "stale_timestamp"},
		{"future timestamp", body, signed(t, h.secret, "msg_new", time.Now().Add(6*time.Minute), body), "future_timestamp"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := h.post(c.body, c.hdr)
			assert.Equal(t, http.StatusBadRequest, a.status)
			assert.Equal(t, c.outcome, a.outcome)
		})
	}
	// Within the tolerance, on either side, is fine.
	for i, d := range []time.Duration{-4 * time.Minute, 4 * time.Minute} {
		_, b := seamEvent("acs_credential.issued")
		a := h.post(b, signed(t, h.secret, fmt.Sprintf("msg_tol%d", i), time.Now().Add(d), b))
		require.Equal(t, "stored", a.outcome, "offset %s", d)
	}
	require.Equal(t, uint64(2), h.storedCount())
	assert.Equal(t, 4.0, h.metric(`seam_receiver_requests_total{outcome="missing_header"}`))
	assert.Equal(t, 1.0, h.metric(`seam_receiver_requests_total{outcome="stale_timestamp"}`))

	// One log line per refused request, with its reason, and never the body.
	logs := h.logs.String()
	assert.Equal(t, len(cases), strings.Count(logs, `"msg":"webhook refused"`))
	assert.Contains(t, logs, `"outcome":"bad_signature"`)
	assert.NotContains(t, logs, "acs_credential_id")
	assert.NotContains(t, logs, strings.TrimPrefix(h.secret, "whsec_"))
}

func TestOtherMethods405(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions, http.MethodHead, "PROPFIND"} {
		a := h.do(m, nil, nil)
		assert.Equal(t, http.StatusMethodNotAllowed, a.status, m)
		assert.Equal(t, "POST", a.header.Get("Allow"), m)
	}
}

func TestQuarantine(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	cases := []struct {
		name, body, reason string
	}{
		{"empty body", ``, "empty body"},
		{"whitespace", " \n", "empty body"},
		{"not JSON", `hello`, "not a JSON object"},
		{"array", `[{"event_id":"e","event_type":"t"}]`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"truncated", `{"event_id":"e","event_type":"acs_credential.issued"`, "not valid JSON"},
		{"trailing garbage", `{"event_id":"e","event_type":"acs_credential.issued"} x`, "not valid JSON"},
		{"no event_id", `{"event_type":"acs_credential.issued"}`, "event_id missing"},
		{"event_id number", `{"event_id":7,"event_type":"acs_credential.issued"}`, "event_id is not a string"},
		{"event_id with newline", `{"event_id":"a\nb","event_type":"acs_credential.issued"}`, "event_id cannot be a header value"},
		{"no event_type", `{"event_id":"e"}`, "event_type missing"},
		{"event_type null", `{"event_id":"e","event_type":null}`, "event_type missing"},
		{"event_type object", `{"event_id":"e","event_type":{"a":1}}`, "event_type is not a string"},
		{"event_type wildcard", `{"event_id":"e","event_type":"acs.*"}`, "event_type cannot form a subject"},
		{"event_type tail wildcard", `{"event_id":"e","event_type":"acs.>"}`, "event_type cannot form a subject"},
		{"event_type space", `{"event_id":"e","event_type":"acs credential"}`, "event_type cannot form a subject"},
		{"event_type empty token", `{"event_id":"e","event_type":"acs..issued"}`, "event_type cannot form a subject"},
		{"invalid UTF-8", "{\"event_id\":\"e\",\"event_type\":\"acs\xff\"}", "event_type cannot form a subject"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := fmt.Sprintf("msg_q%d", i)
			a := h.sendEvent(id, []byte(c.body))
			require.Equal(t, http.StatusOK, a.status)
			require.Equal(t, "quarantined", a.outcome)
			m := h.lastOn(events.SeamQuarantine)
			assert.Equal(t, c.body, string(m.Data))
			assert.Equal(t, id, m.Header.Get(events.HeaderMsgID))
			assert.Contains(t, m.Header.Get(events.HeaderQuarantineReason), c.reason)
			assert.NotEmpty(t, m.Header.Get(events.HeaderSvixTimestamp))
		})
	}
	require.Equal(t, uint64(len(cases)), h.storedCount())
	// A retry of a quarantined delivery is a duplicate like any other.
	a := h.sendEvent("msg_q0", nil)
	assert.Equal(t, "duplicate", a.outcome)
	assert.Equal(t, uint64(len(cases)), h.storedCount())
}

func TestBodyLimit(t *testing.T) {
	const max = 2048
	h := newHarness(t, harnessOpts{cfg: receiver.Config{MaxBodyBytes: max}})
	pad := func(n int) []byte {
		head := `{"event_id":"e-big","event_type":"acs_credential.issued","pad":"`
		return []byte(head + strings.Repeat("x", n-len(head)-2) + `"}`)
	}

	exact := pad(max)
	require.Len(t, exact, max)
	a := h.sendEvent("msg_exact", exact)
	require.Equal(t, "stored", a.outcome)
	assert.Equal(t, exact, h.lastOn("seam.events.acs_credential.issued").Data)

	over := pad(max + 1)
	a = h.sendEvent("msg_over", over)
	require.Equal(t, http.StatusRequestEntityTooLarge, a.status)
	assert.Equal(t, "too_large", a.outcome)

	// Without Content-Length (chunked), the limit is found while reading.
	hdr := signed(t, h.secret, "msg_chunked", time.Now(), over)
	req, err := http.NewRequest(http.MethodPost, h.url+receiver.Path, io.MultiReader(strings.NewReader(string(over))))
	require.NoError(t, err)
	req.Header = hdr
	req.TransferEncoding = []string{"chunked"}
	resp, err := h.client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.Equal(t, uint64(1), h.storedCount())
}

// rawRequest opens a TCP connection and writes head; the caller writes body
// parts and reads the response.
func rawRequest(t *testing.T, h *harness, head string) (net.Conn, *bufio.Reader) {
	c, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(20*time.Second)))
	_, err = io.WriteString(c, head)
	require.NoError(t, err)
	return c, bufio.NewReader(c)
}

func TestOversizeBodyNotReadPastLimit(t *testing.T) {
	const max = 4096
	h := newHarness(t, harnessOpts{cfg: receiver.Config{MaxBodyBytes: max}})
	sig := signed(t, h.secret, "msg_huge", time.Now(), nil)
	head := "POST /webhooks/seam HTTP/1.1\r\nHost: x\r\nSvix-Id: msg_huge\r\nSvix-Timestamp: " +
		sig.Get("Svix-Timestamp") + "\r\nSvix-Signature: " + sig.Get("Svix-Signature") + "\r\n"

	// A declared 100 MB body: answered before a single body byte is sent.
	_, r := rawRequest(t, h, head+"Content-Length: 100000000\r\n\r\n")
	resp, err := http.ReadResponse(r, nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.True(t, resp.Close, "connection closed instead of draining the body")

	// A chunked body that never ends: answered once the limit is passed.
	c, r := rawRequest(t, h, head+"Transfer-Encoding: chunked\r\n\r\n")
	chunk := strings.Repeat("y", 1024)
	for sent := 0; sent <= max; sent += len(chunk) {
		_, err := fmt.Fprintf(c, "%x\r\n%s\r\n", len(chunk), chunk)
		require.NoError(t, err)
	}
	resp, err = http.ReadResponse(r, nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.Equal(t, uint64(0), h.storedCount())
}

func TestSignedButUnreadableBodyIsBadRequest(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	_, body := seamEvent("acs_credential.issued")
	sig := signed(t, h.secret, "msg_cut", time.Now(), body)
	// The client promises more than it sends, then hangs up.
	c, r := rawRequest(t, h, "POST /webhooks/seam HTTP/1.1\r\nHost: x\r\nSvix-Id: msg_cut\r\nSvix-Timestamp: "+
		sig.Get("Svix-Timestamp")+"\r\nSvix-Signature: "+sig.Get("Svix-Signature")+
		fmt.Sprintf("\r\nContent-Length: %d\r\n\r\n", len(body)+10))
	_, err := c.Write(body)
	require.NoError(t, err)
	require.NoError(t, c.(*net.TCPConn).CloseWrite())
	resp, err := http.ReadResponse(r, nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Equal(t, uint64(0), h.storedCount())
	assert.Equal(t, 1.0, h.metric(`seam_receiver_requests_total{outcome="unreadable_body"}`))
}

func TestNATSOutageAndRecovery(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ids := map[string][]byte{}
	for i := 0; i < 20; i++ {
		_, body := seamEvent("acs_credential.issued")
		id := fmt.Sprintf("msg_before%d", i)
		require.Equal(t, "stored", h.sendEvent(id, body).outcome)
		ids[id] = body
	}
	require.Equal(t, uint64(20), h.storedCount())

	h.nats.Stop()
	require.Eventually(t, func() bool { return !h.nc.IsConnected() }, 10*time.Second, 10*time.Millisecond)
	_, body := seamEvent("acs_credential.issued")
	for i := 0; i < 3; i++ {
		a := h.sendEvent("msg_during", body)
		require.Equal(t, http.StatusServiceUnavailable, a.status)
		require.Equal(t, "unavailable", a.outcome)
	}
	assert.Equal(t, http.StatusServiceUnavailable, h.get("/readyz"))
	assert.Equal(t, http.StatusOK, h.get("/healthz"))
	assert.Equal(t, 3.0, h.metric(`seam_receiver_publish_failures_total{reason="not_connected"}`))
	assert.Contains(t, h.logs.String(), `"msg":"webhook not stored"`)

	require.NoError(t, h.nats.Restart())
	h.waitReady()
	// The retry Svix would make now succeeds.
	require.Equal(t, "stored", h.sendEvent("msg_during", body).outcome)
	require.Equal(t, uint64(21), h.storedCount())
	// Everything stored before the outage is still there, and still dedups.
	for id, b := range ids {
		require.Equal(t, "duplicate", h.sendEvent(id, b).outcome, id)
	}
	m := h.lastOn("seam.events.acs_credential.issued")
	assert.Equal(t, "msg_during", m.Header.Get(events.HeaderMsgID))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first, err := h.stream().GetMsg(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, ids[first.Header.Get(events.HeaderMsgID)], first.Data)
	require.Equal(t, uint64(21), h.storedCount())
}

func TestPublishTimeoutIs503(t *testing.T) {
	// Through a proxy that can stop moving bytes, NATS looks connected but
	// never acknowledges: a hung server or a partition.
	h := newHarness(t, harnessOpts{proxy: true, cfg: receiver.Config{PublishTimeout: 300 * time.Millisecond}})
	_, body := seamEvent("acs_credential.issued")
	require.Equal(t, "stored", h.sendEvent("msg_pre", body).outcome)

	h.proxy.frozen.Store(true)
	_, body = seamEvent("acs_credential.issued")
	a := h.sendEvent("msg_frozen", body)
	require.Equal(t, http.StatusServiceUnavailable, a.status)
	assert.Equal(t, 1.0, h.metric(`seam_receiver_publish_failures_total{reason="timeout"}`))

	// The late publish may still land once bytes flow again; the retry is
	// then a duplicate, never a second copy.
	h.proxy.frozen.Store(false)
	a = h.sendEvent("msg_frozen", body)
	require.Contains(t, []string{"stored", "duplicate"}, a.outcome)
	require.Equal(t, uint64(2), h.storedCount())
}

func TestConcurrentDistinctThenResentStoredExactlyOnce(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const total, conns = 3000, 64
	type delivery struct {
		id   string
		body []byte
	}
	all := make([]delivery, total)
	for i := range all {
		_, body := seamEvent("acs_credential.issued")
		all[i] = delivery{fmt.Sprintf("msg_conc%d", i), body}
	}
	send := func(round string) map[string]int {
		work := make(chan delivery)
		counts := make(chan map[string]int, conns)
		for c := 0; c < conns; c++ {
			go func() {
				// Each worker has its own connection.
				client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}}
				defer client.CloseIdleConnections()
				got := map[string]int{}
				for d := range work {
					hdr := signed(t, h.secret, d.id, time.Now(), d.body)
					req, err := http.NewRequest(http.MethodPost, h.url+receiver.Path, strings.NewReader(string(d.body)))
					if err != nil {
						got["error"]++
						continue
					}
					req.Header = hdr
					resp, err := client.Do(req)
					if err != nil {
						got["error"]++
						continue
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					got[string(b)]++
				}
				counts <- got
			}()
		}
		for _, d := range all {
			work <- d
		}
		close(work)
		total := map[string]int{}
		for c := 0; c < conns; c++ {
			for k, v := range <-counts {
				total[k] += v
			}
		}
		return total
	}
	assert.Equal(t, map[string]int{`{"outcome":"stored"}` + "\n": total}, send("first"))
	require.Equal(t, uint64(total), h.storedCount())
	assert.Equal(t, map[string]int{`{"outcome":"duplicate"}` + "\n": total}, send("resend"))
	require.Equal(t, uint64(total), h.storedCount())

	// Every delivery is there once, under its own id, byte for byte.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	byID := make(map[string][]byte, total)
	for _, d := range all {
		byID[d.id] = d.body
	}
	for seq := uint64(1); seq <= total; seq++ {
		m, err := h.stream().GetMsg(ctx, seq)
		require.NoError(t, err)
		id := m.Header.Get(events.HeaderMsgID)
		want, ok := byID[id]
		require.True(t, ok, "unexpected or repeated id %q at seq %d", id, seq)
		require.Equal(t, want, m.Data)
		delete(byID, id)
	}
	require.Empty(t, byID)
}

func TestStreamRecreatedWhenLost(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, h.js.DeleteStream(ctx, events.StreamSeamEvents))
	// Someone deleted the stream: the first delivery cannot be stored, and
	// that sets the receiver to recreate it, so Svix's retry succeeds.
	_, body := seamEvent("acs_credential.issued")
	a := h.sendEvent("msg_lost", body)
	require.Equal(t, http.StatusServiceUnavailable, a.status)
	assert.Equal(t, 1.0, h.metric(`seam_receiver_publish_failures_total{reason="no_stream"}`))
	h.waitReady()
	require.Equal(t, "stored", h.sendEvent("msg_lost", body).outcome)

	info, err := h.stream().Info(ctx)
	require.NoError(t, err)
	want := events.SeamEventsConfig(1, events.DefaultDedupWindow)
	assert.Equal(t, want.Subjects, info.Config.Subjects)
	assert.Equal(t, want.Storage, info.Config.Storage)
	assert.Equal(t, want.Duplicates, info.Config.Duplicates)
	assert.Equal(t, want.MaxAge, info.Config.MaxAge)
}

func TestStreamUpdatedToConfig(t *testing.T) {
	h := newHarness(t, harnessOpts{cfg: receiver.Config{DedupWindow: time.Hour}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	info, err := h.stream().Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, time.Hour, info.Config.Duplicates)
	assert.Equal(t, 1, info.Config.Replicas)

	// A second receiver with another window takes over the definition:
	// the receiver owns SEAM_EVENTS.
	other, err := receiver.New(receiver.Config{Secrets: []string{h.secret}, DedupWindow: 2 * time.Hour}, h.nc, zap.NewNop(), prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, other.EnsureStream(ctx))
	require.NoError(t, other.EnsureStream(ctx), "idempotent")
	info, err = h.stream().Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2*time.Hour, info.Config.Duplicates)
}

func TestBodyLimitMustFitMaxPayload(t *testing.T) {
	h := newHarness(t, harnessOpts{maxPayload: 64 << 10, cfg: receiver.Config{MaxBodyBytes: 64 << 10}})
	err := h.rcv.CheckPayloadLimit()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "MAX_BODY_BYTES")
	assert.Contains(t, err.Error(), "65536")
	require.Never(t, func() bool { return h.get("/readyz") == http.StatusOK }, 500*time.Millisecond, 50*time.Millisecond)
	assert.Contains(t, h.logs.String(), "MAX_BODY_BYTES")

	ok := newHarness(t, harnessOpts{maxPayload: 64 << 10, cfg: receiver.Config{MaxBodyBytes: 60 << 10}})
	require.NoError(t, ok.rcv.CheckPayloadLimit())
	ok.waitReady()
}
