package saga

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cardissuer/seamcards/internal/seam"
)

// SeamPerformer makes the core's calls with the Seam client.
type SeamPerformer struct{ Client *seam.Client }

// Perform implements Performer.
func (p SeamPerformer) Perform(ctx context.Context, c Call) (Input, error) {
	in, err := p.perform(ctx, c)
	if err == nil {
		return in, nil
	}
	if seam.IsRetryable(err) {
		return nil, err
	}
	var se *seam.Error
	if errors.As(err, &se) {
		msg := se.Message
		if msg == "" {
			msg = se.Error()
		}
		typ := se.Type
		if typ == "" {
			typ = fmt.Sprintf("http_%d", se.Status)
		}
		return CallFailed{Type: typ, Message: msg}, nil
	}
	return nil, err
}

func (p SeamPerformer) perform(ctx context.Context, c Call) (Input, error) {
	cl := p.Client
	switch c := c.(type) {
	case CreateUser:
		u, err := cl.CreateUser(ctx, seam.CreateUserRequest{
			AcsSystemID:       c.SystemID,
			FullName:          c.User.FullName,
			EmailAddress:      c.User.EmailAddress,
			PhoneNumber:       c.User.PhoneNumber,
			AcsAccessGroupIDs: c.GroupIDs,
		})
		if err != nil {
			return nil, err
		}
		return UserReadyResult{UserID: u.AcsUserID}, nil
	case FindUser:
		users, err := cl.ListUsers(ctx, seam.ListUsersRequest{AcsSystemID: c.SystemID, Search: c.User.FullName})
		if err != nil {
			return nil, err
		}
		if u := findUser(users, c); u != "" {
			return UserReadyResult{UserID: u}, nil
		}
		return UserMissing{}, nil
	case JoinGroups:
		groups, err := cl.ListAccessGroups(ctx, seam.ListAccessGroupsRequest{AcsUserID: c.UserID})
		if err != nil {
			return nil, err
		}
		for _, g := range c.GroupIDs {
			if slices.ContainsFunc(groups, func(x seam.ACSAccessGroup) bool { return x.AcsAccessGroupID == g }) {
				continue
			}
			if err := cl.AddUserToAccessGroup(ctx, c.UserID, g); err != nil {
				return nil, err
			}
		}
		return GroupsJoined{}, nil
	case ListCredentials:
		creds, err := cl.ListCredentials(ctx, seam.ListCredentialsRequest{AcsUserID: c.UserID})
		if err != nil {
			return nil, err
		}
		var cards []string
		for _, cr := range creds {
			if cr.AccessMethod == seam.AccessMethodCard {
				cards = append(cards, cr.AcsCredentialID)
			}
		}
		return CredentialsListed{Cards: cards}, nil
	case DeleteCredential:
		if c.Compensation {
			// A cancel never deletes a card that is already written (its
			// confirming webhook may be on its way): look first.
			cr, err := cl.GetCredential(ctx, c.CredentialID)
			switch {
			case seam.IsNotFound(err):
				return Compensated{}, nil
			case err != nil:
				return nil, err
			case cr.IsIssued:
				kept := Compensated{Kept: true, IssuedAt: cr.IssuedAt}
				if cr.CardNumber != nil {
					kept.CardNumber = *cr.CardNumber
				}
				return kept, nil
			}
		}
		if err := cl.DeleteCredential(ctx, c.CredentialID); err != nil && !seam.IsNotFound(err) {
			return nil, err
		}
		if c.Compensation {
			return Compensated{}, nil
		}
		return OldDeleted{CredentialID: c.CredentialID}, nil
	case CreateCredential:
		req := seam.CreateCredentialRequest{
			AcsUserID:          c.UserID,
			AccessMethod:       seam.AccessMethodCard,
			SaltoSpaceMetadata: &seam.SaltoSpaceMetadata{AssignNewKey: &c.AssignNewKey},
		}
		var err error
		if req.StartsAt, err = optionalTime(c.StartsAt); err != nil {
			return nil, err
		}
		if req.EndsAt, err = optionalTime(c.EndsAt); err != nil {
			return nil, err
		}
		cr, err := cl.CreateCredential(ctx, req)
		if err != nil {
			return nil, err
		}
		return CredentialReady{CredentialID: cr.AcsCredentialID}, nil
	case FindCredential:
		creds, err := cl.ListCredentials(ctx, seam.ListCredentialsRequest{AcsUserID: c.UserID})
		if err != nil {
			return nil, err
		}
		var found *seam.ACSCredential
		for i, cr := range creds {
			if cr.AccessMethod != seam.AccessMethodCard || slices.Contains(c.Known, cr.AcsCredentialID) {
				continue
			}
			if found == nil || cr.CreatedAt.Before(found.CreatedAt) {
				found = &creds[i]
			}
		}
		if found == nil {
			return CredentialMissing{}, nil
		}
		return CredentialReady{CredentialID: found.AcsCredentialID}, nil
	case PickEncoder:
		encs, err := cl.ListEncoders(ctx, seam.ListEncodersRequest{AcsSystemID: c.SystemID})
		if err != nil {
			return nil, err
		}
		for _, e := range encs {
			if len(e.Errors) == 0 {
				return EncoderPicked{EncoderID: e.AcsEncoderID}, nil
			}
		}
		if len(encs) == 0 {
			return EncoderPicked{Reason: "the access system has no encoder"}, nil
		}
		var codes []string
		for _, e := range encs {
			codes = append(codes, e.AcsEncoderID+": "+e.Errors[0].ErrorCode)
		}
		return EncoderPicked{Reason: "every encoder reports errors (" + strings.Join(codes, "; ") + ")"}, nil
	case Encode:
		aa, err := cl.EncodeCredential(ctx, c.CredentialID, c.EncoderID)
		if err != nil {
			return nil, err
		}
		return EncodeStarted{ActionAttemptID: aa.ActionAttemptID}, nil
	case ReadCredential:
		cr, err := cl.GetCredential(ctx, c.CredentialID)
		if err != nil {
			return nil, err
		}
		r := CredentialRead{IsIssued: cr.IsIssued, IssuedAt: cr.IssuedAt}
		if cr.CardNumber != nil {
			r.CardNumber = *cr.CardNumber
		}
		return r, nil
	case ReadAttempt:
		aa, err := cl.GetActionAttempt(ctx, c.ActionAttemptID)
		if err != nil {
			return nil, err
		}
		r := AttemptRead{Status: aa.Status}
		switch aa.Status {
		case seam.ActionStatusError:
			if aa.Error != nil {
				r.ErrorType, r.ErrorMessage = aa.Error.Type, aa.Error.Message
			} else {
				r.ErrorType = "uncategorized_error"
			}
		case seam.ActionStatusSuccess:
			if cr, err := aa.Credential(); err == nil {
				r.IssuedAt = cr.IssuedAt
				if cr.CardNumber != nil {
					r.CardNumber = *cr.CardNumber
				}
			}
		}
		return r, nil
	}
	return nil, fmt.Errorf("unknown call %T", c)
}

// findUser picks the user a lost /acs/users/create made: same full name, and
// same email and phone where both sides have one, created since the intent;
// the earliest such user if several.
func findUser(users []seam.ACSUser, c FindUser) string {
	var best *seam.ACSUser
	for i, u := range users {
		if u.FullName != c.User.FullName || u.CreatedAt.Before(c.Since) ||
			!sameOptional(u.EmailAddress, c.User.EmailAddress) || !sameOptional(u.PhoneNumber, c.User.PhoneNumber) {
			continue
		}
		if best == nil || u.CreatedAt.Before(best.CreatedAt) {
			best = &users[i]
		}
	}
	if best == nil {
		return ""
	}
	return best.AcsUserID
}

func sameOptional(a, b string) bool { return a == "" || b == "" || strings.EqualFold(a, b) }

func optionalTime(s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, fmt.Errorf("time %q: %w", s, err)
	}
	return &t, nil
}
