package seam

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Error is an error answer from the Seam API: the HTTP status and Seam's
// error body {"error": {"type", "message"}, "ok": false}.
type Error struct {
	Endpoint   string // the path called, e.g. /acs/credentials/create
	Status     int
	Type       string // Seam's error type, e.g. invalid_input, acs_user_not_found
	Message    string
	RequestID  string        // the seam-request-id header, or the body's request_id
	RetryAfter time.Duration // from a Retry-After header; 0 when absent
}

func (e *Error) Error() string {
	t := e.Type
	if t == "" {
		t = http.StatusText(e.Status)
	}
	s := fmt.Sprintf("seam %s: %d %s", e.Endpoint, e.Status, t)
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (request " + e.RequestID + ")"
	}
	return s
}

// Retryable reports whether the same request may succeed later: 429 and 5xx.
func (e *Error) Retryable() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// Seam error types this package names.
const (
	ErrorTypeInvalidInput = "invalid_input"
	ErrorTypeUnauthorized = "unauthorized"
)

var (
	// ErrNetwork marks a request that got no HTTP answer (connection refused,
	// reset, timed out).
	ErrNetwork = errors.New("network error")
	// ErrOutcomeUnknown marks a request that creates something (a user, a
	// credential, an encoding) and reached Seam, but whose answer was lost or
	// was a 5xx other than 503. Seam may have applied it; the client does not
	// repeat it, because Seam has no idempotency keys. Look before trying
	// again (for example list the user's credentials).
	ErrOutcomeUnknown = errors.New("outcome unknown: Seam may have applied the request")
)

// IsRetryable reports whether err may go away if the step is tried again
// later: Seam answered 429 or 5xx, the network failed, or the context ended.
// Other 4xx answers (validation, not found) are not retryable.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, ErrNetwork) || errors.Is(err, ErrOutcomeUnknown) {
		return true
	}
	var se *Error
	if errors.As(err, &se) {
		return se.Retryable()
	}
	return false
}

// IsNotFound reports whether Seam answered 404 (for example a credential that
// is already deleted).
func IsNotFound(err error) bool {
	var se *Error
	return errors.As(err, &se) && se.Status == http.StatusNotFound
}

// ActionAttemptError is the error of a failed action attempt.
type ActionAttemptError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

func (e *ActionAttemptError) Error() string {
	if e.Message == "" {
		return "action attempt failed: " + e.Type
	}
	return "action attempt failed: " + e.Type + ": " + e.Message
}

// Action attempt error types of ENCODE_CREDENTIAL, as Seam's document lists
// them.
const (
	ActionErrorNoCredentialOnEncoder       = "no_credential_on_encoder"
	ActionErrorEncodingInterrupted         = "encoding_interrupted"
	ActionErrorIncompatibleCardFormat      = "incompatible_card_format"
	ActionErrorEncoderNotOnline            = "encoder_not_online"
	ActionErrorEncoderCommunicationTimeout = "encoder_communication_timeout"
	ActionErrorBridgeDisconnected          = "bridge_disconnected"
	ActionErrorActionAttemptExpired        = "action_attempt_expired"
	ActionErrorCredentialCannotBeReissued  = "credential_cannot_be_reissued"
	ActionErrorCredentialDeleted           = "credential_deleted"
	ActionErrorUncategorized               = "uncategorized_error"
)

// retryableActionErrors is CONTRACT.md's table: the failures a person can
// fix by trying again (lay the card down, reconnect the encoder).
var retryableActionErrors = map[string]bool{
	ActionErrorNoCredentialOnEncoder:       true,
	ActionErrorEncodingInterrupted:         true,
	ActionErrorIncompatibleCardFormat:      true,
	ActionErrorEncoderNotOnline:            true,
	ActionErrorEncoderCommunicationTimeout: true,
	ActionErrorBridgeDisconnected:          true,
	ActionErrorActionAttemptExpired:        true,
}

// Retryable reports whether another encoding may succeed, per CONTRACT.md.
// Types the contract does not list are not retryable.
func (e *ActionAttemptError) Retryable() bool { return retryableActionErrors[e.Type] }

// ActionErrorTypes lists every ENCODE_CREDENTIAL error type.
func ActionErrorTypes() []string {
	return []string{
		ActionErrorNoCredentialOnEncoder, ActionErrorEncodingInterrupted, ActionErrorIncompatibleCardFormat,
		ActionErrorEncoderNotOnline, ActionErrorEncoderCommunicationTimeout, ActionErrorBridgeDisconnected,
		ActionErrorActionAttemptExpired, ActionErrorCredentialCannotBeReissued, ActionErrorCredentialDeleted,
		ActionErrorUncategorized,
	}
}
