package seam

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Event types this product reacts to (Seam's document lists them all).
const (
	EventCredentialIssued      = "acs_credential.issued"
	EventCredentialReissued    = "acs_credential.reissued"
	EventCredentialDeleted     = "acs_credential.deleted"
	EventCredentialInvalidated = "acs_credential.invalidated"
	EventEncoderAdded          = "acs_encoder.added"
	EventEncoderRemoved        = "acs_encoder.removed"
)

// Event is a Seam webhook event: the fields any event may carry that name
// what it is about. Seam's action attempt events carry action_attempt_id,
// action_type and status but no error: learn an encoding's error with
// GetActionAttempt. Fields an event does not have stay empty.
type Event struct {
	EventID            string    `json:"event_id"`
	EventType          string    `json:"event_type"`
	WorkspaceID        string    `json:"workspace_id"`
	ConnectedAccountID string    `json:"connected_account_id"`
	AcsSystemID        string    `json:"acs_system_id"`
	AcsUserID          string    `json:"acs_user_id"`
	AcsCredentialID    string    `json:"acs_credential_id"`
	AcsEncoderID       string    `json:"acs_encoder_id"`
	AcsAccessGroupID   string    `json:"acs_access_group_id"`
	ActionAttemptID    string    `json:"action_attempt_id"`
	ActionType         string    `json:"action_type"`
	Status             string    `json:"status"`
	CreatedAt          time.Time `json:"created_at"`
	OccurredAt         time.Time `json:"occurred_at"`
}

// ParseEvent decodes a webhook body. It needs a JSON object with string
// event_id and event_type; a timestamp it cannot read is left zero rather
// than losing the event.
func ParseEvent(body []byte) (*Event, error) {
	var raw struct {
		Event
		CreatedAt  json.RawMessage `json:"created_at"`
		OccurredAt json.RawMessage `json:"occurred_at"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("seam event: %w", err)
	}
	if raw.EventID == "" || raw.EventType == "" {
		return nil, errors.New("seam event: event_id or event_type missing")
	}
	ev := raw.Event
	ev.CreatedAt, ev.OccurredAt = parseTime(raw.CreatedAt), parseTime(raw.OccurredAt)
	return &ev, nil
}

func parseTime(b json.RawMessage) time.Time {
	var s string
	if json.Unmarshal(b, &s) != nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
