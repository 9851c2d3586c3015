package saga

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The encoding deadline is a JetStream scheduled message, so it survives the
// worker that armed it and fires on whichever worker consumes it next.
// Re-arming publishes a new schedule on the issuance's schedule subject,
// which replaces the old one (one message per subject).
const (
	StreamTimers     = "ISSUANCE_TIMERS"
	timersPrefix     = "issuance.timers."
	DeadlinesPrefix  = "issuance.deadlines."
	DeadlinesAll     = "issuance.deadlines.>"
	timersMaxAge     = 30 * 24 * time.Hour
	deadlineBodyVers = 1
)

// TimersConfig is the definition of the timers stream.
func TimersConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              StreamTimers,
		Description:       "encoding deadlines: schedules on issuance.timers.<id>, fired on issuance.deadlines.<id>",
		Subjects:          []string{timersPrefix + ">", DeadlinesAll},
		Retention:         jetstream.LimitsPolicy,
		Storage:           jetstream.FileStorage,
		Replicas:          replicas,
		MaxMsgsPerSubject: 1,
		MaxAge:            timersMaxAge,
		AllowMsgSchedules: true,
	}
}

// DeadlineMsg is the body of a deadline message.
type DeadlineMsg struct {
	V          int    `json:"v"`
	IssuanceID string `json:"issuance_id"`
	Deadline
}

// Timers arms deadlines.
type Timers struct{ js jetstream.JetStream }

// NewTimers returns a Timers publishing with js.
func NewTimers(js jetstream.JetStream) *Timers { return &Timers{js: js} }

// Arm schedules the deadline of an issuance; it replaces any earlier one.
func (t *Timers) Arm(ctx context.Context, issuanceID string, tm Timer) error {
	body, err := json.Marshal(DeadlineMsg{V: deadlineBodyVers, IssuanceID: issuanceID, Deadline: tm.Deadline})
	if err != nil {
		return fmt.Errorf("encode deadline: %w", err)
	}
	// Schedules have a resolution of one second: round up, so the deadline
	// never fires before it is due (a past one fires at once).
	at := tm.At.UTC()
	if t := at.Truncate(time.Second); t.Before(at) {
		at = t.Add(time.Second)
	}
	_, err = t.js.Publish(ctx, timersPrefix+issuanceID, body,
		jetstream.WithScheduleAt(at),
		jetstream.WithScheduleTarget(DeadlinesPrefix+issuanceID),
		jetstream.WithExpectStream(StreamTimers))
	if err != nil {
		return fmt.Errorf("arm deadline for %s: %w", issuanceID, err)
	}
	return nil
}

// ParseDeadline decodes a fired deadline.
func ParseDeadline(data []byte) (DeadlineMsg, error) {
	var m DeadlineMsg
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("not a deadline message: %w", err)
	}
	if !ValidIssuanceID(m.IssuanceID) || m.Attempt < 0 || m.Reads < 0 {
		return m, fmt.Errorf("deadline message without a valid issuance_id")
	}
	return m, nil
}
