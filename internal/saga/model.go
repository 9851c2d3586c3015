// Package saga is the issuance state machine: a pure decision core (Decide),
// the executor that performs its effects against Seam and NATS, and the
// compare-and-set store it keeps its state in.
package saga

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/cardissuer/seamcards/internal/seam"
)

// State is where an issuance is; the names are CONTRACT.md's.
type State string

// States of an issuance.
const (
	Accepted          State = "accepted"
	UserReady         State = "user_ready"
	CredentialCreated State = "credential_created"
	Encoding          State = "encoding"
	Issued            State = "issued"
	EncodingFailed    State = "encoding_failed"
	Failed            State = "failed"
	Cancelled         State = "cancelled"
	Rejected          State = "rejected"
)

// AllStates lists every state, in the order of the happy path first.
var AllStates = []State{Accepted, UserReady, CredentialCreated, Encoding, Issued, EncodingFailed, Failed, Cancelled, Rejected}

// Terminal reports whether nothing can change the state any more.
func (s State) Terminal() bool {
	return s == Issued || s == Failed || s == Cancelled || s == Rejected
}

// Modes of a StartIssuance.
const (
	ModeNew     = "new"
	ModeReplace = "replace"
	ModeUpdate  = "update"
)

// Error is the error of an issuance, as published.
type Error struct {
	Type      string `json:"type"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

// Error types the worker produces itself (the others are Seam's).
const (
	ErrInvalidCommand        = "invalid_command"
	ErrEncodingTimeout       = "encoding_timeout"
	ErrEncoderRemoved        = "encoder_removed"
	ErrCredentialDeleted     = "credential_deleted"
	ErrCredentialInvalidated = "credential_invalidated"
	ErrNoEncoderAvailable    = "no_encoder_available"
	// ErrCredentialKept: a cancel found the card already written and did
	// not delete its credential.
	ErrCredentialKept = "credential_already_issued"
)

// RetryableEncodingError reports whether an action attempt error type is
// retryable (CONTRACT.md's table). Unknown types are not: a retry that cannot
// help would park the issuance for nothing.
func RetryableEncodingError(t string) bool { return (&seam.ActionAttemptError{Type: t}).Retryable() }

// User is the person a new access system user is created for.
type User struct {
	FullName     string `json:"full_name"`
	EmailAddress string `json:"email_address,omitempty"`
	PhoneNumber  string `json:"phone_number,omitempty"`
}

// StartIssuance is the command that starts an issuance.
type StartIssuance struct {
	IssuanceID        string   `json:"issuance_id"`
	AcsSystemID       string   `json:"acs_system_id"`
	AcsUserID         string   `json:"acs_user_id,omitempty"`
	User              *User    `json:"user,omitempty"`
	AcsAccessGroupIDs []string `json:"acs_access_group_ids,omitempty"`
	Mode              string   `json:"mode,omitempty"`
	AcsEncoderID      string   `json:"acs_encoder_id,omitempty"`
	StartsAt          string   `json:"starts_at,omitempty"`
	EndsAt            string   `json:"ends_at,omitempty"`
}

// RetryIssuance asks for a new encoding after a retryable failure.
type RetryIssuance struct {
	IssuanceID   string `json:"issuance_id"`
	AcsEncoderID string `json:"acs_encoder_id,omitempty"`
}

// CancelIssuance asks to stop an issuance.
type CancelIssuance struct {
	IssuanceID string `json:"issuance_id"`
}

var issuanceIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidIssuanceID reports whether id may be used as an issuance id (and so as
// a subject token and a KV key).
func ValidIssuanceID(id string) bool { return issuanceIDPattern.MatchString(id) }

// seamIDPattern accepts the identifiers Seam hands out (UUIDs) and anything of
// the same alphabet, so they can be used in KV keys without escaping.
var seamIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// ValidSeamID reports whether id can be a Seam resource id.
func ValidSeamID(id string) bool { return seamIDPattern.MatchString(id) }

// ParseStart decodes and validates a StartIssuance. It returns the issuance
// id whenever one could be read, even when the command is invalid, so the
// caller can reject the issuance by id.
func ParseStart(data []byte) (StartIssuance, string, error) {
	var cmd StartIssuance
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cmd); err != nil {
		return cmd, salvageID(data), fmt.Errorf("not a StartIssuance: %w", err)
	}
	if dec.More() {
		return cmd, salvageID(data), fmt.Errorf("not a StartIssuance: trailing data after the JSON object")
	}
	if !ValidIssuanceID(cmd.IssuanceID) {
		return cmd, "", fmt.Errorf("issuance_id must be 1 to 64 of [A-Za-z0-9_-], got %q", cmd.IssuanceID)
	}
	if err := cmd.Validate(); err != nil {
		return cmd, cmd.IssuanceID, err
	}
	if cmd.Mode == "" {
		cmd.Mode = ModeNew
	}
	return cmd, cmd.IssuanceID, nil
}

// salvageID reads issuance_id from a command that is otherwise invalid.
func salvageID(data []byte) string {
	var probe struct {
		IssuanceID string `json:"issuance_id"`
	}
	if json.NewDecoder(strings.NewReader(string(data))).Decode(&probe) != nil || !ValidIssuanceID(probe.IssuanceID) {
		return ""
	}
	return probe.IssuanceID
}

// Validate checks the command's fields against the contract.
func (c StartIssuance) Validate() error {
	if !ValidSeamID(c.AcsSystemID) {
		return fmt.Errorf("acs_system_id is required and must be a Seam id")
	}
	switch {
	case c.AcsUserID != "" && c.User != nil:
		return fmt.Errorf("give exactly one of acs_user_id and user, not both")
	case c.AcsUserID == "" && c.User == nil:
		return fmt.Errorf("give exactly one of acs_user_id and user")
	case c.AcsUserID != "" && !ValidSeamID(c.AcsUserID):
		return fmt.Errorf("acs_user_id %q is not a Seam id", c.AcsUserID)
	case c.User != nil && strings.TrimSpace(c.User.FullName) == "":
		return fmt.Errorf("user.full_name is required")
	}
	switch c.Mode {
	case "", ModeNew, ModeReplace, ModeUpdate:
	default:
		return fmt.Errorf("mode must be new, replace or update, got %q", c.Mode)
	}
	if c.User != nil && c.Mode != "" && c.Mode != ModeNew {
		return fmt.Errorf("mode %s needs an existing user (acs_user_id): a new user holds no card", c.Mode)
	}
	seen := map[string]bool{}
	for _, g := range c.AcsAccessGroupIDs {
		if !ValidSeamID(g) {
			return fmt.Errorf("acs_access_group_ids: %q is not a Seam id", g)
		}
		if seen[g] {
			return fmt.Errorf("acs_access_group_ids: %q is listed twice", g)
		}
		seen[g] = true
	}
	if c.AcsEncoderID != "" && !ValidSeamID(c.AcsEncoderID) {
		return fmt.Errorf("acs_encoder_id %q is not a Seam id", c.AcsEncoderID)
	}
	var starts, ends time.Time
	var err error
	if c.StartsAt != "" {
		if starts, err = time.Parse(time.RFC3339, c.StartsAt); err != nil {
			return fmt.Errorf("starts_at %q is not RFC 3339", c.StartsAt)
		}
	}
	if c.EndsAt != "" {
		if ends, err = time.Parse(time.RFC3339, c.EndsAt); err != nil {
			return fmt.Errorf("ends_at %q is not RFC 3339", c.EndsAt)
		}
	}
	if !starts.IsZero() && !ends.IsZero() && !ends.After(starts) {
		return fmt.Errorf("ends_at must be after starts_at")
	}
	return nil
}

// ParseRetry decodes a retry command.
func ParseRetry(data []byte) (RetryIssuance, error) {
	var cmd RetryIssuance
	if err := strictDecode(data, &cmd); err != nil {
		return cmd, fmt.Errorf("not a retry command: %w", err)
	}
	if !ValidIssuanceID(cmd.IssuanceID) {
		return cmd, fmt.Errorf("issuance_id must be 1 to 64 of [A-Za-z0-9_-], got %q", cmd.IssuanceID)
	}
	if cmd.AcsEncoderID != "" && !ValidSeamID(cmd.AcsEncoderID) {
		return cmd, fmt.Errorf("acs_encoder_id %q is not a Seam id", cmd.AcsEncoderID)
	}
	return cmd, nil
}

// ParseCancel decodes a cancel command.
func ParseCancel(data []byte) (CancelIssuance, error) {
	var cmd CancelIssuance
	if err := strictDecode(data, &cmd); err != nil {
		return cmd, fmt.Errorf("not a cancel command: %w", err)
	}
	if !ValidIssuanceID(cmd.IssuanceID) {
		return cmd, fmt.Errorf("issuance_id must be 1 to 64 of [A-Za-z0-9_-], got %q", cmd.IssuanceID)
	}
	return cmd, nil
}

func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON object")
	}
	return nil
}

// Issuance is the IssuanceState of CONTRACT.md: what is published on every
// state change and what backends read.
type Issuance struct {
	IssuanceID      string     `json:"issuance_id"`
	Version         int        `json:"version"`
	State           State      `json:"state"`
	Mode            string     `json:"mode"`
	AcsSystemID     string     `json:"acs_system_id"`
	AcsUserID       string     `json:"acs_user_id,omitempty"`
	AcsCredentialID string     `json:"acs_credential_id,omitempty"`
	AcsEncoderID    string     `json:"acs_encoder_id,omitempty"`
	ActionAttemptID string     `json:"action_attempt_id,omitempty"`
	CardNumber      string     `json:"card_number,omitempty"`
	IssuedAt        *time.Time `json:"issued_at,omitempty"`
	Error           *Error     `json:"error"`
	Attempts        int        `json:"attempts"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
}

