package seamsim

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Seam error types seamsim uses where Seam's document names none. Salto
// Space allows one card per user; what Seam's real error type for a second
// one is, is not documented.
const (
	ErrTypeUserHasCard = "acs_user_already_has_card_credential"
	ErrTypeUserNoCard  = "acs_user_has_no_card_credential"
)

func (s *Sim) routes() map[string]handler {
	return map[string]handler{
		"/acs/systems/get":                s.getSystem,
		"/acs/users/create":               s.createUser,
		"/acs/users/get":                  s.getUser,
		"/acs/users/list":                 s.listUsers,
		"/acs/users/add_to_access_group":  s.addToGroup,
		"/acs/users/delete":               s.deleteUser,
		"/acs/access_groups/list":         s.listGroups,
		"/acs/credentials/create":         s.createCredential,
		"/acs/credentials/get":            s.getCredential,
		"/acs/credentials/list":           s.listCredentials,
		"/acs/credentials/delete":         s.deleteCredential,
		"/acs/encoders/list":              s.listEncoders,
		"/acs/encoders/get":               s.getEncoder,
		"/acs/encoders/encode_credential": s.encodeCredential,
		"/acs/encoders/simulate/next_credential_encode_will_fail":    s.simulateFail,
		"/acs/encoders/simulate/next_credential_encode_will_succeed": s.simulateSucceed,
		"/action_attempts/get": s.getAttempt,
	}
}

