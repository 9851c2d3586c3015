package receiver

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/cardissuer/seamcards/internal/events"
)

// result is what became of one request, for the answer, metrics and log.
type result struct {
	outcome outcome
	id      string // svix-id, when it is safe to log
	err     error  // detail for the log
}

// answers are the response bodies, one per outcome, built once.
var answers = func() map[outcome][]byte {
	m := make(map[outcome][]byte, len(allOutcomes))
	for _, o := range allOutcomes {
		m[o] = []byte(`{"outcome":"` + string(o) + `"}` + "\n")
	}
	return m
}()

// ServeHTTP handles POST /webhooks/seam as CONTRACT.md's receiver table says.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	start := time.Now()
	res := r.receive(w, req, start)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	w.WriteHeader(res.outcome.status())
	_, _ = w.Write(answers[res.outcome])
	r.m.requests[res.outcome].Inc()
	r.m.duration.Observe(time.Since(start).Seconds())
	r.logResult(req, res)
}

func (r *Receiver) receive(w http.ResponseWriter, req *http.Request, now time.Time) result {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return result{outcome: outMethodNotAllowed}
	}
	if req.ContentLength > r.cfg.MaxBodyBytes {
		// Refuse before reading any of it, and close the connection rather
		// than drain a body we will not use.
		w.Header().Set("Connection", "close")
		return result{outcome: outTooLarge}
	}
	sh, o := readSignedHeaders(req.Header, now)
	res := result{outcome: o}
	if events.HeaderSafe(sh.id) {
		res.id = sh.id
	}
	if o != "" {
		return res
	}
	body, err := readBody(req.Body, req.ContentLength, r.cfg.MaxBodyBytes)
	if errors.Is(err, errTooLarge) {
		w.Header().Set("Connection", "close")
		res.outcome = outTooLarge
		return res
	}
	if err != nil {
		res.outcome, res.err = outUnreadableBody, err
		return res
	}
	if !verify(r.verifier, sh, body) {
		res.outcome = outBadSignature
		return res
	}
	msg, quarantine := storedMsg(sh, body)
	dup, err := r.publish(msg)
	switch {
	case err != nil:
		res.outcome, res.err = outUnavailable, err
	case dup:
		res.outcome = outDuplicate
	case quarantine != nil:
		res.outcome, res.err = outQuarantined, quarantine
	default:
		res.outcome = outStored
	}
	return res
}

// readBody reads at most max bytes; a longer body is errTooLarge, found by
// reading one byte past the limit and no further.
func readBody(body io.Reader, contentLength, max int64) ([]byte, error) {
	size := contentLength
	if size < 0 || size > max {
		size = 4096
	}
	// One spare byte, so that a body of the announced length ends with EOF
	// without growing the buffer.
	buf := make([]byte, 0, size+1)
	lr := io.LimitReader(body, max+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > max {
			return nil, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// publish stores msg and waits for JetStream's ack, at most PublishTimeout
// (the JetStream context's async ack timeout, set in New). Handlers publish
// asynchronously and wait on their own future: many webhooks in flight then
// share the connection's writes and the server's acks, which costs the
// receiver and nats-server markedly less CPU per webhook than a request per
// publish (docs/BENCHMARKS.md). A client that hangs up does not cut the wait
// short: the outcome is still counted and logged as it really was.
func (r *Receiver) publish(msg *nats.Msg) (duplicate bool, err error) {
	f, err := r.js.PublishMsgAsync(msg)
	if err == nil {
		select {
		case ack := <-f.Ok():
			return ack.Duplicate, nil
		case err = <-f.Err():
		}
	}
	reason := publishFailure(err)
	if reason == failNoStream {
		r.askEnsure()
	}
	r.m.publishFailures[reason].Inc()
	return false, err
}

func publishFailure(err error) string {
	switch {
	case errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrReconnectBufExceeded),
		errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, nats.ErrConnectionDraining), errors.Is(err, nats.ErrNoServers):
		return failNotConnected
	case errors.Is(err, jetstream.ErrAsyncPublishTimeout), errors.Is(err, jetstream.ErrTooManyStalledMsgs):
		return failTimeout
	case errors.Is(err, jetstream.ErrNoStreamResponse):
		return failNoStream
	default:
		return failOther
	}
}

// logResult writes one line per request that was not simply stored; never
// the body or a secret.
func (r *Receiver) logResult(req *http.Request, res result) {
	var lvl = zap.WarnLevel
	msg := "webhook refused"
	switch res.outcome {
	case outStored, outDuplicate:
		lvl, msg = zap.DebugLevel, "webhook stored"
	case outQuarantined:
		msg = "webhook quarantined"
	case outUnavailable:
		lvl, msg = zap.ErrorLevel, "webhook not stored"
	}
	ce := r.log.Check(lvl, msg)
	if ce == nil {
		return
	}
	fields := []zap.Field{
		zap.String("outcome", string(res.outcome)),
		zap.Int("status", res.outcome.status()),
		zap.String("remote", req.RemoteAddr),
	}
	if res.id != "" {
		fields = append(fields, zap.String("svix_id", res.id))
	}
	if res.err != nil {
		fields = append(fields, zap.Error(res.err))
	}
	ce.Write(fields...)
}
