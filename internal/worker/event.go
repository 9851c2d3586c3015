package worker

import (
	"fmt"

	"github.com/cardissuer/seamcards/internal/saga"
	"github.com/cardissuer/seamcards/internal/seam"
)

// decodeEvent reads a stored Seam event into the saga's input. Ids that
// could not be Seam's are refused: they would be unusable as index keys.
func decodeEvent(data []byte) (saga.Event, error) {
	se, err := seam.ParseEvent(data)
	if err != nil {
		return saga.Event{}, err
	}
	for name, id := range map[string]string{
		"acs_credential_id": se.AcsCredentialID, "acs_encoder_id": se.AcsEncoderID, "action_attempt_id": se.ActionAttemptID,
	} {
		if id != "" && !saga.ValidSeamID(id) {
			return saga.Event{}, fmt.Errorf("seam event %s: %s %q is not a Seam id", se.EventID, name, id)
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
	}
	if !se.OccurredAt.IsZero() {
		at := se.OccurredAt
		e.OccurredAt = &at
	}
	return e, nil
}