func (s *Sim) getSystem(_ context.Context, p params) (map[string]any, error) {
	var req struct {
		AcsSystemID string `json:"acs_system_id"`
	}
	if err := p.decode(&req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.AcsSystemID != s.w.system.id {
		return nil, notFound("acs_system", req.AcsSystemID)
	}
	return map[string]any{"acs_system": s.w.wireSystem()}, nil
}

func (s *Sim) createUser(_ context.Context, p params) (map[string]any, error) {
	var req struct {
		AcsSystemID       string   `json:"acs_system_id"`
		FullName          string   `json:"full_name"`
		EmailAddress      string   `json:"email_address"`
		Email             string   `json:"email"`
		PhoneNumber       string   `json:"phone_number"`
		AcsAccessGroupIDs []string `json:"acs_access_group_ids"`
		UserIdentityID    string   `json:"user_identity_id"`
	}
	if err := p.decode(&req); err != nil {
		return nil, err
	}
	if strings.TrimSpace(req.FullName) == "" {
		return nil, invalidInput("full_name must not be empty")
	}
	if req.UserIdentityID != "" {
		return nil, notFound("user_identity", req.UserIdentityID)
	}
	if req.EmailAddress == "" {
		req.EmailAddress = req.Email
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.AcsSystemID != s.w.system.id {
		return nil, notFound("acs_system", req.AcsSystemID)
	}
	for _, gid := range req.AcsAccessGroupIDs {
		if s.w.groups[gid] == nil {
			return nil, notFound("acs_access_group", gid)
		}
	}
	u := &user{
		id: newUUID(), systemID: req.AcsSystemID, fullName: req.FullName, email: req.EmailAddress,
		phone: req.PhoneNumber, seq: s.w.next(), createdAt: time.Now(), groups: map[string]bool{},
	}
	for _, gid := range req.AcsAccessGroupIDs {
		u.groups[gid] = true
	}
	s.w.users[u.id] = u
	return map[string]any{"acs_user": wireUserOf(u)}, nil
}

// userRef is how the user endpoints name a user. seamsim has no user
// identities, so a user named through one is never found.
type userRef struct {
	AcsUserID      string `json:"acs_user_id"`
	UserIdentityID string `json:"user_identity_id"`
}

func (s *Sim) findUser(p params) (*user, error) {
	var ref userRef
	if err := p.decode(&ref); err != nil {
		return nil, err
	}
	if ref.AcsUserID == "" {
		if ref.UserIdentityID != "" {
			return nil, notFound("acs_user", ref.UserIdentityID)
		}
		return nil, invalidInput("acs_user_id is required")
	}
	u := s.w.users[ref.AcsUserID]
	if u == nil {
		return nil, notFound("acs_user", ref.AcsUserID)
	}
	return u, nil
}

func (s *Sim) getUser(_ context.Context, p params) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.findUser(p)
	if err != nil {
		return nil, err
	}
	return map[string]any{"acs_user": wireUserOf(u)}, nil
}

func (s *Sim) listUsers(_ context.Context, p params) (map[string]any, error) {
	var req struct {
		AcsSystemID    string    `json:"acs_system_id"`
		Search         string    `json:"search"`
		CreatedBefore  time.Time `json:"created_before"`
		UserIdentityID string    `json:"user_identity_id"`
		IdentityEmail  string    `json:"user_identity_email_address"`
		IdentityPhone  string    `json:"user_identity_phone_number"`
	}
	if err := p.decode(&req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	var users []*user
	if req.UserIdentityID == "" && req.IdentityEmail == "" && req.IdentityPhone == "" {
		for _, u := range s.w.users {
			if (req.AcsSystemID == "" || u.systemID == req.AcsSystemID) &&
				(req.CreatedBefore.IsZero() || u.createdAt.Before(req.CreatedBefore)) &&
				matches(req.Search, u.fullName, u.phone, u.email, u.id) {
				users = append(users, u)
			}
		}
	}
	users, pg, err := page(p, users, func(u *user) int64 { return u.seq })
	out := make([]wireUser, len(users))
	for i, u := range users {
		out[i] = wireUserOf(u)
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return map[string]any{"acs_users": out, "pagination": pg}, nil
}

// matches is Seam's search: a case-insensitive partial match of any field.
func matches(search string, fields ...string) bool {
	if search == "" {
		return true
	}
	search = strings.ToLower(search)
	for _, f := range fields {
		if strings.Contains(strings.ToLower(f), search) {
			return true
		}
	}
	return false
}

func (s *Sim) addToGroup(_ context.Context, p params) (map[string]any, error) {
	var req struct {
		AcsAccessGroupID string `json:"acs_access_group_id"`
	}
	if err := p.decode(&req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.findUser(p)
	if err != nil {
		return nil, err
	}
	g := s.w.groups[req.AcsAccessGroupID]
	if g == nil {
		return nil, notFound("acs_access_group", req.AcsAccessGroupID)
	}
	if g.systemID != u.systemID {
		return nil, invalidInput("access group %s is not in the user's access system", g.id)
	}
	u.groups[g.id] = true
	return nil, nil
}

func (s *Sim) deleteUser(_ context.Context, p params) (map[string]any, error) {
	s.mu.Lock()
	u, err := s.findUser(p)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	// A deleted user's credentials go with them.
	var evs []wireEvent
	for _, id := range u.creds {
		if c := s.w.creds[id]; !c.deleted {
			evs = append(evs, s.deleteCredentialLocked(c))
		}
	}
	delete(s.w.users, u.id)
	s.mu.Unlock()
	s.emit(evs...)
	return nil, nil
}

func (s *Sim) listGroups(_ context.Context, p params) (map[string]any, error) {
	var req struct {
		AcsSystemID    string `json:"acs_system_id"`
		AcsUserID      string `json:"acs_user_id"`
		Search         string `json:"search"`
		UserIdentityID string `json:"user_identity_id"`
	}
	if err := p.decode(&req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var u *user
	if req.AcsUserID != "" {
		if u = s.w.users[req.AcsUserID]; u == nil {
			return nil, notFound("acs_user", req.AcsUserID)
		}
	}
	groups := []*group{}
	if req.UserIdentityID == "" {
		for _, g := range s.w.groups {
			if (req.AcsSystemID == "" || g.systemID == req.AcsSystemID) && (u == nil || u.groups[g.id]) && matches(req.Search, g.name) {
				groups = append(groups, g)
			}
		}
	}
	slices.SortFunc(groups, func(a, b *group) int { return int(a.seq - b.seq) })
	out := make([]wireGroup, len(groups))
	for i, g := range groups {
		out[i] = wireGroupOf(g)
	}
	return map[string]any{"acs_access_groups": out}, nil
}

func (s *Sim) createCredential(_ context.Context, p params) (map[string]any, error) {
	var req struct {
		AcsUserID          string     `json:"acs_user_id"`
		AcsSystemID        string     `json:"acs_system_id"`
		AccessMethod       string     `json:"access_method"`
		StartsAt           *time.Time `json:"starts_at"`
		EndsAt             *time.Time `json:"ends_at"`
		SaltoSpaceMetadata *struct {
			AssignNewKey *bool `json:"assign_new_key"`
		} `json:"salto_space_metadata"`
	}
	if err := p.decode(&req); err != nil {
		return nil, err
	}
	if req.AccessMethod != "card" {
		return nil, invalidInput("seamsim models Salto Space card credentials only: access_method must be card")
	}
	if req.AcsUserID == "" {
		return nil, invalidInput("acs_user_id is required (seamsim has no user identities)")
	}
	now := time.Now()
	if req.EndsAt != nil {
		if !req.EndsAt.After(now) {
			return nil, invalidInput("ends_at must be in the future")
		}
		if req.StartsAt != nil && !req.EndsAt.After(*req.StartsAt) {
			return nil, invalidInput("ends_at must be after starts_at")
		}
	}
	// Without the flag, Salto Space assigns a new card.
	assignNewKey := true
	if m := req.SaltoSpaceMetadata; m != nil && m.AssignNewKey != nil {
		assignNewKey = *m.AssignNewKey
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.w.users[req.AcsUserID]
	if u == nil {
		return nil, notFound("acs_user", req.AcsUserID)
	}
	if req.AcsSystemID != "" && req.AcsSystemID != u.systemID {
		return nil, invalidInput("acs_system_id does not match the user's access system")
	}
	card := s.w.liveCard(u)
	switch {
	case assignNewKey && card != nil:
		return nil, &apiError{status: http.StatusBadRequest, typ: ErrTypeUserHasCard, msg: "Salto Space users can hold one card: acs_user " +
			u.id + " already has card credential " + card.id + ". Delete it to replace the card, or create one with salto_space_metadata.assign_new_key false to update it."}
	case !assignNewKey && card == nil:
		return nil, &apiError{status: http.StatusBadRequest, typ: ErrTypeUserNoCard, msg: "salto_space_metadata.assign_new_key false updates the user's card, but acs_user " +
			u.id + " has no card credential."}
	}
	c := &credential{
		id: newUUID(), userID: u.id, systemID: u.systemID, seq: s.w.next(), createdAt: now, assignNewKey: assignNewKey,
	}
	if req.StartsAt != nil {
		c.startsAt = stamp(*req.StartsAt)
	}
	if req.EndsAt != nil {
		c.endsAt = stamp(*req.EndsAt)
	}
	s.w.creds[c.id] = c
	u.creds = append(u.creds, c.id)
	return map[string]any{"acs_credential": wireCredentialOf(c)}, nil
}

func (s *Sim) findCredential(p params) (*credential, error) {
	var req struct {
		AcsCredentialID string `json:"acs_credential_id"`
	}
	if err := p.decode(&req); err != nil {
		return nil, err
	}
	c := s.w.creds[req.AcsCredentialID]
	if c == nil || c.deleted {
		return nil, notFound("acs_credential", req.AcsCredentialID)
	}
	return c, nil
}

func (s *Sim) getCredential(_ context.Context, p params) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.findCredential(p)
	if err != nil {
		return nil, err
	}
	return map[string]any{"acs_credential": wireCredentialOf(c)}, nil
}

func (s *Sim) listCredentials(_ context.Context, p params) (map[string]any, error) {
	var req struct {
		AcsUserID      string    `json:"acs_user_id"`
		AcsSystemID    string    `json:"acs_system_id"`
		UserIdentityID string    `json:"user_identity_id"`
		CreatedBefore  time.Time `json:"created_before"`
		Search         string    `json:"search"`
		MultiPhoneSync *bool     `json:"is_multi_phone_sync_credential"`
	}
	if err := p.decode(&req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	var creds []*credential
	if req.UserIdentityID == "" && (req.MultiPhoneSync == nil || !*req.MultiPhoneSync) {
		for _, c := range s.w.creds {
			if !c.deleted && (req.AcsUserID == "" || c.userID == req.AcsUserID) &&
				(req.AcsSystemID == "" || c.systemID == req.AcsSystemID) &&
				(req.CreatedBefore.IsZero() || c.createdAt.Before(req.CreatedBefore)) &&
				matches(req.Search, c.cardNumber, c.userID, c.id) {
				creds = append(creds, c)
			}
		}
	}
	creds, pg, err := page(p, creds, func(c *credential) int64 { return c.seq })
	out := make([]*wireCredential, len(creds))
	for i, c := range creds {
		out[i] = wireCredentialOf(c)
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return map[string]any{"acs_credentials": out, "pagination": pg}, nil
}

func (s *Sim) deleteCredential(_ context.Context, p params) (map[string]any, error) {
	s.mu.Lock()
	c, err := s.findCredential(p)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	ev := s.deleteCredentialLocked(c)
	s.mu.Unlock()
	s.emit(ev)
	return nil, nil
}

// deleteCredentialLocked tombstones a credential; its encodings that have
// not finished will fail with credential_deleted.
func (s *Sim) deleteCredentialLocked(c *credential) wireEvent {
	c.deleted = true
	return s.event("acs_credential.deleted", func(e *wireEvent) { e.AcsCredentialID = c.id })
}

func (s *Sim) listEncoders(_ context.Context, p params) (map[string]any, error) {
	var req struct {
		AcsSystemID   string   `json:"acs_system_id"`
		AcsSystemIDs  []string `json:"acs_system_ids"`
		AcsEncoderIDs []string `json:"acs_encoder_ids"`
	}
	if err := p.decode(&req); err != nil {
		return nil, err
	}
	if req.AcsSystemID != "" {
		req.AcsSystemIDs = append(req.AcsSystemIDs, req.AcsSystemID)
	}
	s.mu.Lock()
	var encs []*encoder
	for _, e := range s.w.encoders {
		if (req.AcsSystemIDs == nil || slices.Contains(req.AcsSystemIDs, e.systemID)) &&
			(req.AcsEncoderIDs == nil || slices.Contains(req.AcsEncoderIDs, e.id)) {
			encs = append(encs, e)
		}
	}
	encs, pg, err := page(p, encs, func(e *encoder) int64 { return e.seq })
	out := make([]wireEncoder, len(encs))
	for i, e := range encs {
		out[i] = wireEncoderOf(e)
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return map[string]any{"acs_encoders": out, "pagination": pg}, nil
}

func (s *Sim) findEncoder(p params) (*encoder, error) {
	var req struct {
		AcsEncoderID string `json:"acs_encoder_id"`
	}
	if err := p.decode(&req); err != nil {
		return nil, err
	}
	e := s.w.encoders[req.AcsEncoderID]
	if e == nil {
		return nil, notFound("acs_encoder", req.AcsEncoderID)
	}
	return e, nil
}

func (s *Sim) getEncoder(_ context.Context, p params) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.findEncoder(p)
	if err != nil {
		return nil, err
	}
	return map[string]any{"acs_encoder": wireEncoderOf(e)}, nil
}

func (s *Sim) getAttempt(_ context.Context, p params) (map[string]any, error) {
	var req struct {
		ActionAttemptID string `json:"action_attempt_id"`
	}
	if err := p.decode(&req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.w.attempts[req.ActionAttemptID]
	if a == nil {
		return nil, notFound("action_attempt", req.ActionAttemptID)
	}
	return map[string]any{"action_attempt": wireAttemptOf(a)}, nil
}
