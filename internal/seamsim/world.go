package seamsim

import (
	"time"
)

// world is seamsim's in-memory Seam workspace. Sim.mu guards all of it.
type world struct {
	seq      int64 // orders everything created, for stable lists and cursors
	system   *system
	groups   map[string]*group
	users    map[string]*user
	creds    map[string]*credential
	encoders map[string]*encoder
	attempts map[string]*attempt
}

type system struct {
	id, name  string
	createdAt time.Time
}

type group struct {
	id, systemID, name string
	seq                int64
	createdAt          time.Time
}

type user struct {
	id, systemID           string
	fullName, email, phone string
	seq                    int64
	createdAt              time.Time
	groups                 map[string]bool
	creds                  []string // credential ids, deleted ones included
}

type credential struct {
	id, userID, systemID string
	seq                  int64
	createdAt            time.Time
	// assignNewKey: the user's card (true) or an update of it (false).
	assignNewKey     bool
	startsAt, endsAt string
	cardNumber       string
	issuedAt         time.Time // zero until an encoding succeeds
	deleted          bool      // kept as a tombstone: an encoding of it fails
	invalidated      bool
}

type encoder struct {
	id, systemID, name string
	seq                int64
	createdAt          time.Time
	removedAt          time.Time // zero while present
	offline            bool      // encodings fail with encoder_not_online
	held               bool      // no card laid down yet: queued encodings wait
	running            int       // encodings under way (at most Config.EncoderSlots)
	queue              []*attempt
	nextFail           *failure
}

// failure is a forced outcome for the next encoding on an encoder (of one
// credential, when credentialID is set).
type failure struct {
	errType, message, credentialID string
}

type attempt struct {
	id, credentialID, encoderID string
	seq                         int64
	status                      string // pending, success, error
	errType, errMsg             string
	result                      *wireCredential
	timer                       *time.Timer
}

func (w *world) next() int64 { w.seq++; return w.seq }

// liveCard returns the user's card credential (assign_new_key: true, not
// deleted), or nil. Salto Space allows one.
func (w *world) liveCard(u *user) *credential {
	for _, id := range u.creds {
		if c := w.creds[id]; c != nil && !c.deleted && c.assignNewKey {
			return c
		}
	}
	return nil
}

func (w *world) wireSystem() wireSystem {
	s := w.system
	return wireSystem{
		AcsSystemID:             s.id,
		Name:                    s.name,
		ExternalType:            "salto_space_system",
		ExternalTypeDisplayName: "Salto Space",
		Location:                wireLocation{},
		CreatedAt:               stamp(s.createdAt),
		WorkspaceID:             WorkspaceID,
		ConnectedAccountID:      ConnectedAccountID,
		ConnectedAccountIDs:     []string{ConnectedAccountID},
		ImageURL:                "https://connect.getseam.com/assets/images/acs_systems/salto_space.png",
		ImageAltText:            "Salto Space logo",
		AcsUserCount:            len(w.users),
		AcsAccessGroupCount:     len(w.groups),
		Errors:                  []wireIssue{},
		Warnings:                []wireIssue{},
	}
}

func wireUserOf(u *user) wireUser {
	return wireUser{
		AcsUserID:               u.id,
		AcsSystemID:             u.systemID,
		WorkspaceID:             WorkspaceID,
		ConnectedAccountID:      ConnectedAccountID,
		CreatedAt:               stamp(u.createdAt),
		DisplayName:             u.fullName,
		FullName:                u.fullName,
		EmailAddress:            u.email,
		PhoneNumber:             u.phone,
		ExternalType:            "salto_space_user",
		ExternalTypeDisplayName: "Salto Space User",
		IsManaged:               true,
		Errors:                  []wireIssue{},
		Warnings:                []wireIssue{},
	}
}

func wireGroupOf(g *group) wireGroup {
	return wireGroup{
		AcsAccessGroupID:           g.id,
		AcsSystemID:                g.systemID,
		WorkspaceID:                WorkspaceID,
		ConnectedAccountID:         ConnectedAccountID,
		Name:                       g.name,
		DisplayName:                g.name,
		AccessGroupType:            "salto_space_group",
		AccessGroupTypeDisplayName: "Salto Space Group",
		ExternalType:               "salto_space_group",
		ExternalTypeDisplayName:    "Salto Space Group",
		CreatedAt:                  stamp(g.createdAt),
		IsManaged:                  true,
		Errors:                     []wireIssue{},
		Warnings:                   []wireIssue{},
		PendingMutations:           []any{},
	}
}

func wireCredentialOf(c *credential) *wireCredential {
	w := &wireCredential{
		AcsCredentialID:         c.id,
		AcsUserID:               c.userID,
		AcsSystemID:             c.systemID,
		WorkspaceID:             WorkspaceID,
		ConnectedAccountID:      ConnectedAccountID,
		DisplayName:             "Salto Space card",
		AccessMethod:            "card",
		ExternalType:            "salto_space_key",
		ExternalTypeDisplayName: "Salto Space Key",
		StartsAt:                c.startsAt,
		EndsAt:                  c.endsAt,
		CreatedAt:               stamp(c.createdAt),
		IsManaged:               true,
		Errors:                  []wireIssue{},
		Warnings:                []wireIssue{},
	}
	if c.issuedAt.IsZero() {
		w.Warnings = append(w.Warnings, wireIssue{
			WarningCode: "waiting_to_be_issued",
			Message:     "This credential is waiting to be encoded onto a card.",
			CreatedAt:   stamp(c.createdAt),
		})
	} else {
		num, at := c.cardNumber, stamp(c.issuedAt)
		w.CardNumber, w.IssuedAt, w.IsIssued = &num, &at, true
		w.DisplayName = "Salto Space card " + num
	}
	return w
}

func wireEncoderOf(e *encoder) wireEncoder {
	w := wireEncoder{
		AcsEncoderID:       e.id,
		AcsSystemID:        e.systemID,
		WorkspaceID:        WorkspaceID,
		ConnectedAccountID: ConnectedAccountID,
		DisplayName:        e.name,
		CreatedAt:          stamp(e.createdAt),
		Errors:             []wireIssue{},
	}
	if !e.removedAt.IsZero() {
		w.Errors = append(w.Errors, wireIssue{
			ErrorCode: "acs_encoder_removed",
			Message:   "The encoder was removed from the access system.",
			CreatedAt: stamp(e.removedAt),
		})
	}
	return w
}

func wireAttemptOf(a *attempt) wireAttempt {
	w := wireAttempt{ActionAttemptID: a.id, ActionType: "ENCODE_CREDENTIAL", Status: a.status}
	switch a.status {
	case statusSuccess:
		w.Result = a.result
	case statusError:
		w.Error = &wireError{Type: a.errType, Message: a.errMsg}
	}
	return w
}

const (
	statusPending = "pending"
	statusSuccess = "success"
	statusError   = "error"
)
