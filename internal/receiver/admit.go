package receiver

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/cardissuer/seamcards/internal/events"
)

// outcome is what became of a webhook request; it is the "outcome" label of
// the requests metric and the reason logged for a rejection.
type outcome string

const (
	outStored           outcome = "stored"
	outDuplicate        outcome = "duplicate"
	outQuarantined      outcome = "quarantined"
	outMissingHeader    outcome = "missing_header"
	outMalformedHeader  outcome = "malformed_header"
	outBadSignature     outcome = "bad_signature"
	outStaleTimestamp   outcome = "stale_timestamp"
	outFutureTimestamp  outcome = "future_timestamp"
	outUnreadableBody   outcome = "unreadable_body"
	outTooLarge         outcome = "too_large"
	outUnavailable      outcome = "unavailable"
	outMethodNotAllowed outcome = "method_not_allowed"
)

var allOutcomes = []outcome{
	outStored, outDuplicate, outQuarantined, outMissingHeader, outMalformedHeader,
	outBadSignature, outStaleTimestamp, outFutureTimestamp, outUnreadableBody,
	outTooLarge, outUnavailable, outMethodNotAllowed,
}

func (o outcome) status() int {
	switch o {
	case outStored, outDuplicate, outQuarantined:
		return http.StatusOK
	case outTooLarge:
		return http.StatusRequestEntityTooLarge
	case outUnavailable:
		return http.StatusServiceUnavailable
	case outMethodNotAllowed:
		return http.StatusMethodNotAllowed
	default:
		return http.StatusBadRequest
	}
}

// signedHeaders are the Svix headers of one request.
type signedHeaders struct {
	id, timestamp, signature string
}

// readSignedHeaders picks the svix-* headers, or their webhook-* twins when
// any svix-* one is missing (the svix library's own rule, so that the id we
// store is the id that was verified), and checks id and timestamp before the
// body is read. A rejection returns its outcome; ok is "".
func readSignedHeaders(h http.Header, now time.Time) (signedHeaders, outcome) {
	sh := signedHeaders{h.Get("svix-id"), h.Get("svix-timestamp"), h.Get("svix-signature")}
	if sh.id == "" || sh.timestamp == "" || sh.signature == "" {
		sh = signedHeaders{h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")}
		if sh.id == "" || sh.timestamp == "" || sh.signature == "" {
			return sh, outMissingHeader
		}
	}
	if !events.HeaderSafe(sh.id) {
		return sh, outMalformedHeader
	}
	secs, err := strconv.ParseInt(sh.timestamp, 10, 64)
	if err != nil {
		return sh, outMalformedHeader
	}
	ts := time.Unix(secs, 0)
	if now.Sub(ts) > Tolerance {
		return sh, outStaleTimestamp
	}
	if ts.Unix() > now.Add(Tolerance).Unix() {
		return sh, outFutureTimestamp
	}
	return sh, ""
}

// verify reports whether any secret signed body under sh.
func verify(whs []*svix.Webhook, sh signedHeaders, body []byte) bool {
	h := http.Header{
		"Svix-Id":        {sh.id},
		"Svix-Timestamp": {sh.timestamp},
		"Svix-Signature": {sh.signature},
	}
	for _, wh := range whs {
		if wh.Verify(body, h) == nil {
			return true
		}
	}
	return false
}

// storedMsg is the JetStream message for a verified body: the body byte for
// byte on seam.events.<event_type> with the contract's headers, or on
// seam.quarantine when the body cannot be routed (quarantine then says why).
func storedMsg(sh signedHeaders, body []byte) (msg *nats.Msg, quarantine error) {
	msg = &nats.Msg{Data: body, Header: make(nats.Header, 5)}
	msg.Header[events.HeaderMsgID] = []string{sh.id}
	msg.Header[events.HeaderSvixTimestamp] = []string{sh.timestamp}
	env, err := events.ReadEnvelope(body)
	if err != nil {
		msg.Subject = events.SeamQuarantine
		msg.Header[events.HeaderQuarantineReason] = []string{err.Error()}
		return msg, err
	}
	msg.Subject = events.SeamEventsPrefix + env.EventType
	msg.Header[events.HeaderSeamEventID] = []string{env.EventID}
	msg.Header[events.HeaderSeamEventType] = []string{env.EventType}
	if env.WorkspaceID != "" {
		msg.Header[events.HeaderSeamWorkspaceID] = []string{env.WorkspaceID}
	}
	return msg, nil
}

// errTooLarge marks a body over the limit.
var errTooLarge = errors.New("body larger than MAX_BODY_BYTES")