// Record is what the ISSUANCES bucket holds: the issuance and the saga's
// bookkeeping, which is not published and does not change the version.
type Record struct {
	Issuance
	Saga Saga `json:"saga"`
}

// Saga is the worker's bookkeeping for one issuance.
type Saga struct {
	// Request is the StartIssuance as accepted.
	Request StartIssuance `json:"request"`
	// Pending is a Seam call whose intent was recorded and whose result was
	// not: a worker that finds one must look before it acts again.
	Pending *Step `json:"pending,omitempty"`
	// UserCreated: the user was created by this issuance, so every credential
	// the user holds is ours (no snapshot needed).
	UserCreated bool `json:"user_created,omitempty"`
	// GroupsDone: the user is in every requested access group.
	GroupsDone bool `json:"groups_done,omitempty"`
	// KnownCredentials: the user's credential ids before we created ours; a
	// credential outside this set after a crash is the one we created.
	KnownCredentials []string `json:"known_credentials,omitempty"`
	// CredentialsListed: KnownCredentials is filled (for an existing user).
	CredentialsListed bool `json:"credentials_listed,omitempty"`
	// OldCredentials: replace mode, the user's card credentials still to
	// delete before the new one is created.
	OldCredentials []string `json:"old_credentials,omitempty"`
	// EncoderChosen: the encoder was picked by us, not named by a command, so
	// a retry without one picks again.
	EncoderChosen bool `json:"encoder_chosen,omitempty"`
	// RetryRequested: a retry command was accepted in encoding_failed.
	RetryRequested bool `json:"retry_requested,omitempty"`
	// EncodingSince is when the current encoding was entered; DeadlineAt is
	// when its deadline is due; DeadlineReads counts the deadline reads.
	EncodingSince *time.Time `json:"encoding_since,omitempty"`
	DeadlineAt    *time.Time `json:"deadline_at,omitempty"`
	DeadlineReads int        `json:"deadline_reads,omitempty"`
	// Confirmed: a confirming event arrived; the issued state waits only for
	// the read that fills card_number and issued_at.
	Confirmed *Confirmation `json:"confirmed,omitempty"`
	// Early holds events that arrived before the issuance was ready for them.
	Early []Event `json:"early,omitempty"`
	// Applied lists recently applied Seam event ids.
	Applied []string `json:"applied,omitempty"`
	// Compensate: a cancel arrived; the credential is being deleted.
	Compensate bool `json:"compensate,omitempty"`
	// Lease: who is progressing the issuance now, and until when.
	Lease *Lease `json:"lease,omitempty"`
	// PublishedVersion is the highest version known to be published.
	PublishedVersion int `json:"published_version"`
}

