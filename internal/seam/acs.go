package seam

import (
	"context"
	"encoding/json"
	"fmt"
)

// get calls a single-resource endpoint and returns the resource under key.
func get[T any](ctx context.Context, c *Client, path string, in any, key string) (*T, error) {
	var raw map[string]json.RawMessage
	if err := c.call(ctx, path, in, &raw); err != nil {
		return nil, err
	}
	b, ok := raw[key]
	if !ok || string(b) == "null" {
		return nil, fmt.Errorf("seam %s: answer lacks %q", path, key)
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("seam %s: decode %s: %w", path, key, err)
	}
	return &v, nil
}

// maxPages stops a list that never ends (a cursor that does not advance).
const maxPages = 10_000

// listAll reads every page of a list endpoint. body builds the request for
// a page cursor ("" for the first page).
func listAll[T any](ctx context.Context, c *Client, path, key string, body func(cursor string) any) ([]T, error) {
	var all []T
	cursor := ""
	for range maxPages {
		var raw map[string]json.RawMessage
		if err := c.call(ctx, path, body(cursor), &raw); err != nil {
			return nil, err
		}
		b, ok := raw[key]
		if !ok {
			return nil, fmt.Errorf("seam %s: answer lacks %q", path, key)
		}
		var items []T
		if err := json.Unmarshal(b, &items); err != nil {
			return nil, fmt.Errorf("seam %s: decode %s: %w", path, key, err)
		}
		all = append(all, items...)
		var p Pagination
		if pb, ok := raw["pagination"]; ok {
			if err := json.Unmarshal(pb, &p); err != nil {
				return nil, fmt.Errorf("seam %s: decode pagination: %w", path, err)
			}
		}
		if !p.HasNextPage || p.NextPageCursor == nil || *p.NextPageCursor == "" {
			return all, nil
		}
		if *p.NextPageCursor == cursor {
			return nil, fmt.Errorf("seam %s: next_page_cursor does not advance", path)
		}
		cursor = *p.NextPageCursor
	}
	return nil, fmt.Errorf("seam %s: more than %d pages", path, maxPages)
}

// GetSystem reads an access system.
func (c *Client) GetSystem(ctx context.Context, acsSystemID string) (*ACSSystem, error) {
	return get[ACSSystem](ctx, c, "/acs/systems/get", map[string]string{"acs_system_id": acsSystemID}, "acs_system")
}

// CreateUser creates an access system user, in the given access groups.
// It is not repeated once Seam may have applied it: on ErrOutcomeUnknown,
// look for the user (ListUsers) before creating again.
func (c *Client) CreateUser(ctx context.Context, req CreateUserRequest) (*ACSUser, error) {
	return get[ACSUser](ctx, c, "/acs/users/create", req, "acs_user")
}

// GetUser reads an access system user.
func (c *Client) GetUser(ctx context.Context, acsUserID string) (*ACSUser, error) {
	return get[ACSUser](ctx, c, "/acs/users/get", map[string]string{"acs_user_id": acsUserID}, "acs_user")
}

// ListUsers returns every access system user matching req, all pages.
func (c *Client) ListUsers(ctx context.Context, req ListUsersRequest) ([]ACSUser, error) {
	type page struct {
		ListUsersRequest
		PageCursor string `json:"page_cursor,omitempty"`
	}
	return listAll[ACSUser](ctx, c, "/acs/users/list", "acs_users", func(cur string) any { return page{req, cur} })
}

// AddUserToAccessGroup adds an existing user to an access group; adding a
// member again changes nothing.
func (c *Client) AddUserToAccessGroup(ctx context.Context, acsUserID, acsAccessGroupID string) error {
	return c.call(ctx, "/acs/users/add_to_access_group",
		map[string]string{"acs_user_id": acsUserID, "acs_access_group_id": acsAccessGroupID}, nil)
}

// DeleteUser deletes an access system user.
func (c *Client) DeleteUser(ctx context.Context, acsUserID string) error {
	return c.call(ctx, "/acs/users/delete", map[string]string{"acs_user_id": acsUserID}, nil)
}

// ListAccessGroups returns the access groups of a system or of a user. Seam
// does not paginate this list.
func (c *Client) ListAccessGroups(ctx context.Context, req ListAccessGroupsRequest) ([]ACSAccessGroup, error) {
	var out struct {
		AcsAccessGroups []ACSAccessGroup `json:"acs_access_groups"`
	}
	if err := c.call(ctx, "/acs/access_groups/list", req, &out); err != nil {
		return nil, err
	}
	return out.AcsAccessGroups, nil
}

