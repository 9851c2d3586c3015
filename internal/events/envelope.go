package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Envelope is the part of a Seam event that routes and labels it: enough to
// choose its subject and headers. The body stays the authority; consumers
// decode it themselves.
type Envelope struct {
	EventID     string `json:"event_id"`
	EventType   string `json:"event_type"`
	WorkspaceID string `json:"workspace_id"`
}

// ErrUnusableEnvelope is wrapped by every ReadEnvelope error: the body is not
// a Seam event the receiver can route, and retrying cannot change that.
var ErrUnusableEnvelope = errors.New("unusable event")

// ReadEnvelope reads event_id, event_type and workspace_id from a Seam event
// body without keeping or re-encoding anything else. It accepts exactly the
// bodies that a consumer decoding with encoding/json would read the same way
// (so key matching, duplicate keys and escapes agree with the worker), and
// rejects what cannot be routed: not a JSON object, event_id or event_type
// missing or not a string, an event_type that cannot form subject tokens, or
// identifiers that cannot be carried in a NATS header.
func ReadEnvelope(body []byte) (Envelope, error) {
	env, ok := scanEnvelope(body)
	if !ok {
		// Anything unusual (escapes, non-ASCII, null, invalid JSON) takes
		// the encoding/json path, which defines the answer.
		return readEnvelopeJSON(body)
	}
	return env, checkEnvelope(&env)
}

// readEnvelopeJSON is ReadEnvelope by encoding/json: the reference that
// scanEnvelope must agree with.
func readEnvelopeJSON(body []byte) (Envelope, error) {
	var env Envelope
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return env, fmt.Errorf("%w: empty body", ErrUnusableEnvelope)
	}
	if trimmed[0] != '{' {
		return env, fmt.Errorf("%w: not a JSON object", ErrUnusableEnvelope)
	}
	if err := json.Unmarshal(body, &env); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return Envelope{}, fmt.Errorf("%w: %s is not a string", ErrUnusableEnvelope, te.Field)
		}
		return Envelope{}, fmt.Errorf("%w: not valid JSON", ErrUnusableEnvelope)
	}
	return env, checkEnvelope(&env)
}

func checkEnvelope(env *Envelope) error {
	switch {
	case env.EventID == "":
		return fmt.Errorf("%w: event_id missing or empty", ErrUnusableEnvelope)
	case !HeaderSafe(env.EventID):
		return fmt.Errorf("%w: event_id cannot be a header value", ErrUnusableEnvelope)
	case env.EventType == "":
		return fmt.Errorf("%w: event_type missing or empty", ErrUnusableEnvelope)
	case !ValidEventType(env.EventType):
		return fmt.Errorf("%w: event_type cannot form a subject", ErrUnusableEnvelope)
	}
	if !HeaderSafe(env.WorkspaceID) {
		// Optional and only a label: an odd workspace_id drops the header,
		// not the event.
		env.WorkspaceID = ""
	}
	return nil
}

// MaxHeaderValueLen bounds the identifiers copied into NATS headers, so that
// headers stay small next to the body under the server's max_payload.
const MaxHeaderValueLen = 255

// HeaderSafe reports whether s can be a NATS header value as it is: 1 to
// MaxHeaderValueLen printable ASCII bytes without spaces. Seam's and Svix's
// identifiers (UUIDs, msg_…) all are.
func HeaderSafe(s string) bool {
	if len(s) == 0 || len(s) > MaxHeaderValueLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
