package saga

import "time"

// Input is anything that can move an issuance: a command, a Seam event, a
// timer, or the result of a call the core asked for.
type Input interface{ input() }

// Commands.
type (
	// Start is a valid StartIssuance.
	Start struct{ Cmd StartIssuance }
	// Reject is a StartIssuance that names a valid issuance id but is invalid.
	Reject struct {
		IssuanceID string
		Reason     string
	}
	// Retry asks for a new encoding, optionally on another encoder.
	Retry struct{ EncoderID string }
	// Cancel asks to stop the issuance.
	Cancel struct{}
)

// SeamEvent is a Seam webhook event routed to this issuance.
type SeamEvent struct{ Event Event }

// Event is the part of a Seam event the saga reads.
type Event struct {
	ID              string     `json:"event_id"`
	Type            string     `json:"event_type"`
	CredentialID    string     `json:"acs_credential_id,omitempty"`
	EncoderID       string     `json:"acs_encoder_id,omitempty"`
	ActionAttemptID string     `json:"action_attempt_id,omitempty"`
	ActionType      string     `json:"action_type,omitempty"`
	Status          string     `json:"status,omitempty"`
	OccurredAt      *time.Time `json:"occurred_at,omitempty"`
}

// Seam event types the saga acts on.
const (
	EventCredentialIssued      = "acs_credential.issued"
	EventCredentialReissued    = "acs_credential.reissued"
	EventCredentialDeleted     = "acs_credential.deleted"
	EventCredentialInvalidated = "acs_credential.invalidated"
	EventEncoderRemoved        = "acs_encoder.removed"
	EventActionAttemptPrefix   = "action_attempt."
)

// Deadline is the encoding deadline firing. Attempt and Reads identify the
// encoding and the read it was armed for, so a stale one is ignored.
type Deadline struct {
	Attempt int `json:"attempt"`
	Reads   int `json:"reads"`
}

// Resume asks the core to continue: after a crash (a recorded intent without
// its result), after a redelivered command, or after a decision that needs no
// call.
type Resume struct{}

// Results of calls.
type (
	// UserReadyResult: the user exists (created, or found after a crash).
	UserReadyResult struct{ UserID string }
	// UserMissing: looking after a crash found no user we created.
	UserMissing struct{}
	// GroupsJoined: the existing user is in every requested group.
	GroupsJoined struct{}
	// CredentialsListed: the user's credentials before we create one.
	CredentialsListed struct{ Cards []string }
	// OldDeleted: replace mode, the old card credential is gone.
	OldDeleted struct{ CredentialID string }
	// CredentialReady: our credential exists (created, or found after a crash).
	CredentialReady struct{ CredentialID string }
	// CredentialMissing: looking after a crash found no credential we created.
	CredentialMissing struct{}
	// EncoderPicked: the encoder to use; empty when none is usable.
	EncoderPicked struct {
		EncoderID string
		Reason    string
	}
	// EncodeStarted: encode_credential returned an action attempt.
	EncodeStarted struct{ ActionAttemptID string }
	// CredentialRead: /acs/credentials/get.
	CredentialRead struct {
		IsIssued   bool
		CardNumber string
		IssuedAt   *time.Time
	}
	// AttemptRead: /action_attempts/get.
	AttemptRead struct {
		Status       string // pending, success, error
		ErrorType    string
		ErrorMessage string
		CardNumber   string
		IssuedAt     *time.Time
	}
	// Compensated: the credential of a cancelled issuance is deleted, or,
	// when Kept, it was found already written and left alone.
	Compensated struct {
		Kept       bool
		CardNumber string
		IssuedAt   *time.Time
	}
	// CallFailed: Seam refused a call with a non-retryable error.
	CallFailed struct {
		Type    string
		Message string
	}
)

func (Start) input()             {}
func (Reject) input()            {}
func (Retry) input()             {}
func (Cancel) input()            {}
func (SeamEvent) input()         {}
func (Deadline) input()          {}
func (Resume) input()            {}
func (UserReadyResult) input()   {}
func (UserMissing) input()       {}
func (GroupsJoined) input()      {}
func (CredentialsListed) input() {}
func (OldDeleted) input()        {}
func (CredentialReady) input()   {}
func (CredentialMissing) input() {}
func (EncoderPicked) input()     {}
func (EncodeStarted) input()     {}
func (CredentialRead) input()    {}
func (AttemptRead) input()       {}
func (Compensated) input()       {}
func (CallFailed) input()        {}

// Call is a Seam call the core asks the executor to make; its result comes
// back as the next Input.
type Call interface{ call() }

// Calls.
type (
	// CreateUser: /acs/users/create with the user's groups.
	CreateUser struct {
		SystemID string
		User     User
		GroupIDs []string
	}
	// FindUser: after a crash, find the user a create may have made
	// (created at or after Since, same name, email and phone).
	FindUser struct {
		SystemID string
		User     User
		Since    time.Time
	}
	// JoinGroups: add an existing user to each listed group not yet joined.
	JoinGroups struct {
		UserID   string
		GroupIDs []string
	}
	// ListCredentials: the user's card credentials.
	ListCredentials struct{ UserID string }
	// DeleteCredential: delete a credential; a missing one counts as deleted.
	DeleteCredential struct {
		CredentialID string
		Compensation bool // cancel's compensation, else replace's old card
	}
	// CreateCredential: /acs/credentials/create for a card.
	CreateCredential struct {
		SystemID     string
		UserID       string
		AssignNewKey bool
		StartsAt     string
		EndsAt       string
	}
	// FindCredential: after a crash, a card credential of the user not in Known.
	FindCredential struct {
		UserID string
		Known  []string
	}
	// PickEncoder: the first encoder of the system without errors.
	PickEncoder struct{ SystemID string }
	// Encode: /acs/encoders/encode_credential. The executor indexes the
	// credential and encoder before the call and the attempt after it.
	Encode struct {
		CredentialID string
		EncoderID    string
	}
	// ReadCredential: /acs/credentials/get.
	ReadCredential struct{ CredentialID string }
	// ReadAttempt: /action_attempts/get.
	ReadAttempt struct{ ActionAttemptID string }
)

func (CreateUser) call()       {}
func (FindUser) call()         {}
func (JoinGroups) call()       {}
func (ListCredentials) call()  {}
func (DeleteCredential) call() {}
func (CreateCredential) call() {}
func (FindCredential) call()   {}
func (PickEncoder) call()      {}
func (Encode) call()           {}
func (ReadCredential) call()   {}
func (ReadAttempt) call()      {}

// Timer arms the encoding deadline at At; a later Timer for the same
// issuance replaces it.
type Timer struct {
	At       time.Time
	Deadline Deadline
}
