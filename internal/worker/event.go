package worker

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/cardissuer/seamcards/internal/saga"
)

// seamEvent is the part of a stored Seam event the saga reads; field names
// are Seam's (openapi `event`).
type seamEvent struct {
	EventID         string     `json:"event_id"`
	EventType       string     `json:"event_type"`
	AcsCredentialID string     `json:"acs_credential_id"`
	AcsEncoderID    string     `json:"acs_encoder_id"`
	ActionAttemptID string     `json:"action_attempt_id"`
	ActionType      string     `json:"action_type"`
	Status          string     `json:"status"`
	OccurredAt      *time.Time `json:"occurred_at"`
	Error           *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// decodeEvent reads a stored Seam event. Ids that could not be Seam's are
// refused, as they would be unusable as index keys.
func decodeEvent(data []byte) (saga.Event, error) {
	var se seamEvent
	if err := json.Unmarshal(data, &se); err != nil {
		return saga.Event{}, fmt.Errorf("not a Seam event: %w", err)
	}
	if se.EventID == "" || se.EventType == "" {
		return saga.Event{}, fmt.Errorf("Seam event without event_id or event_type")
	}
	for name, id := range map[string]string{
		"acs_credential_id": se.AcsCredentialID, "acs_encoder_id": se.AcsEncoderID, "action_attempt_id": se.ActionAttemptID,
	} {
		if id != "" && !saga.ValidSeamID(id) {
			return saga.Event{}, fmt.Errorf("Seam event %s: %s %q is not a Seam id", se.EventID, name, id)
		}
	}
	e := saga.Event{
		ID:              se.EventID,
		Type:            se.EventType,
		CredentialID:    se.AcsCredentialID,
		EncoderID:       se.AcsEncoderID,
		ActionAttemptID: se.ActionAttemptID,
		ActionType:      se.ActionType,
		Status:          se.Status,
		OccurredAt:      se.OccurredAt,
	}
	if se.Error != nil {
		e.ErrorType, e.ErrorMessage = se.Error.Type, se.Error.Message
	}
	return e, nil
}