// Confirmation records the event that confirmed an encoding.
type Confirmation struct {
	EventType  string     `json:"event_type"`
	OccurredAt *time.Time `json:"occurred_at,omitempty"`
	// Filled: CardNumber and IssuedAt are read from Seam.
	Filled     bool       `json:"filled,omitempty"`
	CardNumber string     `json:"card_number,omitempty"`
	IssuedAt   *time.Time `json:"issued_at,omitempty"`
}

// Lease gives one worker the right to progress an issuance.
type Lease struct {
	Owner string    `json:"owner"`
	Until time.Time `json:"until"`
}

// Step names a Seam call with side effects, recorded before it is made.
type Step struct {
	Kind StepKind  `json:"kind"`
	At   time.Time `json:"at"`
}

// StepKind is the kind of a side-effecting Seam call.
type StepKind string

// Side-effecting steps, each recorded as intent before the call.
const (
	StepCreateUser       StepKind = "create_user"
	StepDeleteOld        StepKind = "delete_old_credential"
	StepCreateCredential StepKind = "create_credential"
	StepEncode           StepKind = "encode"
	StepCompensate       StepKind = "delete_credential"
)

// maxApplied bounds the remembered event ids; an issuance sees a handful.
const maxApplied = 32

// Public returns the published part of a record.
func (r Record) Public() Issuance { return r.Issuance }