// CreateCredential creates a credential for a user. It is not repeated once
// Seam may have applied it (ErrOutcomeUnknown): list the user's credentials
// before creating again.
func (c *Client) CreateCredential(ctx context.Context, req CreateCredentialRequest) (*ACSCredential, error) {
	return get[ACSCredential](ctx, c, "/acs/credentials/create", req, "acs_credential")
}

// GetCredential reads a credential.
func (c *Client) GetCredential(ctx context.Context, acsCredentialID string) (*ACSCredential, error) {
	return get[ACSCredential](ctx, c, "/acs/credentials/get", map[string]string{"acs_credential_id": acsCredentialID}, "acs_credential")
}

// ListCredentials returns every credential matching req, all pages.
func (c *Client) ListCredentials(ctx context.Context, req ListCredentialsRequest) ([]ACSCredential, error) {
	type page struct {
		ListCredentialsRequest
		PageCursor string `json:"page_cursor,omitempty"`
	}
	return listAll[ACSCredential](ctx, c, "/acs/credentials/list", "acs_credentials", func(cur string) any { return page{req, cur} })
}

// DeleteCredential deletes a credential. A retry after a lost answer may
// find it gone: IsNotFound(err) then means it is deleted.
func (c *Client) DeleteCredential(ctx context.Context, acsCredentialID string) error {
	return c.call(ctx, "/acs/credentials/delete", map[string]string{"acs_credential_id": acsCredentialID}, nil)
}

// ListEncoders returns the encoders matching req in Seam's order, all pages.
func (c *Client) ListEncoders(ctx context.Context, req ListEncodersRequest) ([]ACSEncoder, error) {
	type page struct {
		ListEncodersRequest
		PageCursor string `json:"page_cursor,omitempty"`
	}
	return listAll[ACSEncoder](ctx, c, "/acs/encoders/list", "acs_encoders", func(cur string) any { return page{req, cur} })
}

// GetEncoder reads an encoder.
func (c *Client) GetEncoder(ctx context.Context, acsEncoderID string) (*ACSEncoder, error) {
	return get[ACSEncoder](ctx, c, "/acs/encoders/get", map[string]string{"acs_encoder_id": acsEncoderID}, "acs_encoder")
}

// EncodeCredential asks an encoder to write a credential onto the card laid
// on it. The answer is a pending ENCODE_CREDENTIAL action attempt; Seam
// confirms the written card with the acs_credential.issued (or .reissued)
// webhook, and sends nothing when the encoding fails. It is not repeated
// once Seam may have applied it (ErrOutcomeUnknown).
func (c *Client) EncodeCredential(ctx context.Context, acsCredentialID, acsEncoderID string) (*ActionAttempt, error) {
	return get[ActionAttempt](ctx, c, "/acs/encoders/encode_credential",
		map[string]string{"acs_credential_id": acsCredentialID, "acs_encoder_id": acsEncoderID}, "action_attempt")
}

// GetActionAttempt reads an action attempt.
func (c *Client) GetActionAttempt(ctx context.Context, actionAttemptID string) (*ActionAttempt, error) {
	return get[ActionAttempt](ctx, c, "/action_attempts/get", map[string]string{"action_attempt_id": actionAttemptID}, "action_attempt")
}

// SimulateNextEncodeWillFail makes the next encoding on a sandbox encoder
// fail. Seam's document allows errorCode "" (Seam's default),
// no_credential_on_encoder and encoding_interrupted here; the other two
// types it knows, uncategorized_error and action_attempt_expired, need a
// credential: use SimulateNextEncodeWillFailFor.
func (c *Client) SimulateNextEncodeWillFail(ctx context.Context, acsEncoderID, errorCode string) error {
	body := map[string]string{"acs_encoder_id": acsEncoderID}
	if errorCode != "" {
		body["error_code"] = errorCode
	}
	return c.call(ctx, "/acs/encoders/simulate/next_credential_encode_will_fail", body, nil)
}

// SimulateNextEncodeWillFailFor makes the next encoding of a credential on a
// sandbox encoder fail with uncategorized_error or action_attempt_expired.
func (c *Client) SimulateNextEncodeWillFailFor(ctx context.Context, acsEncoderID, acsCredentialID, errorCode string) error {
	return c.call(ctx, "/acs/encoders/simulate/next_credential_encode_will_fail", map[string]string{
		"acs_encoder_id": acsEncoderID, "acs_credential_id": acsCredentialID, "error_code": errorCode,
	}, nil)
}

// SimulateNextEncodeWillSucceed makes the next encoding on a sandbox encoder
// succeed.
func (c *Client) SimulateNextEncodeWillSucceed(ctx context.Context, acsEncoderID string) error {
	return c.call(ctx, "/acs/encoders/simulate/next_credential_encode_will_succeed",
		map[string]string{"acs_encoder_id": acsEncoderID}, nil)
}
